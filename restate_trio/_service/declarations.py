"""What a service class declares with decorators: its name, its codec, its handlers' codecs.

Read by ``reflect`` for the callee and by typed calls for the caller; both look through the
class's bases, so a declaration on a :class:`typing.Protocol` interface applies to its
implementations and to callers that only know the interface.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from ..codecs import PayloadCodec
from ..errors import ServiceDefinitionError
from .definitions import validate_service_name

__all__ = [
    "DeclaredHandler",
    "declared_handler",
    "declared_service_codec",
    "declared_service_name",
    "handler",
    "service_codec",
    "service_name",
]

_C = TypeVar("_C", bound=type)
_F = TypeVar("_F", bound="Callable[..., object]")

# Names and codecs given with @service_name / @service_codec, by class. Kept outside the classes:
# an attribute set on a typing.Protocol would become one of its members (Python 3.11), which
# breaks isinstance() for runtime-checkable protocols.
_SERVICE_NAMES: Final[weakref.WeakKeyDictionary[type, str]] = weakref.WeakKeyDictionary()
_SERVICE_CODECS: Final[weakref.WeakKeyDictionary[type, PayloadCodec]] = weakref.WeakKeyDictionary()
_HANDLER_ATTRIBUTE: Final = "__restate_handler_options__"


def service_name(name: str) -> Callable[[_C], _C]:
    """Class decorator: the Restate service name of the class, instead of its ``__name__``.

    It may decorate an interface (a :class:`typing.Protocol`) as well: implementations that
    subclass the interface inherit the name, and the protocol stays a normal protocol. An explicit
    ``name=`` given to :func:`reflect` wins over the decorator.

    Example::

        from typing import Protocol

        import restate_trio as restate
        from restate_trio.service import reflect, service_name

        @service_name("greeter")
        class GreeterApi(Protocol):
            async def greet(self, ctx: restate.Context, name: str) -> str: ...

        class Greeter(GreeterApi):
            async def greet(self, ctx: restate.Context, name: str) -> str:
                return f"Hello {name}!"

        assert reflect(Greeter()).name == "greeter"

    Raises :class:`ServiceDefinitionError` if the Restate server would not accept ``name``.
    """
    validate_service_name(name)

    def decorate(cls: _C) -> _C:
        if not isinstance(cls, type):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ServiceDefinitionError(
                f"@service_name({name!r}) decorates a class, got {type(cls).__name__}"
            )
        _SERVICE_NAMES[cls] = name
        return cls

    return decorate


def service_codec(codec: PayloadCodec) -> Callable[[_C], _C]:
    """Class decorator: the default codec of the service's handlers and operations.

    Declared on the class (or on a :class:`typing.Protocol` interface it implements), it is also
    what *callers* use when they call the service's handlers by reference
    (``ctx.service_call(Greeter.greet, …)``). ``reflect(obj, codec=…)`` overrides it.

    Example::

        import restate_trio as restate
        from restate_trio.codecs import CborCodec

        @restate.service_codec(CborCodec())
        class Sensors:
            async def record(self, ctx: restate.Context, reading: dict[str, float]) -> int:
                return len(reading)

        assert restate.reflect(Sensors()).codec.content_type == "application/cbor"
    """

    def decorate(cls: _C) -> _C:
        if not isinstance(cls, type):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ServiceDefinitionError(
                f"@service_codec decorates a class, got {type(cls).__name__}"
            )
        _SERVICE_CODECS[cls] = codec
        return cls

    return decorate


@dataclass(frozen=True)
class DeclaredHandler:
    """The options declared on a handler method with :func:`handler`."""

    codec: PayloadCodec | None = None
    input_codec: PayloadCodec | None = None
    output_codec: PayloadCodec | None = None
    accept: str | None = None


def handler(
    *,
    codec: PayloadCodec | None = None,
    input_codec: PayloadCodec | None = None,
    output_codec: PayloadCodec | None = None,
    accept: str | None = None,
) -> Callable[[_F], _F]:
    """Method decorator: codecs of one handler (nearest wins over the service's).

    ``codec`` is the handler's default (its input, output and the operations it performs);
    ``input_codec`` / ``output_codec`` override one direction; ``accept`` declares the input
    content types the handler accepts, with wildcards (``"text/*"``, ``"*/*"``), as the
    discovery manifest allows. Declared on an interface method, it applies to implementations
    and to callers that call the handler by reference.

    Example, a handler that takes CBOR and answers JSON::

        import restate_trio as restate
        from restate_trio.codecs import CborCodec, JsonCodec

        class Ingest:
            @restate.handler(input_codec=CborCodec(), output_codec=JsonCodec())
            async def put(self, ctx: restate.Context, batch: list[int]) -> int:
                return sum(batch)
    """
    declared = DeclaredHandler(codec, input_codec, output_codec, accept)

    def decorate(fn: _F) -> _F:
        setattr(fn, _HANDLER_ATTRIBUTE, declared)
        return fn

    return decorate


def declared_service_name(cls: type) -> str | None:
    """The name declared with :func:`service_name` on ``cls`` or a base class."""
    for klass in cls.__mro__:
        declared = _SERVICE_NAMES.get(klass)
        if declared is not None:
            return declared
    return None


def declared_service_codec(cls: type | None) -> PayloadCodec | None:
    """The codec declared with :func:`service_codec` on ``cls`` or a base class."""
    for klass in cls.__mro__ if cls is not None else ():
        declared = _SERVICE_CODECS.get(klass)
        if declared is not None:
            return declared
    return None


def declared_handler(cls: type | None, method: object) -> DeclaredHandler:
    """The :func:`handler` options of a method, looked up through ``cls``'s bases too."""
    declared = getattr(method, _HANDLER_ATTRIBUTE, None)
    if isinstance(declared, DeclaredHandler):
        return declared
    name = getattr(method, "__name__", None)
    if cls is not None and name is not None:
        for klass in cls.__mro__:
            found = getattr(klass.__dict__.get(name), _HANDLER_ATTRIBUTE, None)
            if isinstance(found, DeclaredHandler):
                return found
    return DeclaredHandler()
