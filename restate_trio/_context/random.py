"""Deterministic, replay-stable randomness for handlers (``ctx.random()``).

A Restate handler may be executed many times for one invocation: after a crash, a suspension or
a retry the runtime *replays* the journal and the handler runs again from the top. Any value the
handler derives without journaling it must therefore come out identical on every run, or the
replayed code takes a different path than the one recorded in the journal. Randomness is the
classic example: ``ctx.random()`` hands out a generator seeded from the invocation's stable
64-bit ``random_seed``, so every replay sees the same "random" numbers.

Replays may also happen on a different machine, a different Python version or after an SDK
upgrade. That rules out :class:`random.Random`: CPython's seeding of the Mersenne Twister from
an ``int``, and the algorithms behind ``randrange``/``shuffle``/``sample``/``randbytes``, are
implementation details that have changed between versions. :class:`DurableRandom` instead pins
down every step:

* the generator is **xoshiro256**** (Blackman & Vigna, "Scrambled linear pseudorandom number
  generators", 2018; reference description at https://prng.di.unimi.it/);
* its 256-bit state is initialised from the 64-bit seed with four outputs of **SplitMix64**, the
  seeding the authors recommend;
* every derived operation (floats, bounded integers, shuffles, bytes, UUIDs) is defined here in
  terms of :meth:`DurableRandom.next_u64` alone, with plain integer arithmetic masked to 64 bits.
  Nothing depends on :func:`hash`, ``PYTHONHASHSEED``, dict/set ordering or the platform.

The output sequence for a given seed is part of the SDK's compatibility contract: changing any
of the algorithms below changes the behaviour of in-flight invocations on replay.

.. warning::
   This generator is **not cryptographically secure**. Its whole state can be reconstructed
   from a few outputs, and the seed is known to the runtime. Never use it for secrets, tokens,
   keys or anything an adversary must not predict; use :mod:`secrets` (journaled with
   ``ctx.run``) for that.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import MutableSequence, Sequence
from typing import Any, Final, TypeVar, final

__all__ = ["DurableRandom"]

T = TypeVar("T")

_MASK64: Final = (1 << 64) - 1
_GOLDEN_GAMMA: Final = 0x9E3779B97F4A7C15
_TWO_POW_MINUS_53: Final = 1.0 / (1 << 53)


def _rotl(x: int, k: int) -> int:
    """Rotate the 64-bit value ``x`` left by ``k`` bits."""
    return ((x << k) | (x >> (64 - k))) & _MASK64


def _splitmix64(state: int) -> tuple[int, int]:
    """One SplitMix64 step: return ``(new_state, output)``."""
    state = (state + _GOLDEN_GAMMA) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


@final
class DurableRandom:
    """A deterministic pseudo-random generator (xoshiro256** seeded with SplitMix64).

    Two instances built from the same seed produce the same sequence from every method, on every
    Python version and platform. Method names and error behaviour follow :class:`random.Random`
    where it makes sense, but the *values* differ from the stdlib's (the algorithms are not the
    same); see the module documentation.

    Not cryptographically secure.
    """

    __slots__ = ("_s0", "_s1", "_s2", "_s3")

    _s0: int
    _s1: int
    _s2: int
    _s3: int

    def __init__(self, seed: int) -> None:
        """Seed the generator with an unsigned 64-bit integer (``0 <= seed < 2**64``).

        The four 64-bit words of xoshiro256**'s state are the first four outputs of SplitMix64
        started from ``seed``. SplitMix64's output function is a bijection and its successive
        states are distinct, so at most one of those words is zero: the forbidden all-zero state
        cannot occur.
        """
        seed = operator.index(seed)
        if not 0 <= seed <= _MASK64:
            raise ValueError(f"seed must be an unsigned 64-bit integer, got {seed}")
        sm, self._s0 = _splitmix64(seed)
        sm, self._s1 = _splitmix64(sm)
        sm, self._s2 = _splitmix64(sm)
        _, self._s3 = _splitmix64(sm)

    # ------------------------------------------------------------------ core generator

    def next_u64(self) -> int:
        """Return the next raw output of xoshiro256**: an integer in ``[0, 2**64)``.

        Every other method is built on this one.
        """
        s0, s1, s2, s3 = self._s0, self._s1, self._s2, self._s3
        result = (_rotl((s1 * 5) & _MASK64, 7) * 9) & _MASK64
        t = (s1 << 17) & _MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 45)
        self._s0, self._s1, self._s2, self._s3 = s0, s1, s2, s3
        return result

    def getrandbits(self, k: int) -> int:
        """Return a non-negative integer with ``k`` random bits (in ``[0, 2**k)``).

        Draws ``ceil(k / 64)`` words, concatenates them most significant first and keeps the top
        ``k`` bits. ``getrandbits(0)`` returns ``0`` and consumes nothing. Raises
        :class:`ValueError` if ``k`` is negative.
        """
        k = operator.index(k)
        if k < 0:
            raise ValueError("number of bits must be non-negative")
        if k == 0:
            return 0
        words = (k + 63) // 64
        acc = 0
        for _ in range(words):
            acc = (acc << 64) | self.next_u64()
        return acc >> (words * 64 - k)

    def _randbelow(self, n: int) -> int:
        """Return a uniform integer in ``[0, n)`` for ``n >= 1``, by rejection sampling.

        Draws ``(n - 1).bit_length()`` bits and retries while the value is ``>= n`` (fewer than
        two draws on average). ``n == 1`` returns ``0`` without consuming any output.
        """
        bits = (n - 1).bit_length()
        while True:
            r = self.getrandbits(bits)
            if r < n:
                return r

    # ------------------------------------------------------------------ floats

    def random(self) -> float:
        """Return a float uniformly distributed in ``[0.0, 1.0)``.

        Uses the top 53 bits of one :meth:`next_u64` output: ``(x >> 11) * 2**-53``, so every
        result is an exact multiple of ``2**-53``.
        """
        return (self.next_u64() >> 11) * _TWO_POW_MINUS_53

    # ------------------------------------------------------------------ integers

    def randint(self, a: int, b: int) -> int:
        """Return a uniform integer ``N`` with ``a <= N <= b`` (both ends inclusive).

        Unbiased for any range, including ranges wider than ``2**64`` (several words are drawn).
        Raises :class:`ValueError` if ``a > b``.
        """
        a = operator.index(a)
        b = operator.index(b)
        if a > b:
            raise ValueError(f"empty range for randint({a}, {b})")
        return a + self._randbelow(b - a + 1)

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        """Return a uniformly chosen element of ``range(start, stop, step)``.

        Like :meth:`random.Random.randrange`: ``randrange(stop)`` picks from ``range(stop)``;
        the arguments must be integers (:class:`TypeError` otherwise); an empty range or a zero
        ``step`` raises :class:`ValueError`.
        """
        start = operator.index(start)
        if stop is None:
            if step != 1:
                raise TypeError("missing a non-None stop argument")
            if start > 0:
                return self._randbelow(start)
            raise ValueError("empty range for randrange()")
        stop = operator.index(stop)
        step = operator.index(step)
        if step == 0:
            raise ValueError("zero step for randrange()")
        # len(range(start, stop, step)) = ceil((stop - start) / step), for either sign of step;
        # computed directly because len() overflows past sys.maxsize.
        n = -((start - stop) // step)
        if n <= 0:
            raise ValueError(f"empty range in randrange({start}, {stop}, {step})")
        return start + step * self._randbelow(n)

    # ------------------------------------------------------------------ sequences

    def choice(self, seq: Sequence[T]) -> T:
        """Return a uniformly chosen element of the non-empty sequence ``seq``.

        Raises :class:`IndexError` if ``seq`` is empty.
        """
        n = len(seq)
        if n == 0:
            raise IndexError("Cannot choose from an empty sequence")
        return seq[self._randbelow(n)]

    def shuffle(self, x: MutableSequence[Any]) -> None:
        """Shuffle the mutable sequence ``x`` in place (Fisher-Yates).

        For ``i`` from ``len(x) - 1`` down to ``1``, swaps ``x[i]`` with ``x[randint(0, i)]``.
        Returns ``None``, like :meth:`random.Random.shuffle`.
        """
        for i in range(len(x) - 1, 0, -1):
            j = self.randint(0, i)
            x[i], x[j] = x[j], x[i]

    def sample(self, population: Sequence[T], k: int) -> list[T]:
        """Return ``k`` distinct elements chosen from ``population``, in selection order.

        "Distinct" refers to positions: repeated values in ``population`` may repeat in the
        result. Implemented as a partial Fisher-Yates shuffle of a copy: for ``i`` in
        ``range(k)``, swap position ``i`` with a uniform position in ``[i, len(population))``.
        ``population`` must be a :class:`~collections.abc.Sequence` (use ``sorted()`` on sets
        and dicts, whose iteration order is not a stable basis for replay); a ``k`` outside
        ``0..len(population)`` raises :class:`ValueError`.
        """
        # Checked at run time too: a set or dict view would make the result depend on hashing.
        if not isinstance(population, Sequence):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError("Population must be a sequence. For dicts or sets, use sorted(d).")
        k = operator.index(k)
        pool = list(population)
        n = len(pool)
        if not 0 <= k <= n:
            raise ValueError("Sample larger than population or is negative")
        for i in range(k):
            j = i + self._randbelow(n - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]

    # ------------------------------------------------------------------ bytes and UUIDs

    def randbytes(self, n: int) -> bytes:
        """Return ``n`` random bytes.

        Draws ``ceil(n / 8)`` words, encodes each as 8 little-endian bytes, concatenates them in
        draw order and truncates to ``n``. Raises :class:`ValueError` if ``n`` is negative.
        """
        n = operator.index(n)
        if n < 0:
            raise ValueError("number of bytes must be non-negative")
        words = (n + 7) // 8
        out = b"".join(self.next_u64().to_bytes(8, "little") for _ in range(words))
        return out[:n]

    def uuid4(self) -> uuid.UUID:
        """Return a random version-4 (RFC 4122 / RFC 9562) UUID.

        The 128 bits are two :meth:`next_u64` outputs (first one most significant); then the
        version nibble is set to ``4`` and the variant bits to ``10``, leaving 122 random bits.
        """
        value = (self.next_u64() << 64) | self.next_u64()
        value &= ~(0xF000 << 64)  # version: bits 76..79
        value |= 0x4000 << 64
        value &= ~(0xC000 << 48)  # variant: bits 62..63
        value |= 0x8000 << 48
        return uuid.UUID(int=value)
