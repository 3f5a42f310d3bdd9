"""The discovery-manifest options of services and handlers, declared once.

Every option is a field of :class:`ManifestOptions` (the base of both definitions) or of
:class:`~restate_trio.service.HandlerDefinition` (the handler-only ones); the field's metadata
holds its manifest key, the manifest version that introduced it, how it is checked and how it is
written. The definitions validate with it, the manifest writer writes with it, and ``reflect`` /
``configure_handler`` take the keywords of :class:`ServiceOptions` / :class:`HandlerOptions`,
which a test keeps equal to these fields.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final, TypedDict

from ..codecs import PayloadCodec
from ..errors import ServiceDefinitionError
from ..retry import MANIFEST_KEY, InvocationRetryPolicy

__all__ = [
    "HandlerOptions",
    "ManifestOptions",
    "OptionSpec",
    "ServiceOptions",
    "WORKFLOW_RETENTION",
    "check_optional",
    "manifest_options",
]

_SPEC: Final = "restate_trio.option"
_MS: Final = timedelta(milliseconds=1)


# --- how each kind of option is checked and written -----------------------------------------------


def _check_duration(label: str, option: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, timedelta):
        raise ServiceDefinitionError(
            f"{label}: {option} must be a datetime.timedelta, got {type(value).__name__}: {value!r}"
        )
    if value < timedelta(0):
        raise ServiceDefinitionError(f"{label}: {option} must not be negative, got {value}")


def check_optional(label: str, option: str, value: object, tp: type) -> None:
    """Raise unless ``value`` is None or a ``tp``."""
    if value is not None and not isinstance(value, tp):
        raise ServiceDefinitionError(
            f"{label}: {option} must be a {tp.__name__} or None, got {type(value).__name__}: "
            f"{value!r}"
        )


def _check_metadata(label: str, option: str, value: object) -> None:
    if not isinstance(value, Mapping):
        raise ServiceDefinitionError(
            f"{label}: {option} must be a mapping of str to str, got {type(value).__name__}"
        )
    for key, item in typing.cast("Mapping[object, object]", value).items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ServiceDefinitionError(
                f"{label}: {option} must map str to str, got {key!r}: {item!r}"
            )


def _write_value(key: str, value: object) -> dict[str, object]:
    return {key: value}


def _write_duration(key: str, value: object) -> dict[str, object]:
    return {key: typing.cast("timedelta", value) // _MS}


def _write_metadata(key: str, value: object) -> dict[str, object]:
    return {key: dict(typing.cast("Mapping[str, str]", value))}


def _write_retry_policy(key: str, value: object) -> dict[str, object]:
    # One manifest key per policy field, declared next to the field (restate_trio.retry).
    out: dict[str, object] = {}
    for item in dataclasses.fields(InvocationRetryPolicy):
        setting: object = getattr(value, item.name)
        if setting is None:
            continue
        if isinstance(setting, timedelta):
            setting = setting // _MS
        elif item.name == "on_max_attempts":
            setting = str(setting).upper()
        out[item.metadata[MANIFEST_KEY]] = setting
    return out


@dataclass(frozen=True)
class OptionSpec:
    """How one option appears in the manifest."""

    key: str  # the manifest key (for the retry policy, the one its keys share)
    since: int  # the endpoint manifest version that introduced it
    check: Callable[[str, str, object], None]  # (label, option name, value); raises
    write: Callable[[str, object], dict[str, object]]  # (key, value) -> manifest entries
    # Left out of older manifests instead of failing (documentation is only informative).
    dropped_before_since: bool = False

    @staticmethod
    def is_set(value: object) -> bool:
        """Whether the option is given (an empty mapping is not)."""
        if isinstance(value, Mapping):
            return len(typing.cast("Mapping[object, object]", value)) > 0
        return value is not None


def _spec(
    key: str,
    since: int,
    check: Callable[[str, str, object], None],
    write: Callable[[str, object], dict[str, object]] = _write_value,
    *,
    dropped_before_since: bool = False,
) -> dict[str, OptionSpec]:
    return {_SPEC: OptionSpec(key, since, check, write, dropped_before_since)}


def _text(label: str, option: str, value: object) -> None:
    check_optional(label, option, value, str)


def _flag(label: str, option: str, value: object) -> None:
    check_optional(label, option, value, bool)


def _retry_policy(label: str, option: str, value: object) -> None:
    check_optional(label, option, value, InvocationRetryPolicy)


DURATION: Final = (_check_duration, _write_duration)


# --- the options ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ManifestOptions:
    """The manifest options that services and handlers share (``None``: not set)."""

    documentation: str | None = field(
        default=None, metadata=_spec("documentation", 2, _text, dropped_before_since=True)
    )
    metadata: Mapping[str, str] = field(
        default_factory=dict[str, str],
        metadata=_spec("metadata", 2, _check_metadata, _write_metadata),
    )
    inactivity_timeout: timedelta | None = field(
        default=None, metadata=_spec("inactivityTimeout", 3, *DURATION)
    )
    abort_timeout: timedelta | None = field(
        default=None, metadata=_spec("abortTimeout", 3, *DURATION)
    )
    journal_retention: timedelta | None = field(
        default=None, metadata=_spec("journalRetention", 3, *DURATION)
    )
    idempotency_retention: timedelta | None = field(
        default=None, metadata=_spec("idempotencyRetention", 3, *DURATION)
    )
    enable_lazy_state: bool | None = field(
        default=None, metadata=_spec("enableLazyState", 3, _flag)
    )
    ingress_private: bool | None = field(default=None, metadata=_spec("ingressPrivate", 3, _flag))
    retry_policy: InvocationRetryPolicy | None = field(
        default=None, metadata=_spec("retryPolicy", 4, _retry_policy, _write_retry_policy)
    )

    def _check_options(self, label: str) -> None:
        """Validate every option of this definition (handler-only ones included)."""
        for name, spec, value in manifest_options(self):
            spec.check(label, name, value)
        # Detach from the caller's mapping: definitions are immutable.
        object.__setattr__(self, "metadata", types.MappingProxyType(dict(self.metadata)))


# The one handler-only option (a workflow's run handler), declared on HandlerDefinition.
WORKFLOW_RETENTION: Final = _spec("workflowCompletionRetention", 3, *DURATION)


def manifest_options(definition: ManifestOptions) -> Iterator[tuple[str, OptionSpec, object]]:
    """``(field name, spec, value)`` of every manifest option of ``definition``, in order."""
    for item in dataclasses.fields(definition):
        spec = item.metadata.get(_SPEC)
        if isinstance(spec, OptionSpec):
            yield item.name, spec, getattr(definition, item.name)


# --- the keyword arguments of reflect() and configure_handler() -----------------------------------


class ServiceOptions(TypedDict, total=False):
    """Keyword arguments of :func:`restate_trio.reflect`: options of the discovery manifest.

    Every option is ``None`` (not set: the server's default applies) unless given.

    ``documentation``
        Shown by Restate (default: the class docstring).
    ``metadata``
        String pairs attached to the service.
    ``inactivity_timeout``, ``abort_timeout``
        How long an invocation may stay inactive before Restate suspends it, then how long
        before it aborts it (:class:`datetime.timedelta`).
    ``journal_retention``, ``idempotency_retention``, ``workflow_retention``
        How long Restate keeps the journal, the idempotent result, and a workflow's result
        (``workflow_retention``: only on a workflow's run handler).
    ``enable_lazy_state``
        Load state on demand instead of with every invocation (virtual objects and workflows).
    ``ingress_private``
        Callable only from other services, not through the ingress.
    ``retry_policy``
        How Restate retries failed attempts: an :class:`~restate_trio.InvocationRetryPolicy`.
    ``codec``
        The default payload codec (nearest wins: handler, service, endpoint, JSON).
    """

    documentation: str | None
    metadata: Mapping[str, str] | None
    inactivity_timeout: timedelta | None
    abort_timeout: timedelta | None
    journal_retention: timedelta | None
    idempotency_retention: timedelta | None
    workflow_retention: timedelta | None
    enable_lazy_state: bool | None
    ingress_private: bool | None
    retry_policy: InvocationRetryPolicy | None
    codec: PayloadCodec | None


class HandlerOptions(ServiceOptions, total=False):
    """Keyword arguments of :meth:`restate_trio.ServiceDefinition.configure_handler`.

    The options of :class:`ServiceOptions`, for one handler (``None`` unsets one: the service's
    value, or the server's default, applies again), and:

    ``input_codec``, ``output_codec``
        The codec of one direction (nearest wins over ``codec``).
    ``accept``
        The input content types the handler accepts, wildcards allowed (``"text/*"``).
    """

    input_codec: PayloadCodec | None
    output_codec: PayloadCodec | None
    accept: str | None
