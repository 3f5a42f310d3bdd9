"""Turn a plain class into a :class:`ServiceDefinition` by reading its handlers' annotations."""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
import weakref
from typing import TYPE_CHECKING, Final, TypeVar

from ..codecs import PayloadCodec
from ..context import (
    Context,
    ObjectContext,
    ObjectSharedContext,
    WorkflowContext,
    WorkflowSharedContext,
)
from .definitions import (
    HandlerDefinition,
    HandlerKind,
    InvocationRetryPolicy,
    ServiceDefinition,
    ServiceDefinitionError,
    ServiceKind,
    validate_handler_name,
    validate_service_name,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import timedelta

__all__ = ["HandlerOptions", "handler", "reflect", "service_codec", "service_name"]

_C = TypeVar("_C", bound=type)

# The context annotation of a handler's first parameter decides the service and handler kinds.
# Compared by identity: subclasses or aliases of the context protocols are not handlers.
_CONTEXTS: tuple[tuple[object, str, ServiceKind, HandlerKind | None], ...] = (
    (Context, "restate.Context", ServiceKind.SERVICE, None),
    (ObjectContext, "restate.ObjectContext", ServiceKind.VIRTUAL_OBJECT, HandlerKind.EXCLUSIVE),
    (
        ObjectSharedContext,
        "restate.ObjectSharedContext",
        ServiceKind.VIRTUAL_OBJECT,
        HandlerKind.SHARED,
    ),
    (WorkflowContext, "restate.WorkflowContext", ServiceKind.WORKFLOW, HandlerKind.WORKFLOW),
    (
        WorkflowSharedContext,
        "restate.WorkflowSharedContext",
        ServiceKind.WORKFLOW,
        HandlerKind.SHARED,
    ),
)
_CONTEXT_NAMES: Final = frozenset(name.split(".")[1] for _, name, _, _ in _CONTEXTS)
_ALL_CONTEXTS: Final = ", ".join(name for _, name, _, _ in _CONTEXTS)
_ACCEPTED_FOR_KIND: Final[Mapping[ServiceKind, str]] = {
    ServiceKind.SERVICE: "restate.Context",
    ServiceKind.VIRTUAL_OBJECT: "restate.ObjectContext or restate.ObjectSharedContext",
    ServiceKind.WORKFLOW: "restate.WorkflowContext or restate.WorkflowSharedContext",
}
_KIND_NAMES: Final[Mapping[ServiceKind, str]] = {
    ServiceKind.SERVICE: "a service",
    ServiceKind.VIRTUAL_OBJECT: "a virtual object",
    ServiceKind.WORKFLOW: "a workflow",
}

# Names given with @service_name, by class. Kept outside the classes: an attribute set on a
# typing.Protocol would become one of its members (Python 3.11), which breaks isinstance() for
# runtime-checkable protocols.
_SERVICE_NAMES: Final[weakref.WeakKeyDictionary[type, str]] = weakref.WeakKeyDictionary()
_SERVICE_CODECS: Final[weakref.WeakKeyDictionary[type, PayloadCodec]] = weakref.WeakKeyDictionary()

# Bases whose members are never handlers.
_SKIPPED_BASES: Final[tuple[object, ...]] = (object, typing.Protocol, typing.Generic)

_POSITIONAL: Final = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
)


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


@dataclasses.dataclass(frozen=True)
class HandlerOptions:
    """Codec options declared on a handler method with :func:`handler`."""

    codec: PayloadCodec | None = None
    input_codec: PayloadCodec | None = None
    output_codec: PayloadCodec | None = None
    accept: str | None = None


_HANDLER_OPTIONS = "__restate_handler_options__"
_F = TypeVar("_F", bound="Callable[..., object]")


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
    options = HandlerOptions(codec, input_codec, output_codec, accept)

    def decorate(fn: _F) -> _F:
        setattr(fn, _HANDLER_OPTIONS, options)
        return fn

    return decorate


def declared_service_codec(cls: type) -> PayloadCodec | None:
    """The codec declared with :func:`service_codec` on ``cls`` or a base class."""
    for klass in cls.__mro__:
        declared = _SERVICE_CODECS.get(klass)
        if declared is not None:
            return declared
    return None


def declared_handler_options(cls: type | None, method: object) -> HandlerOptions:
    """The :func:`handler` options of a method, looked up through ``cls``'s bases too."""
    options = getattr(method, _HANDLER_OPTIONS, None)
    if isinstance(options, HandlerOptions):
        return options
    name = getattr(method, "__name__", None)
    if cls is not None and name is not None:
        for klass in cls.__mro__:
            found = getattr(klass.__dict__.get(name), _HANDLER_OPTIONS, None)
            if isinstance(found, HandlerOptions):
                return found
    return HandlerOptions()


def reflect(
    instance: object,
    name: str | None = None,
    *,
    codec: PayloadCodec | None = None,
    documentation: str | None = None,
    metadata: Mapping[str, str] | None = None,
    inactivity_timeout: timedelta | None = None,
    abort_timeout: timedelta | None = None,
    idempotency_retention: timedelta | None = None,
    journal_retention: timedelta | None = None,
    workflow_retention: timedelta | None = None,
    enable_lazy_state: bool | None = None,
    ingress_private: bool | None = None,
    retry_policy: InvocationRetryPolicy | None = None,
) -> ServiceDefinition:
    """Build a Restate service from an object whose methods are handlers.

    Every public method (no leading ``_``) of the object's class, inherited ones included, is
    looked at in definition order. A method is a **handler** when the parameter after ``self``
    is annotated with one of the context types, which decides the kind of service:

    =================================  ==============  ==========================
    first parameter                    service kind    handler kind
    =================================  ==============  ==========================
    ``restate.Context``                service         (none)
    ``restate.ObjectContext``          virtual object  exclusive
    ``restate.ObjectSharedContext``    virtual object  shared
    ``restate.WorkflowContext``        workflow        workflow (the ``run`` one)
    ``restate.WorkflowSharedContext``  workflow        shared
    =================================  ==============  ==========================

    Other methods (helpers, properties, static and class methods) are skipped. A handler must be
    an ``async def`` taking the context and at most one more positional parameter, the **input**,
    whose annotation is the input type (no annotation: any JSON data, ``object``). The return
    annotation is the **output** type; ``None`` or none at all means the handler returns nothing.
    Annotations may be strings (``from __future__ import annotations``) as long as they resolve in
    the method's module.

    The service is named by ``name``, else by :func:`service_name` on the class (or on an
    interface it subclasses), else by the class name. Handlers are named after their methods.
    Docstrings of the class and of the methods become the documentation shown by Restate.

    All handlers use ``codec`` (default: the class's :func:`service_codec`, else the endpoint's,
    else JSON) unless a handler declares its own with :func:`handler`;
    :meth:`ServiceDefinition.configure_handler` changes options and codecs of single handlers.
    The other arguments are service-wide options of the discovery manifest (``None``: the
    server's default), e.g. ``retry_policy=InvocationRetryPolicy(max_attempts=10)``.
    ``workflow_retention`` applies to a workflow's run handler and is accepted
    only for workflows; ``enable_lazy_state`` only for virtual objects and workflows.

    Example::

        from datetime import timedelta

        import restate_trio as restate
        from restate_trio.service import reflect

        class Counter:
            \"\"\"A counter per key.\"\"\"

            async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
                \"\"\"Add ``delta`` and return the new value.\"\"\"
                value = (await ctx.get("count", type=int) or 0) + delta
                ctx.set("count", value)
                return value

            async def current(self, ctx: restate.ObjectSharedContext) -> int:
                return await ctx.get("count", type=int) or 0

            def _helper(self) -> None:  # private: not a handler
                pass

        counter = reflect(Counter(), inactivity_timeout=timedelta(minutes=5))
        assert counter.name == "Counter"
        assert counter.kind.value == "VIRTUAL_OBJECT"
        assert [(h.name, h.kind.value if h.kind else None) for h in counter.handlers.values()] == [
            ("add", "EXCLUSIVE"),
            ("current", "SHARED"),
        ]
        assert counter.handlers["add"].input_type is int
        assert counter.handlers["add"].documentation == "Add ``delta`` and return the new value."

    Once a method takes a context it is meant to be a handler, so problems with it raise
    :class:`ServiceDefinitionError` (a :class:`ValueError`) naming the class and the method: not
    ``async``; more than one input; keyword-only, ``*args``/``**kwargs`` or defaulted
    parameters; annotations that do not resolve; contexts of different service kinds in one
    class; a workflow without, or with more than one, ``WorkflowContext`` handler. A class with
    no handler at all raises too, listing why each public method was skipped. Invalid names and
    misplaced options raise the same error.
    """
    if isinstance(instance, type):
        raise ServiceDefinitionError(
            f"{instance.__name__}: reflect() takes an instance, not a class: "
            f"use reflect({instance.__name__}())"
        )
    cls = type(instance)
    label = cls.__name__
    reflected = _reflect_handlers(instance, cls)

    if name is None:
        name = _declared_service_name(cls) or cls.__name__
    try:
        validate_service_name(name)
    except ServiceDefinitionError as exc:
        raise ServiceDefinitionError(f"{label}: {exc}") from None

    kind = reflected.kind
    if workflow_retention is not None and kind is not ServiceKind.WORKFLOW:
        raise ServiceDefinitionError(
            f"{label}: workflow_retention can be set only for workflows, but {label} is "
            f"{_KIND_NAMES[kind]}"
        )
    if enable_lazy_state is not None and kind is ServiceKind.SERVICE:
        raise ServiceDefinitionError(
            f"{label}: enable_lazy_state can be set only for virtual objects and workflows, but "
            f"{label} is a service (plain services have no state)"
        )

    service_codec = codec if codec is not None else declared_service_codec(cls)
    handlers: dict[str, HandlerDefinition] = {}
    for found in reflected.handlers:
        options = declared_handler_options(cls, getattr(found.fn, "__func__", found.fn))
        handlers[found.method] = HandlerDefinition(
            name=found.method,
            kind=found.kind,
            fn=found.fn,
            has_input=found.has_input,
            input_type=found.input_type,
            output_type=found.output_type,
            codec=options.codec or service_codec,
            input_codec=options.input_codec,
            output_codec=options.output_codec,
            accept=options.accept,
            documentation=found.documentation,
            workflow_retention=(workflow_retention if found.kind is HandlerKind.WORKFLOW else None),
        )
    return ServiceDefinition(
        name=name,
        kind=kind,
        handlers=handlers,
        documentation=documentation if documentation is not None else _class_doc(cls),
        metadata=metadata if metadata is not None else {},
        inactivity_timeout=inactivity_timeout,
        abort_timeout=abort_timeout,
        idempotency_retention=idempotency_retention,
        journal_retention=journal_retention,
        enable_lazy_state=enable_lazy_state,
        ingress_private=ingress_private,
        retry_policy=retry_policy,
        codec=service_codec,
    )


# --- internals -------------------------------------------------------------------------------


class _Handler(typing.NamedTuple):
    method: str
    context: str  # e.g. "restate.ObjectContext"
    service_kind: ServiceKind
    kind: HandlerKind | None
    fn: Callable[..., typing.Awaitable[object]]
    has_input: bool
    input_type: object
    output_type: object
    documentation: str | None


class _Reflected(typing.NamedTuple):
    kind: ServiceKind
    handlers: list[_Handler]


class _NotAHandler(Exception):
    """Internal: the method is skipped, for the reason given."""


def _declared_service_name(cls: type) -> str | None:
    for klass in cls.__mro__:
        declared = _SERVICE_NAMES.get(klass)
        if declared is not None:
            return declared
    return None


def _member_names(cls: type) -> list[str]:
    """Public attribute names of ``cls`` in definition order, base classes first."""
    seen: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        if klass in _SKIPPED_BASES:
            continue
        for attr in vars(klass):
            if not attr.startswith("_"):
                seen.setdefault(attr, None)
    return list(seen)


def _reflect_handlers(instance: object, cls: type) -> _Reflected:
    label = cls.__name__
    kind: ServiceKind | None = None
    decided_by = ""
    run_handler: str | None = None
    handlers: list[_Handler] = []
    skipped: list[str] = []

    for attr in _member_names(cls):
        raw = inspect.getattr_static(cls, attr)
        try:
            handler = _reflect_method(instance, label, attr, raw)
        except _NotAHandler as reason:
            skipped.append(f"{attr} ({reason})")
            continue
        where = f"{label}.{attr}"
        try:
            validate_handler_name(attr)
        except ServiceDefinitionError as exc:
            raise ServiceDefinitionError(f"{where}: {exc}") from None
        if kind is None:
            kind, decided_by = handler.service_kind, where
        elif handler.service_kind is not kind:
            raise ServiceDefinitionError(
                f"{where}: the first parameter is annotated with {handler.context}, but {label} is "
                f"{_KIND_NAMES[kind]} (decided by {decided_by}); only "
                f"{_ACCEPTED_FOR_KIND[kind]} are accepted"
            )
        if handler.kind is HandlerKind.WORKFLOW:
            if run_handler is not None:
                raise ServiceDefinitionError(
                    f"{where}: found more than one handler taking restate.WorkflowContext "
                    f"({run_handler} and {attr}); a workflow has exactly one run handler, the "
                    "others must take restate.WorkflowSharedContext"
                )
            run_handler = attr
        handlers.append(handler)

    if kind is None:
        reasons = "; ".join(skipped) if skipped else "none (the class has no public methods)"
        raise ServiceDefinitionError(
            f"{label}: no handlers found. A handler is a public async method whose first "
            f"parameter after self is annotated with one of {_ALL_CONTEXTS}. "
            f"Skipped methods: {reasons}"
        )
    if kind is ServiceKind.WORKFLOW and run_handler is None:
        raise ServiceDefinitionError(
            f"{label}: no handler takes restate.WorkflowContext; a workflow must have exactly "
            "one run handler (its other handlers take restate.WorkflowSharedContext)"
        )
    return _Reflected(kind, handlers)


def _reflect_method(instance: object, label: str, attr: str, raw: object) -> _Handler:
    """Reflect one class attribute, or raise _NotAHandler with the reason it is skipped."""
    if isinstance(raw, staticmethod):
        raise _NotAHandler("a static method")
    if isinstance(raw, classmethod):
        raise _NotAHandler("a class method")
    if not inspect.isfunction(raw):
        raise _NotAHandler(f"not a method: {type(raw).__name__}")
    func: types.FunctionType = raw
    where = f"{label}.{attr}"
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:  # pragma: no cover - plain functions have one
        raise _NotAHandler(f"no signature: {exc}") from None
    params = list(signature.parameters.values())
    if not params or params[0].kind not in _POSITIONAL:
        raise _NotAHandler("does not take self as its first parameter")
    if len(params) < 2:
        raise _NotAHandler("takes no parameter after self; a handler takes a restate context first")
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
        raise _NotAHandler(
            f"the annotation of parameter {ctx_param.name!r} does not resolve: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    match = next((entry for entry in _CONTEXTS if entry[0] is ctx_type), None)
    if match is None:
        if ctx_type is _EMPTY:
            raise _NotAHandler(f"parameter {ctx_param.name!r} has no annotation")
        raise _NotAHandler(
            f"parameter {ctx_param.name!r} is annotated with {_describe(ctx_type)}, not a "
            "restate context"
        )
    _, ctx_name, service_kind, handler_kind = match

    # From here on the method is meant to be a handler: problems are errors.
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
    has_input = bool(extra)
    input_type: object = None
    if has_input:
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

    return _Handler(
        method=attr,
        context=ctx_name,
        service_kind=service_kind,
        kind=handler_kind,
        fn=types.MethodType(func, instance),
        has_input=has_input,
        input_type=input_type,
        output_type=output_type,
        documentation=_method_doc(type(instance), attr),
    )


_EMPTY: Final[object] = inspect.Parameter.empty


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
    for ctx_type, ctx_name, _, _ in _CONTEXTS:
        if tp is ctx_type:
            return ctx_name
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


def _clean_doc(doc: object) -> str | None:
    if not isinstance(doc, str):
        return None
    cleaned = inspect.cleandoc(doc)
    return cleaned or None


def _class_doc(cls: type) -> str | None:
    """The class docstring, else the nearest base's (an interface's), ignoring typing's own."""
    for klass in cls.__mro__:
        if klass in _SKIPPED_BASES:
            continue
        doc = _clean_doc(vars(klass).get("__doc__"))
        if doc is not None and not _is_generated_dataclass_doc(klass, doc):
            return doc
    return None


def _is_generated_dataclass_doc(klass: type, doc: str) -> bool:
    # @dataclass gives undocumented classes a docstring like "Greeter(greeting: str)".
    if not dataclasses.is_dataclass(klass):
        return False
    try:
        text = str(inspect.signature(klass)).replace(" -> None", "")
    except (TypeError, ValueError):  # pragma: no cover
        return False
    # String annotations may print with or without quotes, depending on when it is computed.
    return doc.replace("'", "") == f"{klass.__name__}{text}".replace("'", "")


def _method_doc(cls: type, attr: str) -> str | None:
    """The method docstring, else the one of the method it overrides (e.g. in an interface)."""
    for klass in cls.__mro__:
        if klass in _SKIPPED_BASES:
            continue
        member: object = vars(klass).get(attr)
        if member is None:
            continue
        doc = _clean_doc(getattr(member, "__doc__", None))
        if doc is not None:
            return doc
    return None
