"""Turn a plain class into a :class:`ServiceDefinition` by reading its handlers' annotations."""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import TYPE_CHECKING, Final, Unpack

from ..errors import ServiceDefinitionError
from .declarations import declared_handler, declared_service_codec, declared_service_name
from .definitions import (
    HandlerDefinition,
    HandlerKind,
    ServiceDefinition,
    ServiceKind,
    validate_handler_name,
    validate_service_name,
)
from .options import ServiceOptions
from .signature import CONTEXTS, HandlerSignature, NotAHandler, parse_handler

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["reflect"]

_ALL_CONTEXTS: Final = ", ".join(entry.name for entry in CONTEXTS)
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

# Bases whose members are never handlers.
_SKIPPED_BASES: Final[tuple[object, ...]] = (object, typing.Protocol, typing.Generic)


def reflect(
    instance: object, name: str | None = None, **options: Unpack[ServiceOptions]
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
    The other keyword arguments are service-wide options of the discovery manifest (``None``:
    the server's default), listed in :class:`~restate_trio.service.ServiceOptions`:
    ``documentation``, ``metadata``, ``inactivity_timeout``, ``abort_timeout``,
    ``journal_retention``, ``idempotency_retention``, ``workflow_retention``,
    ``enable_lazy_state``, ``ingress_private`` and ``retry_policy`` (e.g.
    ``retry_policy=InvocationRetryPolicy(max_attempts=10)``). ``workflow_retention`` applies to a
    workflow's run handler and is accepted only for workflows; ``enable_lazy_state`` only for
    virtual objects and workflows.

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
        name = declared_service_name(cls) or cls.__name__
    try:
        validate_service_name(name)
    except ServiceDefinitionError as exc:
        raise ServiceDefinitionError(f"{label}: {exc}") from None

    kind = reflected.kind
    unknown = set(options) - ServiceOptions.__optional_keys__
    if unknown:
        raise TypeError(f"reflect() got unknown options: {', '.join(sorted(unknown))}")
    # Two options are not the service's own: the codec (handlers inherit it) and the
    # workflow retention (the run handler's).
    codec = options.pop("codec", None) or declared_service_codec(cls)
    workflow_retention = options.pop("workflow_retention", None)
    if workflow_retention is not None and kind is not ServiceKind.WORKFLOW:
        raise ServiceDefinitionError(
            f"{label}: workflow_retention can be set only for workflows, but {label} is "
            f"{_KIND_NAMES[kind]}"
        )
    if options.get("enable_lazy_state") is not None and kind is ServiceKind.SERVICE:
        raise ServiceDefinitionError(
            f"{label}: enable_lazy_state can be set only for virtual objects and workflows, but "
            f"{label} is a service (plain services have no state)"
        )
    settings: dict[str, object] = {**options}
    settings["metadata"] = options.get("metadata") or {}
    if options.get("documentation") is None:
        settings["documentation"] = _class_doc(cls)

    handlers: dict[str, HandlerDefinition] = {}
    for found in reflected.handlers:
        declared = declared_handler(cls, getattr(found.fn, "__func__", found.fn))
        run_handler = found.signature.kind is HandlerKind.WORKFLOW
        handlers[found.method] = HandlerDefinition(
            name=found.method,
            kind=found.signature.kind,
            fn=found.fn,
            has_input=found.signature.has_input,
            input_type=found.signature.input_type,
            output_type=found.signature.output_type,
            codec=declared.codec,
            input_codec=declared.input_codec,
            output_codec=declared.output_codec,
            accept=declared.accept,
            documentation=found.documentation,
            workflow_retention=workflow_retention if run_handler else None,
        )
    return ServiceDefinition(
        name=name,
        kind=kind,
        handlers=handlers,
        codec=codec,
        **typing.cast("dict[str, typing.Any]", settings),
    )


# --- internals -------------------------------------------------------------------------------


class _Handler(typing.NamedTuple):
    method: str
    signature: HandlerSignature
    fn: Callable[..., typing.Awaitable[object]]
    documentation: str | None


class _Reflected(typing.NamedTuple):
    kind: ServiceKind
    handlers: list[_Handler]


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
        except NotAHandler as reason:
            skipped.append(f"{attr} ({reason})")
            continue
        where = f"{label}.{attr}"
        try:
            validate_handler_name(attr)
        except ServiceDefinitionError as exc:
            raise ServiceDefinitionError(f"{where}: {exc}") from None
        if kind is None:
            kind, decided_by = handler.signature.service_kind, where
        elif handler.signature.service_kind is not kind:
            raise ServiceDefinitionError(
                f"{where}: the first parameter is annotated with {handler.signature.context}, "
                f"but {label} is {_KIND_NAMES[kind]} (decided by {decided_by}); only "
                f"{_ACCEPTED_FOR_KIND[kind]} are accepted"
            )
        if handler.signature.kind is HandlerKind.WORKFLOW:
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
    """Reflect one class attribute, or raise NotAHandler with the reason it is skipped."""
    if isinstance(raw, staticmethod):
        raise NotAHandler("a static method")
    if isinstance(raw, classmethod):
        raise NotAHandler("a class method")
    if not inspect.isfunction(raw):
        raise NotAHandler(f"not a method: {type(raw).__name__}")
    func: types.FunctionType = raw
    return _Handler(
        method=attr,
        signature=parse_handler(func, f"{label}.{attr}"),
        fn=types.MethodType(func, instance),
        documentation=_method_doc(type(instance), attr),
    )


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
