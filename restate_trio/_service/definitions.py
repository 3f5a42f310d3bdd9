"""Immutable service and handler definitions, produced by reflection and read by the endpoint.

Both dataclasses validate themselves when they are created, with the rules the Restate server
applies at registration (names, handler kinds per service kind, where each option may appear), so
a definition that exists can always be registered. Invalid definitions raise
:class:`ServiceDefinitionError`.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final, Literal

from ..codecs import DEFAULT_CODEC, PayloadCodec
from ..codecs._typed import accepts_none as type_accepts_none

__all__ = [
    "HandlerCallable",
    "HandlerDefinition",
    "HandlerKind",
    "ServiceDefinition",
    "ServiceDefinitionError",
    "ServiceKind",
    "UNSET",
    "Unset",
    "type_accepts_none",
    "validate_handler_name",
    "validate_service_name",
]


class ServiceDefinitionError(ValueError):
    """A class could not be turned into a service, or a service definition is invalid.

    Raised by :func:`restate_trio.reflect`, :func:`restate_trio.service_name` and
    :meth:`ServiceDefinition.configure_handler`; messages start with ``Service.handler:`` (or
    ``Service:``) to say where the problem is.
    """


class ServiceKind(enum.Enum):
    """The three kinds of Restate services (manifest ``ty``)."""

    SERVICE = "SERVICE"
    VIRTUAL_OBJECT = "VIRTUAL_OBJECT"
    WORKFLOW = "WORKFLOW"


class HandlerKind(enum.Enum):
    """Handler kinds (manifest handler ``ty``); plain services have none."""

    EXCLUSIVE = "EXCLUSIVE"
    SHARED = "SHARED"
    WORKFLOW = "WORKFLOW"


class Unset(enum.Enum):
    """Marker for "argument not given" where ``None`` is a meaningful value."""

    UNSET = "UNSET"


UNSET: Final = Unset.UNSET

# The bound handler: called with the context object and, if the handler takes one, the decoded
# input. Typed loosely on purpose: reflection checked the real signature.
HandlerCallable = Callable[..., Awaitable[object]]

# The server's name rules (restate `service-protocol/endpoint_manifest_schema.json`).
_SERVICE_NAME_RE: Final = re.compile(r"([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*")
_HANDLER_NAME_RE: Final = re.compile(r"([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*")

# Handler kinds the server accepts per service kind. (It also accepts SHARED handlers on plain
# services, but we always leave the kind unset there.)
_ALLOWED_HANDLER_KINDS: Final[Mapping[ServiceKind, tuple[HandlerKind | None, ...]]] = {
    ServiceKind.SERVICE: (None,),
    ServiceKind.VIRTUAL_OBJECT: (HandlerKind.EXCLUSIVE, HandlerKind.SHARED),
    ServiceKind.WORKFLOW: (HandlerKind.WORKFLOW, HandlerKind.SHARED),
}

_DURATION_OPTIONS: Final = (
    "inactivity_timeout",
    "abort_timeout",
    "idempotency_retention",
    "journal_retention",
)


def validate_service_name(name: object) -> str:
    """Return ``name`` if the Restate server accepts it as a service name, else raise.

    Service names match ``^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*$``; names starting with
    ``restate`` (in any case) and the name ``openapi`` are reserved.
    """
    if not isinstance(name, str):
        raise ServiceDefinitionError(
            f"a service name must be a str, got {type(name).__name__}: {name!r}"
        )
    if not _SERVICE_NAME_RE.fullmatch(name):
        raise ServiceDefinitionError(
            f"invalid service name {name!r}: it must start with a letter (or '_' and a letter "
            "or digit) and contain only letters, digits, '.', '_' and '-'"
        )
    if name.lower().startswith("restate") or name == "openapi":
        raise ServiceDefinitionError(
            f"invalid service name {name!r}: names starting with 'restate' (in any case) and "
            "'openapi' are reserved by the Restate server"
        )
    return name


def validate_handler_name(name: object) -> str:
    """Return ``name`` if the Restate server accepts it as a handler name, else raise.

    Handler names match ``^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*$`` (ASCII only, no dashes).
    """
    if not isinstance(name, str):
        raise ServiceDefinitionError(
            f"a handler name must be a str, got {type(name).__name__}: {name!r}"
        )
    if not _HANDLER_NAME_RE.fullmatch(name):
        raise ServiceDefinitionError(
            f"invalid handler name {name!r}: it must start with an ASCII letter (or '_' and a "
            "letter or digit) and contain only ASCII letters, digits and '_'"
        )
    return name


def _check_metadata(label: str, metadata: object) -> None:
    if not isinstance(metadata, Mapping):
        raise ServiceDefinitionError(
            f"{label}: metadata must be a mapping of str to str, got {type(metadata).__name__}"
        )
    for key, value in typing.cast("Mapping[object, object]", metadata).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ServiceDefinitionError(
                f"{label}: metadata must map str to str, got {key!r}: {value!r}"
            )


def _check_duration(label: str, option: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, timedelta):
        raise ServiceDefinitionError(
            f"{label}: {option} must be a datetime.timedelta, got {type(value).__name__}: {value!r}"
        )
    if value < timedelta(0):
        raise ServiceDefinitionError(f"{label}: {option} must not be negative, got {value}")


def _check_optional(label: str, option: str, value: object, tp: type) -> None:
    if value is not None and not isinstance(value, tp):
        raise ServiceDefinitionError(
            f"{label}: {option} must be a {tp.__name__} or None, got {type(value).__name__}: "
            f"{value!r}"
        )


@dataclass(frozen=True)
class InvocationRetryPolicy:
    """How Restate retries failed attempts of an invocation (service or handler option).

    Unset fields keep the server's defaults (1.7: initial 500 ms, factor 2, max interval 1 min,
    70 attempts, then pause). ``max_attempts`` counts the first attempt; ``on_max_attempts``
    decides what happens then: ``"pause"`` (resume it from the UI/CLI) or ``"kill"``.

    Example::

        from datetime import timedelta
        import restate_trio as restate

        policy = restate.InvocationRetryPolicy(
            initial_interval=timedelta(seconds=1), max_attempts=10, on_max_attempts="kill"
        )
    """

    initial_interval: timedelta | None = None
    exponentiation_factor: float | None = None
    max_interval: timedelta | None = None
    max_attempts: int | None = None
    on_max_attempts: Literal["pause", "kill"] | None = None

    def __post_init__(self) -> None:
        for option in ("initial_interval", "max_interval"):
            _check_duration("retry_policy", option, getattr(self, option))
        if self.exponentiation_factor is not None and self.exponentiation_factor < 1.0:
            raise ServiceDefinitionError("retry_policy: exponentiation_factor must be >= 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ServiceDefinitionError("retry_policy: max_attempts must be at least 1")
        if self.on_max_attempts not in (None, "pause", "kill"):
            raise ServiceDefinitionError("retry_policy: on_max_attempts is 'pause' or 'kill'")


@dataclass(frozen=True)
class HandlerDefinition:
    """One handler of a service.

    ``None`` options are not set: the service's value, or else the server's default, applies.
    """

    name: str
    kind: HandlerKind | None
    fn: HandlerCallable
    # The annotation of the input parameter; ``has_input`` is False for ``(self, ctx)`` handlers.
    has_input: bool
    input_type: object
    # The return annotation; ``None`` (the type) means the handler returns nothing.
    output_type: object
    # Codecs set on this handler (None: inherited, nearest wins: handler → service →
    # endpoint → JSON). ``codec`` is the handler's default, for its input and output and for
    # the operations it performs (state, runs, awakeables…); the two others override one
    # direction. :meth:`ServiceDefinition.with_default_codec` fills the inherited ones.
    input_codec: PayloadCodec | None = None
    output_codec: PayloadCodec | None = None
    codec: PayloadCodec | None = None
    # The input content types the handler accepts (e.g. ``"text/*"``, ``"*/*"``); by default
    # its input codec's content type.
    accept: str | None = None
    documentation: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict[str, str])
    # Manifest options (None = not set, the server's default applies).
    inactivity_timeout: timedelta | None = None
    abort_timeout: timedelta | None = None
    idempotency_retention: timedelta | None = None
    journal_retention: timedelta | None = None
    workflow_retention: timedelta | None = None
    enable_lazy_state: bool | None = None
    ingress_private: bool | None = None
    retry_policy: InvocationRetryPolicy | None = None

    def __post_init__(self) -> None:
        validate_handler_name(self.name)
        label = self.name
        if self.kind is not None and not isinstance(self.kind, HandlerKind):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ServiceDefinitionError(f"{label}: kind must be a HandlerKind or None")
        _check_optional(label, "documentation", self.documentation, str)
        _check_optional(label, "accept", self.accept, str)
        if self.accept is not None and "/" not in self.accept:
            raise ServiceDefinitionError(
                f"{label}: accept must be content types such as 'text/*', got {self.accept!r}"
            )
        _check_metadata(label, self.metadata)
        for option in (*_DURATION_OPTIONS, "workflow_retention"):
            _check_duration(label, option, getattr(self, option))
        _check_optional(label, "enable_lazy_state", self.enable_lazy_state, bool)
        _check_optional(label, "ingress_private", self.ingress_private, bool)
        # Detach from the caller's mapping: the definition is immutable.
        object.__setattr__(self, "metadata", types.MappingProxyType(dict(self.metadata)))

    @property
    def effective_codec(self) -> PayloadCodec:
        """The codec of this handler's operations (state, runs, awakeables, promises…)."""
        return self.codec or DEFAULT_CODEC

    @property
    def effective_input_codec(self) -> PayloadCodec:
        return self.input_codec or self.effective_codec

    @property
    def effective_output_codec(self) -> PayloadCodec:
        return self.output_codec or self.effective_codec

    @property
    def has_output(self) -> bool:
        """Whether the handler returns a value (its return annotation is not ``None``)."""
        return self.output_type is not None and self.output_type is not type(None)

    @property
    def input_required(self) -> bool:
        """Whether a request body is required: the handler takes an input that rejects ``None``.

        When it is False and the request body is empty, the handler receives ``None``.
        """
        return self.has_input and not type_accepts_none(self.input_type)


@dataclass(frozen=True)
class ServiceDefinition:
    """A service: its name, kind and handlers, ready to bind to an endpoint.

    Build one with :func:`restate_trio.reflect`; adjust single handlers with
    :meth:`configure_handler`. ``handlers`` keeps the handlers in definition order.
    """

    name: str
    kind: ServiceKind
    handlers: Mapping[str, HandlerDefinition]
    documentation: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict[str, str])
    inactivity_timeout: timedelta | None = None
    abort_timeout: timedelta | None = None
    idempotency_retention: timedelta | None = None
    journal_retention: timedelta | None = None
    enable_lazy_state: bool | None = None
    ingress_private: bool | None = None
    retry_policy: InvocationRetryPolicy | None = None
    # The service's default codec (None: the endpoint's, else JSON); handlers inherit it.
    codec: PayloadCodec | None = None

    def __post_init__(self) -> None:
        validate_service_name(self.name)
        label = self.name
        if not isinstance(self.kind, ServiceKind):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ServiceDefinitionError(f"{label}: kind must be a ServiceKind")
        _check_optional(label, "documentation", self.documentation, str)
        _check_metadata(label, self.metadata)
        for option in _DURATION_OPTIONS:
            _check_duration(label, option, getattr(self, option))
        _check_optional(label, "enable_lazy_state", self.enable_lazy_state, bool)
        _check_optional(label, "ingress_private", self.ingress_private, bool)
        if self.kind is ServiceKind.SERVICE and self.enable_lazy_state is not None:
            raise ServiceDefinitionError(
                f"{label}: enable_lazy_state can be set only on virtual objects and workflows "
                "(plain services have no state)"
            )
        for key, handler in self.handlers.items():
            if not isinstance(handler, HandlerDefinition):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise ServiceDefinitionError(
                    f"{label}.{key}: expected a HandlerDefinition, got {type(handler).__name__}"
                )
            if key != handler.name:
                raise ServiceDefinitionError(
                    f"{label}.{key}: handler registered under {key!r} but named {handler.name!r}"
                )
            self._check_handler(handler)
        if self.kind is ServiceKind.WORKFLOW:
            runs = [h.name for h in self.handlers.values() if h.kind is HandlerKind.WORKFLOW]
            if len(runs) != 1:
                raise ServiceDefinitionError(
                    f"{label}: a workflow must have exactly one WORKFLOW handler (the one taking "
                    f"restate.WorkflowContext), found {len(runs)}"
                    + (f": {', '.join(runs)}" if runs else "")
                )
        object.__setattr__(self, "handlers", types.MappingProxyType(dict(self.handlers)))
        object.__setattr__(self, "metadata", types.MappingProxyType(dict(self.metadata)))

    def _check_handler(self, handler: HandlerDefinition) -> None:
        label = f"{self.name}.{handler.name}"
        allowed = _ALLOWED_HANDLER_KINDS[self.kind]
        if handler.kind not in allowed:
            names = " or ".join("unset" if k is None else k.value for k in allowed)
            raise ServiceDefinitionError(
                f"{label}: handler kind {_kind_name(handler.kind)} is not valid in a "
                f"{self.kind.value} service; only {names} are accepted"
            )
        if handler.workflow_retention is not None and handler.kind is not HandlerKind.WORKFLOW:
            raise ServiceDefinitionError(
                f"{label}: workflow_retention can be set only on a workflow's WORKFLOW handler "
                "(the one taking restate.WorkflowContext)"
            )
        if handler.idempotency_retention is not None and handler.kind is HandlerKind.WORKFLOW:
            raise ServiceDefinitionError(
                f"{label}: idempotency_retention cannot be set on a workflow's WORKFLOW handler "
                "(use workflow_retention; idempotency_retention applies to shared handlers)"
            )
        if self.kind is ServiceKind.SERVICE and handler.enable_lazy_state is not None:
            raise ServiceDefinitionError(
                f"{label}: enable_lazy_state can be set only on virtual objects and workflows "
                "(plain services have no state)"
            )
        if self.ingress_private is True and handler.ingress_private is False:
            raise ServiceDefinitionError(
                f"{label}: the service is ingress_private, so a handler cannot be made public "
                "(ingress_private=False)"
            )

    def handler(self, name: str) -> HandlerDefinition:
        """The handler called ``name``; raises :class:`ServiceDefinitionError` if there is none."""
        try:
            return self.handlers[name]
        except KeyError:
            known = ", ".join(self.handlers) or "none"
            raise ServiceDefinitionError(
                f"{self.name}: handler not found: {name} (handlers: {known})"
            ) from None

    def with_default_codec(self, default: PayloadCodec) -> ServiceDefinition:
        """A copy whose handlers resolve codecs to ``default`` where nothing nearer is set."""
        service_codec = self.codec or default
        handlers = {
            key: h if h.codec is not None else dataclasses.replace(h, codec=service_codec)
            for key, h in self.handlers.items()
        }
        return dataclasses.replace(self, codec=service_codec, handlers=handlers)

    def configure_handler(
        self,
        name: str,
        *,
        documentation: str | Unset | None = UNSET,
        metadata: Mapping[str, str] | Unset = UNSET,
        inactivity_timeout: timedelta | Unset | None = UNSET,
        abort_timeout: timedelta | Unset | None = UNSET,
        idempotency_retention: timedelta | Unset | None = UNSET,
        journal_retention: timedelta | Unset | None = UNSET,
        workflow_retention: timedelta | Unset | None = UNSET,
        enable_lazy_state: bool | Unset | None = UNSET,
        ingress_private: bool | Unset | None = UNSET,
        codec: PayloadCodec | Unset | None = UNSET,
        input_codec: PayloadCodec | Unset | None = UNSET,
        output_codec: PayloadCodec | Unset | None = UNSET,
        accept: str | Unset | None = UNSET,
        retry_policy: InvocationRetryPolicy | Unset | None = UNSET,
    ) -> ServiceDefinition:
        """A copy of this definition with the options of handler ``name`` replaced.

        Options not given keep their value; ``None`` unsets an option (the service's value, or
        the server's default, applies again). ``codec`` is the handler's default codec (input,
        output and its operations); ``input_codec`` / ``output_codec`` override one direction;
        ``accept`` sets the input content types the handler accepts (wildcards allowed).
        ``workflow_retention`` is accepted only on a workflow's WORKFLOW
        handler, ``idempotency_retention`` on every handler but that one, and
        ``enable_lazy_state`` only on virtual objects and workflows.

        Example::

            from datetime import timedelta

            import restate_trio as restate
            from restate_trio.service import reflect

            class Counter:
                async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
                    return delta

            counter = reflect(Counter()).configure_handler(
                "add", inactivity_timeout=timedelta(minutes=5), documentation="Adds delta."
            )
            assert counter.handlers["add"].inactivity_timeout == timedelta(minutes=5)

        Raises :class:`ServiceDefinitionError` (``handler not found: …``) for an unknown name.
        """
        handler = self.handler(name)
        changes: dict[str, object] = {
            "documentation": documentation,
            "metadata": metadata,
            "inactivity_timeout": inactivity_timeout,
            "abort_timeout": abort_timeout,
            "idempotency_retention": idempotency_retention,
            "journal_retention": journal_retention,
            "workflow_retention": workflow_retention,
            "enable_lazy_state": enable_lazy_state,
            "ingress_private": ingress_private,
            "codec": codec,
            "input_codec": input_codec,
            "output_codec": output_codec,
            "accept": accept,
            "retry_policy": retry_policy,
        }
        given = {key: value for key, value in changes.items() if value is not UNSET}
        if "metadata" in given and given["metadata"] is None:
            given["metadata"] = {}
        try:
            new_handler = dataclasses.replace(
                handler, **typing.cast("dict[str, typing.Any]", given)
            )
        except ServiceDefinitionError as exc:
            # Handler-level checks only know the handler's name: add the service's.
            raise ServiceDefinitionError(f"{self.name}.{exc}") from None
        handlers = {key: new_handler if key == name else h for key, h in self.handlers.items()}
        return dataclasses.replace(self, handlers=handlers)


def _kind_name(kind: HandlerKind | None) -> str:
    return "unset" if kind is None else kind.value
