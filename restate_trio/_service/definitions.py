"""Immutable service and handler definitions, produced by reflection and read by the endpoint."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from ..codecs import PayloadCodec


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


@dataclass(frozen=True)
class HandlerDefinition:
    """One handler of a service."""

    name: str
    kind: HandlerKind | None
    fn: HandlerCallable
    # The annotation of the input parameter; ``has_input`` is False for ``(self, ctx)`` handlers.
    has_input: bool
    input_type: object
    # The return annotation; ``None`` (the type) means the handler returns nothing.
    output_type: object
    input_codec: PayloadCodec
    output_codec: PayloadCodec
    documentation: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    # Manifest options (None = not set, the server's default applies).
    inactivity_timeout: timedelta | None = None
    abort_timeout: timedelta | None = None
    idempotency_retention: timedelta | None = None
    journal_retention: timedelta | None = None
    workflow_retention: timedelta | None = None
    enable_lazy_state: bool | None = None
    ingress_private: bool | None = None


@dataclass(frozen=True)
class ServiceDefinition:
    """A service: its name, kind and handlers, ready to bind to an endpoint."""

    name: str
    kind: ServiceKind
    handlers: Mapping[str, HandlerDefinition]
    documentation: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    inactivity_timeout: timedelta | None = None
    abort_timeout: timedelta | None = None
    idempotency_retention: timedelta | None = None
    journal_retention: timedelta | None = None
    enable_lazy_state: bool | None = None
    ingress_private: bool | None = None
