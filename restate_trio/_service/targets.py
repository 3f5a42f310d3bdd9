"""Resolve a handler *reference* (``Greeter.greet``) into the service and handler it names.

Typed calls take the method of a service class or of a ``typing.Protocol`` interface; the
service name comes from the class (``@service_name`` or the class name), the handler name from
the method, and the input/output types from its annotations.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import types
import typing
from dataclasses import dataclass

from ..codecs import DEFAULT_CODEC, PayloadCodec
from .codec_choice import resolve_codecs
from .declarations import declared_handler, declared_service_codec, declared_service_name
from .signature import NotAHandler, parse_handler


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
def _target(func: types.FunctionType, cls: type | None) -> Target:
    qualname = func.__qualname__
    parts = qualname.split(".")
    if len(parts) < 2:
        raise TypeError(f"{qualname} is not a method of a service class")
    if cls is None:
        cls = _owner_class(func)
    service = (declared_service_name(cls) if cls is not None else None) or parts[-2]
    # The same parser and codec rule as the callee's reflect(): both ends agree on the types and
    # codecs. The callee's endpoint codec is not known here (JSON stands in for it), nor are
    # options given to reflect() / configure_handler() on the callee's side.
    try:
        signature = parse_handler(func, qualname)
    except NotAHandler as reason:
        raise TypeError(f"{qualname} is not a handler ({reason})") from None
    declared = declared_handler(cls, func)
    codecs = resolve_codecs(
        handler=declared.codec,
        handler_input=declared.input_codec,
        handler_output=declared.output_codec,
        service=declared_service_codec(cls),
    )
    return Target(
        service,
        func.__name__,
        signature.has_input,
        signature.input_type,
        signature.output_type,
        codecs.input,
        codecs.output,
    )


def _owner_class(func: typing.Callable[..., object]) -> type | None:
    module = sys.modules.get(func.__module__)
    owner: object = module
    for part in func.__qualname__.split(".")[:-1]:
        if part == "<locals>" or owner is None:
            return None
        owner = getattr(owner, part, None)
    return owner if isinstance(owner, type) else None


def with_codec(target: Target, codec: PayloadCodec | None) -> Target:
    """The call's own ``codec=`` over the callee's declared codecs (the nearest wins); shared
    by calls from handlers and from the ingress client."""
    if codec is None:
        return target
    codecs = resolve_codecs(
        operation=codec, handler_input=target.input_codec, handler_output=target.output_codec
    )
    return dataclasses.replace(target, input_codec=codecs.input, output_codec=codecs.output)
