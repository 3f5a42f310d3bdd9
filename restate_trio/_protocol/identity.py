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
import math
import time
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidPayloadError,
    JoseError,
    MissingAlgorithmError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import OKPKey
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry

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
#: The only JWS algorithm accepted (Ed25519 signatures, what restate-server produces).
_ALGORITHM = "EdDSA"


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


class _RestateClaims(JWTClaimsRegistry):
    """The claim checks Restate's tokens need, on top of joserfc's.

    ``exp`` and ``nbf`` are checked by joserfc with zero leeway: restate-server already builds the
    clock-skew allowance into the token (``nbf = iat - 60``, ``exp = iat + 60``). ``iat`` must be
    present and numeric but is not compared with our clock: joserfc would reject an ``iat`` one
    second in our future, which is exactly the skew the ``nbf`` allowance exists to absorb.
    """

    def validate_iat(self, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
            raise InvalidClaimError("iat", "Claim 'iat' must be a NumericDate value")


def _finite(value: float) -> bool:
    # An int is always finite (math.isfinite overflows on a huge one); json.loads accepts NaN.
    return isinstance(value, int) or math.isfinite(value)


class _EdDSARegistry(JWSRegistry):
    """joserfc's JWS registry, accepting the ``EdDSA`` algorithm only.

    An ``alg`` of "none", an HMAC or any other algorithm is refused before any key is tried,
    whatever the token says. joserfc warns on every use of ``EdDSA``, which RFC 9864
    deprecates in favour of the fully-specified ``Ed25519``; restate-server signs with ``EdDSA``
    and our keys are Ed25519 by construction (:func:`parse_public_key`), so that warning would fire
    on every request and name nothing a user could change.
    """

    def get_alg(self, name: str) -> JWSAlgModel:
        if name != _ALGORITHM:
            raise UnsupportedAlgorithmError(f"Algorithm of {name!r} is not allowed")
        return self.algorithms[name]


# Header parameters joserfc does not know are ignored, as RFC 7515 asks (unless listed in
# ``crit``) and as Restate's own verifiers do, so a server that adds one does not lock us out.
_REGISTRY = _EdDSARegistry(algorithms=[_ALGORITHM], strict_check_header=False)


class IdentityVerifier:
    """Verifies Restate request identity (signature scheme ``v1``) against configured keys.

    Keys are parsed eagerly, so a malformed key raises :class:`IdentityKeyError` at construction.
    With no keys configured, every request is accepted.
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: Sequence[str] = ()) -> None:
        if isinstance(keys, str):
            raise TypeError("identity keys must be a sequence of strings, not a single string")
        self._keys: tuple[OKPKey, ...] = tuple(OKPKey.import_key(parse_public_key(k)) for k in keys)

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
        audience = normalize_audience(path)
        try:
            claims = self._decode(token)
            # joserfc's clock is whole seconds. Flooring is exact for the integer claims Restate
            # sends: exp <= now and nbf > now give the same answers with floor(now).
            _RestateClaims(
                now=math.floor(time.time() if now is None else now),
                aud={"essential": True, "value": audience},
                exp={"essential": True},
                iat={"essential": True},
                nbf={"essential": True},
            ).validate(claims)
        except JoseError as exc:
            raise IdentityError(_describe(exc, audience)) from None
        except (TypeError, ValueError, AttributeError, KeyError, RecursionError) as exc:
            # Fail closed on what joserfc does not wrap: a header that is a JSON string, or a
            # ``crit`` that is not a list of strings, reaches it as a TypeError before any
            # signature check; a deeply nested payload raises RecursionError.
            raise IdentityError(f"invalid JWT: malformed token ({type(exc).__name__})") from None

    def _decode(self, token: str) -> dict[str, object]:
        # Every key is tried; ``kid`` is not used to pick one (Restate's verifiers don't either).
        for key in self._keys:
            try:
                decoded = jwt.decode(token, key, registry=_REGISTRY)
            except BadSignatureError:
                continue
            return dict(decoded.claims)
        raise BadSignatureError


def _describe(exc: JoseError, audience: str) -> str:
    """A 401 reason for a joserfc error (our wording first, joserfc's detail after it)."""
    if isinstance(exc, BadSignatureError):
        return "invalid JWT: signature does not match any configured key"
    if isinstance(exc, UnsupportedAlgorithmError | MissingAlgorithmError):
        return f"invalid JWT: algorithm must be {_ALGORITHM!r} ({exc.description})"
    if isinstance(exc, InvalidPayloadError):
        return "invalid JWT: claims are not a JSON object"
    if isinstance(exc, MissingClaimError):
        names = ", ".join(repr(name) for name in exc.claim.split(","))
        return f"invalid JWT: missing required claim {names}"
    if isinstance(exc, ExpiredTokenError):
        return "invalid JWT: token has expired"
    if isinstance(exc, InvalidClaimError) and exc.claim == "aud":
        return f"invalid JWT: audience does not match request path {audience!r} ({exc.description})"
    if isinstance(exc, InvalidClaimError):
        return f"invalid JWT: {exc.description}"
    # DecodeError, ExceededSizeError, header errors: the token is not a well-formed compact JWS.
    return f"invalid JWT: malformed token ({exc.description})"


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
    header = {"typ": "JWT", "alg": _ALGORITHM, "kid": kid}
    payload = json.dumps(dict(claims), separators=(",", ":")).encode()
    return jws.serialize_compact(header, payload, OKPKey.import_key(key), registry=_REGISTRY)
