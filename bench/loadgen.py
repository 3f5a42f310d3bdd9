"""Fallback closed-loop load generator (used when ``wrk`` is not available).

Runs in its own process: ``python bench/loadgen.py --url URL --path /Greeter/greet
--body '"bob"' --concurrency 16 --duration 8`` (a ``{key}`` in the path becomes ``key-<n>``,
n uniform in 1..--keys, as in ``bench/wrk.lua``). N workers (trio tasks) each send one request,
wait for the answer, and send the next, over HTTP/1.1 keep-alive connections
(httpx ``AsyncClient``, at most N connections). Prints one line
``BENCH_JSON {...}`` with the same fields as ``bench/wrk.lua``.

Being Python, it costs far more CPU per request than wrk (on a 2-core machine
it competes with the server and the endpoint), so absolute req/s are lower
than with wrk; ratios between SDKs remain comparable.
"""

import argparse
import json
import math
import random
import time

import httpx
import trio

_HEADERS = {"Content-Type": "application/json"}


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, math.ceil(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


async def _run(args: argparse.Namespace) -> dict[str, float | int]:
    latencies: list[float] = []
    counts = {
        "status_errors": 0,
        "connect_errors": 0,
        "read_errors": 0,
        "write_errors": 0,
        "timeouts": 0,
        "bytes": 0,
    }
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    timeout = httpx.Timeout(args.timeout)
    rng = random.Random()
    body = args.body.encode()
    before, keyed, after = args.path.partition("{key}")
    start = time.monotonic()
    deadline = start + args.duration
    async with httpx.AsyncClient(
        base_url=args.url, limits=limits, timeout=timeout, http1=True, http2=False
    ) as client:

        async def worker() -> None:
            # Bounded by time (deadline) and count (max_requests per worker).
            for _ in range(args.max_requests):
                if time.monotonic() >= deadline:
                    return
                path = f"{before}key-{rng.randint(1, args.keys)}{after}" if keyed else before
                sent = time.perf_counter()
                try:
                    response = await client.post(path, content=body, headers=_HEADERS)
                except httpx.TimeoutException:
                    counts["timeouts"] += 1
                    continue
                except httpx.ConnectError:
                    counts["connect_errors"] += 1
                    await trio.sleep(0.01)
                    continue
                except httpx.TransportError:
                    counts["read_errors"] += 1
                    continue
                latencies.append(time.perf_counter() - sent)
                counts["bytes"] += len(response.content)
                if response.status_code >= 400:
                    counts["status_errors"] += 1

        async with trio.open_nursery() as nursery:
            for _ in range(args.concurrency):
                nursery.start_soon(worker)
    elapsed = time.monotonic() - start
    latencies.sort()
    mean = sum(latencies) / len(latencies) if latencies else 0.0
    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        **counts,
        "p50_us": int(_percentile(latencies, 50) * 1e6),
        "p90_us": int(_percentile(latencies, 90) * 1e6),
        "p99_us": int(_percentile(latencies, 99) * 1e6),
        "max_us": int((latencies[-1] if latencies else 0.0) * 1e6),
        "mean_us": mean * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="ingress base URL (127.0.0.1 only)")
    parser.add_argument("--path", default="/Greeter/greet", help="POST path; {key} = key-<n>")
    parser.add_argument("--body", default='"bob"', help="JSON request body")
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument(
        "--max-requests", type=int, default=1_000_000, help="upper bound of requests per worker"
    )
    args = parser.parse_args()
    host = httpx.URL(args.url).host
    if host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("only loopback targets are allowed")
    result = trio.run(_run, args)
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
