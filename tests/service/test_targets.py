"""A caller's typed target and the callee's definition agree, for the same method.

Annotations are strings here (``from __future__ import annotations``) on purpose: both ends must
resolve them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Optional, Protocol

import msgspec
import pytest

import restate_trio as restate
from restate_trio._service.codec_choice import resolve_codecs
from restate_trio._service.targets import Target, target_of
from restate_trio.codecs import (
    DEFAULT_CODEC,
    BytesCodec,
    CborCodec,
    CodecError,
    JsonCodec,
    PayloadCodec,
)
from restate_trio.service import HandlerDefinition, ServiceDefinitionError, reflect

CBOR = CborCodec()
JSON = JsonCodec()
RAW = BytesCodec()


@dataclass
class Order:
    id: str
    quantity: int


class Shapes:
    async def plain(self, ctx: restate.Context, order: Order) -> int:
        return order.quantity

    async def optional(self, ctx: restate.Context, name: str | None) -> str:
        return name or ""

    async def old_optional(self, ctx: restate.Context, name: Optional[str]) -> str:  # noqa: UP045
        return name or ""

    async def no_input(self, ctx: restate.Context) -> list[int]:
        return []

    async def returns_none(self, ctx: restate.Context, value: int) -> None:
        pass

    async def unannotated(self, ctx: restate.Context, value) -> None:  # type: ignore[no-untyped-def]
        pass

    async def constrained(
        self, ctx: restate.Context, count: Annotated[int, msgspec.Meta(ge=0)]
    ) -> Annotated[str, msgspec.Meta(max_length=3)]:
        return str(count)


class Codecs:
    @restate.handler(codec=CBOR)
    async def both(self, ctx: restate.Context, value: int) -> int:
        return value

    @restate.handler(input_codec=CBOR, output_codec=RAW)
    async def split(self, ctx: restate.Context, value: int) -> bytes:
        return b""

    @restate.handler(codec=RAW, input_codec=CBOR)
    async def nearest(self, ctx: restate.Context, value: int) -> bytes:
        return b""

    async def default(self, ctx: restate.Context, value: int) -> int:
        return value


@restate.service_codec(CBOR)
class CborService:
    async def inherited(self, ctx: restate.Context, value: int) -> int:
        return value

    @restate.handler(output_codec=JSON)
    async def mixed(self, ctx: restate.Context, value: int) -> int:
        return value


@restate.service_name("counter")
@restate.service_codec(CBOR)
class CounterApi(Protocol):
    @restate.handler(input_codec=RAW)
    async def add(self, ctx: restate.ObjectContext, delta: bytes) -> int: ...

    async def current(self, ctx: restate.ObjectSharedContext) -> int: ...


class Counter(CounterApi):
    async def add(self, ctx: restate.ObjectContext, delta: bytes) -> int:
        return len(delta)

    async def current(self, ctx: restate.ObjectSharedContext) -> int:
        return 0


def agree(target: Target, handler: HandlerDefinition) -> None:
    """The caller's view of a handler is the callee's."""
    assert (target.has_input, target.input_type, target.output_type) == (
        handler.has_input,
        handler.input_type,
        handler.output_type,
    )
    assert target.input_codec is handler.effective_input_codec
    assert target.output_codec is handler.effective_output_codec


CASES = [
    (Shapes, "plain", True, Order, int),
    (Shapes, "optional", True, str | None, str),
    (Shapes, "old_optional", True, Optional[str], str),  # noqa: UP045
    (Shapes, "no_input", False, None, list[int]),
    (Shapes, "returns_none", True, int, None),
    (Shapes, "unannotated", True, object, None),
    (
        Shapes,
        "constrained",
        True,
        Annotated[int, msgspec.Meta(ge=0)],
        Annotated[str, msgspec.Meta(max_length=3)],
    ),
]


@pytest.mark.parametrize(
    ("cls", "method", "has_input", "input_type", "output_type"),
    CASES,
    ids=[case[1] for case in CASES],
)
def test_caller_and_callee_read_the_same_signature(
    cls: type, method: str, has_input: bool, input_type: object, output_type: object
) -> None:
    handler = reflect(cls()).handlers[method]
    for reference in (getattr(cls, method), getattr(cls(), method)):
        target = target_of(reference)
        assert (target.service, target.handler) == (cls.__name__, method)
        assert target.has_input is has_input
        assert target.input_type == input_type
        assert target.output_type == output_type
        agree(target, handler)


def test_annotated_metadata_is_kept_at_both_ends() -> None:
    # The codec validates with it (msgspec constraints): a caller must not drop it.
    target = target_of(Shapes.constrained)
    assert target.input_type == Annotated[int, msgspec.Meta(ge=0)]
    with pytest.raises(CodecError):
        target.input_codec.decode(b"-1", target.input_type)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cls", "method", "input_codec", "output_codec"),
    [
        (Codecs, "both", CBOR, CBOR),
        (Codecs, "split", CBOR, RAW),
        (Codecs, "nearest", CBOR, RAW),
        (Codecs, "default", DEFAULT_CODEC, DEFAULT_CODEC),
        (CborService, "inherited", CBOR, CBOR),
        (CborService, "mixed", CBOR, JSON),
    ],
)
def test_caller_and_callee_pick_the_same_codecs(
    cls: type, method: str, input_codec: PayloadCodec, output_codec: PayloadCodec
) -> None:
    target = target_of(getattr(cls, method))
    handler = reflect(cls()).handlers[method]
    assert target.input_codec is input_codec
    assert target.output_codec is output_codec
    agree(target, handler)


def test_an_interface_declares_for_both_ends() -> None:
    definition = reflect(Counter())
    for method in ("add", "current"):
        for reference in (getattr(CounterApi, method), getattr(Counter, method)):
            target = target_of(reference)
            assert target.service == "counter"
            agree(target, definition.handlers[method])
    add = target_of(CounterApi.add)
    assert (add.input_codec, add.output_codec) == (RAW, CBOR)


def test_callee_options_beyond_the_class_are_not_visible_to_callers() -> None:
    # reflect(codec=…) and Endpoint(codec=…) are the callee's choices: a caller that only has
    # the class keeps the class's declarations (documented in targets.py).
    assert target_of(Shapes.plain).input_codec is DEFAULT_CODEC
    assert reflect(Shapes(), codec=CBOR).handlers["plain"].effective_input_codec is CBOR


def test_both_ends_reject_the_same_broken_handler() -> None:
    class Broken:
        async def two(self, ctx: restate.Context, a: int, b: int) -> None:
            pass

    with pytest.raises(ServiceDefinitionError, match="too many parameters"):
        reflect(Broken())
    with pytest.raises(ServiceDefinitionError, match="too many parameters"):
        target_of(Broken.two)


def test_a_method_without_a_context_is_not_a_target() -> None:
    class Helper:
        async def helper(self, value: int) -> int:
            return value

    with pytest.raises(TypeError, match=r"Helper.helper is not a handler \(parameter 'value'"):
        target_of(Helper.helper)
    with pytest.raises(TypeError, match="expected a handler method"):
        target_of(len)


# --- nearest codec wins ----------------------------------------------------------------------


def test_resolve_codecs_nearest_wins() -> None:
    a, b, c, d, e = (JsonCodec() for _ in range(5))
    assert resolve_codecs() == (DEFAULT_CODEC, DEFAULT_CODEC, DEFAULT_CODEC)
    assert resolve_codecs(endpoint=a) == (a, a, a)
    assert resolve_codecs(service=b, endpoint=a) == (b, b, b)
    assert resolve_codecs(handler=c, service=b, endpoint=a) == (c, c, c)
    assert resolve_codecs(handler=c, handler_input=d, service=b) == (c, d, c)
    assert resolve_codecs(handler_output=d, service=b) == (b, b, d)
    everything = resolve_codecs(
        operation=e, handler=c, handler_input=d, handler_output=d, service=b, endpoint=a
    )
    assert everything == (e, e, e)


def test_handler_codecs_follow_the_service_and_the_endpoint() -> None:
    endpoint_codec = JsonCodec()
    plain = reflect(Codecs()).with_default_codec(endpoint_codec)
    assert plain.handlers["default"].effective_input_codec is endpoint_codec
    assert plain.handlers["both"].effective_input_codec is CBOR  # the handler's is nearer
    service = reflect(Codecs(), codec=RAW).with_default_codec(endpoint_codec)
    assert service.handlers["default"].effective_output_codec is RAW  # the service's is nearer
    # Unsetting a handler's codec makes the service's apply again.
    unset = service.configure_handler("both", codec=None).handlers["both"]
    assert unset.effective_codec is RAW
