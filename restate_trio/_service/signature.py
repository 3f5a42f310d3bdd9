"""Read a handler's signature: its context, input and output types.

The one parser of handler methods, used by ``reflect`` (the callee's definition) and by typed
calls (the caller's :class:`~restate_trio._service.targets.Target`), so both ends of a call read
the same types from the same method.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from dataclasses import dataclass
from typing import Final

from ..context import (
    Context,
    ObjectContext,
    ObjectSharedContext,
    WorkflowContext,
    WorkflowSharedContext,
)
from ..errors import ServiceDefinitionError
from .definitions import HandlerKind, ServiceKind

__all__ = ["CONTEXTS", "HandlerSignature", "NotAHandler", "parse_handler"]


class _ContextEntry(typing.NamedTuple):
    type: object
    name: str  # as users write it, e.g. "restate.ObjectContext"
    service_kind: ServiceKind
    handler_kind: HandlerKind | None


# The context annotation of a handler's first parameter decides the service and handler kinds.
# Compared by identity: subclasses or aliases of the context protocols are not handlers.
CONTEXTS: Final = (
    _ContextEntry(Context, "restate.Context", ServiceKind.SERVICE, None),
    _ContextEntry(
        ObjectContext, "restate.ObjectContext", ServiceKind.VIRTUAL_OBJECT, HandlerKind.EXCLUSIVE
    ),
    _ContextEntry(
        ObjectSharedContext,
        "restate.ObjectSharedContext",
        ServiceKind.VIRTUAL_OBJECT,
        HandlerKind.SHARED,
    ),
    _ContextEntry(
        WorkflowContext, "restate.WorkflowContext", ServiceKind.WORKFLOW, HandlerKind.WORKFLOW
    ),
    _ContextEntry(
        WorkflowSharedContext,
        "restate.WorkflowSharedContext",
        ServiceKind.WORKFLOW,
        HandlerKind.SHARED,
    ),
)
_CONTEXT_NAMES: Final = frozenset(entry.name.split(".")[1] for entry in CONTEXTS)

_POSITIONAL: Final = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
)
_EMPTY: Final[object] = inspect.Parameter.empty


class NotAHandler(Exception):
    """The function is not a handler (it takes no restate context), for the reason given."""


@dataclass(frozen=True)
class HandlerSignature:
    """What a handler method's signature says."""

    context: str  # e.g. "restate.ObjectContext"
    service_kind: ServiceKind
    kind: HandlerKind | None
    # False for ``(self, ctx)`` handlers; then ``input_type`` is None.
    has_input: bool
    # The input annotation (``object`` when there is none), ``Annotated`` kept.
    input_type: object
    # The return annotation; None when the handler returns nothing (``-> None`` or none).
    output_type: object


def parse_handler(func: types.FunctionType, where: str) -> HandlerSignature:
    """Parse ``func`` (a method, ``self`` first) as a handler.

    Raises :class:`NotAHandler` when it takes no restate context after ``self`` (it is not meant
    to be a handler), and :class:`ServiceDefinitionError` naming ``where`` when it takes one but
    breaks a rule. String annotations resolve in the module of the (unwrapped) function.
    """
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:  # pragma: no cover - plain functions have one
        raise NotAHandler(f"no signature: {exc}") from None
    params = list(signature.parameters.values())
    if not params or params[0].kind not in _POSITIONAL:
        raise NotAHandler("does not take self as its first parameter")
    if len(params) < 2:
        raise NotAHandler("takes no parameter after self; a handler takes a restate context first")
    globalns = _globals_of(func)
    ctx_param = params[1]
    try:
        ctx_type = _resolve(ctx_param.annotation, globalns)
    except Exception as exc:
        if _names_a_context(ctx_param.annotation):
            raise ServiceDefinitionError(
                f"{where}: cannot resolve the annotation {ctx_param.annotation!r} of parameter "
                f"{ctx_param.name!r} ({type(exc).__name__}: {exc}); import the context type at "
                "run time, not only under TYPE_CHECKING"
            ) from None
        raise NotAHandler(
            f"the annotation of parameter {ctx_param.name!r} does not resolve: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    entry = next((entry for entry in CONTEXTS if entry.type is ctx_type), None)
    if entry is None:
        if ctx_type is _EMPTY:
            raise NotAHandler(f"parameter {ctx_param.name!r} has no annotation")
        raise NotAHandler(
            f"parameter {ctx_param.name!r} is annotated with {_describe(ctx_type)}, not a "
            "restate context"
        )

    # From here on the function is meant to be a handler: problems are errors.
    if not inspect.iscoroutinefunction(func):
        what = "an async generator" if inspect.isasyncgenfunction(func) else "not an async def"
        raise ServiceDefinitionError(
            f"{where}: a handler must be a coroutine function (async def), but it is {what}"
        )
    if ctx_param.kind not in _POSITIONAL:
        raise ServiceDefinitionError(
            f"{where}: the context parameter {ctx_param.name!r} must be positional, not "
            f"{_kind_text(ctx_param.kind)}"
        )
    if ctx_param.default is not inspect.Parameter.empty:
        raise ServiceDefinitionError(
            f"{where}: the context parameter {ctx_param.name!r} must not have a default value"
        )
    extra = params[2:]
    for param in extra:
        if param.kind not in _POSITIONAL:
            raise ServiceDefinitionError(
                f"{where}: parameter {param.name!r} is {_kind_text(param.kind)}; a restate "
                "handler takes a context and optionally one positional input parameter"
            )
    if len(extra) > 1:
        names = ", ".join(repr(p.name) for p in extra)
        raise ServiceDefinitionError(
            f"{where}: too many parameters ({names}); a restate handler takes a context and "
            "optionally *one* input parameter (wrap several values in a dataclass or Struct)"
        )
    input_type: object = None
    if extra:
        param = extra[0]
        if param.default is not inspect.Parameter.empty:
            raise ServiceDefinitionError(
                f"{where}: the input parameter {param.name!r} must not have a default value; "
                "the input is always passed (annotate it as `X | None` to accept no input)"
            )
        input_type = _resolve_or_raise(
            where, f"parameter {param.name!r}", param.annotation, globalns
        )
        if input_type is _EMPTY:
            input_type = object
    output_type = _resolve_or_raise(
        where, "the return annotation", signature.return_annotation, globalns
    )
    if output_type is _EMPTY or output_type is type(None):
        output_type = None
    return HandlerSignature(
        context=entry.name,
        service_kind=entry.service_kind,
        kind=entry.handler_kind,
        has_input=bool(extra),
        input_type=input_type,
        output_type=output_type,
    )


def _globals_of(func: types.FunctionType) -> dict[str, object]:
    # Decorated methods (functools.wraps) resolve their annotations where the original lives.
    unwrapped = inspect.unwrap(func)
    namespace: object = getattr(unwrapped, "__globals__", None)
    if isinstance(namespace, dict):
        return typing.cast("dict[str, object]", namespace)
    return func.__globals__


def _resolve(annotation: object, globalns: dict[str, object]) -> object:
    """Evaluate one annotation like typing.get_type_hints does (string annotations included)."""
    if annotation is _EMPTY:
        return _EMPTY
    holder = types.SimpleNamespace(__annotations__={"annotation": annotation})
    hints = typing.get_type_hints(holder, globalns=globalns, include_extras=True)
    return hints["annotation"]


def _resolve_or_raise(
    where: str, what: str, annotation: object, globalns: dict[str, object]
) -> object:
    try:
        return _resolve(annotation, globalns)
    except Exception as exc:
        raise ServiceDefinitionError(
            f"{where}: cannot resolve {what} {annotation!r} ({type(exc).__name__}: {exc}); "
            "annotations must be importable at run time from the method's module"
        ) from None


def _names_a_context(annotation: object) -> bool:
    """Whether an unresolvable string annotation looks like one of the context types."""
    if not isinstance(annotation, str):
        return False
    last = re.split(r"[.\s]", annotation.strip().strip("'\""))[-1]
    return last in _CONTEXT_NAMES


def _describe(tp: object) -> str:
    for entry in CONTEXTS:
        if tp is entry.type:
            return entry.name
    if isinstance(tp, type):
        return tp.__qualname__
    return repr(tp)


def _kind_text(kind: object) -> str:
    if kind is inspect.Parameter.KEYWORD_ONLY:
        return "keyword-only"
    if kind is inspect.Parameter.VAR_POSITIONAL:
        return "a *args parameter"
    if kind is inspect.Parameter.VAR_KEYWORD:
        return "a **kwargs parameter"
    return str(kind)  # pragma: no cover
