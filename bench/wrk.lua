-- Request script for wrk, used by bench/run.py.
--
--   wrk -t1 -cN -dDs -s bench/wrk.lua http://127.0.0.1:PORT -- WORKLOAD KEYS
--
-- WORKLOAD is "greet" (POST /Greeter/greet, body "bob") or "counter"
-- (POST /Counter/<key>/add, body 1, key drawn uniformly from KEYS keys).
-- At the end one line "BENCH_JSON {...}" carries the raw numbers (latencies
-- in microseconds), which run.py parses instead of wrk's text report.

local workload = "greet"
local keys = 1000
local headers = { ["Content-Type"] = "application/json" }
local greet_request = nil
local counter_requests = {}

function init(args)
   workload = args[1] or "greet"
   keys = tonumber(args[2] or "1000")
   math.randomseed(os.time() + math.floor(os.clock() * 1000000))
   if workload == "greet" then
      greet_request = wrk.format("POST", "/Greeter/greet", headers, '"bob"')
   elseif workload == "counter" then
      -- Pre-format one request per key: request() then only picks one.
      for i = 1, keys do
         counter_requests[i] = wrk.format("POST", "/Counter/key-" .. i .. "/add", headers, "1")
      end
   else
      error("unknown workload " .. tostring(workload))
   end
end

function request()
   if greet_request ~= nil then
      return greet_request
   end
   return counter_requests[math.random(keys)]
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
      '"status_errors":%d,"timeouts":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end
