"""Service protocol versions and the invocation content type (restate_trio._protocol.versions)."""

from __future__ import annotations

import pytest

from restate_trio._protocol.machine import StateMachine
from restate_trio._protocol.versions import (
    MAX_PROTOCOL_VERSION,
    MIN_PROTOCOL_VERSION,
    invocation_content_type,
    is_supported,
    negotiate_invocation_version,
    parse_invocation_content_type,
    supported_range,
)


def test_range_is_what_restate_1_7_accepts() -> None:
    assert (MIN_PROTOCOL_VERSION, MAX_PROTOCOL_VERSION) == (5, 7)


@pytest.mark.parametrize("version", [5, 6, 7])
def test_content_type_round_trip(version: int) -> None:
    content_type = invocation_content_type(version)
    assert content_type == f"application/vnd.restate.invocation.v{version}"
    assert parse_invocation_content_type(content_type) == version
    assert negotiate_invocation_version(content_type) == version


@pytest.mark.parametrize(
    ("content_type", "version"),
    [
        ("application/vnd.restate.invocation.v6; charset=utf-8", 6),
        ("  application/vnd.restate.invocation.v7  ", 7),
        ("application/vnd.restate.invocation.v1", 1),
        ("application/vnd.restate.invocation.v42", 42),
        ("application/vnd.restate.invocation.v07", 7),
        ("application/vnd.restate.invocation.v", None),
        ("application/vnd.restate.invocation.vx", None),
        ("application/vnd.restate.invocation.v+7", None),
        ("application/vnd.restate.invocation.v 7", None),
        ("application/vnd.restate.invocation.v\u0667", None),  # ARABIC-INDIC DIGIT SEVEN
        ("application/vnd.restate.invocation.v-1", None),
        ("application/vnd.restate.endpointmanifest.v3+json", None),
        ("application/json", None),
        ("", None),
        (None, None),
    ],
)
def test_parse(content_type: str | None, version: int | None) -> None:
    assert parse_invocation_content_type(content_type) == version


@pytest.mark.parametrize(
    ("content_type", "max_version", "version"),
    [
        ("application/vnd.restate.invocation.v4", 7, None),
        ("application/vnd.restate.invocation.v5", 7, 5),
        ("application/vnd.restate.invocation.v7", 7, 7),
        ("application/vnd.restate.invocation.v8", 7, None),
        ("application/vnd.restate.invocation.v7", 6, None),
        ("application/vnd.restate.invocation.v6", 6, 6),
        ("application/vnd.restate.invocation.v5", 5, 5),
        # A max above what the SDK speaks does not invent versions.
        ("application/vnd.restate.invocation.v8", 9, None),
        (None, 7, None),
    ],
)
def test_negotiate(content_type: str | None, max_version: int, version: int | None) -> None:
    assert negotiate_invocation_version(content_type, max_version=max_version) == version


def test_is_supported() -> None:
    assert [v for v in range(10) if is_supported(v)] == [5, 6, 7]
    assert [v for v in range(10) if is_supported(v, max_version=6)] == [5, 6]


def test_supported_range() -> None:
    prefix = "application/vnd.restate.invocation.v"
    assert supported_range() == f"{prefix}5 to {prefix}7"
    assert supported_range(6) == f"{prefix}5 to {prefix}6"


@pytest.mark.parametrize("version", [4, 8])
def test_machine_refuses_unsupported_versions(version: int) -> None:
    with pytest.raises(ValueError, match=f"unsupported service protocol version {version}"):
        StateMachine(version)


@pytest.mark.parametrize("version", [5, 6, 7])
def test_machine_takes_supported_versions(version: int) -> None:
    assert StateMachine(version).version == version
