"""End-to-end: the reference's examples of what handlers use, against a real restate-server.

``examples/reference/{context,concurrency,combinators,errors,retry}.py`` hold one region per
public name of those modules (the reference pages include them); each test here serves one
example's endpoint and checks what its regions claim, through the ingress and the server's
introspection.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import trio
from primitives_services import DEADLINE, attach, kill_unfinished, ok, poll, send

import examples.reference.combinators as ref_combinators
import examples.reference.concurrency as ref_concurrency
import examples.reference.context as ref_context
import examples.reference.errors as ref_errors
import examples.reference.retry as ref_retry
import restate_trio as restate
from restate_trio.testing import RestateServer, serve_endpoint


def key() -> str:
    return uuid.uuid4().hex[:12]


@asynccontextmanager
async def serving(endpoint: restate.Endpoint, server: RestateServer) -> AsyncGenerator[None]:
    """Serve ``endpoint`` with every wait bounded; kill what is left running (a courier still
    on its way, or the leftovers of a failed test) before the endpoint goes away."""
    async with serve_endpoint(endpoint, server):
        try:
            with trio.fail_after(DEADLINE):
                yield
        finally:
            with trio.CancelScope(shield=True):
                await kill_unfinished(server)


async def journal_names(server: RestateServer, invocation_id: str) -> list[str]:
    rows = await server.query(
        f"SELECT name FROM sys_journal WHERE id = '{invocation_id}' ORDER BY index"
    )
    return [str(row.get("name") or "") for row in rows]


def in_(delta: timedelta) -> str:
    """A deadline ``delta`` from now, as the JSON a caller sends."""
    return (datetime.now(UTC) + delta).isoformat()


# --------------------------------------------------------------------------- context


async def test_context_service_handlers(restate_server: RestateServer) -> None:
    async with serving(ref_context.endpoint, restate_server):
        # Context
        assert ok(await restate_server.ingress("/Greeter/greet", "Ada")) == "Hello Ada!"

        # Request: the caller's headers and the invocation's own id.
        response = await restate_server.ingress("/Greeter/whoami", headers={"x-tenant": "acme"})
        assert ok(response) == f"acme in {response.invocation_id}"

        # CallOptions: headers reach the callee; the idempotency key runs it once per key.
        tenant, other = key(), key()
        first = ok(await restate_server.ingress("/Greeter/whoami_as", tenant))
        again = ok(await restate_server.ingress("/Greeter/whoami_as", tenant))
        third = ok(await restate_server.ingress("/Greeter/whoami_as", other))
        assert isinstance(first, str)
        assert first.startswith(f"{tenant} in inv_")
        assert again == first
        assert isinstance(third, str)
        assert third.startswith(f"{other} in inv_")
        assert third.split()[-1] != first.split()[-1]

        # DurableFuture
        names = ["Ada", "Bob", "Cy"]
        greetings = ok(await restate_server.ingress("/Greeter/greet_all", names))
        assert greetings == [f"Hello {name}!" for name in names]

        # CallFuture: the callee's id is that of a real, finished invocation.
        traced = ok(await restate_server.ingress("/Greeter/greet_traced", "Ada"))
        assert isinstance(traced, str)
        assert traced.startswith("Hello Ada! (inv_")
        callee = traced.removeprefix("Hello Ada! (").removesuffix(")")
        await restate_server.wait_for_invocation_status(callee, "completed")

        # SendHandle: the sender gets the id, and the message's invocation runs on its own.
        sent = ok(await restate_server.ingress("/Greeter/greet_later", "Bob"))
        assert isinstance(sent, str)
        assert ok(await attach(restate_server, sent)) == "Hello Bob!"

        # DurableRandom
        drawn = ok(await restate_server.ingress("/Greeter/draw", 6))
        assert isinstance(drawn, list)
        assert len(set(drawn)) == 6
        assert drawn == sorted(drawn)
        assert all(isinstance(n, int) and 1 <= n < 50 for n in drawn)


async def test_context_virtual_object(restate_server: RestateServer) -> None:
    counter, first, second = key(), key(), key()
    async with serving(ref_context.endpoint, restate_server):
        # ObjectContext, ObjectSharedContext
        assert ok(await restate_server.ingress(f"/Counter/{counter}/add", 2)) == 2
        assert ok(await restate_server.ingress(f"/Counter/{counter}/add", 3)) == 5
        assert ok(await restate_server.ingress(f"/Counter/{counter}/current")) == 5
        assert ok(await restate_server.ingress(f"/Counter/{first}/add", 7)) == 7
        assert ok(await restate_server.ingress(f"/Counter/{first}/reset")) is None
        assert ok(await restate_server.ingress(f"/Counter/{first}/current")) == 0

        # SendOptions: the delayed sends arrive, one per counter.
        assert (
            ok(await restate_server.ingress(f"/Counter/{counter}/bump_all", [first, second]))
            is None
        )
        for bumped in (first, second):

            async def arrived(bumped: str = bumped) -> bool:
                return ok(await restate_server.ingress(f"/Counter/{bumped}/current")) == 1

            await poll(arrived)
    assert (await restate_server.get_state("Counter", counter)) == {"count": b"5"}


async def test_context_workflow(restate_server: RestateServer) -> None:
    signup = key()
    async with serving(ref_context.endpoint, restate_server):
        # WorkflowContext: run starts and waits for the promise.
        await send(restate_server, f"/Signup/{signup}/run", "ada@example.com")

        # WorkflowSharedContext: asked while run waits.
        async def waiting() -> bool:
            status = ok(await restate_server.ingress(f"/Signup/{signup}/status"))
            return status == "waiting for confirmation"

        await poll(waiting)

        # DurablePromise: resolved once; the second resolve fails, the handler says so.
        assert ok(await restate_server.ingress(f"/Signup/{signup}/confirm", "1234")) is True
        assert ok(await restate_server.ingress(f"/Signup/{signup}/confirm", "5678")) is False
        result = await restate_server.ingress(
            f"/restate/workflow/Signup/{signup}/attach", method="GET"
        )
        assert ok(result) == "ada@example.com confirmed with 1234"
        assert ok(await restate_server.ingress(f"/Signup/{signup}/status")) == "confirmed"


# --------------------------------------------------------------------------- concurrency


async def test_durable_nurseries(restate_server: RestateServer) -> None:
    async with serving(ref_concurrency.endpoint, restate_server):
        # open_nursery: every task's step is journaled.
        response = await restate_server.ingress("/Dispatch/ship", ["tea", "cups", "pot"])
        assert ok(response) == 3
        assert response.invocation_id is not None
        names = await journal_names(restate_server, response.invocation_id)
        assert sorted(n for n in names if n.startswith("label ")) == [
            "label cups",
            "label pot",
            "label tea",
        ]

        # TaskResult
        booked = ok(await restate_server.ingress("/Dispatch/book", "rome"))
        assert booked == ["flight for rome", "hotel for rome"]

        # DurableNursery.cancel_scope: the quick answer wins, the slow closure (60 s) is
        # cancelled (the DEADLINE around this block says it was).
        answer = ok(await restate_server.ingress("/Dispatch/first_answer", "durable?"))
        assert answer == "quick oracle: yes, durable?"

        # DurableCancelScope: cancel() ends the block early, timed_out stays False.
        job = key()
        assert ok(await restate_server.ingress("/Dispatch/await_job", job)) == f"{job} done"
        assert ref_concurrency.CHECKS[job] == 3


async def test_durable_deadlines(restate_server: RestateServer) -> None:
    async with serving(ref_concurrency.endpoint, restate_server):
        # move_on_after
        late = await restate_server.ingress("/Dispatch/try_deliver", "far away")
        assert ok(late) == "the courier is late"
        near = await restate_server.ingress("/Dispatch/try_deliver", "next door")
        assert ok(near) == "delivered to next door"

        # move_on_at
        by = in_(timedelta(milliseconds=300))
        missed = ok(
            await restate_server.ingress("/Dispatch/deliver_by", {"address": "far away", "by": by})
        )
        assert missed == f"not delivered by {datetime.fromisoformat(by):%H:%M:%S}"
        order = {"address": "next door", "by": in_(timedelta(seconds=30))}
        made = ok(await restate_server.ingress("/Dispatch/deliver_by", order))
        assert made == "delivered to next door"

        # fail_after: a DurableTimeoutError fails the invocation with 408.
        failed = await restate_server.ingress("/Dispatch/deliver_or_fail", "far away")
        assert failed.status == 408, (failed.status, failed.text)
        assert "timed out after 0.3 s" in failed.text
        assert ok(await restate_server.ingress("/Dispatch/deliver_or_fail", "next door")) is None

        # fail_at
        by = in_(timedelta(milliseconds=300))
        failed = await restate_server.ingress(
            "/Dispatch/deliver_by_or_fail", {"address": "far away", "by": by}
        )
        assert failed.status == 408, (failed.status, failed.text)
        assert "deadline" in failed.text
        order = {"address": "next door", "by": in_(timedelta(seconds=30))}
        assert ok(await restate_server.ingress("/Dispatch/deliver_by_or_fail", order)) is None


# --------------------------------------------------------------------------- combinators


async def test_combinators(restate_server: RestateServer) -> None:
    item = "widget"
    price = ref_combinators.price
    async with serving(ref_combinators.endpoint, restate_server):
        # all_succeeded
        best = ok(await restate_server.ingress("/Quotes/best", item))
        assert best == min(price(s, item) for s in ("acme", "globex", "initech"))

        # all_completed: the failure is one of the answers.
        survey = ok(await restate_server.ingress("/Quotes/survey", item))
        assert survey == {"acme": price("acme", item), "closed": f"closed sells no {item}"}

        # first_completed, first_succeeded
        assert ok(await restate_server.ingress("/Quotes/fastest", item)) == price("acme", item)
        assert ok(await restate_server.ingress("/Quotes/any_offer", item)) == price("globex", item)

        # with_timeout: it does not wait for the slow supplier (2 s).
        started = trio.current_time()
        assert ok(await restate_server.ingress("/Quotes/patient", item)) is None
        assert trio.current_time() - started < 2.0

        # as_completed
        in_order = ok(await restate_server.ingress("/Quotes/in_order", item))
        assert in_order == [price("acme", item), price("slowpoke", item)]


# --------------------------------------------------------------------------- errors


async def test_errors(restate_server: RestateServer) -> None:
    async with serving(ref_errors.endpoint, restate_server):
        # TerminalError: the ingress answers with its code and message; a caller catches it.
        refused = await restate_server.ingress("/Inventory/reserve", "pot")
        assert refused.status == 404, (refused.status, refused.text)
        assert "no pot in stock" in refused.text
        assert ok(await restate_server.ingress("/Inventory/reserve", "tea")) == "reserved tea"
        caught = ok(await restate_server.ingress("/Inventory/try_reserve", "pot"))
        assert caught == "refused (404): no pot in stock"

        # DurableTimeoutError
        timed_out = ok(await restate_server.ingress("/Payments/charge_within", 5))
        assert timed_out == "408: timed out after 0.3 s"

        # Cancelled: the compensation's state changes are kept, the invocation ends as 409.
        item = key()
        invocation = await send(restate_server, f"/Holds/{item}/hold", "ada")

        async def held() -> bool:
            state = await restate_server.get_state("Holds", item)
            return "held for" in state

        await poll(held)
        cancelled = await restate_server.admin_patch(f"/invocations/{invocation}/cancel")
        assert cancelled.ok, (cancelled.status, cancelled.text)
        outcome = await attach(restate_server, invocation)
        assert outcome.status == 409, (outcome.status, outcome.text)
    assert await restate_server.get_state("Holds", item) == {"released": b'"ada"'}


def test_service_definition_error() -> None:
    assert ref_errors.definition_problem().startswith("Broken.greet:")


# --------------------------------------------------------------------------- retry


async def test_retry_policies(restate_server: RestateServer) -> None:
    async with serving(ref_retry.endpoint, restate_server):
        # RetryPolicy: three executions of the closure, then a terminal error the handler sees.
        assert ok(await restate_server.ingress("/Billing/charge", "visa")) == "charged visa"
        card = f"broken-{key()}"
        declined = ok(await restate_server.ingress("/Billing/charge", card))
        assert isinstance(declined, str)
        assert declined.startswith("declined: ")
        assert "the gateway is unreachable" in declined
        assert ref_retry.GATEWAY_CALLS[card] == 3

        # InvocationRetryPolicy: in the manifest, applied by the server (killed after 3).
        described = (await restate_server.admin_get("/services/Reports")).json()
        assert isinstance(described, dict)
        assert described["retry_policy"]["max_attempts"] == 3
        assert described["retry_policy"]["on_max_attempts"] == "Kill"
        daily = ok(await restate_server.ingress("/Reports/render", "daily"))
        assert isinstance(daily, str)
        assert daily.startswith("daily report inv_")
        missing = await restate_server.ingress("/Reports/render", "weekly")
        assert missing.status == 500, (missing.status, missing.text)
        assert "KeyError" in missing.text
