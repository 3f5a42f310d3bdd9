"""End-to-end tests: real restate-server, the SDK served in-process, calls through the ingress.

One restate-server is shared by the whole module (the ``restate_server`` fixture); every test
serves its own endpoint (``serve_endpoint`` registers it), so each test gets fresh in-process
counters. Keys are random so that tests never see each other's state.

The module's server retries quickly (50 ms initial backoff) so the retry test stays fast.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import pytest
import trio

import restate_trio as restate
from examples.services import Counter, Greeter, Signup
from restate_trio.testing import IngressResponse, RestateServer, serve_endpoint

_DEADLINE = 20.0  # bound on every wait in this module (seconds)


@pytest.fixture(scope="module")
def restate_server_options() -> dict[str, object]:
    return {
        "env": {
            "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "50ms",
            "RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL": "200ms",
        }
    }


def _key() -> str:
    return uuid.uuid4().hex


def _ok(response: IngressResponse) -> object:
    assert response.status == 200, (response.status, response.text)
    return response.json() if response.body else None


async def _journal_types(server: RestateServer, invocation_id: str) -> list[str]:
    rows = await server.query(
        f"SELECT index, entry_type FROM sys_journal WHERE id = '{invocation_id}' ORDER BY index"
    )
    return [str(row["entry_type"]) for row in rows]


async def _deployment(server: RestateServer, uri: str) -> Mapping[str, object]:
    response = await server.admin_get("/deployments")
    assert response.ok, response.text
    decoded = response.json()
    assert isinstance(decoded, dict)
    for deployment in decoded["deployments"]:
        if str(deployment.get("uri", "")).rstrip("/") == uri.rstrip("/"):
            return deployment
    raise AssertionError(f"deployment {uri} not listed: {response.text}")


# --------------------------------------------------------------------------- 1. Greeter


async def test_greeter_greet(restate_server: RestateServer) -> None:
    endpoint = restate.Endpoint().bind(restate.reflect(Greeter()))
    async with serve_endpoint(endpoint, restate_server):
        response = await restate_server.ingress("/Greeter/greet", "bob")
    assert _ok(response) == "Hello bob!"
    assert response.headers.get("content-type", "").startswith("application/json")
    assert response.invocation_id is not None


# --------------------------------------------------------------------------- 2. Counter


async def test_concurrent_counter_adds_are_serialized(restate_server: RestateServer) -> None:
    endpoint = restate.Endpoint().bind(restate.reflect(Counter()))
    key = _key()
    deltas = list(range(1, 51))
    results: dict[int, int] = {}

    async def add(delta: int) -> None:
        results[delta] = int(_ok(await restate_server.ingress(f"/Counter/{key}/add", delta)))  # type: ignore[call-overload]

    async with serve_endpoint(endpoint, restate_server):
        with trio.fail_after(_DEADLINE * 2):
            async with trio.open_nursery() as nursery:
                for delta in deltas:
                    nursery.start_soon(add, delta)
        current = _ok(await restate_server.ingress(f"/Counter/{key}/current", b""))

    total = sum(deltas)
    assert len(results) == len(deltas)
    values = sorted(results.values())
    assert len(set(values)) == len(values), "two adds returned the same intermediate value"
    assert values[-1] == total
    # Each add saw exactly the previous one's result: consecutive sorted results differ by the
    # delta of the add that produced the larger one.
    previous = 0
    by_value = {value: delta for delta, value in results.items()}
    for value in values:
        assert value - previous == by_value[value], (previous, value, by_value[value])
        previous = value
    assert current == total


# --------------------------------------------------------------------------- 3. shared vs exclusive


class Gate:
    """An exclusive handler that blocks until the test releases it, and a shared reader."""

    def __init__(self) -> None:
        self.entered = trio.Event()
        self.release = trio.Event()
        self.hold_done = False
        self.peek_saw_hold_running: bool | None = None
        self.poke_saw_hold_done: bool | None = None

    async def seed(self, ctx: restate.ObjectContext, value: str) -> None:
        ctx.set("seed", value)

    async def hold(self, ctx: restate.ObjectContext) -> str:
        seed = await ctx.get("seed", type=str)
        self.entered.set()
        await self.release.wait()
        self.hold_done = True
        return f"released {seed}"

    async def peek(self, ctx: restate.ObjectSharedContext) -> str | None:
        self.peek_saw_hold_running = self.entered.is_set() and not self.hold_done
        return await ctx.get("seed", type=str)

    async def poke(self, ctx: restate.ObjectContext) -> bool:
        self.poke_saw_hold_done = self.hold_done
        return self.hold_done


async def test_shared_handler_runs_while_exclusive_is_in_flight(
    restate_server: RestateServer,
) -> None:
    gate = Gate()
    endpoint = restate.Endpoint().bind(restate.reflect(gate))
    key = _key()
    hold_response: list[IngressResponse] = []
    poke_response: list[IngressResponse] = []

    async def call(path: str, sink: list[IngressResponse]) -> None:
        sink.append(await restate_server.ingress(path, b""))

    async with serve_endpoint(endpoint, restate_server):
        _ok(await restate_server.ingress(f"/Gate/{key}/seed", "s1"))
        with trio.fail_after(_DEADLINE):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call, f"/Gate/{key}/hold", hold_response)
                await gate.entered.wait()
                # The exclusive handler is blocked in-process; a shared call must still run.
                peeked = _ok(await restate_server.ingress(f"/Gate/{key}/peek", b""))
                assert peeked == "s1"
                assert gate.peek_saw_hold_running is True
                assert not hold_response, "hold finished before it was released"
                # A second exclusive call must queue behind `hold`: wait until the server
                # reports it inboxed, then release `hold`.
                nursery.start_soon(call, f"/Gate/{key}/poke", poke_response)
                await _wait_inboxed(restate_server, "Gate", key, "poke")
                assert gate.poke_saw_hold_done is None, "poke ran while hold was in flight"
                gate.release.set()
    assert _ok(hold_response[0]) == "released s1"
    assert _ok(poke_response[0]) is True
    assert gate.poke_saw_hold_done is True


async def _wait_inboxed(server: RestateServer, service: str, key: str, handler: str) -> None:
    while True:
        rows = await server.query(
            "SELECT status FROM sys_invocation WHERE target_service_name = "
            f"'{service}' AND target_service_key = '{key}' AND target_handler_name = '{handler}'"
        )
        if rows and rows[0]["status"] in ("inboxed", "pending"):
            return
        await trio.sleep(0.02)


# --------------------------------------------------------------------------- 4. state API


class Stash:
    async def fill(self, ctx: restate.ObjectContext) -> list[str]:
        ctx.set("b", 2)
        ctx.set("a", 1)
        ctx.set("c", 3)
        return await ctx.state_keys()

    async def keys(self, ctx: restate.ObjectSharedContext) -> list[str]:
        return await ctx.state_keys()

    async def read(self, ctx: restate.ObjectSharedContext) -> dict[str, int | None]:
        return {name: await ctx.get(name, type=int) for name in ("a", "b", "c")}

    async def drop(self, ctx: restate.ObjectContext, name: str) -> list[str]:
        ctx.clear(name)
        return await ctx.state_keys()

    async def wipe(self, ctx: restate.ObjectContext) -> list[str]:
        ctx.clear_all()
        return await ctx.state_keys()

    async def trace(self, ctx: restate.ObjectContext) -> list[object]:
        """Every operation in one invocation, on top of the state left by earlier calls."""
        seen: list[object] = [await ctx.state_keys(), await ctx.get("a", type=int)]
        ctx.set("z", 26)
        ctx.set("a", 10)
        seen += [await ctx.state_keys(), await ctx.get("a", type=int)]
        ctx.clear("z")
        seen += [await ctx.state_keys(), await ctx.get("z", type=int)]
        ctx.clear_all()
        seen += [await ctx.state_keys(), await ctx.get("a", type=int)]
        ctx.set("y", 25)
        seen += [await ctx.state_keys(), await ctx.get("y", type=int)]
        return seen


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
async def test_state_keys_clear_and_clear_all(restate_server: RestateServer, lazy: bool) -> None:
    name = "StashLazy" if lazy else "StashEager"
    endpoint = restate.Endpoint().bind(
        restate.reflect(Stash(), name=name, enable_lazy_state=lazy or None)
    )
    key = _key()
    base = f"/{name}/{key}"

    async def call(handler: str, body: object = b"") -> object:
        return _ok(await restate_server.ingress(f"{base}/{handler}", body))

    async with serve_endpoint(endpoint, restate_server):
        assert await call("keys") == []
        assert await call("read") == {"a": None, "b": None, "c": None}
        assert await call("fill") == ["a", "b", "c"]
        assert await call("keys") == ["a", "b", "c"]
        assert await call("read") == {"a": 1, "b": 2, "c": 3}
        assert await call("drop", "b") == ["a", "c"]
        assert await call("keys") == ["a", "c"]
        assert await call("read") == {"a": 1, "b": None, "c": 3}
        assert await call("wipe") == []
        assert await call("keys") == []
        assert await call("read") == {"a": None, "b": None, "c": None}
        # All operations inside a single invocation.
        assert await call("fill") == ["a", "b", "c"]
        assert await call("trace") == [
            ["a", "b", "c"],
            1,
            ["a", "b", "c", "z"],
            10,
            ["a", "b", "c"],
            None,
            [],
            None,
            ["y"],
            25,
        ]
        assert await call("keys") == ["y"]
        assert await call("read") == {"a": None, "b": None, "c": None}


# --------------------------------------------------------------------------- 5. workflow


class CountedSignup(Signup):
    def __init__(self) -> None:
        self.runs = 0

    async def run(self, ctx: restate.WorkflowContext, email: str) -> str:
        self.runs += 1
        return await super().run(ctx, email)


async def test_workflow_run_executes_once_per_key(restate_server: RestateServer) -> None:
    signup = CountedSignup()
    endpoint = restate.Endpoint().bind(restate.reflect(signup, name="Signup"))
    key = _key()
    async with serve_endpoint(endpoint, restate_server):
        assert _ok(await restate_server.ingress(f"/Signup/{key}/status", b"")) is None
        first = await restate_server.ingress(f"/Signup/{key}/run", "a@example.com")
        assert _ok(first) == "welcome a@example.com"
        # Restate 1.7.12: a second run with the same key is rejected with 409 and points at
        # the original invocation; the handler does not run again.
        again = await restate_server.ingress(f"/Signup/{key}/run", "b@example.com")
        assert again.status == 409, again.text
        body = again.json()
        assert isinstance(body, dict)
        assert body["message"] == "the workflow method was already invoked"
        assert again.invocation_id == first.invocation_id
        # A /send is de-duplicated onto the original invocation.
        sent = await restate_server.ingress(f"/Signup/{key}/run/send", "c@example.com")
        assert sent.status == 202, sent.text
        assert sent.json() == {"invocationId": first.invocation_id, "status": "PreviouslyAccepted"}
        # The workflow's output stays available.
        output = await restate_server.ingress(
            f"/restate/workflow/Signup/{key}/output", method="GET"
        )
        assert _ok(output) == "welcome a@example.com"
        assert _ok(await restate_server.ingress(f"/Signup/{key}/status", b"")) == "done"
        # Another key runs again.
        other = await restate_server.ingress(f"/Signup/{_key()}/run", "d@example.com")
        assert _ok(other) == "welcome d@example.com"
    assert signup.runs == 2


# --------------------------------------------------------------------------- 6/7/13. failures


class Faulty:
    def __init__(self) -> None:
        self.teapot_calls = 0
        self.flaky_attempts = 0
        self.add_calls = 0

    async def teapot(self, ctx: restate.Context) -> str:
        self.teapot_calls += 1
        raise restate.TerminalError("bad", code=418)

    async def flaky(self, ctx: restate.Context, name: str) -> str:
        self.flaky_attempts += 1
        if self.flaky_attempts <= 2:
            raise RuntimeError(f"transient failure #{self.flaky_attempts}")
        return f"ok {name} after {self.flaky_attempts}"

    async def add(self, ctx: restate.Context, delta: int) -> int:
        self.add_calls += 1
        return delta + 1


async def test_terminal_error_reaches_the_caller_without_retry(
    restate_server: RestateServer,
) -> None:
    faulty = Faulty()
    endpoint = restate.Endpoint().bind(restate.reflect(faulty))
    async with serve_endpoint(endpoint, restate_server):
        response = await restate_server.ingress("/Faulty/teapot", b"")
        assert response.status == 418, response.text
        body = response.json()
        assert isinstance(body, dict)
        assert body["code"] == 418
        assert body["message"] == "bad"
        assert response.invocation_id is not None
        row = await restate_server.invocation_status(response.invocation_id)
    assert row is not None
    assert row["status"] == "completed"
    assert row["completion_result"] == "failure"
    assert faulty.teapot_calls == 1


async def test_retryable_error_is_retried_until_success(restate_server: RestateServer) -> None:
    faulty = Faulty()
    endpoint = restate.Endpoint().bind(restate.reflect(faulty))
    async with serve_endpoint(endpoint, restate_server):
        response = await restate_server.ingress("/Faulty/flaky", "x")
    assert _ok(response) == "ok x after 3"
    assert faulty.flaky_attempts == 3


async def test_undecodable_input_is_a_400_and_the_handler_does_not_run(
    restate_server: RestateServer,
) -> None:
    faulty = Faulty()
    endpoint = restate.Endpoint().bind(restate.reflect(faulty))
    async with serve_endpoint(endpoint, restate_server):
        response = await restate_server.ingress("/Faulty/add", "abc")
        assert response.status == 400, response.text
        body = response.json()
        assert isinstance(body, dict)
        assert body["code"] == 400
        # Sanity: a valid input runs the same handler.
        assert faulty.add_calls == 0
        assert _ok(await restate_server.ingress("/Faulty/add", 41)) == 42
    assert faulty.add_calls == 1


# ------------------------------------------------------------------ 8. lazy state, suspension


class LazyBox:
    def __init__(self) -> None:
        self.read_starts = 0
        self.pair_starts = 0

    async def put(self, ctx: restate.ObjectContext, value: dict[str, str]) -> None:
        for name, item in value.items():
            ctx.set(name, item)

    async def read(self, ctx: restate.ObjectSharedContext, name: str) -> str | None:
        self.read_starts += 1
        return await ctx.get(name, type=str)

    async def pair(self, ctx: restate.ObjectContext) -> list[object]:
        self.pair_starts += 1
        first = await ctx.get("a", type=str)
        second = await ctx.get("b", type=str)
        return [first, second, await ctx.state_keys()]


async def test_lazy_state_round_trip_over_bidi(restate_server: RestateServer) -> None:
    box = LazyBox()
    endpoint = restate.Endpoint().bind(restate.reflect(box, enable_lazy_state=True))
    key = _key()
    async with serve_endpoint(endpoint, restate_server) as uri:
        assert (await _deployment(restate_server, uri))["protocol_type"] == "BidiStream"
        _ok(await restate_server.ingress(f"/LazyBox/{key}/put", {"a": "1", "b": "2"}))
        hit = await restate_server.ingress(f"/LazyBox/{key}/read", "a")
        assert _ok(hit) == "1"
        miss = await restate_server.ingress(f"/LazyBox/{key}/read", "nope")
        assert _ok(miss) is None
        pair = await restate_server.ingress(f"/LazyBox/{key}/pair", b"")
        assert _ok(pair) == ["1", "2", ["a", "b"]]
        assert hit.invocation_id is not None
        assert pair.invocation_id is not None
        hit_journal = await _journal_types(restate_server, hit.invocation_id)
        pair_journal = await _journal_types(restate_server, pair.invocation_id)
    assert hit_journal == [
        "Command: Input",
        "Command: GetLazyState",
        "Notification: GetLazyState",
        "Command: Output",
    ]
    assert pair_journal.count("Command: GetLazyState") == 2
    assert pair_journal.count("Command: GetLazyStateKeys") == 1
    # Bidi: the completions arrive on the open stream, one attempt each.
    assert box.read_starts == 2
    assert box.pair_starts == 1


async def test_request_response_mode_suspends_on_lazy_state_and_resumes(
    restate_server: RestateServer,
) -> None:
    box = LazyBox()
    endpoint = restate.Endpoint(protocol_mode="request_response").bind(
        restate.reflect(box, name="LazyBoxRR", enable_lazy_state=True)
    )
    key = _key()
    async with serve_endpoint(endpoint, restate_server, use_http_11=True) as uri:
        deployment = await _deployment(restate_server, uri)
        assert deployment["protocol_type"] == "RequestResponse"
        _ok(await restate_server.ingress(f"/LazyBoxRR/{key}/put", {"a": "1", "b": "2"}))
        hit = await restate_server.ingress(f"/LazyBoxRR/{key}/read", "a")
        assert _ok(hit) == "1"
        # The runtime closes the request body right after Start+Input, so the lazy read
        # cannot complete in the first attempt: suspend, then resume with the completion.
        assert box.read_starts == 2
        pair = await restate_server.ingress(f"/LazyBoxRR/{key}/pair", b"")
        assert _ok(pair) == ["1", "2", ["a", "b"]]
        # Three awaited lazy operations -> three suspensions -> four attempts.
        assert box.pair_starts == 4
        assert hit.invocation_id is not None
        journal = await _journal_types(restate_server, hit.invocation_id)
    assert journal == [
        "Command: Input",
        "Command: GetLazyState",
        "Notification: GetLazyState",
        "Command: Output",
    ]


# --------------------------------------------------------------------------- 9/10. transports


async def test_examples_over_http_11_request_response(restate_server: RestateServer) -> None:
    endpoint = restate.Endpoint().bind(
        restate.reflect(Greeter(), name="Greeter11"),
        restate.reflect(Counter(), name="Counter11"),
        restate.reflect(Signup(), name="Signup11"),
    )
    key = _key()
    async with serve_endpoint(endpoint, restate_server, use_http_11=True) as uri:
        deployment = await _deployment(restate_server, uri)
        assert deployment["protocol_type"] == "RequestResponse"
        assert deployment["http_version"] == "HTTP/1.1"
        assert _ok(await restate_server.ingress("/Greeter11/greet", "bob")) == "Hello bob!"
        assert _ok(await restate_server.ingress(f"/Counter11/{key}/add", 5)) == 5
        assert _ok(await restate_server.ingress(f"/Counter11/{key}/add", 7)) == 12
        assert _ok(await restate_server.ingress(f"/Counter11/{key}/current", b"")) == 12
        assert _ok(await restate_server.ingress(f"/Signup11/{key}/run", "e@x")) == "welcome e@x"
        assert _ok(await restate_server.ingress(f"/Signup11/{key}/status", b"")) == "done"


async def test_deployment_with_path_prefix(restate_server: RestateServer) -> None:
    endpoint = restate.Endpoint().bind(
        restate.reflect(Greeter(), name="GreeterPrefixed"),
        restate.reflect(Counter(), name="CounterPrefixed"),
    )
    key = _key()
    async with serve_endpoint(endpoint, restate_server, path_prefix="/some/prefix") as uri:
        assert uri.endswith("/some/prefix")
        deployment = await _deployment(restate_server, uri)
        assert str(deployment["uri"]).rstrip("/").endswith("/some/prefix")
        assert _ok(await restate_server.ingress("/GreeterPrefixed/greet", "bob")) == "Hello bob!"
        assert _ok(await restate_server.ingress(f"/CounterPrefixed/{key}/add", 3)) == 3
        assert _ok(await restate_server.ingress(f"/CounterPrefixed/{key}/current", b"")) == 3
