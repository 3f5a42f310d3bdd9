"""What one invocation costs the whole SDK process, in-process: both transports, no restate-server.

``python bench/stackcost.py [--workloads greet,counter,run1,steps10] [--transports builtin,
hypercorn] [--floor] [--invocations N] [--concurrency K] [--reps R]``

A client in the same trio process plays restate-server over a loopback TCP connection: it
opens HTTP/2 streams with Restate's request headers (prior knowledge, HPACK-encoded before the
clock starts), sends each invocation's Start and Input, answers every ``ctx.run`` proposal with
its completion (protocol V6, what restate-server 1.7.12 negotiates by default), and ends its
half once the SDK wrote End, keeping ``--concurrency`` invocations open at once. The server
side is the real one: the builtin server (``H2ServerConnection`` with the endpoint's
``Router``) or the endpoint's ASGI app under hypercorn's trio worker (its ``TCPServer``, as
``hypercorn -k trio`` runs it), serving the benchmark's services (``bench/trio_app.py``).
``--floor`` adds the same transports serving the canned responders of ``bench/floor_app.py``
(the transport alone).

Prints the process CPU time per invocation (client included; the floor rows include the same
client, so the difference between a row and its floor is the SDK's own work), best and median
of the repetitions.

Why: ``bench/run.py`` measures through a real restate-server on a shared 2-core machine, where
restate-server's CPU competes with the SDK's and one run's ratios spread by +-15%; a change of a
few percent in the SDK's per-invocation cost is invisible there. Here nothing else runs, the
work per invocation is fixed, and the same workload can be timed on both transports.
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

import hpack
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.restate_request import request_headers
from restate_trio._protocol import messages as m
from restate_trio._protocol.framing import FrameDecoder, encode_frame
from restate_trio._transport.http2 import PREFACE

_H2_HEAD = struct.Struct(">HBBBL")  # length (24 bits as u16 + u8), type, flags, stream id
_DATA, _HEADERS, _RST_STREAM, _SETTINGS, _PING, _GOAWAY, _WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
_END_STREAM, _ACK, _END_HEADERS = 0x1, 0x1, 0x4

#: workload -> (path, the request body's Start + Input)
WORKLOADS: dict[str, tuple[str, bytes]] = {}


def _start(argument: bytes, **start: object) -> bytes:
    return encode_frame(
        *m.encode(
            m.StartMessage(id=b"stackcost", debug_id="inv_stackcost", known_entries=1, **start)
        )  # type: ignore[arg-type]
    ) + encode_frame(*m.encode(m.InputCommandMessage(value=m.Value(content=argument))))


WORKLOADS["greet"] = ("/invoke/Greeter/greet", _start(b'"bob"'))
WORKLOADS["counter"] = (
    "/invoke/Counter/add",
    _start(
        b"1",
        key="k",
        state_map=[m.StartMessage.StateEntry(key=b"count", value=b"0")],
        partial_state=False,
    ),
)
WORKLOADS["run1"] = ("/invoke/Runner/run1", _start(b'"bob"'))
WORKLOADS["steps10"] = ("/invoke/Runner/steps10", _start(b'"bob"'))


def _frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return _H2_HEAD.pack(n >> 8, n & 0xFF, kind, flags, stream_id) + payload


def _header_blocks(path: str, count: int) -> list[bytes]:
    """Request header blocks as restate-server sends them (``:path`` never indexed), in the
    order the connection will send them (HPACK's dynamic table is sequential)."""
    encoder = hpack.Encoder()
    blocks = []
    for i in range(count):
        headers: list[tuple[bytes, bytes]] = request_headers(path.encode(), i)
        headers[3] = hpack.NeverIndexedHeaderTuple(*headers[3])
        blocks.append(encoder.encode(headers))
    return blocks


class _Invocation:
    """One stream on the client side: reads the SDK's messages, answers runs, ends its half."""

    __slots__ = ("frames", "id", "wrote_end")

    def __init__(self, stream_id: int) -> None:
        self.id = stream_id
        self.frames = FrameDecoder()
        self.wrote_end = False  # the SDK's End arrived: our END_STREAM went out

    def feed(self, data: bytes, out: list[bytes]) -> None:
        for frame in self.frames.feed(data):
            kind = frame.type
            if kind == m.MessageType.PROPOSE_RUN_COMPLETION:
                proposal = m.decode(kind, frame.payload)
                notification = m.RunCompletionNotificationMessage(
                    completion_id=proposal.result_completion_id,  # type: ignore[attr-defined]
                    value=m.Value(content=proposal.value),  # type: ignore[attr-defined]
                )
                out.append(_frame(_DATA, 0, self.id, encode_frame(*m.encode(notification))))
            elif kind == m.MessageType.END:
                self.wrote_end = True
                out.append(_frame(_DATA, _END_STREAM, self.id))
            elif kind in (m.MessageType.ERROR, m.MessageType.SUSPENSION):
                raise RuntimeError(
                    f"stream {self.id}: the SDK sent {m.decode(kind, frame.payload)}"
                )


async def _drive(
    client: trio.SocketStream, path: str, body: bytes, total: int, concurrency: int
) -> float:
    """Run ``total`` invocations, ``concurrency`` at a time; the CPU seconds they took."""
    blocks = iter(_header_blocks(path, total))
    streams: dict[int, _Invocation] = {}
    next_id = 1
    started = done = 0

    def start(out: list[bytes]) -> None:
        nonlocal next_id, started
        sid = next_id
        next_id += 2
        started += 1
        streams[sid] = _Invocation(sid)
        out.append(_frame(_HEADERS, _END_HEADERS, sid, next(blocks)))
        out.append(_frame(_DATA, 0, sid, body))

    out: list[bytes] = []
    await client.send_all(
        PREFACE + _frame(_SETTINGS, 0, 0) + _frame(_WINDOW_UPDATE, 0, 0, struct.pack(">L", 1 << 30))
    )
    t0 = time.process_time()
    for _ in range(min(concurrency, total)):
        start(out)
    await client.send_all(b"".join(out))
    buffer = b""
    while done < total:
        chunk = await client.receive_some(1 << 16)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        buffer = buffer + chunk if buffer else chunk
        out = []
        offset = 0
        while len(buffer) - offset >= 9:
            high, low, kind, flags, sid = _H2_HEAD.unpack_from(buffer, offset)
            length = high << 8 | low
            end = offset + 9 + length
            if end > len(buffer):
                break
            payload = buffer[offset + 9 : end]
            offset = end
            if kind == _DATA:
                invocation = streams.get(sid & 0x7FFFFFFF)
                if invocation is None:
                    continue
                invocation.feed(payload, out)
                if flags & _END_STREAM:
                    if not invocation.wrote_end:
                        raise RuntimeError(f"stream {sid}: ended without End")
                    del streams[invocation.id]
                    done += 1
                    if started < total:
                        start(out)
            elif kind == _SETTINGS and not flags & _ACK:
                out.append(_frame(_SETTINGS, _ACK, 0))
            elif kind == _PING and not flags & _ACK:
                out.append(_frame(_PING, _ACK, 0, payload))
            elif kind in (_RST_STREAM, _GOAWAY):
                raise RuntimeError(f"the server sent frame type {kind} on stream {sid}")
        buffer = buffer[offset:]
        if out:
            await client.send_all(b"".join(out))
    return time.process_time() - t0


def _tcp_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    return (
        trio.SocketStream(trio.socket.from_stdlib_socket(server)),
        trio.SocketStream(trio.socket.from_stdlib_socket(client)),
    )


def _builtin(floor: bool) -> Callable[[trio.SocketStream], object]:
    from restate_trio._transport.h2connection import H2ServerConnection
    from restate_trio._transport.logs import RateLimitedWarning

    if floor:
        from bench.floor_app import router
    else:
        from bench.trio_app import endpoint

        router = endpoint.app().router
    warn = RateLimitedWarning(logging.getLogger("stackcost"))

    async def serve(stream: trio.SocketStream) -> None:
        await H2ServerConnection(stream, router, warn).run(b"")

    return serve


def _hypercorn(floor: bool) -> Callable[[trio.SocketStream], object]:
    from hypercorn.app_wrappers import ASGIWrapper
    from hypercorn.config import Config
    from hypercorn.trio.tcp_server import TCPServer
    from hypercorn.trio.worker_context import WorkerContext

    if floor:
        from bench.floor_app import app
    else:
        from bench.trio_app import app
    config = Config.from_toml(str(Path(__file__).resolve().parent / "hypercorn.toml"))

    async def serve(stream: trio.SocketStream) -> None:
        await TCPServer(ASGIWrapper(app), config, WorkerContext(None), {}, stream).run()  # type: ignore[arg-type]

    return serve


async def _measure(
    transport: str, floor: bool, workload: str, total: int, concurrency: int, warmup: int
) -> float:
    serve = (_builtin if transport == "builtin" else _hypercorn)(floor)
    path, body = WORKLOADS[workload]
    server, client = _tcp_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve, server)  # type: ignore[arg-type]
        with trio.fail_after(600):
            await _drive(client, path, body, warmup, concurrency)
        nursery.cancel_scope.cancel()
    server, client = _tcp_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve, server)  # type: ignore[arg-type]
        with trio.fail_after(600):
            seconds = await _drive(client, path, body, total, concurrency)
        nursery.cancel_scope.cancel()
    return seconds / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="greet,counter,run1,steps10")
    parser.add_argument("--transports", default="builtin,hypercorn")
    parser.add_argument("--floor", action="store_true", help="also the canned responders")
    parser.add_argument("--invocations", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sides = [(t, False) for t in args.transports.split(",")]
    if args.floor:
        sides += [(t, True) for t in args.transports.split(",")]
    print(
        f"CPU µs per invocation, client included (c={args.concurrency}, {args.invocations}"
        f" invocations, {args.reps} reps: best / median)"
    )
    for workload in args.workloads.split(","):
        results: dict[tuple[str, bool], list[float]] = {side: [] for side in sides}
        for _ in range(args.reps):  # sides alternate within each repetition
            for side in sides:
                per = trio.run(
                    _measure,
                    side[0],
                    side[1],
                    workload,
                    args.invocations,
                    args.concurrency,
                    max(args.invocations // 10, 50),
                )
                results[side].append(per * 1e6)
        for (transport, floor), values in results.items():
            name = f"{transport}{' floor' if floor else ''}"
            print(f"{workload:8s} {name:16s} {min(values):8.1f} {statistics.median(values):8.1f}")


if __name__ == "__main__":
    main()
