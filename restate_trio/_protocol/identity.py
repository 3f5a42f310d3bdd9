"""Request identity verification (Restate "request signing", scheme ``v1``).

When restate-server is configured with an Ed25519 signing key it adds two headers to every request
it sends to a deployment:

* ``x-restate-signature-scheme: v1``
* ``x-restate-jwt-v1: <compact JWS>``

The JWS is signed with EdDSA (Ed25519); its claims carry ``aud`` (the request path without the
deployment prefix), ``iat``, ``nbf`` and ``exp``. Public keys are written as ``publickeyv1_``
followed by the base58btc encoding of the 32-byte raw Ed25519 public key.

The JWS itself is parsed and verified by joserfc (algorithm pinned to EdDSA, strict base64url,
signature, then the claims); the key format, the audience rule and the error wording are ours.
This module is sans-I/O (joserfc and ``cryptography`` do no I/O). The transport layer calls
:meth:`IdentityVerifier.verify` and answers 401 when it raises :class:`IdentityError`.

:func:`generate_signing_key` and :func:`sign_jwt` are test support (unit tests, fuzzing, and the
end-to-end harness that configures a real restate-server); the SDK itself never signs anything.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "JWT_HEADER",
    "PUBLIC_KEY_PREFIX",
    "SCHEME_HEADER",
    "SCHEME_UNSIGNED",
    "SCHEME_V1",
    "IdentityError",
    "IdentityKeyError",
    "IdentityVerifier",
    "base58_decode",
    "base58_encode",
    "format_public_key",
    "generate_signing_key",
    "normalize_audience",
    "parse_public_key",
    "sign_jwt",
]

#: Prefix of a textual Restate request-identity public key.
PUBLIC_KEY_PREFIX = "publickeyv1_"
#: Header naming the signature scheme (lower-case, as the verifier expects header names).
SCHEME_HEADER = "x-restate-signature-scheme"
#: Header carrying the compact JWS for scheme ``v1``.
JWT_HEADER = "x-restate-jwt-v1"
#: The only scheme that is accepted when keys are configured.
SCHEME_V1 = "v1"
#: Scheme value meaning "not signed"; always rejected when keys are configured.
SCHEME_UNSIGNED = "unsigned"

_ED25519_PUBLIC_KEY_LEN = 32


class IdentityKeyError(ValueError):
    """A configured identity public key is malformed."""


class IdentityError(Exception):
    """A request failed identity verification (the transport answers 401)."""


# --------------------------------------------------------------------------------------------
# base58btc
# --------------------------------------------------------------------------------------------

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {char: value for value, char in enumerate(_B58_ALPHABET)}


def base58_encode(data: bytes) -> str:
    """Encode *data* as base58btc (Bitcoin alphabet); each leading zero byte becomes ``1``."""
    zeros = len(data) - len(data.lstrip(b"\x00"))
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(_B58_ALPHABET[remainder])
    return "1" * zeros + "".join(reversed(digits))


def base58_decode(text: str) -> bytes:
    """Decode base58btc *text*; each leading ``1`` becomes a zero byte.

    Raises :class:`ValueError` on a character outside the Bitcoin alphabet.
    """
    zeros = len(text) - len(text.lstrip("1"))
    number = 0
    for position, char in enumerate(text):
        value = _B58_INDEX.get(char)
        if value is None:
            raise ValueError(f"invalid base58 character {char!r} at position {position}")
        number = number * 58 + value
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * zeros + body


# --------------------------------------------------------------------------------------------
# Public keys
# --------------------------------------------------------------------------------------------


def parse_public_key(text: str) -> Ed25519PublicKey:
    """Parse a ``publickeyv1_<base58btc>`` string into an Ed25519 public key.

    Surrounding whitespace is ignored. Raises :class:`IdentityKeyError` if the prefix is missing,
    the body is not valid base58btc, or it does not decode to exactly 32 bytes.
    """
    stripped = text.strip()
    if not stripped.startswith(PUBLIC_KEY_PREFIX):
        raise IdentityKeyError(f"identity key {text!r} must start with {PUBLIC_KEY_PREFIX!r}")
    body = stripped[len(PUBLIC_KEY_PREFIX) :]
    if not body:
        raise IdentityKeyError(f"identity key {text!r} has no key material after the prefix")
    try:
        raw = base58_decode(body)
    except ValueError as exc:
        raise IdentityKeyError(f"identity key {text!r} is not valid base58btc: {exc}") from None
    if len(raw) != _ED25519_PUBLIC_KEY_LEN:
        raise IdentityKeyError(
            f"identity key {text!r} decodes to {len(raw)} bytes; an Ed25519 public key is "
            f"{_ED25519_PUBLIC_KEY_LEN} bytes"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def format_public_key(raw: bytes) -> str:
    """Format a 32-byte raw Ed25519 public key as ``publickeyv1_<base58btc>``."""
    if len(raw) != _ED25519_PUBLIC_KEY_LEN:
        raise IdentityKeyError(
            f"an Ed25519 public key is {_ED25519_PUBLIC_KEY_LEN} bytes, got {len(raw)}"
        )
    return PUBLIC_KEY_PREFIX + base58_encode(raw)


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def normalize_audience(path: str) -> str:
    """Return the ``aud`` value the server uses for a request to *path*.

    *path* is the request path without query string. The deployment prefix is dropped:
    ``…/invoke/<service>/<handler>`` becomes ``/invoke/<service>/<handler>``, ``…/discover``
    becomes ``/discover``; any other path is returned unchanged.
    """
    segments = path.split("/")
    # A leading "/" makes segments[0] empty, so "/invoke/a/b" has 4 segments.
    if len(segments) >= 4 and segments[-3] == "invoke":
        return "/" + "/".join(segments[-3:])
    if len(segments) >= 2 and segments[-1] == "discover":
        return "/discover"
    # Serde previews: …/serdes/<service>/<encode|decode>/<handler>/<input|output>.
    if len(segments) >= 6 and segments[-5] == "serdes":
        return "/" + "/".join(segments[-5:])
    return path


class IdentityVerifier:
    """Verifies Restate request identity (signature scheme ``v1``) against configured keys.

    Keys are parsed eagerly, so a malformed key raises :class:`IdentityKeyError` at construction.
    With no keys configured, every request is accepted.
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: Sequence[str] = ()) -> None:
        if isinstance(keys, str):
            raise TypeError("identity keys must be a sequence of strings, not a single string")
        parsed = [parse_public_key(k) for k in keys]
        # joserfc is imported only by endpoints that verify identity (it costs start-up time).
        self._keys: tuple[object, ...] = ()
        if parsed:
            from . import jws

            self._keys = jws.import_keys(parsed)

    @property
    def enabled(self) -> bool:
        """True if at least one key is configured (requests must then be signed)."""
        return bool(self._keys)

    def __repr__(self) -> str:
        return f"IdentityVerifier(<{len(self._keys)} key(s)>)"

    def verify(self, headers: Mapping[str, str], path: str, *, now: float | None = None) -> None:
        """Check the identity headers of a request to *path*.

        *headers* must use lower-case names. *path* is the request path (without query string),
        including any deployment prefix. *now* defaults to :func:`time.time`. Returns ``None`` on
        success and raises :class:`IdentityError` describing the first problem found otherwise.
        """
        if not self._keys:
            return
        scheme = headers.get(SCHEME_HEADER)
        if scheme is None:
            raise IdentityError(f"missing {SCHEME_HEADER} header")
        if scheme == SCHEME_UNSIGNED:
            raise IdentityError("request is unsigned but identity keys are configured")
        if scheme != SCHEME_V1:
            raise IdentityError(f"unsupported signature scheme {scheme!r}")
        token = headers.get(JWT_HEADER)
        if token is None:
            raise IdentityError(f"missing {JWT_HEADER} header")
        from . import jws

        jws.verify(token, self._keys, normalize_audience(path), time.time() if now is None else now)


# --------------------------------------------------------------------------------------------
# Test support
# --------------------------------------------------------------------------------------------


def generate_signing_key() -> tuple[bytes, str]:
    """Test support: create a fresh Ed25519 signing key.

    Returns ``(private_pem, public_key)``: the unencrypted PKCS#8 PEM of the private key (what
    restate-server's ``request-identity-private-key-pem-file`` expects) and the matching
    ``publickeyv1_…`` string to configure on the endpoint.
    """
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    raw = private.public_key().public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )
    return pem, format_public_key(raw)


def sign_jwt(private_pem: bytes, claims: Mapping[str, object], *, kid: str | None = None) -> str:
    """Test support: sign *claims* as a compact JWS the way restate-server does.

    The JOSE header is ``{"typ":"JWT","alg":"EdDSA","kid":...}``; when *kid* is ``None`` it is
    derived from the key (``publickeyv1_…``). *claims* are JSON-encoded as given, with no
    validation, so tests can produce deliberately bad tokens.
    """
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("sign_jwt needs an Ed25519 private key")
    if kid is None:
        kid = format_public_key(
            key.public_key().public_bytes(
                encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
            )
        )
    from . import jws

    header = {"typ": "JWT", "alg": jws.ALGORITHM, "kid": kid}
    payload = json.dumps(dict(claims), separators=(",", ":")).encode()
    return jws.sign(header, payload, key)
