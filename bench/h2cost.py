"""What h2 alone costs per Restate-shaped stream, in-process: the transport floor's share.

``python bench/h2cost.py [--streams N] [--reps R]``: a client ``H2Connection`` plays
restate-server and feeds bytes into a server ``H2Connection`` configured as restate-trio's
builtin server (``restate_trio/_transport/h2connection.py``: its ``_CONFIG``, large windows),
with no sockets, no trio and no SDK. Each stream is shaped like the benchmark's invocations:
Restate's request headers (a fresh invocation id each time, as Restate sends them) with the
first DATA (Start + Input), our response HEADERS, then ``--steps`` round trips of one DATA
frame each way (a ``ctx.run``'s proposal and its completion), then the runtime's END_STREAM
and our last DATA with END_STREAM. Prints the best (minimum over repetitions) time of each
server-side step per stream, for greet (0 steps) and steps10 (10 steps).

Why: the floor sides of ``bench/run.py`` measure the whole transport through a real server;
this isolates h2's part of it (header decoding, frame parsing and building, stream state), so
a change to how we drive h2, or a different HTTP/2 layer, can be judged before a full run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from restate_trio._transport.h2connection import _CONFIG

_CLIENT = h2.config.H2Configuration(client_side=True, header_encoding=None)
# What restate-server 1.7.12 sent for one invocation (captured from the benchmark); the
# invocation id differs per request.
_REQUEST = [
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":authority", b"127.0.0.1:9080"),
    (b":path", b"/invoke/Greeter/greet"),
    (b"content-type", b"application/vnd.restate.invocation.v6"),
    (b"accept", b"application/vnd.restate.invocation.v6"),
    (b"x-restate-invocation-id", b""),
    (b"x-restate-cluster-name", b"localcluster"),
]
_RESPONSE = [
    (b":status", b"200"),
    (b"content-type", b"application/vnd.restate.invocation.v6"),
    (b"server", b"restate-trio"),
]
_WINDOW = 1 << 20


def _pair() -> tuple[h2.connection.H2Connection, h2.connection.H2Connection]:
    client = h2.connection.H2Connection(_CLIENT)
    server = h2.connection.H2Connection(_CONFIG)
    for conn in (client, server):
        conn.local_settings = h2.settings.Settings(
            client=conn is client,
            initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _WINDOW},
        )
        conn.initiate_connection()
        conn.increment_flow_control_window(1 << 30)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    return client, server


def _run(streams: int, steps: int) -> dict[str, float]:
    client, server = _pair()
    spent: dict[str, float] = {}

    def timed(step: str, fn: Callable[..., object], *args: object, **kw: object) -> object:
        start = time.perf_counter()
        result = fn(*args, **kw)
        spent[step] = spent.get(step, 0.0) + time.perf_counter() - start
        return result

    def to_client(data: object) -> None:
        assert isinstance(data, bytes)
        for event in client.receive_data(data):
            if isinstance(event, h2.events.DataReceived) and event.flow_controlled_length:
                client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        server.receive_data(client.data_to_send())

    for n in range(streams):
        sid = client.get_next_available_stream_id()
        headers = list(_REQUEST)
        headers[6] = (b"x-restate-invocation-id", b"inv_1%037d" % n)
        client.send_headers(sid, headers)
        client.send_data(sid, b"s" * 90)
        timed("receive request HEADERS + DATA", server.receive_data, client.data_to_send())
        timed("send response HEADERS", server.send_headers, sid, _RESPONSE)
        for _ in range(steps):
            timed("send a step's DATA (all steps)", server.send_data, sid, b"p" * 40)
            to_client(timed("data_to_send (all steps)", server.data_to_send))
            client.send_data(sid, b"c" * 20)
            timed("receive a step's DATA (all steps)", server.receive_data, client.data_to_send())
        client.end_stream(sid)
        timed("receive END_STREAM", server.receive_data, client.data_to_send())
        timed("send last DATA + END_STREAM", server.send_data, sid, b"o" * 40, end_stream=True)
        to_client(timed("data_to_send", server.data_to_send))
    return {step: total / streams for step, total in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    for label, steps in (("greet", 0), ("steps10", 10)):
        best: dict[str, float] = {}
        for _ in range(args.reps):
            for step, value in _run(args.streams, steps).items():
                best[step] = min(best.get(step, float("inf")), value)
        print(f"{label}: h2 per stream, best of {args.reps} x {args.streams} streams")
        for step, value in best.items():
            print(f"  {step:32s} {value * 1e6:8.1f} µs")
        print(f"  {'total':32s} {sum(best.values()) * 1e6:8.1f} µs")


if __name__ == "__main__":
    main()
