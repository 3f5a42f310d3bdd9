"""Equal values give equal bytes in every process, whatever ``PYTHONHASHSEED`` is.

Restate compares the payloads a handler produces on replay with its journal, and a replay can
run in another process. String hashing (and so set iteration order, and the insertion order of
dicts built from sets) changes with the hash seed. Each seed below runs in its own interpreter,
encodes the same values with every codec and prints the payloads; all runs must agree.

(Named ``test_codec_determinism`` because ``tests/e2e/test_determinism.py`` exists and the test
directories are not packages.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cbor2
import pytest

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ("0", "1", "2", "1234", "987654321")

SCRIPT = r"""
import dataclasses, datetime as dt, enum, json, sys, uuid
from typing import NamedTuple
import msgspec
from restate_trio.codecs import BytesCodec, CborCodec, JsonCodec

WORDS = [f"word-{i}-{chr(0x61 + i % 26) * (i % 7)}" for i in range(300)]
word_set = set(WORDS)                      # iteration order depends on the hash seed
FIRST = set(WORDS[:50])
def weight(w): return sum(map(ord, w))
many_keys = {w: weight(w) for w in word_set}   # insertion order too

class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"

@dataclasses.dataclass
class Doc:
    title: str
    tags: set[str]
    frozen: frozenset[str]
    index: dict[str, int]
    nested: list[dict[str, set[str]]]
    y: int = 0

class Key(NamedTuple):
    a: str
    b: int

class Box(msgspec.Struct):
    labels: set[str]
    counts: dict[str, int]

values = {
    "set-of-str": word_set,
    "frozenset-of-str": frozenset(word_set),
    "frozenset-of-bytes": frozenset(w.encode() for w in word_set),
    "set-of-tuples": {(w, len(w)) for w in word_set},
    "dict-many-keys": many_keys,
    "dict-int-keys": {WORDS.index(w) * 37 % 1009: w for w in word_set},
    "dict-of-sets": {w: {w, w.upper(), w[::-1]} for w in word_set if w in FIRST},
    "list-of-frozensets": [frozenset(WORDS[i:i + 5]) for i in range(0, 60, 5)],
    "enum-keys": {Color.RED: word_set, Color.BLUE: set()},
    "dataclass": Doc(
        title="t",
        tags=word_set,
        frozen=frozenset(word_set),
        index=many_keys,
        nested=[{w: {w, w * 2} for w in word_set if w in FIRST}],
    ),
    "decoded-dataclass": msgspec.convert(
        {"title": "t", "tags": list(word_set), "frozen": [], "index": many_keys, "nested": []},
        Doc,
    ),
    "struct": Box(labels=word_set, counts=many_keys),
    "mixed": {"when": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
              "id": uuid.UUID(int=7), "key": Key("k", 1), "blob": b"\x00\x01", "n": 2 ** 70},
}
try:
    import pydantic
except ImportError:
    pass
else:
    class Model(pydantic.BaseModel):
        name: str
        roles: set[str]
        lookup: dict[str, int]
        groups: frozenset[str] = frozenset()

    values["pydantic"] = Model(name="m", roles=word_set, lookup=many_keys,
                               groups=frozenset(word_set))
    values["pydantic-list"] = [Model(name=w, roles={w, w * 2}, lookup={}) for w in WORDS[:10]]

out = {"baseline": list(word_set)[:10]}
for name, value in values.items():
    out[f"json/{name}"] = JsonCodec().encode(value).hex()
    out[f"cbor/{name}"] = CborCodec().encode(value).hex()
out["bytes"] = BytesCodec().encode(bytes(range(256))).hex()
json.dump(out, sys.stdout)
"""


def _run(seed: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        check=True,
        capture_output=True,
        cwd=ROOT,
        env=env,
        text=True,
        timeout=60,
    )
    payloads: dict[str, object] = json.loads(result.stdout)
    return payloads


@pytest.fixture(scope="module")
def runs() -> dict[str, dict[str, object]]:
    return {seed: _run(seed) for seed in SEEDS}


def test_the_seeds_do_change_set_order(runs: dict[str, dict[str, object]]) -> None:
    # Without this the test below would prove nothing.
    baselines = {json.dumps(run["baseline"]) for run in runs.values()}
    assert len(baselines) > 1


def test_payloads_are_identical_across_hash_seeds(runs: dict[str, dict[str, object]]) -> None:
    first, *others = SEEDS
    reference = runs[first]
    keys = [key for key in reference if key != "baseline"]
    assert any(key.startswith("json/pydantic") for key in keys)
    for seed in others:
        for key in keys:
            assert runs[seed][key] == reference[key], f"{key} differs with PYTHONHASHSEED={seed}"


def test_cbor_payloads_are_canonical(runs: dict[str, dict[str, object]]) -> None:
    for key, payload in runs[SEEDS[0]].items():
        if key.startswith("cbor/"):
            data = bytes.fromhex(str(payload))
            assert cbor2.dumps(cbor2.loads(data), canonical=True) == data, key


def test_json_payloads_have_sorted_keys(runs: dict[str, dict[str, object]]) -> None:
    for key, payload in runs[SEEDS[0]].items():
        if not key.startswith("json/"):
            continue
        text = bytes.fromhex(str(payload)).decode()
        # An independent writer (the stdlib) with sorted keys gives the same text.
        again = json.dumps(
            json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        assert again == text, key
