"""Codec throughput: encode + decode of a ~1 KiB typed payload, per operation.

Compares restate-trio's :class:`~restate_trio.codecs.JsonCodec` and
:class:`~restate_trio.codecs.CborCodec` with the official Python SDK's (restate-sdk) default
JSON serde, ``restate.serde.DefaultSerde``, on one ``Order`` dataclass (8 ``Item``
dataclasses, tags, attributes; about 1 KiB as compact JSON):

- ``DefaultSerde(Order)``: the SDK's typed dataclass path (what ``type_hint=Order`` selects,
  e.g. for ``ctx.run``/``ctx.get``): ``dataclasses.asdict`` + ``json.dumps``, and
  ``json.loads`` + ``dacite.from_dict``. Needs dacite (``restate-sdk[serde]``); the row is
  skipped without it. The ratios are against this row when it is there.
- ``DefaultSerde()``: what a *handler* whose input/output is annotated with a dataclass
  gets (restate-sdk 1.2.0 swaps in a typed serde only for msgspec Structs and pydantic
  models): decoding gives a ``dict``, not an ``Order``, and ``json.dumps`` rejects a
  dataclass, so its "encode" times ``dataclasses.asdict`` + ``serialize``.

Each figure is the best of ``--repeats`` timed runs of a loop calibrated to take about
``--target-ms`` (``time.perf_counter_ns``, garbage collector paused while timing, as
``timeit`` does), divided by the loop's iterations; the runs of all figures are interleaved,
so a slow spell of a shared machine does not fall on one figure only; about 10 s in all.
"round trip" times ``decode(encode(x))`` as one call. Every path is first checked to give
the value back.

Run: ``python bench/codecs.py`` (see ``--help``), or ``python bench/run.py --codecs-only``;
``nox -s bench`` prints this table after the end-to-end tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from restate_trio.codecs import CborCodec, JsonCodec

REPO_DIR = Path(__file__).resolve().parent.parent
DEFAULT_REPEATS = 15
DEFAULT_TARGET_MS = 40.0
OPERATIONS = ("encode", "decode", "round_trip")


@dataclass
class Item:
    sku: str
    name: str
    qty: int
    price: float


@dataclass
class Order:
    id: str
    customer: str
    email: str
    shipping_address: str
    created_at: str
    status: str
    priority: int
    express: bool
    total: float
    items: list[Item]
    tags: list[str]
    attributes: dict[str, str]
    note: str | None = None


def make_order() -> Order:
    """The benchmark payload: deterministic, JSON-native values only (so every serde can
    write it), about 1 KiB as compact JSON."""
    items = [
        Item(
            sku=f"SKU-{1000 + 37 * i:05d}",
            name=f"{adjective} {noun}, {pack}",
            qty=1 + i % 3,
            price=round(4.5 + 3.25 * i, 2),
        )
        for i, (adjective, noun, pack) in enumerate(
            [
                ("green", "tea", "loose leaf, 250 g"),
                ("dark", "chocolate", "70 %, 100 g"),
                ("oat", "milk", "barista, 1 l"),
                ("rye", "bread", "sliced, 500 g"),
                ("wild", "honey", "raw, 340 g jar"),
                ("sea", "salt", "flakes, 250 g"),
                ("black", "pepper", "whole, 50 g"),
                ("olive", "oil", "extra virgin, 750 ml"),
            ]
        )
    ]
    return Order(
        id="ord-7f3c2a91-5b1e-4d08-9c6a-2e4f8b1d0c37",
        customer="Ada Lovelace",
        email="ada@example.com",
        shipping_address="12 Example Street, Flat 3, London N1 9GU, United Kingdom",
        created_at="2025-01-15T10:24:31Z",
        status="paid",
        priority=2,
        express=True,
        total=round(sum(item.qty * item.price for item in items), 2),
        items=items,
        tags=["gift", "fragile", "priority", "eu"],
        attributes={
            "channel": "web",
            "coupon": "WINTER10",
            "locale": "en-GB",
            "warehouse": "ams-2",
        },
    )


@dataclass
class Case:
    """One way to turn an ``Order`` into bytes and back."""

    name: str
    describe: str
    encode: Callable[[], bytes]
    decode: Callable[[bytes], object]
    decodes_to: str  # "Order" or "dict"


@dataclass
class Row:
    name: str
    describe: str
    decodes_to: str
    size_bytes: int
    us: dict[str, float]  # operation -> best µs per operation
    iterations: dict[str, int]
    ratio_vs_baseline: dict[str, float] = field(default_factory=dict)


@dataclass
class Report:
    payload: dict[str, Any]
    repeats: int
    target_ms: float
    baseline: str | None
    rows: list[Row]
    notes: list[str]
    elapsed_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "payload": self.payload,
            "settings": {"repeats": self.repeats, "target_ms": self.target_ms},
            "method": "best of `repeats` runs of a calibrated loop, microseconds per operation",
            "baseline": self.baseline,
            "rows": [
                {
                    "name": row.name,
                    "describe": row.describe,
                    "decodes_to": row.decodes_to,
                    "bytes": row.size_bytes,
                    **{f"{op}_us": round(row.us[op], 3) for op in OPERATIONS},
                    "iterations": row.iterations,
                    "ratio_vs_baseline": {
                        op: round(value, 3) for op, value in row.ratio_vs_baseline.items()
                    },
                }
                for row in self.rows
            ],
            "notes": self.notes,
            "elapsed_s": round(self.elapsed_s, 1),
        }


def _ensure_repo_on_path() -> None:
    if str(REPO_DIR) not in sys.path:
        sys.path.insert(0, str(REPO_DIR))  # `python bench/codecs.py` from a checkout


def build_cases(order: Order, notes: list[str]) -> list[Case]:
    """The paths to measure; a missing optional dependency skips its path with a note."""
    _ensure_repo_on_path()
    from restate_trio.codecs import CborCodec, JsonCodec

    cases = [_trio_case(JsonCodec(), order), _trio_case(CborCodec(), order)]

    try:
        from restate.serde import DefaultSerde
    except ImportError as exc:
        notes.append(f"restate-sdk rows skipped: cannot import restate.serde ({exc})")
        return cases

    try:
        import dacite  # noqa: F401  (restate-sdk[serde]: DefaultSerde's dataclass path)
    except ImportError:
        notes.append(
            "restate-sdk DefaultSerde(Order) skipped: it needs dacite "
            "(pip install 'restate-sdk[serde]')"
        )
    else:
        typed: Any = DefaultSerde(Order)
        cases.append(
            Case(
                name="restate-sdk DefaultSerde(Order)",
                describe="DefaultSerde(Order).serialize(order) / .deserialize(data): "
                "asdict + json.dumps, json.loads + dacite.from_dict",
                encode=lambda: typed.serialize(order),
                decode=typed.deserialize,
                decodes_to="Order",
            )
        )

    untyped: Any = DefaultSerde()
    asdict = dataclasses.asdict
    cases.append(
        Case(
            name="restate-sdk DefaultSerde()",
            describe="DefaultSerde().serialize(asdict(order)) / .deserialize(data): "
            "a dataclass-annotated handler's serde; decodes to a dict",
            encode=lambda: untyped.serialize(asdict(order)),
            decode=untyped.deserialize,
            decodes_to="dict",
        )
    )
    return cases


def _trio_case(codec: JsonCodec | CborCodec, order: Order) -> Case:
    encode, decode = codec.encode, codec.decode
    name = type(codec).__name__
    return Case(
        name=f"restate-trio {name}",
        describe=f"{name}().encode(order, Order) / .decode(data, Order)",
        encode=lambda: encode(order, Order),
        decode=lambda data: decode(data, Order),
        decodes_to="Order",
    )


def _operations(case: Case, data: bytes) -> dict[str, Callable[[], object]]:
    encode, decode = case.encode, case.decode
    return {
        "encode": encode,
        "decode": lambda: decode(data),
        "round_trip": lambda: decode(encode()),
    }


def check(case: Case, order: Order) -> bytes:
    """Encode once, and check that decoding gives the order back; return the bytes."""
    data = case.encode()
    decoded = case.decode(data)
    expected: object = order if case.decodes_to == "Order" else dataclasses.asdict(order)
    if decoded != expected:
        raise AssertionError(
            f"{case.name}: decode(encode(order)) != {case.decodes_to}: {decoded!r}"
        )
    return data


def _timed_ns(operation: Callable[[], object], iterations: int) -> int:
    """Nanoseconds for ``iterations`` calls, the garbage collector paused (as in timeit)."""
    loop = range(iterations)
    perf_counter_ns = time.perf_counter_ns
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = perf_counter_ns()
        for _ in loop:
            operation()
        return perf_counter_ns() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def calibrate(operation: Callable[[], object], target_ms: float) -> int:
    """Iterations for one timed run of about ``target_ms``."""
    iterations = 1
    # Grow the loop until it takes >= 1/10 of the target, then scale it to the target.
    while (elapsed := _timed_ns(operation, iterations)) < target_ms * 100_000:
        if iterations >= 1 << 24:
            break
        iterations *= 4
    return max(1, round(iterations * target_ms * 1_000_000 / max(elapsed, 1)))


def measure(
    figures: dict[tuple[str, str], Callable[[], object]], repeats: int, target_ms: float
) -> dict[tuple[str, str], tuple[float, int]]:
    """``{key: (best µs per call, iterations per run)}``.

    The repeats are interleaved: each round times every figure once (the order rotating from
    round to round), so a slow spell of a shared machine hits all figures alike rather than
    all the repeats of one; the best run of each figure is kept.
    """
    iterations = {key: calibrate(operation, target_ms) for key, operation in figures.items()}
    best = dict.fromkeys(figures, float("inf"))
    keys = list(figures)
    for round_no in range(repeats):
        gc.collect()
        shift = round_no % len(keys)
        for key in keys[shift:] + keys[:shift]:
            best[key] = min(best[key], _timed_ns(figures[key], iterations[key]))
    return {key: (best[key] / iterations[key] / 1000, iterations[key]) for key in figures}


def run(
    repeats: int = DEFAULT_REPEATS,
    target_ms: float = DEFAULT_TARGET_MS,
    log: Callable[[str], None] | None = None,
) -> Report:
    started = time.perf_counter()
    order = make_order()
    notes: list[str] = []
    cases = build_cases(order, notes)
    encoded = {case.name: check(case, order) for case in cases}
    figures = {
        (case.name, op): operation
        for case in cases
        for op, operation in _operations(case, encoded[case.name]).items()
    }
    if log is not None:
        log(
            f"{len(figures)} figures x {repeats} interleaved runs of ~{target_ms:g} ms "
            f"(~{len(figures) * (repeats + 1) * target_ms / 1000:.0f} s)"
        )
    timings = measure(figures, repeats, target_ms)
    rows: list[Row] = []
    for case in cases:
        data = encoded[case.name]
        us = {op: timings[case.name, op][0] for op in OPERATIONS}
        iterations = {op: timings[case.name, op][1] for op in OPERATIONS}
        rows.append(Row(case.name, case.describe, case.decodes_to, len(data), us, iterations))
        if log is not None:
            log(
                f"{case.name:32s} {len(data):5d} B  encode {us['encode']:7.2f} µs  "
                f"decode {us['decode']:7.2f} µs  round trip {us['round_trip']:7.2f} µs"
            )

    names = [row.name for row in rows]
    baseline = next(
        (
            n
            for n in ("restate-sdk DefaultSerde(Order)", "restate-sdk DefaultSerde()")
            if n in names
        ),
        None,
    )
    if baseline is not None:
        base = rows[names.index(baseline)]
        for row in rows:
            row.ratio_vs_baseline = {op: row.us[op] / base.us[op] for op in OPERATIONS}

    compact_json = json.dumps(dataclasses.asdict(order), separators=(",", ":")).encode()
    payload = {
        "type": "Order",
        "items": len(order.items),
        "compact_json_bytes": len(compact_json),
        "bytes_by_codec": {row.name: row.size_bytes for row in rows},
    }
    return Report(payload, repeats, target_ms, baseline, rows, notes, time.perf_counter() - started)


def render(report: Report) -> str:
    """The plain-text table (the style of bench/run.py's tables), with its footnotes."""
    headers = ["codec", "bytes", "encode µs", "decode µs", "round trip µs"]
    headers += ["enc/base", "dec/base", "rt/base"]
    table = [headers]
    for row in report.rows:
        ratios = [
            f"{row.ratio_vs_baseline[op]:.2f}x" if row.ratio_vs_baseline else "-"
            for op in OPERATIONS
        ]
        mark = " (dict)" if row.decodes_to != "Order" else ""
        table.append(
            [
                row.name + mark,
                str(row.size_bytes),
                *(f"{row.us[op]:.2f}" for op in OPERATIONS),
                *ratios,
            ]
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    out = [
        f"codecs: encode + decode of one typed Order ({report.payload['items']} items, "
        f"{report.payload['compact_json_bytes']} B as compact JSON), µs per operation, "
        f"best of {report.repeats} runs of ~{report.target_ms:g} ms"
    ]
    for i, row_cells in enumerate(table):
        cells = [row_cells[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row_cells[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    notes: list[str] = []
    if report.baseline is not None:
        notes.append(
            f".../base: time / time of {report.baseline} (< 1 is faster); "
            "round trip = decode(encode(x)) timed as one call."
        )
    if "restate-sdk DefaultSerde(Order)" in [row.name for row in report.rows]:
        notes.append(
            "DefaultSerde(Order): restate-sdk's typed path (type_hint=Order): asdict + "
            "json.dumps / json.loads + dacite.from_dict (needs restate-sdk[serde])."
        )
    if any(row.decodes_to != "Order" for row in report.rows):
        notes.append(
            "(dict): restate-sdk 1.2.0 gives a handler whose input/output is annotated with a "
            "dataclass DefaultSerde() (typed serdes only for msgspec Structs and pydantic "
            "models): it decodes to a dict, not an Order, and json.dumps rejects a dataclass, "
            "so its encode times dataclasses.asdict + serialize."
        )
    notes.extend(f"note: {note}" for note in report.notes)
    for note in notes:
        out.extend(textwrap.wrap(note, width=100, initial_indent="  ", subsequent_indent="    "))
    return "\n".join(out) + "\n"


def _log(message: str) -> None:
    print(f"[codecs {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/codecs.py",
        description="Encode/decode µs of a ~1 KiB typed payload: restate-trio's JsonCodec and "
        "CborCodec vs restate-sdk's DefaultSerde.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--repeats", type=int, default=DEFAULT_REPEATS, help="timed runs per figure"
    )
    parser.add_argument(
        "--target-ms", type=float, default=DEFAULT_TARGET_MS, help="length of one timed run"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    if not (1 <= args.repeats <= 100 and 1 <= args.target_ms <= 2000):
        parser.error("repeats must be 1..100, target-ms 1..2000")
    report = run(args.repeats, args.target_ms, log=_log)
    print(render(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
