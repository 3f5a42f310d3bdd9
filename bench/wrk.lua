-- Request script for wrk, used by bench/run.py.
--
--   wrk -t1 -cN -dDs -s bench/wrk.lua http://127.0.0.1:PORT -- PATH BODY KEYS
--
-- Every request is POST PATH with the JSON BODY. If PATH contains "{key}", it is replaced
-- by "key-<n>", n drawn uniformly from 1..KEYS (one request per key is formatted up front,
-- so request() only picks one). At the end one line "BENCH_JSON {...}" carries the raw
-- numbers (latencies in microseconds), which run.py parses instead of wrk's text report.

local headers = { ["Content-Type"] = "application/json" }
local fixed_request = nil
local keyed_requests = {}
local keys = 1

function init(args)
   local path = args[1] or "/Greeter/greet"
   local body = args[2] or '"bob"'
   keys = tonumber(args[3] or "1")
   math.randomseed(os.time() + math.floor(os.clock() * 1000000))
   local first, last = string.find(path, "{key}", 1, true)
   if first == nil then
      fixed_request = wrk.format("POST", path, headers, body)
   else
      local before, after = string.sub(path, 1, first - 1), string.sub(path, last + 1)
      for i = 1, keys do
         keyed_requests[i] = wrk.format("POST", before .. "key-" .. i .. after, headers, body)
      end
   end
end

function request()
   if fixed_request ~= nil then
      return fixed_request
   end
   return keyed_requests[math.random(keys)]
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
