"""Tests for request identity verification (restate_trio._protocol.identity)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import warnings

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, strategies as st

from restate_trio._protocol.identity import (
    JWT_HEADER,
    PUBLIC_KEY_PREFIX,
    SCHEME_HEADER,
    IdentityError,
    IdentityKeyError,
    IdentityVerifier,
    base58_decode,
    base58_encode,
    format_public_key,
    generate_signing_key,
    normalize_audience,
    parse_public_key,
    sign_jwt,
)

NOW = 1_750_000_000
REFERENCE_KEY = "publickeyv1_9udCwVMJF1Gcppgcz4p3vWsAmtHCK37HUkRrT7PkxNtv"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _claims(aud: object = "/invoke/Greeter/greet", **overrides: object) -> dict[str, object]:
    claims: dict[str, object] = {"aud": aud, "iat": NOW, "nbf": NOW - 60, "exp": NOW + 60}
    claims.update(overrides)
    return claims


def _headers(token: str) -> dict[str, str]:
    return {SCHEME_HEADER: "v1", JWT_HEADER: token}


def _raw_public(pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key.public_key().public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )


def _forge(header: object, claims: object, signature: bytes = b"\x00" * 64) -> str:
    """A token with arbitrary header and claims (signature unrelated)."""
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(signature)}"


def _sign_with_header(pem: bytes, header: dict[str, object], claims: dict[str, object]) -> str:
    """Sign with a custom JOSE header (to check alg enforcement with a valid signature)."""
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(key.sign(signing_input.encode('ascii')))}"


@pytest.fixture(scope="module")
def signing_key() -> tuple[bytes, str]:
    return generate_signing_key()


@pytest.fixture(scope="module")
def verifier(signing_key: tuple[bytes, str]) -> IdentityVerifier:
    return IdentityVerifier([signing_key[1]])


# ---------------------------------------------------------------------------------------------
# base58
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (b"", ""),
        (b"\x00", "1"),
        (b"\x00\x00\x01", "112"),
        (b"\x00\x00\x00", "111"),
        (b"\x39", "z"),
        (b"\x3a", "21"),
        (b"hello world", "StV1DL6CwTryKyV"),
        (b"Hello World!", "2NEpo7TZRRrLZSi2U"),
        (
            bytes.fromhex("00eb15231dfceb60925886b67d065299925915aeb172c06647"),
            "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L",
        ),
    ],
)
def test_base58_vectors(raw: bytes, encoded: str) -> None:
    assert base58_encode(raw) == encoded
    assert base58_decode(encoded) == raw


@given(st.binary(max_size=80), st.integers(min_value=0, max_value=5))
def test_base58_round_trip(data: bytes, leading_zeros: int) -> None:
    data = b"\x00" * leading_zeros + data
    encoded = base58_encode(data)
    assert set(encoded) <= set("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
    assert base58_decode(encoded) == data


@pytest.mark.parametrize("bad", ["0", "O", "I", "l", "abc+", "12 3", "é"])
def test_base58_rejects_invalid_characters(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid base58 character"):
        base58_decode(bad)


# ---------------------------------------------------------------------------------------------
# Public keys
# ---------------------------------------------------------------------------------------------


def test_reference_key_parses_to_32_bytes() -> None:
    key = parse_public_key(REFERENCE_KEY)
    raw = key.public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )
    assert len(raw) == 32
    assert len(base58_decode(REFERENCE_KEY[len(PUBLIC_KEY_PREFIX) :])) == 32
    assert format_public_key(raw) == REFERENCE_KEY


def test_generated_key_round_trip() -> None:
    pem, public = generate_signing_key()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    raw = _raw_public(pem)
    assert public == format_public_key(raw)
    parsed = parse_public_key(public)
    assert (
        parsed.public_bytes(
            encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
        )
        == raw
    )


def test_parse_public_key_tolerates_surrounding_whitespace() -> None:
    parse_public_key(f"  {REFERENCE_KEY}\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9udCwVMJF1Gcppgcz4p3vWsAmtHCK37HUkRrT7PkxNtv", "must start with"),
        ("publickeyv2_9udCwVMJF1Gcppgcz4p3vWsAmtHCK37HUkRrT7PkxNtv", "must start with"),
        ("", "must start with"),
        ("publickeyv1_", "no key material"),
        ("publickeyv1_9udCwVMJF1Gcppgcz4p3vWsAmtHCK37HUkRrT7PkxNt0", "not valid base58btc"),
        ("publickeyv1_" + base58_encode(b"\xff" * 31), "decodes to 31 bytes"),
        ("publickeyv1_" + base58_encode(b"\x01" * 33), "decodes to 33 bytes"),
        ("publickeyv1_1" + base58_encode(b"\xff" * 32), "decodes to 33 bytes"),
        ("publickeyv1_" + base58_encode(b"\x01" * 16), "decodes to 16 bytes"),
    ],
)
def test_parse_public_key_errors(text: str, message: str) -> None:
    with pytest.raises(IdentityKeyError, match=message):
        parse_public_key(text)


def test_identity_key_error_is_value_error() -> None:
    assert issubclass(IdentityKeyError, ValueError)
    assert not issubclass(IdentityError, ValueError)


def test_format_public_key_requires_32_bytes() -> None:
    with pytest.raises(IdentityKeyError):
        format_public_key(b"\x01" * 31)


def test_verifier_parses_keys_eagerly() -> None:
    with pytest.raises(IdentityKeyError):
        IdentityVerifier([REFERENCE_KEY, "publickeyv1_nope0"])


def test_verifier_rejects_a_bare_string() -> None:
    with pytest.raises(TypeError):
        IdentityVerifier(REFERENCE_KEY)


# ---------------------------------------------------------------------------------------------
# Audience normalisation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/invoke/Greeter/greet", "/invoke/Greeter/greet"),
        ("/signed/prefix/invoke/Greeter/greet", "/invoke/Greeter/greet"),
        ("/a/invoke/b/invoke/Svc/h", "/invoke/Svc/h"),
        ("/discover", "/discover"),
        ("/x/discover", "/discover"),
        ("/x/y/discover", "/discover"),
        ("/health", "/health"),
        ("/invoke/Greeter", "/invoke/Greeter"),
        ("/invoke/Greeter/greet/extra", "/invoke/Greeter/greet/extra"),
        ("/discovery", "/discovery"),
        ("/", "/"),
        ("", ""),
    ],
)
def test_normalize_audience(path: str, expected: str) -> None:
    assert normalize_audience(path) == expected


# ---------------------------------------------------------------------------------------------
# Verification: accept
# ---------------------------------------------------------------------------------------------


def test_no_keys_accepts_everything() -> None:
    verifier = IdentityVerifier([])
    assert not verifier.enabled
    verifier.verify({}, "/invoke/Greeter/greet")
    verifier.verify({SCHEME_HEADER: "unsigned"}, "/discover")
    assert not IdentityVerifier().enabled


def test_enabled(verifier: IdentityVerifier) -> None:
    assert verifier.enabled


def test_accepts_invoke_with_prefix(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    token = sign_jwt(signing_key[0], _claims())
    verifier.verify(_headers(token), "/signed/prefix/invoke/Greeter/greet", now=NOW)


def test_accepts_discover_with_prefix(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    token = sign_jwt(signing_key[0], _claims(aud="/discover"))
    verifier.verify(_headers(token), "/x/discover", now=NOW)


def test_accepts_with_sub_claim(signing_key: tuple[bytes, str], verifier: IdentityVerifier) -> None:
    token = sign_jwt(signing_key[0], _claims(aud="/invoke/Counter/add", sub="k/1"))
    verifier.verify(_headers(token), "/invoke/Counter/add", now=NOW)


def test_accepts_aud_list(signing_key: tuple[bytes, str], verifier: IdentityVerifier) -> None:
    token = sign_jwt(signing_key[0], _claims(aud=["/other", "/invoke/Greeter/greet"]))
    verifier.verify(_headers(token), "/invoke/Greeter/greet", now=NOW)


def test_accepts_at_exact_boundaries(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    # Valid from nbf on, up to but excluding exp (RFC 7519 4.1.4/4.1.5), with zero leeway.
    token = sign_jwt(signing_key[0], _claims(nbf=NOW, exp=NOW + 1))
    verifier.verify(_headers(token), "/invoke/Greeter/greet", now=NOW)
    verifier.verify(_headers(token), "/invoke/Greeter/greet", now=NOW + 0.999)
    _reject(verifier, _headers(token), "expired", now=NOW + 1)


def test_accepts_iat_in_our_future(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    # A server clock 30 s ahead of ours: nbf = iat - 60 absorbs the skew, so iat (later than our
    # now) must not be held against the token.
    token = sign_jwt(signing_key[0], _claims(iat=NOW + 30, nbf=NOW - 30, exp=NOW + 90))
    verifier.verify(_headers(token), "/invoke/Greeter/greet", now=NOW)


def test_accepts_unknown_header_parameter(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    header: dict[str, object] = {"typ": "JWT", "alg": "EdDSA", "kid": "k", "x-new": [1]}
    verifier.verify(
        _headers(_sign_with_header(signing_key[0], header, _claims())),
        "/invoke/Greeter/greet",
        now=NOW,
    )


def test_eddsa_verification_warns_nothing(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        token = sign_jwt(signing_key[0], _claims())
        verifier.verify(_headers(token), "/invoke/Greeter/greet", now=NOW)
    assert [str(w.message) for w in caught] == []


def test_second_key_matches() -> None:
    _, other_public = generate_signing_key()
    pem, public = generate_signing_key()
    verifier = IdentityVerifier([other_public, public])
    verifier.verify(_headers(sign_jwt(pem, _claims())), "/invoke/Greeter/greet", now=NOW)


def test_kid_is_not_used_to_select_the_key(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    token = sign_jwt(signing_key[0], _claims(), kid="publickeyv1_somethingelse")
    verifier.verify(_headers(token), "/invoke/Greeter/greet", now=NOW)


def test_sign_jwt_header_matches_server_format(signing_key: tuple[bytes, str]) -> None:
    pem, public = signing_key
    token = sign_jwt(pem, _claims())
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"typ": "JWT", "alg": "EdDSA", "kid": public}
    assert "=" not in token


def test_default_now_is_wall_clock(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    now = int(time.time())
    fresh = sign_jwt(signing_key[0], _claims(iat=now, nbf=now - 60, exp=now + 60))
    verifier.verify(_headers(fresh), "/invoke/Greeter/greet")
    stale = sign_jwt(signing_key[0], _claims(iat=now - 600, nbf=now - 660, exp=now - 540))
    with pytest.raises(IdentityError, match="expired"):
        verifier.verify(_headers(stale), "/invoke/Greeter/greet")


# ---------------------------------------------------------------------------------------------
# Verification: reject
# ---------------------------------------------------------------------------------------------


def _reject(
    verifier: IdentityVerifier,
    headers: dict[str, str],
    message: str,
    *,
    path: str = "/invoke/Greeter/greet",
    now: float = NOW,
) -> None:
    with pytest.raises(IdentityError, match=message):
        verifier.verify(headers, path, now=now)


def test_rejects_wrong_key(verifier: IdentityVerifier) -> None:
    other_pem, _ = generate_signing_key()
    _reject(verifier, _headers(sign_jwt(other_pem, _claims())), "does not match any configured")


def test_rejects_tampered_claims(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    head, _, sig = sign_jwt(signing_key[0], _claims(aud="/invoke/Other/h")).split(".")
    body = _b64(json.dumps(_claims()).encode())
    _reject(verifier, _headers(f"{head}.{body}.{sig}"), "does not match any configured")


def test_rejects_tampered_signature(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    head, body, sig = sign_jwt(signing_key[0], _claims()).split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[10] ^= 0x01
    _reject(verifier, _headers(f"{head}.{body}.{_b64(bytes(raw))}"), "does not match any")


def test_rejects_truncated_signature(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    head, body, sig = sign_jwt(signing_key[0], _claims()).split(".")
    raw = base64.urlsafe_b64decode(sig + "==")
    _reject(verifier, _headers(f"{head}.{body}.{_b64(raw[:63])}"), "does not match any configured")
    _reject(verifier, _headers(f"{head}.{body}."), "does not match any configured")


@pytest.mark.parametrize("alg", ["HS256", "none", "RS256", "ES256", "eddsa", None])
def test_rejects_other_algorithms(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier, alg: str | None
) -> None:
    header: dict[str, object] = {"typ": "JWT", "kid": signing_key[1]}
    if alg is not None:
        header["alg"] = alg
    token = _sign_with_header(signing_key[0], header, _claims())
    _reject(verifier, _headers(token), "algorithm must be 'EdDSA'")


def test_rejects_alg_none_with_empty_signature(verifier: IdentityVerifier) -> None:
    head = _b64(json.dumps({"typ": "JWT", "alg": "none"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    _reject(verifier, _headers(f"{head}.{body}."), "algorithm must be 'EdDSA'")


def test_rejects_expired(signing_key: tuple[bytes, str], verifier: IdentityVerifier) -> None:
    token = sign_jwt(signing_key[0], _claims(iat=NOW - 200, nbf=NOW - 260, exp=NOW - 1))
    _reject(verifier, _headers(token), "expired")


def test_rejects_expired_by_fraction(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    token = sign_jwt(signing_key[0], _claims(exp=NOW))
    with pytest.raises(IdentityError, match="expired"):
        verifier.verify(_headers(token), "/invoke/Greeter/greet", now=NOW + 0.5)


def test_rejects_not_yet_valid(signing_key: tuple[bytes, str], verifier: IdentityVerifier) -> None:
    token = sign_jwt(signing_key[0], _claims(iat=NOW + 100, nbf=NOW + 1, exp=NOW + 200))
    _reject(verifier, _headers(token), "not yet valid")


@pytest.mark.parametrize("claim", ["aud", "exp", "iat", "nbf"])
def test_rejects_missing_claim(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier, claim: str
) -> None:
    claims = _claims()
    del claims[claim]
    _reject(
        verifier, _headers(sign_jwt(signing_key[0], claims)), f"missing required claim '{claim}'"
    )


@pytest.mark.parametrize(
    ("claim", "value", "message"),
    [
        ("exp", "9999999999", "Claim 'exp' must be a NumericDate"),
        # joserfc reads a null claim as an absent one.
        ("nbf", None, "missing required claim 'nbf'"),
        ("iat", True, "Claim 'iat' must be a NumericDate"),
        ("iat", "0", "Claim 'iat' must be a NumericDate"),
        ("exp", [NOW + 60], "Claim 'exp' must be a NumericDate"),
        ("nbf", {}, "Claim 'nbf' must be a NumericDate"),
        ("nbf", "0", "Claim 'nbf' must be a NumericDate"),
    ],
)
def test_rejects_non_numeric_time_claims(
    signing_key: tuple[bytes, str],
    verifier: IdentityVerifier,
    claim: str,
    value: object,
    message: str,
) -> None:
    token = sign_jwt(signing_key[0], _claims(**{claim: value}))
    _reject(verifier, _headers(token), message)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_rejects_non_finite_time_claims(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier, claim: str, value: float
) -> None:
    token = sign_jwt(signing_key[0], _claims(**{claim: value}))  # json.dumps writes Infinity/NaN
    _reject(verifier, _headers(token), f"Claim '{claim}' must be a NumericDate")


def test_huge_integer_exp_is_compared_exactly(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    token = sign_jwt(signing_key[0], _claims(exp=10**400))
    verifier.verify(_headers(token), "/invoke/Greeter/greet", now=NOW)


@pytest.mark.parametrize(
    ("aud", "path"),
    [
        ("/invoke/Greeter/greet", "/invoke/Greeter/other"),
        ("/invoke/Greeter/greet", "/discover"),
        ("/signed/prefix/invoke/Greeter/greet", "/signed/prefix/invoke/Greeter/greet"),
        ("/discover", "/x/invoke/Greeter/greet"),
        ("invoke/Greeter/greet", "/invoke/Greeter/greet"),
        (["/a", "/b"], "/invoke/Greeter/greet"),
        ([], "/invoke/Greeter/greet"),
    ],
)
def test_rejects_wrong_aud(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier, aud: object, path: str
) -> None:
    token = sign_jwt(signing_key[0], _claims(aud=aud))
    _reject(verifier, _headers(token), "audience", path=path)


@pytest.mark.parametrize(
    ("aud", "message"),
    [
        (None, "missing required claim 'aud'"),
        (42, "'aud' must be an array of StringOrURI"),
        ({"x": "/invoke/Greeter/greet"}, "'aud' must be an array of StringOrURI"),
        (["/invoke/Greeter/greet", 1], "'aud' must be an array of StringOrURI"),
    ],
)
def test_rejects_malformed_aud(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier, aud: object, message: str
) -> None:
    token = sign_jwt(signing_key[0], _claims(aud=aud))
    _reject(verifier, _headers(token), message)


def test_rejects_missing_scheme_header(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    token = sign_jwt(signing_key[0], _claims())
    _reject(verifier, {JWT_HEADER: token}, "missing x-restate-signature-scheme")
    _reject(verifier, {}, "missing x-restate-signature-scheme")


def test_rejects_missing_jwt_header(verifier: IdentityVerifier) -> None:
    _reject(verifier, {SCHEME_HEADER: "v1"}, "missing x-restate-jwt-v1")


def test_rejects_unsigned_scheme(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    token = sign_jwt(signing_key[0], _claims())
    _reject(verifier, {SCHEME_HEADER: "unsigned", JWT_HEADER: token}, "unsigned")


@pytest.mark.parametrize("scheme", ["v2", "V1", "", "v1 ", "jwt"])
def test_rejects_unknown_scheme(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier, scheme: str
) -> None:
    token = sign_jwt(signing_key[0], _claims())
    _reject(verifier, {SCHEME_HEADER: scheme, JWT_HEADER: token}, "unsupported signature scheme")


def test_rejects_one_part(verifier: IdentityVerifier) -> None:
    _reject(verifier, _headers("abc"), r"malformed token \(Invalid JSON Web Signature\)")
    _reject(verifier, _headers(""), r"malformed token \(Invalid JSON Web Signature\)")


def test_rejects_four_parts(signing_key: tuple[bytes, str], verifier: IdentityVerifier) -> None:
    token = sign_jwt(signing_key[0], _claims())
    _reject(verifier, _headers(token + ".AAAA"), r"malformed token \(Invalid JSON Web Signature\)")


@pytest.mark.parametrize("part", [0, 1, 2])
@pytest.mark.parametrize("damage", ["pad", "plus", "slash", "space", "nonascii", "len1"])
def test_rejects_bad_base64(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier, part: int, damage: str
) -> None:
    parts = sign_jwt(signing_key[0], _claims()).split(".")
    segment = parts[part]
    if damage == "pad":
        segment += "=="
    elif damage == "plus":
        segment = "+" + segment[1:]
    elif damage == "slash":
        segment = segment[:-1] + "/"
    elif damage == "space":
        segment = segment[:4] + " " + segment[4:]
    elif damage == "nonascii":
        segment = segment[:4] + "é" + segment[5:]
    else:
        segment = segment[: (len(segment) // 4 - 1) * 4 + 1]
        assert len(segment) % 4 == 1
    parts[part] = segment
    # A damaged signature segment does not decode, so it cannot verify.
    message = [r"malformed token \(Invalid header\)", r"malformed token \(Invalid payload\)"]
    message.append("signature does not match any configured key")
    _reject(verifier, _headers(".".join(parts)), message[part])


def test_rejects_non_canonical_base64(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    head, body, sig = sign_jwt(signing_key[0], _claims()).split(".")
    # 64 bytes -> 86 chars, the last carrying 4 unused bits; flip one of them.
    assert len(sig) == 86
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(sig[-1]) ^ 0x01]
    # The bytes decode to the genuine signature in a lax decoder; joserfc refuses the spelling.
    _reject(verifier, _headers(f"{head}.{body}.{sig[:-1]}{last}"), "does not match any configured")


def test_rejects_non_json_header(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    _, body, sig = sign_jwt(signing_key[0], _claims()).split(".")
    invalid = r"malformed token \(Invalid header\)"
    _reject(verifier, _headers(f"{_b64(b'not json')}.{body}.{sig}"), invalid)
    not_utf8 = _b64(b"\xff\xfe")
    _reject(verifier, _headers(f"{not_utf8}.{body}.{sig}"), invalid)
    _reject(verifier, _headers(f"{_b64(b'[1,2]')}.{body}.{sig}"), "algorithm must be 'EdDSA'")


@pytest.mark.parametrize(
    "header",
    [b'"xalgx"', b'{"alg":"EdDSA","crit":5}', b'{"alg":"EdDSA","crit":[5]}'],
)
def test_rejects_headers_joserfc_does_not_wrap(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier, header: bytes
) -> None:
    # These reach joserfc as TypeErrors before any signature check; they must still be a 401.
    _, body, sig = sign_jwt(signing_key[0], _claims()).split(".")
    _reject(verifier, _headers(f"{_b64(header)}.{body}.{sig}"), "malformed token")


def test_rejects_unknown_critical_header(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    header: dict[str, object] = {"alg": "EdDSA", "x-new": 1, "crit": ["x-new"]}
    token = _sign_with_header(signing_key[0], header, _claims())
    _reject(verifier, _headers(token), "malformed token")


def test_rejects_deeply_nested_header(verifier: IdentityVerifier) -> None:
    deep = _b64(b"[" * 200_000)
    _reject(verifier, _headers(f"{deep}.{deep}.{_b64(bytes(64))}"), "malformed token")


def test_rejects_non_json_claims_even_if_signed(
    signing_key: tuple[bytes, str], verifier: IdentityVerifier
) -> None:
    key = serialization.load_pem_private_key(signing_key[0], password=None)
    assert isinstance(key, Ed25519PrivateKey)
    signing_input = f"{_b64(json.dumps({'alg': 'EdDSA'}).encode())}.{_b64(b'{oops')}"
    token = f"{signing_input}.{_b64(key.sign(signing_input.encode()))}"
    _reject(verifier, _headers(token), "claims are not a JSON object")


def test_forged_token_without_valid_signature(verifier: IdentityVerifier) -> None:
    token = _forge({"typ": "JWT", "alg": "EdDSA"}, _claims())
    _reject(verifier, _headers(token), "does not match any configured")


@given(st.text(max_size=200))
def test_arbitrary_tokens_only_raise_identity_error(token: str) -> None:
    verifier = IdentityVerifier([REFERENCE_KEY])
    with pytest.raises(IdentityError):
        verifier.verify(_headers(token), "/invoke/Greeter/greet", now=NOW)


@given(st.lists(st.binary(max_size=90), min_size=3, max_size=3))
def test_arbitrary_segments_only_raise_identity_error(segments: list[bytes]) -> None:
    verifier = IdentityVerifier([REFERENCE_KEY])
    token = ".".join(_b64(s) for s in segments)
    with pytest.raises(IdentityError):
        verifier.verify(_headers(token), "/invoke/Greeter/greet", now=NOW)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_HEADER_NAMES = st.sampled_from(
    ["alg", "crit", "kid", "typ", "cty", "b64", "jwk", "x5c", "zip", "x"]
)


@given(
    _JSON | st.dictionaries(_HEADER_NAMES, _JSON, max_size=4).map(lambda h: {"alg": "EdDSA", **h})
)
def test_arbitrary_json_headers_only_raise_identity_error(header: object) -> None:
    verifier = IdentityVerifier([REFERENCE_KEY])
    with pytest.raises(IdentityError):
        verifier.verify(_headers(_forge(header, _claims())), "/invoke/Greeter/greet", now=NOW)


def test_joserfc_is_imported_only_when_identity_is_verified() -> None:
    # It costs start-up time (about a third of the package's import): endpoints without
    # identity keys never need it.
    script = (
        "import sys, restate_trio\n"
        "restate_trio.Endpoint().app()\n"
        "assert 'joserfc' not in sys.modules, 'imported without identity keys'\n"
        "from restate_trio._protocol.identity import IdentityVerifier, generate_signing_key\n"
        "IdentityVerifier([generate_signing_key()[1]])\n"
        "assert 'joserfc' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
