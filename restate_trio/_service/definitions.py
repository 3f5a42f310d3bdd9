"""Immutable service and handler definitions, produced by reflection and read by the endpoint.

Both dataclasses validate themselves when they are created, with the rules the Restate server
applies at registration (names, handler kinds per service kind, where each option may appear), so
a definition that exists can always be registered. Invalid definitions raise
:class:`ServiceDefinitionError`.
"""

# No `from __future__ import annotations` here: the public classes of this module say they live
# in restate_trio.service (their __module__), and typing.get_type_hints() resolves string
# annotations there, where these modules' names are not.

import dataclasses
import enum
import functools
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final, Unpack

from ..codecs import PayloadCodec
from ..codecs._typed import accepts_none as type_accepts_none
from ..errors import ServiceDefinitionError
from .codec_choice import Codecs, resolve_codecs
from .options import WORKFLOW_RETENTION, HandlerOptions, ManifestOptions, check_optional

__all__ = [
    "HandlerCallable",
    "HandlerDefinition",
    "HandlerKind",
    "ServiceDefinition",
    "ServiceDefinitionError",
    "ServiceKind",
    "type_accepts_none",
    "validate_handler_name",
    "validate_service_name",
]


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


@dataclass(frozen=True)
class HandlerDefinition(ManifestOptions):
    """One handler of a service.

    ``None`` options are not set: the service's value, or else the server's default, applies.
    The manifest options (``documentation``, ``metadata``, the timeouts and retentions,
    ``enable_lazy_state``, ``ingress_private``, ``retry_policy``) are keyword-only.
    """

    name: str
    kind: HandlerKind | None
    fn: HandlerCallable
    # The annotation of the input parameter; ``has_input`` is False for ``(self, ctx)`` handlers.
    has_input: bool
    input_type: object
    # The return annotation; ``None`` (the type) means the handler returns nothing.
    output_type: object
    # Codecs set on this handler (None: inherited). ``codec`` is the handler's default, for its
    # input and output and for the operations it performs (state, runs, awakeables…); the two
    # others override one direction.
    input_codec: PayloadCodec | None = None
    output_codec: PayloadCodec | None = None
    codec: PayloadCodec | None = None
    # The codec of the service holding this handler (or, once bound, of the endpoint), which
    # applies where the handler sets none; the ServiceDefinition keeps it equal to its own.
    inherited_codec: PayloadCodec | None = None
    # The input content types the handler accepts (e.g. ``"text/*"``, ``"*/*"``); by default
    # its input codec's content type.
    accept: str | None = None
    # A workflow's run handler only: how long the workflow's result is kept.
    workflow_retention: timedelta | None = field(default=None, metadata=WORKFLOW_RETENTION)

    def __post_init__(self) -> None:
        validate_handler_name(self.name)
        label = self.name
        if self.kind is not None and not isinstance(self.kind, HandlerKind):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ServiceDefinitionError(f"{label}: kind must be a HandlerKind or None")
        check_optional(label, "accept", self.accept, str)
        if self.accept is not None and "/" not in self.accept:
            raise ServiceDefinitionError(
                f"{label}: accept must be content types such as 'text/*', got {self.accept!r}"
            )
        self._check_options(label)

    @functools.cached_property
    def codecs(self) -> Codecs:
        """The codecs in effect: the nearest declared wins (handler, service, endpoint, JSON).

        Computed once per definition (definitions are immutable): every invocation reads it.
        """
        return resolve_codecs(
            handler=self.codec,
            handler_input=self.input_codec,
            handler_output=self.output_codec,
            service=self.inherited_codec,
        )

    @property
    def effective_codec(self) -> PayloadCodec:
        """The codec of this handler's operations (state, runs, awakeables, promises…)."""
        return self.codecs.codec

    @property
    def effective_input_codec(self) -> PayloadCodec:
        """The codec of this handler's input."""
        return self.codecs.input

    @property
    def effective_output_codec(self) -> PayloadCodec:
        """The codec of this handler's output."""
        return self.codecs.output

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
class ServiceDefinition(ManifestOptions):
    """A service: its name, kind and handlers, ready to bind to an endpoint.

    Build one with :func:`restate_trio.reflect`; adjust single handlers with
    :meth:`configure_handler`. ``handlers`` keeps the handlers in definition order. The manifest
    options (``documentation``, ``metadata``, the timeouts and retentions, ``enable_lazy_state``,
    ``ingress_private``, ``retry_policy``) are keyword-only.
    """

    name: str
    kind: ServiceKind
    handlers: Mapping[str, HandlerDefinition]
    # The service's default codec (None: the endpoint's, else JSON); handlers inherit it.
    codec: PayloadCodec | None = None

    def __post_init__(self) -> None:
        validate_service_name(self.name)
        label = self.name
        if not isinstance(self.kind, ServiceKind):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ServiceDefinitionError(f"{label}: kind must be a ServiceKind")
        self._check_options(label)
        if self.kind is ServiceKind.SERVICE and self.enable_lazy_state is not None:
            raise ServiceDefinitionError(
                f"{label}: enable_lazy_state can be set only on virtual objects and workflows "
                "(plain services have no state)"
            )
        handlers: dict[str, HandlerDefinition] = {}
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
            if handler.inherited_codec is not self.codec:
                handler = dataclasses.replace(handler, inherited_codec=self.codec)
            handlers[key] = handler
        if self.kind is ServiceKind.WORKFLOW:
            runs = [h.name for h in handlers.values() if h.kind is HandlerKind.WORKFLOW]
            if len(runs) != 1:
                raise ServiceDefinitionError(
                    f"{label}: a workflow must have exactly one WORKFLOW handler (the one taking "
                    f"restate.WorkflowContext), found {len(runs)}"
                    + (f": {', '.join(runs)}" if runs else "")
                )
        object.__setattr__(self, "handlers", types.MappingProxyType(handlers))

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

    def with_default_codec(self, default: PayloadCodec) -> "ServiceDefinition":
        """A copy whose handlers resolve codecs to ``default`` where nothing nearer is set."""
        codec = resolve_codecs(service=self.codec, endpoint=default).codec
        return self if codec is self.codec else dataclasses.replace(self, codec=codec)

    def configure_handler(
        self, name: str, /, **options: Unpack[HandlerOptions]
    ) -> "ServiceDefinition":
        """A copy of this definition with the options of handler ``name`` replaced.

        The options are those of :class:`~restate_trio.service.HandlerOptions`: the service
        options of :func:`~restate_trio.reflect` (``documentation``, ``metadata``,
        ``inactivity_timeout``, ``abort_timeout``, ``journal_retention``,
        ``idempotency_retention``, ``workflow_retention``, ``enable_lazy_state``,
        ``ingress_private``, ``retry_policy``, ``codec``) and ``input_codec``, ``output_codec``,
        ``accept``. Options not given keep their value; ``None`` unsets an option (the service's
        value, or the server's default, applies again). ``codec`` is the handler's default codec
        (input, output and its operations); ``input_codec`` / ``output_codec`` override one
        direction; ``accept`` sets the input content types the handler accepts (wildcards
        allowed). ``workflow_retention`` is accepted only on a workflow's WORKFLOW handler,
        ``idempotency_retention`` on every handler but that one, and ``enable_lazy_state`` only
        on virtual objects and workflows.

        Raises :class:`ServiceDefinitionError` (``handler not found: …``) for an unknown name.
        """
        handler = self.handler(name)
        unknown = set(options) - HandlerOptions.__optional_keys__
        if unknown:
            raise TypeError(
                f"configure_handler() got unknown options: {', '.join(sorted(unknown))}"
            )
        changes: dict[str, object] = dict(options)
        if "metadata" in changes and changes["metadata"] is None:
            changes["metadata"] = {}
        try:
            new_handler = dataclasses.replace(
                handler, **typing.cast("dict[str, typing.Any]", changes)
            )
        except ServiceDefinitionError as exc:
            # Handler-level checks only know the handler's name: add the service's.
            raise ServiceDefinitionError(f"{self.name}.{exc}") from None
        handlers = {key: new_handler if key == name else h for key, h in self.handlers.items()}
        return dataclasses.replace(self, handlers=handlers)


def _kind_name(kind: HandlerKind | None) -> str:
    return "unset" if kind is None else kind.value
