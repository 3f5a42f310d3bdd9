"""End-to-end tests of the durable primitives, in "hard mode".

Every test runs against two restate-servers (protocol V6 and V7, see ``SERVER_CONFIGS``), both
with a zero inactivity timeout: every await that is not resolved yet suspends the invocation and
the next attempt replays its journal. Handlers live in ``primitives_services.py`` and report
to the test through a :class:`~primitives_services.Board`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from primitives_services import (
    DEADLINE,
    PRIMITIVE_SERVICES,
    SERVER_CONFIGS,
    attach,
    new_key,
    ok,
    poll,
    send,
    serving,
)

from restate_trio.testing import IngressResponse, RestateServer


@pytest.fixture(scope="module", params=sorted(SERVER_CONFIGS))
def server(request: pytest.FixtureRequest, restate_server_binary: Path) -> Iterator[RestateServer]:
    options = SERVER_CONFIGS[request.param]
    with RestateServer(binary=restate_server_binary, **options) as restate_server:  # type: ignore[arg-type]
        yield restate_server


# --------------------------------------------------------------------------- 1-3. ctx.run


async def test_ten_sequential_runs_each_execute_once(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Steps/ten", 100)
    assert ok(response) == [100 + i * i for i in range(10)]
    me = response.invocation_id
    assert me is not None
    executions = {i: board.counts[("step", me, i)] for i in range(10)}
    assert executions == dict.fromkeys(range(10), 1)
    # Each step suspended the invocation (its completion comes back in a new attempt), so the
    # replays really happened: one attempt per step plus the first.
    assert board.counts[("attempt", me)] >= 10


async def test_run_retried_until_it_succeeds(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Steps/flaky", 2)
    assert ok(response) == "ok after 3"
    assert response.invocation_id is not None
    assert board.counts[("flaky", response.invocation_id)] == 3


async def test_run_exhausting_its_retry_policy_becomes_terminal(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES) as board:
        invocation = await send(server, "/Steps/exhaust")
        responses: list[IngressResponse] = []
        with trio.fail_after(DEADLINE):
            async with trio.open_nursery() as nursery:

                async def result() -> None:
                    responses.append(await attach(server, invocation))
                    nursery.cancel_scope.cancel()

                nursery.start_soon(result)
                # Fail fast if the policy is ignored, instead of waiting for the deadline.
                await board.wait_count(("exhaust", invocation), 4)
                nursery.cancel_scope.cancel()
        executions = board.counts[("exhaust", invocation)]
        assert executions == 3, f"the closure ran {executions} times and is still retried"
    (response,) = responses
    assert response.status == 500, (response.status, response.text)
    assert "broken for good (3)" in response.text


async def test_run_raising_terminal_error_is_journaled_once(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Steps/terminal", b"")
    assert ok(response) == "caught 418 refused; after"
    assert response.invocation_id is not None
    assert board.counts[("terminal", response.invocation_id)] == 1


async def test_concurrent_runs_each_execute_once(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Steps/fan_out", 12)
    assert ok(response) == [i * 10 for i in range(12)]
    me = response.invocation_id
    assert {i: board.counts[("fan", me, i)] for i in range(12)} == dict.fromkeys(range(12), 1)


async def test_parallel_invocations_do_not_interfere(server: RestateServer) -> None:
    responses: dict[int, IngressResponse] = {}
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            async with trio.open_nursery() as nursery:

                async def call(base: int) -> None:
                    responses[base] = await server.ingress("/Steps/ten", base)

                for base in range(0, 2000, 100):
                    nursery.start_soon(call, base)
    for base, response in responses.items():
        assert ok(response) == [base + i * i for i in range(10)]
        me = response.invocation_id
        assert [board.counts[("step", me, i)] for i in range(10)] == [1] * 10
    assert len(responses) == 20


async def test_retries_of_a_later_step_leave_earlier_steps_alone(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Steps/later_flaky", 5)
    assert ok(response) == ["one 1", "two 1", "third 3"]
    me = response.invocation_id
    assert (board.counts[("one", me)], board.counts[("two", me)]) == (1, 1)


async def test_later_step_exhausting_its_retry_policy(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES) as board:
        invocation = await send(server, "/Steps/later_flaky", 2)
        responses: list[IngressResponse] = []
        with trio.fail_after(DEADLINE):
            async with trio.open_nursery() as nursery:

                async def result() -> None:
                    responses.append(await attach(server, invocation))
                    nursery.cancel_scope.cancel()

                nursery.start_soon(result)
                await board.wait_count(("third", invocation), 3)  # fail fast, as above
                nursery.cancel_scope.cancel()
        executions = board.counts[("third", invocation)]
        assert executions == 2, f"the closure ran {executions} times and is still retried"
    (response,) = responses
    assert ok(response) == ["one 1", "two 1", "gave up: ValueError: third failed 2"]


async def test_sync_and_async_closures_get_their_args(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES):
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Steps/closures", b"")
    # sync closures run in a worker thread, async ones in the trio thread
    assert ok(response) == [[5, True], [20, True], "hi!", ["run"]]


# --------------------------------------------------------------------------- 4, 6. timers


async def test_sleep_resumes_after_the_timer(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            started = trio.current_time()
            response = await server.ingress("/Timers/nap", 600)
            elapsed = trio.current_time() - started
    assert ok(response) == 600
    assert elapsed >= 0.6
    assert response.invocation_id is not None
    assert board.counts[("attempt", response.invocation_id)] == 2  # suspended, resumed once


async def test_delayed_send_arrives_after_its_delay(server: RestateServer) -> None:
    key = new_key()
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            sent_at = ok(await server.ingress("/Timers/schedule", [key, 800]))
            assert isinstance(sent_at, float)
            stamped_in_process = await board.wait(("stamped", key))

            async def stamped() -> object:
                return ok(await server.ingress(f"/Stamp/{key}/stamped_at", b""))

            stamped_at = await poll(stamped)
    assert stamped_at == stamped_in_process
    assert isinstance(stamped_at, float)
    assert stamped_at - sent_at >= 0.8 - 0.002  # ms resolution of the invoke time


# --------------------------------------------------------------------------- 5, 7. calls


async def test_typed_call_chain(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES):
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/ChainA/start", "Ada")
    assert ok(response) == {"text": "hello Ada from ada", "hops": ["C", "B", "A"]}


async def test_generic_call_by_name_with_raw_bytes(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES):
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/ChainA/generic", "Bob")
    raw = ok(response)
    assert isinstance(raw, str)
    assert json.loads(raw) == {"text": "hello Bob from generic", "hops": ["C"]}


async def test_idempotent_call_runs_the_callee_once(server: RestateServer) -> None:
    key = new_key()
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Idem/twice", key)
    a, b, first_id, second_id = ok(response)  # type: ignore[misc]
    assert a == b == f"{key} by {first_id}"
    assert first_id == second_id
    assert board.counts[("once", key)] == 1


async def test_idempotent_call_of_a_failing_callee(server: RestateServer) -> None:
    key = new_key()
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Idem/twice_failing", key)
    assert ok(response) == ["499 failure 1", "499 failure 1"]
    assert board.counts[("fails", key)] == 1


# --------------------------------------------------------------------------- 8. awakeables


async def test_awakeable_resolved_from_the_ingress(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            invocation = await send(server, "/Wake/external", tag)
            awakeable_id = await board.wait(("awakeable", tag))
            resolved = await server.ingress(f"/restate/awakeables/{awakeable_id}/resolve", "yes")
            assert resolved.ok, (resolved.status, resolved.text)
            response = await attach(server, invocation)
    assert ok(response) == "resolved: yes"


async def test_awakeable_rejected_from_the_ingress(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            invocation = await send(server, "/Wake/external", tag)
            awakeable_id = await board.wait(("awakeable", tag))
            rejected = await server.ingress(
                f"/restate/awakeables/{awakeable_id}/reject",
                b"go away",
                headers={"content-type": "text/plain"},
            )
            assert rejected.ok, (rejected.status, rejected.text)
            response = await attach(server, invocation)
    result = ok(response)
    assert isinstance(result, str)
    assert result.startswith("rejected: "), result
    assert "go away" in result


@pytest.mark.parametrize("reject", [False, True], ids=["resolve", "reject"])
async def test_awakeable_completed_by_another_handler(server: RestateServer, reject: bool) -> None:
    async with serving(server, PRIMITIVE_SERVICES):
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Wake/internal", reject)
    expected = "rejected: 451 no way" if reject else "resolved: from a handler"
    assert ok(response) == expected


async def test_awakeable_resolved_by_its_own_handler(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES):
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Wake/own", b"")
    assert ok(response) == "by myself"


# --------------------------------------------------------------------------- 9. promises


async def test_workflow_promise_resolved_by_shared_handler(server: RestateServer) -> None:
    key = new_key()
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            run_id = await send(server, f"/Approval/{key}/run")
            await board.wait(("waiting", key))
            await server.wait_for_invocation_status(run_id, "suspended")
            peek_before = ok(await server.ingress(f"/Approval/{key}/peek", b""))
            approved = ok(await server.ingress(f"/Approval/{key}/approve", "yes"))
            peek_after = ok(await server.ingress(f"/Approval/{key}/peek", b""))
            again = ok(await server.ingress(f"/Approval/{key}/approve", "no"))
            result = await server.ingress(f"/restate/workflow/Approval/{key}/attach", method="GET")
            output = await server.ingress(f"/restate/workflow/Approval/{key}/output", method="GET")
    assert peek_before is None
    assert approved == "resolved"
    assert peek_after == "yes"
    assert isinstance(again, str)
    assert again.startswith("failed: "), again  # a promise completes once
    assert ok(result) == "before=None value=yes after=yes"
    assert ok(output) == "before=None value=yes after=yes"


async def test_workflow_promise_resolved_before_run_awaits_it(server: RestateServer) -> None:
    key = new_key()
    async with serving(server, PRIMITIVE_SERVICES):
        with trio.fail_after(DEADLINE):
            assert ok(await server.ingress(f"/Approval/{key}/approve", "early")) == "resolved"
            result = await server.ingress(f"/Approval/{key}/run", b"")
    assert ok(result) == "before=early value=early after=early"


async def test_workflow_promise_rejected(server: RestateServer) -> None:
    key = new_key()
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            await send(server, f"/Approval/{key}/run")
            await board.wait(("waiting", key))
            assert ok(await server.ingress(f"/Approval/{key}/deny", "not today")) == "rejected"
            result = await server.ingress(f"/restate/workflow/Approval/{key}/attach", method="GET")
    assert ok(result) == "before=None rejected: 403 not today"


# --------------------------------------------------------------------------- 10. races


async def test_select_awakeable_wins_over_timer(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            started = trio.current_time()
            invocation = await send(server, "/Race/select", [tag, 30_000])
            awakeable_id = await board.wait(("awakeable", tag))
            resolved = await server.ingress(f"/restate/awakeables/{awakeable_id}/resolve", "hi")
            assert resolved.ok, resolved.text
            response = await attach(server, invocation)
    assert ok(response) == "awakeable: hi"
    assert trio.current_time() - started < 15


async def test_select_timer_wins_over_awakeable(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, PRIMITIVE_SERVICES):
        with trio.fail_after(DEADLINE):
            started = trio.current_time()
            response = await server.ingress("/Race/select", [tag, 300])
            elapsed = trio.current_time() - started
    assert ok(response) == "timer"
    assert elapsed >= 0.3


async def test_with_timeout_raises_durable_timeout_error(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES):
        with trio.fail_after(DEADLINE):
            caught = await server.ingress("/Race/bounded", [new_key(), 300, True])
            uncaught = await server.ingress("/Race/bounded", [new_key(), 300, False])
    assert ok(caught) == "DurableTimeoutError 408 terminal=True"
    assert uncaught.status == 408, (uncaught.status, uncaught.text)
    assert "timed out" in uncaught.text


@pytest.mark.parametrize(
    ("durations", "winner"),
    [([400, 50], "timer"), ([0, 5000], "run")],
    ids=["slow-run", "fast-run"],
)
async def test_select_run_against_timer(
    server: RestateServer, durations: list[int], winner: str
) -> None:
    async with serving(server, PRIMITIVE_SERVICES):
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Race/run_against_timer", durations)
    assert ok(response) == winner


async def test_future_awaited_again_after_with_timeout(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            invocation = await send(server, "/Race/await_after_timeout", tag)
            awakeable_id = await board.wait(("timed out", tag))
            resolved = await server.ingress(f"/restate/awakeables/{awakeable_id}/resolve", "v")
            assert resolved.ok, resolved.text
            response = await attach(server, invocation)
    assert ok(response) == "later: v"


async def test_with_timeout_returns_the_value_in_time(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            invocation = await send(server, "/Race/bounded", [tag, 30_000, True])
            awakeable_id = await board.wait(("awakeable", tag))
            resolved = await server.ingress(f"/restate/awakeables/{awakeable_id}/resolve", "v")
            assert resolved.ok, resolved.text
            response = await attach(server, invocation)
    assert ok(response) == "value: v"


# --------------------------------------------------------------------------- 11. combinators


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        ("all_succeeded_ok", ["a", "echo b", "c"]),
        ("all_succeeded_fails", "err 422 call failed"),
        (
            "all_completed_mixed",
            ["ok a", "err 400 run failed", "err 422 call failed", "ok echo d"],
        ),
        ("first_succeeded_mixed", "echo third"),
        # every future failed: the last failure, as it was (code, message and metadata)
        ("first_succeeded_all_fail", "err 422 second failed [('origin', 'boom')]"),
        ("first_completed_failure", "bad err 400 quick failure"),
        ("ordered", ["fail", "medium", "slow"]),
        ("with_completed", ["done", "done", "done"]),
    ],
)
async def test_combinators(server: RestateServer, handler: str, expected: object) -> None:
    async with serving(server, PRIMITIVE_SERVICES):
        with trio.fail_after(DEADLINE):
            response = await server.ingress(f"/Combine/{handler}", b"")
    result = ok(response)
    assert result == expected


async def test_terminal_error_from_a_user_nursery(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES):
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Combine/nursery_terminal", b"")
    assert response.status == 412, (response.status, response.text)
    assert "from a child task" in response.text


# --------------------------------------------------------------------------- 12. signals


@pytest.mark.parametrize("early", [False, True], ids=["while-waiting", "before-awaited"])
async def test_named_signal_resolved_by_another_handler(server: RestateServer, early: bool) -> None:
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            waiter = await send(server, "/Signals/wait", 1500 if early else 0)
            if early:
                # The signal arrives while the handler sleeps, before it asks for it.
                await board.wait(("sleeping", waiter))
            else:
                await server.wait_for_invocation_status(waiter, "suspended")
            ok(await server.ingress("/Signals/go", [waiter, 42]))
            response = await attach(server, waiter)
    assert ok(response) == "go 42"


async def test_named_signal_rejected(server: RestateServer) -> None:
    async with serving(server, PRIMITIVE_SERVICES):
        with trio.fail_after(DEADLINE):
            waiter = await send(server, "/Signals/wait", 0)
            await server.wait_for_invocation_status(waiter, "suspended")
            ok(await server.ingress("/Signals/stop", waiter))
            response = await attach(server, waiter)
    assert ok(response) == "rejected: 410 stopped"


# --------------------------------------------------------------------------- 13. invocations


async def test_attach_and_get_output_of_a_sent_invocation(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, PRIMITIVE_SERVICES):
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Invocations/observe", tag)
    assert ok(response) == [None, f"released {tag}", f"released {tag}"]


async def test_attach_to_a_failed_invocation(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, PRIMITIVE_SERVICES):
        with trio.fail_after(DEADLINE):
            response = await server.ingress("/Invocations/attach_failed", tag)
    assert ok(response) == f"attach 422 failed {tag}; output 422 failed {tag}"


async def test_cancel_invocation_of_a_blocked_invocation(server: RestateServer) -> None:
    tag = new_key()
    async with serving(server, PRIMITIVE_SERVICES) as board:
        with trio.fail_after(DEADLINE):
            blocked = await send(server, "/Invocations/blocked", tag)
            await server.wait_for_invocation_status(blocked, "suspended")
            response = await server.ingress("/Invocations/cancel", blocked)
            blocked_saw = await board.wait(("blocked ended", tag))
            attached = await attach(server, blocked)
    result = ok(response)
    assert isinstance(result, str)
    assert result.startswith("attach failed: 409"), result
    assert blocked_saw == 409
    assert attached.status == 409, (attached.status, attached.text)
