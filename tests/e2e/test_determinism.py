"""End-to-end determinism: replays see the same random values, time and uuids; a handler whose
code changed between attempts is caught as a journal mismatch (570); context methods are refused
outside the handler's own task (child tasks, ``ctx.run`` closures).

Runs on protocol V6 and V7 with a zero inactivity timeout (every await suspends), like
``test_primitives.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import primitives_services
import pytest
import trio
from primitives_services import (
    DEADLINE,
    DETERMINISM_SERVICES,
    SERVER_CONFIGS,
    kill,
    new_key,
    ok,
    poll,
    send,
    serving,
)

from restate_trio.testing import RestateServer


@pytest.fixture(scope="module", params=sorted(SERVER_CONFIGS))
def server(request: pytest.FixtureRequest, restate_server_binary: Path) -> Iterator[RestateServer]:
    options = SERVER_CONFIGS[request.param]
    with RestateServer(binary=restate_server_binary, **options) as restate_server:  # type: ignore[arg-type]
        yield restate_server


async def test_random_uuid_and_time_are_identical_across_replays(server: RestateServer) -> None:
    async with serving(server, DETERMINISM_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            first = await server.ingress("/Dice/roll", b"")
            second = await server.ingress("/Dice/roll", b"")
        result = ok(first)
        assert isinstance(result, dict)
        me = first.invocation_id
        befores = board.log[("before", me)]
        afters = board.log[("after", me)]
    # ctx.time() and the sleep each suspended the invocation: the values drawn before them were
    # drawn again by the replaying attempts, and must not have changed.
    assert len(befores) >= 2, befores
    assert all(values == result["before"] for values in befores), befores
    assert afters
    assert all(values == result["after"] for values in afters), afters
    random_value, integer, drawn_uuid, now = result["before"]
    assert 0.0 <= random_value < 1.0
    assert 0 <= integer <= 10**9
    assert uuid.UUID(drawn_uuid).version == 4
    assert isinstance(now, float)
    # The sequence goes on after the replayed part, and another invocation has another seed.
    assert result["after"] != result["before"][:3]
    other = ok(second)
    assert isinstance(other, dict)
    assert other["before"][:3] != result["before"][:3]


async def _failure(server: RestateServer, invocation_id: str) -> Mapping[str, object] | None:
    row = await server.invocation_status(invocation_id)
    if row is not None and row.get("last_failure_error_code") is not None:
        return row
    return None


async def test_journal_mismatch_is_detected_as_570(server: RestateServer) -> None:
    key, tag = new_key(), new_key()
    drift = primitives_services.DRIFT
    drift["second_version"] = False
    try:
        async with serving(server, DETERMINISM_SERVICES) as board:
            with trio.fail_after(DEADLINE):
                invocation = await send(server, f"/Drift/{key}/mutate", tag)
                awakeable_id = await board.wait(("awakeable", tag))
                await server.wait_for_invocation_status(invocation, "suspended")
                # New code is deployed while the invocation waits: its replay differs.
                drift["second_version"] = True
                resolved = await server.ingress(f"/restate/awakeables/{awakeable_id}/resolve", "go")
                assert resolved.ok, resolved.text
                row = await poll(lambda: _failure(server, invocation))
                await kill(server, invocation)
            assert board.counts[("drift attempt", tag)] == 1  # the mismatch stops the replay
    finally:
        drift["second_version"] = False
    # The SDK reports code 570; restate-server files it under its own code for journal
    # mismatches (RT0016) and keeps the SDK's code and message in last_failure.
    assert row["last_failure_error_code"] in {"570", 570, "RT0016"}, row
    failure = str(row["last_failure"])
    assert "[570 Journal mismatch]" in failure, failure
    assert 'key: "b"' in failure, failure  # what the new code issued ...
    assert 'key: "a"' in failure, failure  # ... and what the journal recorded
    assert row["status"] in {"backing-off", "running"}, row


async def test_ctx_from_a_child_task_raises_runtime_error(server: RestateServer) -> None:
    async with serving(server, DETERMINISM_SERVICES):
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Misuse/from_child_task", b"")
    messages = ok(response)
    assert isinstance(messages, list)
    assert len(messages) == 3, messages
    for message in messages[:2]:
        assert "task other than its handler's task" in message
    assert messages[2] == "still works"


async def test_ctx_inside_a_run_closure_raises_runtime_error(server: RestateServer) -> None:
    async with serving(server, DETERMINISM_SERVICES):
        with trio.fail_after(DEADLINE):
            caught = ok(await server.ingress("/Misuse/inside_run_caught", b""))
            terminal = ok(await server.ingress("/Misuse/inside_run_terminal", b""))
    assert isinstance(caught, list)
    sync_message, async_message = caught
    assert sync_message.startswith("sync: "), sync_message
    assert "inside a ctx.run closure" in sync_message
    assert async_message.startswith("async: "), async_message
    assert "inside a ctx.run closure" in async_message
    assert isinstance(terminal, str)
    assert terminal.startswith("terminal 400: RuntimeError: "), terminal
    assert "inside a ctx.run closure" in terminal
