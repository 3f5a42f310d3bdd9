"""Service protocol versions and their content type, ``application/vnd.restate.invocation.vN``.

The runtime picks the version once per invocation, within the ``[min, max]`` range the endpoint's
manifest announced, and writes it into the request's ``content-type`` (``accept`` carries the same
string). The endpoint answers with exactly that content type, or 415 when it cannot speak it. The
state machine and the transport both read the version from here, so they cannot disagree on
which versions exist or how they are spelled.
"""

from __future__ import annotations

#: Oldest service protocol version this SDK speaks (restate-server 1.7 accepts V5 to V7).
MIN_PROTOCOL_VERSION = 5
#: Newest service protocol version this SDK speaks.
MAX_PROTOCOL_VERSION = 7

_PREFIX = "application/vnd.restate.invocation.v"


def is_supported(version: int, *, max_version: int = MAX_PROTOCOL_VERSION) -> bool:
    """True if ``version`` is one this SDK speaks (and no newer than ``max_version``)."""
    return MIN_PROTOCOL_VERSION <= version <= min(max_version, MAX_PROTOCOL_VERSION)


def invocation_content_type(version: int) -> str:
    """The content type naming service protocol ``version``."""
    return f"{_PREFIX}{version}"


def parse_invocation_content_type(content_type: str | None) -> int | None:
    """The version an ``application/vnd.restate.invocation.vN`` content type names, whatever N.

    Parameters (``; charset=…``) and surrounding whitespace are ignored. ``None`` if the value is
    missing or is not such a content type (including ``…v`` without a decimal number).
    """
    if content_type is None:
        return None
    media_type = content_type.split(";", 1)[0].strip()
    if not media_type.startswith(_PREFIX):
        return None
    digits = media_type[len(_PREFIX) :]
    # int() would also take "+7", " 7" or non-ASCII digits; a version is plain ASCII digits.
    if not digits.isascii() or not digits.isdigit():
        return None
    return int(digits)


def negotiate_invocation_version(
    content_type: str | None, *, max_version: int = MAX_PROTOCOL_VERSION
) -> int | None:
    """The version to run an invocation request with, from its ``content-type``.

    ``None`` (the transport answers 415) if the content type is missing, is not an invocation
    content type, or names a version outside ``MIN_PROTOCOL_VERSION``..``max_version``.
    """
    version = parse_invocation_content_type(content_type)
    if version is None or not is_supported(version, max_version=max_version):
        return None
    return version


def supported_range(max_version: int = MAX_PROTOCOL_VERSION) -> str:
    """The supported content types, for a 415 body: ``….v5 to ….v7``."""
    newest = min(max_version, MAX_PROTOCOL_VERSION)
    return f"{invocation_content_type(MIN_PROTOCOL_VERSION)} to {invocation_content_type(newest)}"


__all__ = [
    "MAX_PROTOCOL_VERSION",
    "MIN_PROTOCOL_VERSION",
    "invocation_content_type",
    "is_supported",
    "negotiate_invocation_version",
    "parse_invocation_content_type",
    "supported_range",
]
