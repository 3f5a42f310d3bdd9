"""Resolve a handler *reference* (``Greeter.greet``) into the service and handler it names.

Typed calls take the method of a service class or of a ``typing.Protocol`` interface; the
service name comes from the class (``@service_name`` or the class name), the handler name from
the method, and the input/output types from its annotations.
"""

from __future__ import annotations

import functools
import inspect
import sys
import typing
from dataclasses import dataclass

from ..codecs import DEFAULT_CODEC, PayloadCodec
from .definitions import ServiceDefinitionError
from .reflect import (
    _declared_service_name,  # pyright: ignore[reportPrivateUsage]
    declared_handler_options,
    declared_service_codec,
)


@dataclass(frozen=True)
class Target:
    """Where a typed call goes and how its payloads are typed."""

    service: str
    handler: str
    has_input: bool
    input_type: object
    output_type: object
    input_codec: PayloadCodec = DEFAULT_CODEC
    output_codec: PayloadCodec = DEFAULT_CODEC


def target_of(method: object) -> Target:
    """The target named by ``method``: an unbound method of a class, or a bound method."""
    cls: type | None = None
    func = method
    if inspect.ismethod(method):
        cls = type(method.__self__)
        func = method.__func__
    if not inspect.isfunction(func):
        raise TypeError(
            f"expected a handler method such as Greeter.greet, got {method!r}; use the generic "
            "call(service, handler, payload) to call by name"
        )
    return _target(func, cls)


@functools.lru_cache(maxsize=1024)
def _target(func: typing.Callable[..., object], cls: type | None) -> Target:
    qualname = func.__qualname__
    parts = qualname.split(".")
    if len(parts) < 2:
        raise TypeError(f"{qualname} is not a method of a service class")
    if cls is None:
        cls = _owner_class(func)
    service = (_declared_service_name(cls) if cls is not None else None) or parts[-2]
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:
        raise ServiceDefinitionError(f"{qualname}: cannot resolve its annotations ({exc})") from exc
    params = [
        p
        for p in inspect.signature(func).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    # (self, ctx) or (self, ctx, input)
    if len(params) not in (2, 3):
        raise ServiceDefinitionError(
            f"{qualname}: a handler takes (self, ctx) or (self, ctx, input)"
        )
    has_input = len(params) == 3
    input_type = hints.get(params[2].name, object) if has_input else None
    output_type = hints.get("return", None)
    if output_type is type(None):
        output_type = None
    # The callee's codecs, as declared on its class (the same ones reflect() reads).
    options = declared_handler_options(cls, func)
    default = options.codec or (declared_service_codec(cls) if cls is not None else None)
    default = default or DEFAULT_CODEC
    return Target(
        service,
        func.__name__,
        has_input,
        input_type,
        output_type,
        options.input_codec or default,
        options.output_codec or default,
    )


def _owner_class(func: typing.Callable[..., object]) -> type | None:
    module = sys.modules.get(func.__module__)
    owner: object = module
    for part in func.__qualname__.split(".")[:-1]:
        if part == "<locals>" or owner is None:
            return None
        owner = getattr(owner, part, None)
    return owner if isinstance(owner, type) else None
