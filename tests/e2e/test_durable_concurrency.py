"""End to end: durable nurseries and durable cancel scopes (issue 9) against restate-server.

Every test runs on four servers (``concurrency_services.SERVER_CONFIGS``): protocol V6 and V7,
each with the default inactivity timeout (an attempt keeps its stream while it waits) and with
a zero one (every await that is not already resolved suspends the invocation, so every later
attempt replays the journal from the start, including the interleaving of the tasks).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import trio
from concurrency_services import (
    CONCURRENCY_SERVICES,
    SERVER_CONFIGS,
    SHAPE_CHILDREN,
    SHAPE_STEPS,
    commands,
    completed_ids,
    completion_id,
    entry_body,
    journal,
    notifications,
)
from primitives_services import DEADLINE, Board, attach, kill, new_key, ok, poll, send, serving

from restate_trio.testing import RestateServer

#: The servers of the zero-inactivity-timeout configurations (by id).
_SUSPENDING: set[int] = set()


@pytest.fixture(scope="module", params=sorted(SERVER_CONFIGS))
def server(request: pytest.FixtureRequest, restate_server_binary: Path) -> Iterator[RestateServer]:
    options = SERVER_CONFIGS[request.param]
    with RestateServer(binary=restate_server_binary, **options) as restate_server:  # type: ignore[arg-type]
        if "inactivity_timeout" in options:
            _SUSPENDING.add(id(restate_server))
        try:
            yield restate_server
        finally:
            _SUSPENDING.discard(id(restate_server))


def suspends(server: RestateServer) -> bool:
    """Whether ``server`` suspends the invocations at every await."""
    return id(server) in _SUSPENDING


def names(rows: list[Mapping[str, object]], entry_type: str) -> list[str]:
    return [str(row.get("name") or "") for row in rows if row["entry_type"] == entry_type]


def failure_body(text: str) -> Mapping[str, object]:
    body = json.loads(text)
    assert isinstance(body, dict), text
    return body


# --------------------------------------------------------------------------- 1. fan-out

FAN_OUT_WIDTH = 100


async def test_fan_out_of_100_children_each_running_sleeping_and_calling(
    server: RestateServer,
) -> None:
    async with serving(server, CONCURRENCY_SERVICES) as board:
        with trio.fail_after(60):
            response = await server.ingress("/FanOut/run", FAN_OUT_WIDTH)
            me = response.invocation_id
            assert me is not None
            rows = await journal(server, me)
    assert ok(response) == [(i + 1) ** 2 for i in range(FAN_OUT_WIDTH)]
    for i in range(FAN_OUT_WIDTH):
        assert board.counts[("fan step", me, i)] >= 1, i
    # Each child's first command is its run; the children started in spawn order, so these
    # are the first commands, in that order (trio's scheduling does not decide it).
    runs = names(rows, "Command: Run")
    assert runs == [f"step {i}" for i in range(FAN_OUT_WIDTH)]
    assert runs == names(commands(rows), "Command: Run")[:FAN_OUT_WIDTH]
    assert [row["entry_type"] for row in commands(rows)[1 : FAN_OUT_WIDTH + 1]] == [
        "Command: Run"
    ] * FAN_OUT_WIDTH
    assert len(names(rows, "Command: Sleep")) == FAN_OUT_WIDTH
    assert len(names(rows, "Command: Call")) == FAN_OUT_WIDTH


# --------------------------------------------------------------------------- 2. nesting


async def test_nested_nurseries_pass_their_results_up(server: RestateServer) -> None:
    async with serving(server, CONCURRENCY_SERVICES):
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Nested/run", 3)
            assert response.invocation_id is not None
            rows = await journal(server, response.invocation_id)
    assert ok(response) == [
        "summary",
        ["0.0", "0.0"],
        ["1.0+1.1", "1.0", "1.1"],
        ["2.0+2.1+2.2", "2.0", "2.1", "2.2"],
    ]
    runs = names(rows, "Command: Run")
    # The baton passes FIFO: the three branches (each starting its leaves, then joining),
    # the summary task, then the leaves in the order they were started.
    assert runs[:7] == [
        "summary",
        "leaf 0.0",
        "leaf 1.0",
        "leaf 1.1",
        "leaf 2.0",
        "leaf 2.1",
        "leaf 2.2",
    ]
    assert sorted(runs) == sorted(
        ["summary", "join 0", "join 1", "join 2"]
        + [f"leaf {g}.{i}" for g in range(3) for i in range(g + 1)]
    )
    # A join runs only after all leaves of its branch completed.
    for group in range(3):
        assert runs.index(f"join {group}") > max(
            runs.index(f"leaf {group}.{i}") for i in range(group + 1)
        )


# --------------------------------------------------------------------------- 3-5. failures


async def test_a_child_failing_terminally_cancels_its_sleeping_siblings(
    server: RestateServer,
) -> None:
    tag = new_key()
    async with serving(server, CONCURRENCY_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            started = trio.current_time()
            response = await server.ingress("/Failures/one_terminal", tag)
            elapsed = trio.current_time() - started
            assert response.invocation_id is not None
            rows = await journal(server, response.invocation_id)
    assert response.status == 422, (response.status, response.text)
    assert failure_body(response.text)["message"] == f"child failed {tag}"
    assert elapsed < 30, elapsed  # not after the 60 s sleeps
    # Both sleepers saw the cancellation at their sleep (in the attempt that failed).
    assert set(board.log[("sleep cancelled", tag)]) == {0, 1}
    assert ("slept", tag) not in board.log
    # Their timers are journaled but never completed; the invocation's output is the failure.
    sleeps = [row for row in commands(rows) if row["entry_type"] == "Command: Sleep"]
    assert len(sleeps) == 2
    sleep_ids = {completion_id(row) for row in sleeps}
    assert not sleep_ids & completed_ids(rows)
    _, output = entry_body(commands(rows)[-1])
    assert output["result"] == {"Failure": {"code": 422, "message": f"child failed {tag}"}}


async def test_two_terminal_failures_report_the_first_and_list_the_other(
    server: RestateServer,
) -> None:
    tag = new_key()
    async with serving(server, CONCURRENCY_SERVICES):
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Failures/two_terminal", tag)
            assert response.invocation_id is not None
            rows = await journal(server, response.invocation_id)
            status = await server.invocation_status(response.invocation_id)
    # The second-started child raised first: its error is the invocation's failure.
    assert response.status == 422, (response.status, response.text)
    others = [{"code": 503, "message": "cleanup failed"}]
    body = failure_body(response.text)
    assert body["message"] == "failed first"
    metadata = body["metadata"]
    assert isinstance(metadata, dict)
    assert json.loads(metadata["restate_trio.other_errors"]) == others
    # The same in the journal's output entry (V6 and V7 carry failure metadata).
    _, output = entry_body(commands(rows)[-1])
    failure = output["result"]
    assert isinstance(failure, dict)
    failure = failure["Failure"]
    assert failure["code"] == 422
    (pair,) = failure["metadata"]
    assert pair["key"] == "restate_trio.other_errors"
    assert json.loads(pair["value"]) == others
    assert status is not None
    assert status["completion_failure"] == "[422] failed first"


async def test_a_non_terminal_child_failure_is_retried(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, CONCURRENCY_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            invocation = await send(server, "/Failures/not_terminal", tag)

            async def retried() -> Mapping[str, object] | None:
                row = await server.invocation_status(invocation)
                if row is not None and int(str(row.get("retry_count") or 0)) >= 2:
                    return row
                return None

            row = await poll(retried)
            await board.wait_count(("handler attempt", tag), 3)
            await kill(server, invocation)
    assert row["status"] != "completed", row
    failure = str(row["last_failure"])
    assert f"transient failure {tag}" in failure, failure
    assert "ValueError" in failure, failure
    # The run before the failure is journaled once; later attempts replay it.
    assert board.counts[("attempt", tag)] == 1


# --------------------------------------------------------------------------- 6. timeouts

TIMEOUT_MS = 300


async def _stuck_closures_were_cancelled(
    board: Board, rows: list[Mapping[str, object]], tag: str
) -> None:
    """Both children's ``ctx.run`` closures were cancelled, never finished, and their runs
    have no completion in the journal."""
    for i in (0, 1):
        await board.wait(("closure ended", tag, i))
        assert board.counts[("closure started", tag, i)] >= 1
        # Every start was cancelled: by the durable timer, or by the end of its attempt (on
        # the suspending servers, the server aborts the attempts whose closures outlive the
        # closed input; see SERVER_CONFIGS).
        started = board.counts[("closure started", tag, i)]
        cancelled = board.counts[("closure cancelled", tag, i)]
        assert cancelled == started, f"{started - cancelled} closure(s) {i} still running"
        assert board.counts[("closure finished", tag, i)] == 0
    stuck = [
        row
        for row in commands(rows)
        if row["entry_type"] == "Command: Run" and str(row.get("name")).startswith("stuck")
    ]
    assert sorted(str(row["name"]) for row in stuck) == ["stuck 0", "stuck 1"]
    assert not {completion_id(row) for row in stuck} & completed_ids(rows)


async def test_move_on_after_cancels_children_inside_ctx_run(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, CONCURRENCY_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Timeouts/move_on", [tag, TIMEOUT_MS])
            assert response.invocation_id is not None
            rows = await journal(server, response.invocation_id)
            await _stuck_closures_were_cancelled(board, rows, tag)
    assert ok(response) == [True, True, "after"]
    assert "after" in names(rows, "Command: Run")


async def test_fail_after_cancels_children_inside_ctx_run_and_fails_with_408(
    server: RestateServer,
) -> None:
    tag = new_key()
    async with serving(server, CONCURRENCY_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Timeouts/fail", [tag, TIMEOUT_MS])
            assert response.invocation_id is not None
            rows = await journal(server, response.invocation_id)
            await _stuck_closures_were_cancelled(board, rows, tag)
    assert response.status == 408, (response.status, response.text)
    assert "timed out" in str(failure_body(response.text)["message"])


async def test_move_on_after_cancels_tasks_waiting_on_awakeables(server: RestateServer) -> None:
    async with serving(server, CONCURRENCY_SERVICES):
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Timeouts/over_awakeables", TIMEOUT_MS)
    assert ok(response) == [True, True, True]


# --------------------------------------------------------------------------- 7. cancellation


async def test_restate_cancellation_reaches_every_waiting_child(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, CONCURRENCY_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            invocation = await send(server, "/Cancellation/wait_all", tag)
            await board.wait(("awakeable", tag))
            await board.wait(("callee awakeable", tag))
            callee = await board.wait(("callee id", tag))
            assert isinstance(callee, str)

            async def all_waiting() -> bool:
                kinds = {str(row["entry_type"]) for row in await journal(server, invocation)}
                return {"Command: Call", "Command: Sleep"} <= kinds

            await poll(all_waiting)
            cancelled = await server.admin_patch(f"/invocations/{invocation}/cancel")
            assert cancelled.ok, (cancelled.status, cancelled.text)
            response = await attach(server, invocation)
            callee_response = await attach(server, callee)
            rows = await journal(server, invocation)
    assert response.status == 409, (response.status, response.text)
    assert callee_response.status == 409, (callee_response.status, callee_response.text)
    assert set(board.log[("callee saw", tag)]) == {409}
    for kind in ("call", "awakeable", "timer"):
        assert set(board.log[("saw", tag, kind)]) == {409}, kind
        assert board.counts[("compensate", tag, kind)] == 1, kind
    # The compensations were journaled, and completed, after the cancellation.
    compensations = [
        row
        for row in commands(rows)
        if row["entry_type"] == "Command: Run" and str(row.get("name")).startswith("compensate")
    ]
    assert sorted(str(row["name"]) for row in compensations) == [
        "compensate awakeable",
        "compensate call",
        "compensate timer",
    ]
    assert {completion_id(row) for row in compensations} <= completed_ids(rows)
    _, output = entry_body(commands(rows)[-1])
    failure = output["result"]
    assert isinstance(failure, dict)
    assert failure["Failure"]["code"] == 409


# --------------------------------------------------------------------------- 8. determinism

DETERMINISM_RUNS = 50


def _child_program(i: int) -> list[tuple[str, str]]:
    """The commands child ``i`` of ``Shape.run`` issues, in its own order."""
    program: list[tuple[str, str]] = []
    for step, kind in enumerate(SHAPE_STEPS):
        name = f"c{i}.{step}"
        program.append(
            {
                "run": ("Command: Run", name),
                "sleep": ("Command: Sleep", name),
                "set": ("Command: SetState", f"c{i}.1"),
                "get": ("Command: GetEagerState", f"c{i}.1"),
                "clear": ("Command: ClearState", f"c{i}.1"),
            }[kind]
        )
    return program


def _identity(row: Mapping[str, object]) -> tuple[str, str]:
    kind, fields = entry_body(row)
    assert kind == "Command"
    key = fields.get("key")
    return str(row["entry_type"]), str(key if key is not None else row.get("name") or "")


def _predicted_commands(rows: list[Mapping[str, object]]) -> list[tuple[str, str]]:
    """The command order the design promises, from the journal's order of completions alone.

    The children start in spawn order; each issues commands up to its next await on a
    completion; then the completions, in journal order, each wake the child waiting for it,
    which issues commands up to its next await. (The state reads are eager: no await.)
    """
    cmds = commands(rows)
    by_id = {cid: _identity(row) for row in cmds if (cid := completion_id(row)) is not None}
    programs = [_child_program(i) for i in range(SHAPE_CHILDREN)]
    position = [0] * SHAPE_CHILDREN
    waiting: dict[tuple[str, str], int] = {}
    predicted: list[tuple[str, str]] = []

    def advance(child: int) -> None:
        program = programs[child]
        while position[child] < len(program):
            command = program[position[child]]
            position[child] += 1
            predicted.append(command)
            if command[0] in {"Command: Run", "Command: Sleep"}:
                waiting[command] = child
                return

    for child in range(SHAPE_CHILDREN):
        advance(child)
    for row in notifications(rows):
        cid = completion_id(row)
        assert cid is not None, row
        advance(waiting.pop(by_id[cid]))
    assert not waiting
    return predicted


def _stable_bytes(row: Mapping[str, object]) -> str:
    """A command's bytes, except for a timer's wake-up time (wall clock)."""
    _kind, fields = entry_body(row)
    if row["entry_type"] == "Command: Sleep":
        return json.dumps({k: v for k, v in fields.items() if k != "wake_up_time"})
    return str(row["raw"])


async def test_journals_depend_only_on_the_completion_order(
    server: RestateServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The same invocation, 50 times, with trio's scheduler seeded differently each time.

    The endpoint runs in this process, so trio's private switch for seeded scheduling is set
    and its RNG is seeded per run (the run closures also take a seeded, random number of
    checkpoints): the tasks' interleaving, and the order in which the closures' results reach
    the journal, vary. What must not vary: the commands, given the journal's completion order.
    Each journal's commands are compared with the order the design predicts from its
    completions, and journals with the same completion order must have identical bytes. On
    the suspending servers every attempt replays the recorded interleaving, so a divergence
    would show as a journal mismatch (logged, and retried): none may be logged.
    """
    from trio._core import _run as trio_run

    monkeypatch.setattr(trio_run, "_ALLOW_DETERMINISTIC_SCHEDULING", True)
    caplog.set_level(logging.WARNING, logger="restate_trio")
    expected = [
        ",".join([f"c{i}.0", f"c{i}.3", f"c{i}.4={i}", f"c{i}.5", f"c{i}.8"])
        for i in range(SHAPE_CHILDREN)
    ]
    by_completion_order: dict[tuple[tuple[str, str], ...], list[str]] = {}
    attempts: list[int] = []
    async with serving(server, CONCURRENCY_SERVICES) as board:
        with trio.fail_after(60):
            for seed in range(DETERMINISM_RUNS):
                trio_run._r.seed(seed)  # pyright: ignore[reportPrivateUsage]
                response = await server.ingress(f"/Shape/{new_key()}/run", seed)
                assert ok(response) == expected, seed
                assert response.invocation_id is not None
                attempts.append(board.counts[("shape attempt", response.invocation_id)])
                rows = await journal(server, response.invocation_id)
                cmds = commands(rows)[1:-1]  # without the input and the output
                assert [_identity(row) for row in cmds] == _predicted_commands(rows), seed
                cids = {completion_id(row): _identity(row) for row in cmds}
                order = tuple(cids[completion_id(row)] for row in notifications(rows))
                stable = [_stable_bytes(row) for row in commands(rows)[1:]]
                assert by_completion_order.setdefault(order, stable) == stable, seed
    problems = [r.getMessage() for r in caplog.records if r.name.startswith("restate_trio")]
    assert not problems, problems
    if suspends(server):  # each invocation was replayed, many times
        assert min(attempts) > SHAPE_CHILDREN, attempts
    else:
        assert set(attempts) == {1}, attempts
    print(f"{len(by_completion_order)} completion orders in {DETERMINISM_RUNS} runs")


# --------------------------------------------------------------------------- 9. the guard


async def test_a_trio_deadline_around_a_durable_await_fails_the_attempt(
    server: RestateServer,
) -> None:
    tag = new_key()
    async with serving(server, CONCURRENCY_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            invocation = await send(server, "/Guard/trio_deadline", tag)

            async def failed() -> Mapping[str, object] | None:
                row = await server.invocation_status(invocation)
                if row is not None and row.get("last_failure") is not None:
                    return row
                return None

            row = await poll(failed)
            await board.wait_count(("guard attempt", tag), 2)
            await kill(server, invocation)
    assert row["status"] != "completed", row
    failure = str(row["last_failure"])
    assert "RuntimeError" in failure, failure
    assert "trio deadline" in failure, failure
    assert "restate_trio.move_on_after(ctx" in failure, failure
