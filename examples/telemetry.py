"""Codecs per service, handler and operation (docs/howto/codecs.md): a ``Telemetry`` Virtual
Object that takes CBOR and keeps its state in CBOR, one raw-bytes state entry, and one handler
that answers JSON.
"""

from __future__ import annotations

import dataclasses

import restate_trio as restate
from restate_trio.codecs import BytesCodec, CborCodec, JsonCodec


@dataclasses.dataclass
class Reading:
    seq: int
    celsius: float


@dataclasses.dataclass
class Summary:
    readings: int
    last: Reading | None


@restate.service_codec(CborCodec())  # the service's handlers and their state use CBOR
class Telemetry:
    async def record(self, ctx: restate.ObjectContext, reading: Reading) -> int:
        count = (await ctx.get("count", type=int) or 0) + 1
        ctx.set("count", count)  # CBOR, like the service
        ctx.set("last", reading)
        ctx.set("raw", f"{reading.celsius}C".encode(), codec=BytesCodec())  # raw bytes
        return count

    @restate.handler(output_codec=JsonCodec())  # takes CBOR, answers JSON
    async def summary(self, ctx: restate.ObjectSharedContext) -> Summary:
        count = await ctx.get("count", type=int) or 0
        return Summary(count, await ctx.get("last", type=Reading))


endpoint = restate.Endpoint(codec=JsonCodec()).bind(  # the default for everything else
    restate.reflect(Telemetry())
)
