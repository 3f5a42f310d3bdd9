"""What the HTTP/2 layer costs per Restate-shaped stream, in-process: the transport floor's share.

``python bench/h2cost.py [--streams N] [--reps R]``: a client ``H2Connection`` plays
restate-server and feeds bytes into a server side, with no sockets, no trio and no SDK. Two
server sides, measured alternately on the same streams: ``http2`` (restate-trio's own
``restate_trio/_transport/http2.py``, as the builtin server configures it) and ``h2`` (h2's
``H2Connection``, configured as the builtin server used it before it had its own: header
validation and normalisation off, large windows, events dispatched by type). Each stream is
shaped like the benchmark's invocations: Restate's request headers (a fresh invocation id each
time, as Restate sends them) with the first DATA (Start + Input), our response HEADERS, then
``--steps`` round trips of one DATA frame each way (a ``ctx.run``'s proposal and its
completion), then the runtime's END_STREAM and our last DATA with END_STREAM. Prints the best
(minimum over repetitions) time of each server-side step per stream, for greet (0 steps) and
steps10 (10 steps).

Why: the floor sides of ``bench/run.py`` measure the whole transport through a real server;
this isolates the HTTP/2 layer's part of it (header decoding, frame parsing and building,
stream state), so a change to it can be judged before a full run.
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

from bench.restate_request import request_headers
from restate_trio._transport import h2connection, http2

_CLIENT = h2.config.H2Configuration(client_side=True, header_encoding=None)
_RESPONSE = [
    (b":status", b"200"),
    (b"content-type", b"application/vnd.restate.invocation.v6"),
    (b"server", b"restate-trio"),
]
_WINDOW = 1 << 20


_H2_CONFIG = h2.config.H2Configuration(
    client_side=False,
    header_encoding=None,
    validate_inbound_headers=False,
    normalize_inbound_headers=False,
    validate_outbound_headers=False,
    normalize_outbound_headers=False,
)


class _H2Side:
    """h2's H2Connection, driven the way the builtin server drove it."""

    def __init__(self) -> None:
        self.conn = h2.connection.H2Connection(_H2_CONFIG)
        self.conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: h2connection.STREAM_WINDOW
            },
        )
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(h2connection.CONNECTION_WINDOW - 65_535)

    def receive(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.DataReceived):
                _ = (event.stream_id, event.data, event.flow_controlled_length)
            elif isinstance(event, h2.events.RequestReceived):
                _ = (event.stream_id, event.headers)

    def send_headers(self, sid: int) -> None:
        self.conn.send_headers(sid, _RESPONSE)

    def send_data(self, sid: int, data: bytes, end: bool = False) -> None:
        self.conn.send_data(sid, data, end_stream=end)

    def data_to_send(self) -> bytes:
        return self.conn.data_to_send()


class _Http2Side:
    """restate-trio's http2.ServerConnection, as the builtin server configures it."""

    def __init__(self) -> None:
        self.conn = http2.ServerConnection(
            self,
            max_concurrent_streams=128,
            stream_window=h2connection.STREAM_WINDOW,
            connection_window=h2connection.CONNECTION_WINDOW,
            max_header_list_size=h2connection.MAX_HEADER_LIST_SIZE,
        )
        self.conn.initiate()
        self.block = http2.header_block(_RESPONSE)

    def on_request(self, stream_id: int, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        pass

    def on_data(self, stream_id: int, data: bytes, ended: bool) -> None:
        pass

    def on_reset(self, stream_id: int) -> None:
        pass

    def on_goaway(self) -> None:
        pass

    def receive(self, data: bytes) -> None:
        self.conn.receive_data(data)

    def send_headers(self, sid: int) -> None:
        self.conn.send_headers(sid, self.block)

    def send_data(self, sid: int, data: bytes, end: bool = False) -> None:
        self.conn.send_data(sid, data, end_stream=end)

    def data_to_send(self) -> bytes:
        return self.conn.data_to_send()


_SIDES: dict[str, Callable[[], _H2Side | _Http2Side]] = {"http2": _Http2Side, "h2": _H2Side}


def _pair(side: str) -> tuple[h2.connection.H2Connection, _H2Side | _Http2Side]:
    client = h2.connection.H2Connection(_CLIENT)
    client.local_settings = h2.settings.Settings(
        client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _WINDOW}
    )
    client.initiate_connection()
    client.increment_flow_control_window(1 << 30)
    server = _SIDES[side]()
    server.receive(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive(client.data_to_send())
    return client, server


def _run(side: str, streams: int, steps: int) -> dict[str, float]:
    client, server = _pair(side)
    spent: dict[str, float] = {}

    def timed(step: str, fn: Callable[..., object], *args: object) -> object:
        start = time.perf_counter()
        result = fn(*args)
        spent[step] = spent.get(step, 0.0) + time.perf_counter() - start
        return result

    def to_client(data: object) -> None:
        assert isinstance(data, bytes)
        for event in client.receive_data(data):
            if isinstance(event, h2.events.DataReceived) and event.flow_controlled_length:
                client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        server.receive(client.data_to_send())

    for n in range(streams):
        sid = client.get_next_available_stream_id()
        client.send_headers(sid, request_headers(b"/invoke/Greeter/greet", n))
        client.send_data(sid, b"s" * 90)
        timed("receive request HEADERS + DATA", server.receive, client.data_to_send())
        timed("send response HEADERS", server.send_headers, sid)
        for _ in range(steps):
            timed("send a step's DATA (all steps)", server.send_data, sid, b"p" * 40)
            to_client(timed("data_to_send (all steps)", server.data_to_send))
            client.send_data(sid, b"c" * 20)
            timed("receive a step's DATA (all steps)", server.receive, client.data_to_send())
        client.end_stream(sid)
        timed("receive END_STREAM", server.receive, client.data_to_send())
        timed("send last DATA + END_STREAM", server.send_data, sid, b"o" * 40, True)
        to_client(timed("data_to_send", server.data_to_send))
    return {step: total / streams for step, total in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    for label, steps in (("greet", 0), ("steps10", 10)):
        best: dict[str, dict[str, float]] = {side: {} for side in _SIDES}
        for _ in range(args.reps):
            for side in _SIDES:  # alternately: drift on a shared machine hits both
                for step, value in _run(side, args.streams, steps).items():
                    best[side][step] = min(best[side].get(step, float("inf")), value)
        print(f"{label}: per stream, best of {args.reps} x {args.streams} streams")
        print(f"  {'':32s} {'http2':>10s} {'h2':>10s}")
        for step in best["h2"]:
            ours, theirs = best["http2"][step], best["h2"][step]
            print(f"  {step:32s} {ours * 1e6:7.1f} µs {theirs * 1e6:7.1f} µs")
        ours, theirs = sum(best["http2"].values()), sum(best["h2"].values())
        print(f"  {'total':32s} {ours * 1e6:7.1f} µs {theirs * 1e6:7.1f} µs ({ours / theirs:.2f}x)")


if __name__ == "__main__":
    main()
