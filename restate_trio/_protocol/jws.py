"""Restate's request-identity tokens (compact JWS, EdDSA) verified and signed with joserfc.

Kept apart from :mod:`.identity` so that only endpoints configured with identity keys import
joserfc (it costs start-up time); the key format, the audience rule and the headers stay there.
Sans-I/O like the rest of the protocol core: joserfc and ``cryptography`` do no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

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

from .identity import IdentityError

__all__ = ["ALGORITHM", "import_keys", "sign", "verify"]

#: The only JWS algorithm accepted (Ed25519 signatures, what restate-server produces).
ALGORITHM = "EdDSA"


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
        if name != ALGORITHM:
            raise UnsupportedAlgorithmError(f"Algorithm of {name!r} is not allowed")
        return self.algorithms[name]


# Header parameters joserfc does not know are ignored, as RFC 7515 asks (unless listed in
# ``crit``) and as Restate's own verifiers do, so a server that adds one does not lock us out.
_REGISTRY = _EdDSARegistry(algorithms=[ALGORITHM], strict_check_header=False)


def import_keys(keys: Sequence[Ed25519PublicKey]) -> tuple[object, ...]:
    """The verification keys, in joserfc's form."""
    return tuple(OKPKey.import_key(key) for key in keys)


def verify(token: str, keys: Sequence[object], audience: str, now: float) -> None:
    """Check ``token``'s signature against ``keys`` and its claims for ``audience`` at ``now``;
    raises :class:`~.identity.IdentityError` naming the first problem."""
    try:
        claims = _decode(token, keys)
        # joserfc's clock is whole seconds. Flooring is exact for the integer claims Restate
        # sends: exp <= now and nbf > now give the same answers with floor(now).
        _RestateClaims(
            now=math.floor(now),
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


def _decode(token: str, keys: Sequence[object]) -> dict[str, object]:
    # Every key is tried; ``kid`` is not used to pick one (Restate's verifiers don't either).
    for key in keys:
        assert isinstance(key, OKPKey)
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
        return f"invalid JWT: algorithm must be {ALGORITHM!r} ({exc.description})"
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


def sign(header: Mapping[str, object], payload: bytes, key: Ed25519PrivateKey) -> str:
    """A compact JWS of ``payload`` (test support: how restate-server signs its requests)."""
    return jws.serialize_compact(dict(header), payload, OKPKey.import_key(key), registry=_REGISTRY)
