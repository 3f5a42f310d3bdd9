"""Tests for restate_trio._context.random (the replay-stable ``ctx.random()`` generator)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from restate_trio._context.random import DurableRandom

REPO_ROOT = Path(__file__).resolve().parents[2]
U64 = (1 << 64) - 1

# --------------------------------------------------------------------------- golden vectors
#
# The first five xoshiro256** outputs after SplitMix64 seeding. Computed with DurableRandom and
# cross-checked against the independent Python implementation and the C reference program below.
# Changing any of these changes what every in-flight invocation sees on replay: don't.

GOLDEN_NEXT_U64: dict[int, list[int]] = {
    0: [
        0x99EC5F36CB75F2B4,
        0xBF6E1F784956452A,
        0x1A5F849D4933E6E0,
        0x6AA594F1262D2D2C,
        0xBBA5AD4A1F842E59,
    ],
    12345: [
        0xBE6A36374160D49B,
        0x214AAA0637A688C6,
        0xF69D16DE9954D388,
        0x0C60048C4E96E033,
        0x8E2076AEED51C648,
    ],
}

# The first four SplitMix64 outputs from seed 0 (= the xoshiro256** state after seeding). The
# first is the widely published SplitMix64 test value 0xE220A8397B1DCDAF.
SPLITMIX64_SEED0 = [
    0xE220A8397B1DCDAF,
    0x6E789E6AA1B965F4,
    0x06C45D188009454F,
    0xF88BB8A8724C81EC,
]


# --------------------------------------------------------------------------- independent model
#
# A second implementation, deliberately structured differently from the module under test:
# modular arithmetic instead of masks, rotation by multiplication/division, the state as a list
# updated through a generator.


def _model_splitmix64(seed: int) -> Iterator[int]:
    x = seed
    while True:
        x = (x + 0x9E3779B97F4A7C15) % 2**64
        z = x
        z = ((z ^ (z // 2**30)) * 0xBF58476D1CE4E5B9) % 2**64
        z = ((z ^ (z // 2**27)) * 0x94D049BB133111EB) % 2**64
        yield z ^ (z // 2**31)


def _model_rotl(x: int, k: int) -> int:
    high: int = (x * 2**k) % 2**64
    low: int = x // 2 ** (64 - k)
    return high + low


def _model_xoshiro256ss(seed: int) -> Iterator[int]:
    sm = _model_splitmix64(seed)
    s = [next(sm) for _ in range(4)]
    while True:
        yield (_model_rotl((s[1] * 5) % 2**64, 7) * 9) % 2**64
        t = (s[1] * 2**17) % 2**64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _model_rotl(s[3], 45)


def _model_take(seed: int, n: int) -> list[int]:
    gen = _model_xoshiro256ss(seed)
    return [next(gen) for _ in range(n)]


def _take(seed: int, n: int) -> list[int]:
    rng = DurableRandom(seed)
    return [rng.next_u64() for _ in range(n)]


@pytest.mark.parametrize("seed", sorted(GOLDEN_NEXT_U64))
def test_golden_vectors(seed: int) -> None:
    assert _take(seed, 5) == GOLDEN_NEXT_U64[seed]


def test_splitmix64_model_seed0() -> None:
    sm = _model_splitmix64(0)
    assert [next(sm) for _ in range(4)] == SPLITMIX64_SEED0


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**63, U64, 0xDEADBEEFCAFEBABE])
def test_matches_independent_python_model(seed: int) -> None:
    assert _take(seed, 200) == _model_take(seed, 200)
    if seed in GOLDEN_NEXT_U64:
        assert _model_take(seed, 5) == GOLDEN_NEXT_U64[seed]


# --------------------------------------------------------------------------- C reference

_C_REFERENCE = r"""
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t sm_state;

static uint64_t splitmix64_next(void) {
    uint64_t z = (sm_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static inline uint64_t rotl(const uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t s[4];

static uint64_t xoshiro_next(void) {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* usage: ref COUNT SEED...  prints, per seed, the 4 SplitMix64 seeding words on one line
   and then COUNT xoshiro256** outputs on the next, as 16-digit hex. */
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long count = strtol(argv[1], NULL, 10);
    for (int a = 2; a < argc; a++) {
        sm_state = strtoull(argv[a], NULL, 10);
        for (int i = 0; i < 4; i++) {
            s[i] = splitmix64_next();
            printf(i ? " %016" PRIx64 : "%016" PRIx64, s[i]);
        }
        printf("\n");
        for (long i = 0; i < count; i++) {
            printf(i ? " %016" PRIx64 : "%016" PRIx64, xoshiro_next());
        }
        printf("\n");
    }
    return 0;
}
"""


def test_matches_c_reference(tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not found on PATH: C reference cross-check of xoshiro256** skipped")
    src = tmp_path / "ref.c"
    exe = tmp_path / "ref"
    src.write_text(_C_REFERENCE)
    subprocess.run(
        [gcc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(exe), str(src)],
        check=True,
        capture_output=True,
    )
    seeds = [0, 1, 12345, 2**63, U64, 0xDEADBEEFCAFEBABE]
    count = 100
    out = subprocess.run(
        [str(exe), str(count), *map(str, seeds)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert len(out) == 2 * len(seeds)
    for i, seed in enumerate(seeds):
        seeding = [int(w, 16) for w in out[2 * i].split()]
        outputs = [int(w, 16) for w in out[2 * i + 1].split()]
        sm = _model_splitmix64(seed)
        assert seeding == [next(sm) for _ in range(4)], seed
        assert outputs == _take(seed, count), seed
        if seed == 0:
            assert seeding == SPLITMIX64_SEED0
        if seed in GOLDEN_NEXT_U64:
            assert outputs[:5] == GOLDEN_NEXT_U64[seed]


# --------------------------------------------------------------------- derived methods, pinned


def _derived_transcript(seed: int) -> dict[str, object]:
    """Exercise every method; the result must be identical everywhere, forever."""
    rng = DurableRandom(seed)
    deck = [f"card-{i}" for i in range(20)]
    rng.shuffle(deck)
    return {
        "u64": [rng.next_u64() for _ in range(3)],
        "random": [rng.random().hex() for _ in range(3)],
        "randint": [rng.randint(1, 6) for _ in range(10)],
        "randint_huge": rng.randint(-(2**100), 2**130),
        "randrange": [rng.randrange(10, 100, 7) for _ in range(5)],
        "choice": [rng.choice("abcdefghij") for _ in range(5)],
        "shuffle": deck,
        "sample": rng.sample(range(1000), 5),
        "randbytes": rng.randbytes(13).hex(),
        "uuid4": [str(rng.uuid4()) for _ in range(2)],
        "getrandbits": rng.getrandbits(100),
    }


# Computed with this implementation and frozen: catches changes to the derived algorithms
# (bit selection, rejection sampling, shuffle order, byte order, UUID layout).
GOLDEN_TRANSCRIPT_SEED0: dict[str, object] = {
    "u64": [0xA0BD00C592471176, 0xFC9B83A3A0C63B9E, 0x4D786C0F0A8B88EF],
    "random": ["0x1.4a48e789ec5e4p-1", "0x1.d3b8006fb64bap-1", "0x1.f9cbd753a4a12p-1"],
    "randint": [2, 3, 2, 2, 2, 4, 6, 1, 2, 2],
    "randint_huge": 1230809975927723649529440411021246917490,
    "randrange": [59, 31, 66, 10, 87],
    "choice": ["j", "i", "h", "a", "h"],
    "shuffle": [
        f"card-{i}" for i in (2, 9, 18, 6, 0, 15, 11, 5, 4, 7, 10, 12, 14, 1, 16, 8, 17, 13, 3, 19)
    ],
    "sample": [222, 661, 381, 332, 733],
    "randbytes": "45909a52eb4f2c9795a761246b",
    "uuid4": ["aaef1049-a5bb-4b07-80bc-f5f38ab6cfe9", "016398fd-1538-4cdd-8a07-44fd7315cae2"],
    "getrandbits": 815785426891703622884875596873,
}


def test_derived_methods_golden() -> None:
    assert _derived_transcript(0) == GOLDEN_TRANSCRIPT_SEED0


# --------------------------------------------------------------------------- across processes

# The child imports this very file under another module name (no pytest collection, no
# fixtures) and prints _derived_transcript(seed) as JSON.
_SUBPROCESS_SCRIPT = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("random_transcript_child", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
print(json.dumps(mod._derived_transcript(int(sys.argv[2]))))
"""


def test_determinism_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    seed = 987654321
    expected = json.loads(json.dumps(_derived_transcript(seed)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    outputs: dict[str, object] = {}
    for hash_seed in ["0", "1", "12345", "4000000000", "random"]:
        env["PYTHONHASHSEED"] = hash_seed
        proc = subprocess.run(
            [sys.executable, "-c", _SUBPROCESS_SCRIPT, __file__, str(seed)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        outputs[hash_seed] = json.loads(proc.stdout)
    for hash_seed, got in outputs.items():
        assert got == expected, f"PYTHONHASHSEED={hash_seed}"


def test_same_seed_same_sequence_in_process() -> None:
    assert _derived_transcript(42) == _derived_transcript(42)
    assert _derived_transcript(42) != _derived_transcript(43)


# --------------------------------------------------------------------------- seeding


def test_seed_must_be_u64() -> None:
    DurableRandom(0)
    DurableRandom(U64)
    with pytest.raises(ValueError):
        DurableRandom(-1)
    with pytest.raises(ValueError):
        DurableRandom(2**64)
    with pytest.raises(TypeError):
        DurableRandom(1.0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- random()


def test_random_uses_top_53_bits() -> None:
    a, b = DurableRandom(7), DurableRandom(7)
    for _ in range(1000):
        x = a.random()
        assert 0.0 <= x < 1.0
        assert x == (b.next_u64() >> 11) / 2**53
        assert (x * 2**53).is_integer()


# --------------------------------------------------------------------------- integers


def test_randint_inclusive_bounds_and_rough_uniformity() -> None:
    rng = DurableRandom(1)
    counts = Counter(rng.randint(1, 6) for _ in range(60_000))
    assert set(counts) == {1, 2, 3, 4, 5, 6}
    for face in range(1, 7):
        assert 9_000 < counts[face] < 11_000
    assert {rng.randint(0, 1) for _ in range(100)} == {0, 1}
    assert {rng.randint(-2, -1) for _ in range(100)} == {-2, -1}


def test_randint_single_value_consumes_nothing() -> None:
    a, b = DurableRandom(3), DurableRandom(3)
    assert a.randint(5, 5) == 5
    assert a.next_u64() == b.next_u64()


def test_randint_full_u64_range_uses_one_word() -> None:
    a, b = DurableRandom(3), DurableRandom(3)
    assert a.randint(0, U64) == b.next_u64()
    assert a.next_u64() == b.next_u64()


def test_randint_rejects_empty_and_non_integers() -> None:
    rng = DurableRandom(0)
    with pytest.raises(ValueError):
        rng.randint(2, 1)
    with pytest.raises(TypeError):
        rng.randint(0, 1.5)  # type: ignore[arg-type]


def test_randrange_like_stdlib() -> None:
    rng = DurableRandom(11)
    assert {rng.randrange(3) for _ in range(200)} == {0, 1, 2}
    assert {rng.randrange(2, 5) for _ in range(200)} == {2, 3, 4}
    assert {rng.randrange(0, 10, 3) for _ in range(200)} == {0, 3, 6, 9}
    assert {rng.randrange(10, 0, -3) for _ in range(200)} == {10, 7, 4, 1}
    assert rng.randrange(5, 6) == 5
    for args in [(0,), (-3,), (5, 5), (5, 0), (0, 5, -1), (3, 100, -1)]:
        with pytest.raises(ValueError):
            rng.randrange(*args)
    with pytest.raises(ValueError):
        rng.randrange(0, 10, 0)
    with pytest.raises(TypeError):
        rng.randrange(10, None, 2)
    with pytest.raises(TypeError):
        rng.randrange(1.5)  # type: ignore[arg-type]


def test_randrange_beyond_maxsize() -> None:
    rng = DurableRandom(5)
    start, stop, step = -(2**100), 2**100, 2**37 + 1
    for _ in range(100):
        x = rng.randrange(start, stop, step)
        assert start <= x < stop
        assert (x - start) % step == 0


def test_getrandbits() -> None:
    a, b = DurableRandom(9), DurableRandom(9)
    assert a.getrandbits(0) == 0
    assert a.getrandbits(64) == b.next_u64()
    assert a.getrandbits(1) == b.next_u64() >> 63
    w1, w2 = b.next_u64(), b.next_u64()
    assert a.getrandbits(100) == ((w1 << 64) | w2) >> 28
    with pytest.raises(ValueError):
        a.getrandbits(-1)


# --------------------------------------------------------------------------- sequences


def test_choice() -> None:
    rng = DurableRandom(2)
    assert {rng.choice("abc") for _ in range(100)} == {"a", "b", "c"}
    assert rng.choice([None]) is None
    with pytest.raises(IndexError):
        rng.choice([])
    with pytest.raises(IndexError):
        rng.choice("")


def test_shuffle_is_a_permutation_and_returns_none() -> None:
    rng = DurableRandom(4)
    items = list(range(50))
    assert rng.shuffle(items) is None  # type: ignore[func-returns-value]
    assert sorted(items) == list(range(50))
    assert items != list(range(50))
    empty: list[int] = []
    rng.shuffle(empty)
    assert empty == []


def test_shuffle_all_permutations_reachable() -> None:
    rng = DurableRandom(6)
    seen: Counter[tuple[int, ...]] = Counter()
    for _ in range(6000):
        items = [0, 1, 2]
        rng.shuffle(items)
        seen[tuple(items)] += 1
    assert len(seen) == 6
    assert all(800 < c < 1200 for c in seen.values())


def test_sample() -> None:
    rng = DurableRandom(8)
    pop = list(range(100))
    s = rng.sample(pop, 10)
    assert len(s) == 10
    assert len(set(s)) == 10
    assert set(s) <= set(pop)
    assert pop == list(range(100))  # population untouched
    assert rng.sample(pop, 0) == []
    assert sorted(rng.sample(pop, 100)) == pop
    assert rng.sample("aab", 3).count("a") == 2
    with pytest.raises(ValueError):
        rng.sample(pop, 101)
    with pytest.raises(ValueError):
        rng.sample(pop, -1)
    with pytest.raises(TypeError):
        rng.sample({1, 2, 3}, 2)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- bytes and UUIDs


def test_randbytes_layout() -> None:
    a, b = DurableRandom(10), DurableRandom(10)
    assert a.randbytes(0) == b""
    data = a.randbytes(12)
    assert len(data) == 12
    w1, w2 = b.next_u64(), b.next_u64()
    assert data == w1.to_bytes(8, "little") + w2.to_bytes(8, "little")[:4]
    assert a.next_u64() == b.next_u64()
    with pytest.raises(ValueError):
        a.randbytes(-1)


def test_uuid4_version_and_variant() -> None:
    rng = DurableRandom(12)
    seen: set[uuid.UUID] = set()
    for _ in range(500):
        u = rng.uuid4()
        assert isinstance(u, uuid.UUID)
        assert u.version == 4
        assert u.variant == uuid.RFC_4122
        seen.add(u)
    assert len(seen) == 500


def test_uuid4_bits_come_from_two_words() -> None:
    a, b = DurableRandom(13), DurableRandom(13)
    u = a.uuid4()
    raw = (b.next_u64() << 64) | b.next_u64()
    version_and_variant = (0xF << 76) | (0x3 << 62)
    assert u.int & ~version_and_variant == raw & ~version_and_variant
    assert (u.int >> 76) & 0xF == 4
    assert (u.int >> 62) & 0x3 == 0b10


# --------------------------------------------------------------------------- properties

seeds = st.integers(min_value=0, max_value=U64)


@settings(max_examples=300)
@given(seed=seeds, a=st.integers(), width=st.integers(min_value=0, max_value=2**300))
def test_randint_always_within_bounds(seed: int, a: int, width: int) -> None:
    rng = DurableRandom(seed)
    b = a + width
    for _ in range(5):
        assert a <= rng.randint(a, b) <= b


@settings(max_examples=200)
@given(
    seed=seeds,
    start=st.integers(min_value=-(2**80), max_value=2**80),
    stop=st.integers(min_value=-(2**80), max_value=2**80),
    step=st.integers(min_value=-(2**70), max_value=2**70).filter(bool),
)
def test_randrange_matches_range_membership(seed: int, start: int, stop: int, step: int) -> None:
    rng = DurableRandom(seed)
    r = range(start, stop, step)
    if not r:
        with pytest.raises(ValueError):
            rng.randrange(start, stop, step)
    else:
        assert rng.randrange(start, stop, step) in r


@settings(max_examples=100)
@given(seed=seeds, n=st.integers(min_value=0, max_value=40))
def test_sequence_methods_deterministic(seed: int, n: int) -> None:
    a, b = DurableRandom(seed), DurableRandom(seed)
    xs, ys = list(range(n)), list(range(n))
    a.shuffle(xs)
    b.shuffle(ys)
    assert xs == ys
    assert sorted(xs) == list(range(n))
    assert a.sample(range(n), n // 2) == b.sample(range(n), n // 2)
    assert a.randbytes(n) == b.randbytes(n)
    assert a.uuid4() == b.uuid4()
