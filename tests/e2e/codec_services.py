"""Services for the end-to-end codec tests (``test_codecs_e2e.py``).

The classes live at module level on purpose: typed calls by method reference
(``ctx.service_call(CborSvc.summarize, …)``) read the callee's codecs from its class, and a
class defined inside a function cannot be found from its method.

Handlers report to the test through a :class:`Recorder` shared by the instances that one test
binds: how often each handler body ran, and the raw input bytes each one received.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, cast

import cbor2
import pydantic

import restate_trio as restate
from restate_trio._transport.asgi import Receive, Scope, Send
from restate_trio.codecs import BytesCodec, CborCodec, CodecError, JsonCodec, JsonSchema

# --------------------------------------------------------------------------- payload types


@dataclass
class Point:
    x: int
    y: int
    label: str


class Item(pydantic.BaseModel):
    name: str
    qty: int
    tags: list[str] = []


@dataclass
class Reading:
    sensor: str
    raw: bytes
    values: list[float]


@dataclass
class Summary:
    sensor: str
    size: int
    total: float


# --------------------------------------------------------------------------- a text codec


class TextCodec:
    """UTF-8 text (``text/plain; charset=utf-8``): the payload is the string."""

    content_type = "text/plain; charset=utf-8"
    set_content_type_if_empty = False
    deterministic = True

    def encode(self, value: object, tp: object = object) -> bytes:
        if not isinstance(value, str):
            raise CodecError(f"TextCodec encodes str, not {type(value).__name__}")
        return value.encode()

    def decode(self, data: bytes, tp: Any) -> Any:
        if tp not in (str, object):
            raise CodecError(f"TextCodec decodes into str, not {tp!r}")
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise CodecError(f"cannot decode text into str: {exc}") from exc

    def json_schema(self, tp: object) -> JsonSchema | None:
        return {"type": "string"}

    def input_required(self, tp: object) -> bool:
        return False


# --------------------------------------------------------------------------- side channel


class Recorder:
    """What the handlers of one test did: run counts and raw inputs, by handler name."""

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()
        self.bodies: dict[str, list[bytes]] = {}

    def ran(self, name: str, ctx: restate.Context) -> None:
        self.runs[name] += 1
        self.bodies.setdefault(name, []).append(ctx.request().body)


def _check(value: object, cls: type, where: str) -> None:
    """A wrong input type is a terminal failure (the test sees it at once, no retries)."""
    if not isinstance(value, cls):
        raise restate.TerminalError(
            f"{where} received {type(value).__qualname__}, not {cls.__qualname__}", code=422
        )


# --------------------------------------------------------------------------- services


class JsonSvc:
    """JSON by default; one CBOR-in/JSON-out handler and one text handler."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def greet(self, ctx: restate.Context, name: str) -> str:
        self.rec.ran("JsonSvc.greet", ctx)
        return f"Hello {name}!"

    async def point(self, ctx: restate.Context, p: Point) -> Point:
        self.rec.ran("JsonSvc.point", ctx)
        _check(p, Point, "JsonSvc.point")
        return Point(p.x + 1, p.y * 2, p.label.upper())

    async def item(self, ctx: restate.Context, item: Item) -> Item:
        self.rec.ran("JsonSvc.item", ctx)
        _check(item, Item, "JsonSvc.item")
        return Item(name=item.name[::-1], qty=item.qty * 10, tags=[*item.tags, "json"])

    @restate.handler(input_codec=CborCodec(), output_codec=JsonCodec())
    async def total(self, ctx: restate.Context, batch: list[int]) -> int:
        self.rec.ran("JsonSvc.total", ctx)
        return sum(batch)

    @restate.handler(codec=TextCodec(), accept="text/*")
    async def shout(self, ctx: restate.Context, text: str) -> str:
        self.rec.ran("JsonSvc.shout", ctx)
        return text.upper() + "!"

    async def nothing(self, ctx: restate.Context) -> str:
        self.rec.ran("JsonSvc.nothing", ctx)
        return "nothing"

    # -- calls to other services ------------------------------------------------------------

    async def via_ref(self, ctx: restate.Context, sensor: str) -> Summary:
        """Typed call by reference: CborSvc's codec (CBOR) is used without saying so."""
        self.rec.ran("JsonSvc.via_ref", ctx)
        reading = Reading(sensor, b"\x00\x01\xfe", [1.5, 2.25])
        summary = await ctx.service_call(CborSvc.summarize, reading)
        _check(summary, Summary, "JsonSvc.via_ref result")
        return Summary(summary.sensor + "/via-ref", summary.size, summary.total)

    async def configured_override(self, ctx: restate.Context, x: int) -> int:
        """Configured is CBOR only at deployment: the caller must say ``codec=``."""
        self.rec.ran("JsonSvc.configured_override", ctx)
        return await ctx.service_call(Configured.area, Point(x, x + 1, "o"), codec=CborCodec())

    async def configured_default(self, ctx: restate.Context, x: int) -> str:
        """Without the override the call sends JSON, which Configured cannot decode."""
        self.rec.ran("JsonSvc.configured_default", ctx)
        try:
            area = await ctx.service_call(Configured.area, Point(x, x + 1, "d"))
        except restate.TerminalError as exc:
            return f"{exc.code}: {exc.message}"
        return f"unexpected success: {area}"

    async def refs(self, ctx: restate.Context, key: str) -> dict[str, object]:
        """More calls by reference: per-direction handler codecs, raw bytes, an object."""
        self.rec.ran("JsonSvc.refs", ctx)
        total = await ctx.service_call(JsonSvc.total, [1, 2, 3])  # CBOR in, JSON out
        reversed_ = await ctx.service_call(BytesSvc.reverse, b"abc\xff")
        await ctx.object_call(CborVo.put, key, {"zz": 26, "y": 25})
        state = await ctx.object_call(CborVo.read, key)  # JSON handler of a CBOR object
        _check(reversed_, bytes, "JsonSvc.refs reverse result")
        return {"total": total, "reversed": reversed_.hex(), "state": state}

    async def generic_cbor(self, ctx: restate.Context, sensor: str) -> dict[str, object]:
        """Generic call: raw CBOR bytes in, raw CBOR bytes out."""
        self.rec.ran("JsonSvc.generic_cbor", ctx)
        payload = cbor2.dumps({"sensor": sensor, "raw": b"\x07", "values": [4.0]}, canonical=True)
        raw = await ctx.generic_call("CborSvc", "summarize", payload)
        decoded = cbor2.loads(raw)
        return {"decoded": decoded, "hex": raw.hex()}


@restate.service_codec(CborCodec())
class CborSvc:
    """CBOR for every handler (declared on the class)."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def summarize(self, ctx: restate.Context, r: Reading) -> Summary:
        self.rec.ran("CborSvc.summarize", ctx)
        _check(r, Reading, "CborSvc.summarize")
        _check(r.raw, bytes, "CborSvc.summarize raw")
        return Summary(r.sensor, len(r.raw), sum(r.values))

    async def point(self, ctx: restate.Context, p: Point) -> Point:
        self.rec.ran("CborSvc.point", ctx)
        _check(p, Point, "CborSvc.point")
        return Point(p.x + 1, p.y * 2, p.label.upper())

    async def item(self, ctx: restate.Context, item: Item) -> Item:
        self.rec.ran("CborSvc.item", ctx)
        _check(item, Item, "CborSvc.item")
        return Item(name=item.name[::-1], qty=item.qty * 10, tags=[*item.tags, "cbor"])

    async def ping(self, ctx: restate.Context) -> None:
        self.rec.ran("CborSvc.ping", ctx)


@restate.service_codec(BytesCodec())
class BytesSvc:
    """Raw bytes in and out."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def reverse(self, ctx: restate.Context, data: bytes) -> bytes:
        self.rec.ran("BytesSvc.reverse", ctx)
        _check(data, bytes, "BytesSvc.reverse")
        return data[::-1]


class Configured:
    """No codec declared on the class: the test reflects it with ``codec=CborCodec()``."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def area(self, ctx: restate.Context, p: Point) -> int:
        self.rec.ran("Configured.area", ctx)
        _check(p, Point, "Configured.area")
        return p.x * p.y


# --------------------------------------------------------------------------- state


class StateVo:
    """A JSON virtual object that keeps one value as CBOR (operation-level codec)."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def put(self, ctx: restate.ObjectContext, r: Reading) -> None:
        self.rec.ran("StateVo.put", ctx)
        ctx.set("reading", r, codec=CborCodec())

    async def get(self, ctx: restate.ObjectSharedContext) -> Reading | None:
        self.rec.ran("StateVo.get", ctx)
        value = await ctx.get("reading", type=Reading, codec=CborCodec())
        if value is not None:
            _check(value, Reading, "StateVo.get state")
        return value


@restate.service_codec(CborCodec())
class CborVo:
    """A CBOR virtual object; ``read``/``read_default`` are JSON handlers."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def put(self, ctx: restate.ObjectContext, m: dict[str, int]) -> None:
        self.rec.ran("CborVo.put", ctx)
        ctx.set("m", m)  # the service codec: CBOR

    @restate.handler(codec=JsonCodec())
    async def read(self, ctx: restate.ObjectSharedContext) -> dict[str, int] | None:
        """JSON handler, CBOR state: an operation-level override reads it."""
        self.rec.ran("CborVo.read", ctx)
        return await ctx.get("m", type=dict[str, int], codec=CborCodec())

    @restate.handler(codec=JsonCodec())
    async def read_default(self, ctx: restate.ObjectSharedContext) -> str:
        """JSON handler, no override: its own (JSON) codec cannot read the CBOR state."""
        self.rec.ran("CborVo.read_default", ctx)
        try:
            value = await ctx.get("m", type=dict[str, int])
        except CodecError as exc:
            return f"undecodable: {exc}"
        return f"decoded: {value!r}"


class CountingEndpoint:
    """An endpoint's ASGI app that records every HTTP request it receives, by path.

    ``requests[path]`` lists the (lower-case) headers of each request to ``path``, e.g.
    ``/invoke/JsonSvc/point`` (one per attempt) or ``/serdes/CborSvc/decode/point/input``.
    """

    def __init__(self, endpoint: restate.Endpoint) -> None:
        self._app = endpoint.app()
        self.requests: dict[str, list[dict[str, str]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "http":
            raw = cast("list[tuple[bytes, bytes]]", scope.get("headers") or [])
            headers = {
                bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1") for k, v in raw
            }
            self.requests.setdefault(str(scope.get("path")), []).append(headers)
        await self._app(scope, receive, send)

    def attempts(self, service: str, handler: str) -> int:
        """How many invocation attempts of ``service/handler`` reached the endpoint."""
        return len(self.requests.get(f"/invoke/{service}/{handler}", []))


class Plain:
    """No codec declared anywhere: the test binds it to an endpoint whose default is CBOR."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def echo(self, ctx: restate.Context, data: dict[str, int]) -> dict[str, int]:
        self.rec.ran("Plain.echo", ctx)
        return {k: v + 1 for k, v in data.items()}

    async def echo_json(self, ctx: restate.Context, data: dict[str, int]) -> dict[str, int]:
        self.rec.ran("Plain.echo_json", ctx)
        return {k: v + 1 for k, v in data.items()}

    async def echo_any(self, ctx: restate.Context, data: bytes) -> bytes:
        self.rec.ran("Plain.echo_any", ctx)
        return data + b"!"


def endpoint(rec: Recorder) -> restate.Endpoint:
    """One endpoint with every service of this module, sharing ``rec``."""
    return restate.Endpoint().bind(
        restate.reflect(JsonSvc(rec)),
        restate.reflect(CborSvc(rec)),
        restate.reflect(BytesSvc(rec)),
        restate.reflect(Configured(rec), codec=CborCodec()),
        restate.reflect(StateVo(rec)),
        restate.reflect(CborVo(rec)),
    )


def cbor_default_endpoint(rec: Recorder) -> restate.Endpoint:
    """An endpoint whose default codec is CBOR; two handlers configured otherwise."""
    plain = (
        restate.reflect(Plain(rec))
        .configure_handler("echo_json", codec=JsonCodec())
        .configure_handler("echo_any", codec=BytesCodec(), accept="*/*")
    )
    return restate.Endpoint(codec=CborCodec()).bind(plain)
