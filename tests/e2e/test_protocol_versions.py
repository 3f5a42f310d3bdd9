"""End-to-end: every service protocol version the SDK speaks (V5, V6, V7), really negotiated.

The endpoint is wrapped in a small ASGI middleware that records the ``content-type`` of every
``/invoke/`` request, i.e. the protocol version the server picked, and the deployment's announced
range is read back from the admin API. The servers run with a zero inactivity timeout, so every
await that is not resolved yet suspends the invocation and the next attempt replays the journal.

V7 also carries an invocation's vqueue ``scope`` and ``limit_key`` and its idempotency key in the
StartMessage (the server fills them with its experimental vqueues on); a call with a scope on V6
fails its attempt with "unsupported feature".
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal, cast

import orjson
import pytest
import trio
from primitives_services import DEADLINE, Board, kill, kill_unfinished, new_key, ok, poll, send

import restate_trio as restate
from restate_trio.testing import RestateServer, serve_endpoint

_RETRY_ENV = {
    "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "20ms",
    "RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL": "200ms",
}
_SUSPEND_ALWAYS = timedelta(0)
SERVER_OPTIONS: dict[str, dict[str, object]] = {
    "v6": {"inactivity_timeout": _SUSPEND_ALWAYS, "env": _RETRY_ENV},
    "v7": {"inactivity_timeout": _SUSPEND_ALWAYS, "env": _RETRY_ENV, "enable_protocol_v7": True},
    "v7-vqueues": {
        "inactivity_timeout": _SUSPEND_ALWAYS,
        "env": {**_RETRY_ENV, "RESTATE_EXPERIMENTAL_ENABLE_VQUEUES": "true"},
        "enable_protocol_v7": True,
    },
}

_INVOCATION_CONTENT_TYPE = "application/vnd.restate.invocation.v"


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, restate_server_binary: Path) -> Iterator[RestateServer]:
    """One server per configuration name (tests select it with indirect parametrization)."""
    options = SERVER_OPTIONS[cast("str", request.param)]
    with RestateServer(binary=restate_server_binary, **options) as restate_server:  # type: ignore[arg-type]
        yield restate_server


# --------------------------------------------------------------------------- recording endpoint

Scope = MutableMapping[str, object]
Message = MutableMapping[str, object]


@dataclass
class RecordingEndpoint:
    """``endpoint``'s ASGI app, recording the content type of each invocation request.

    :func:`restate_trio.testing.serve_endpoint` serves it like any ASGI app.
    """

    endpoint: restate.Endpoint
    content_types: list[str] = field(default_factory=list[str])

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope.get("type") == "http" and "/invoke/" in str(scope.get("path", "")):
            headers = cast("list[tuple[bytes, bytes]]", scope.get("headers") or [])
            for name, value in headers:
                if name.lower() == b"content-type":
                    self.content_types.append(value.decode("latin-1"))
        await self.endpoint.app()(scope, receive, send)


@asynccontextmanager
async def serving(
    server: RestateServer, max_protocol_version: Literal[5, 6, 7], classes: tuple[type, ...]
) -> AsyncGenerator[tuple[Board, RecordingEndpoint, str]]:
    """Serve fresh instances of ``classes`` from an endpoint announcing up to
    ``max_protocol_version``; yields the board, the recorder and the deployment URI."""
    board = Board()
    endpoint = restate.Endpoint(max_protocol_version=max_protocol_version)
    for cls in classes:
        endpoint.bind(restate.reflect(cls(board)))
    recorder = RecordingEndpoint(endpoint)
    try:
        async with serve_endpoint(recorder, server) as uri:
            yield board, recorder, uri
    finally:
        with trio.CancelScope(shield=True):
            await kill_unfinished(server)


async def deployment_of(server: RestateServer, uri: str) -> dict[str, object]:
    response = await server.admin_get("/deployments")
    assert response.ok, (response.status, response.text)
    deployments = cast("dict[str, list[dict[str, object]]]", response.json())["deployments"]
    (deployment,) = (d for d in deployments if str(d.get("uri", "")).rstrip("/") == uri)
    return deployment


# --------------------------------------------------------------------------- services


class Tally:
    """A Virtual Object whose one handler uses state, a run, a sleep, a call, an awakeable
    and durable randomness, suspending at each await."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def exercise(self, ctx: restate.ObjectContext, tag: str) -> dict[str, object]:
        me = ctx.request().id
        self.board.count(("attempt", me))
        # Drawn before the first await: identical in every attempt.
        early = [ctx.uuid(), ctx.random().random()]
        self.board.append(("early", me), early)
        count = (await ctx.get("count", type=int) or 0) + 1
        ctx.set("count", count)

        def stamp() -> str:
            self.board.count(("run", me))
            return f"stamped {tag}"

        stamped = await ctx.run("stamp", stamp)
        await ctx.sleep(timedelta(milliseconds=10))
        # Drawn after suspensions: still identical in every attempt that gets here.
        late = [ctx.uuid(), ctx.random().randint(0, 1 << 62)]
        self.board.append(("late", me), late)
        echoed = await ctx.service_call(Helper.echo, tag)
        awakeable_id, resolved = ctx.awakeable(type=str)
        ctx.service_send(Helper.resolve, [awakeable_id, f"resolved {tag}"])
        resolution = await resolved
        return {
            "count": count,
            "stamped": stamped,
            "echoed": echoed,
            "resolution": resolution,
            "early": early,
            "late": late,
        }

    async def current(self, ctx: restate.ObjectSharedContext) -> int:
        return await ctx.get("count", type=int) or 0


class Helper:
    def __init__(self, board: Board) -> None:
        self.board = board

    async def echo(self, ctx: restate.Context, text: str) -> str:
        return f"echo {text}"

    async def resolve(self, ctx: restate.Context, args: list[str]) -> None:
        awakeable_id, value = args
        ctx.resolve_awakeable(awakeable_id, value)


class Scoped:
    """Calls and sends with a vqueue scope and limit key (protocol V7 only)."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def call(self, ctx: restate.Context, tag: str) -> dict[str, object]:
        raw = await ctx.generic_call(
            "Callee", "info", orjson.dumps(tag), scope="s1", limit_key="l1"
        )
        handle = ctx.generic_send("Callee", "record", orjson.dumps(tag), scope="s2", limit_key="l2")
        sent = await handle.invocation_id()
        return {"called": orjson.loads(raw), "sent": sent}


class Callee:
    def __init__(self, board: Board) -> None:
        self.board = board

    @staticmethod
    def _seen(ctx: restate.Context, tag: str) -> dict[str, str | None]:
        request = ctx.request()
        return {
            "tag": tag,
            "scope": request.scope,
            "limit_key": request.limit_key,
            "idempotency_key": request.idempotency_key,
        }

    async def info(self, ctx: restate.Context, tag: str) -> dict[str, str | None]:
        return self._seen(ctx, tag)

    async def record(self, ctx: restate.Context, tag: str) -> None:
        self.board.post(("recorded", tag), self._seen(ctx, tag))


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize(
    ("announced", "server", "negotiated"),
    [
        pytest.param(5, "v6", 5, id="v5-endpoint"),
        pytest.param(7, "v6", 6, id="v6-default-server"),
        pytest.param(7, "v7", 7, id="v7-server"),
        pytest.param(6, "v7", 6, id="v6-pinned-on-v7-server"),
        pytest.param(5, "v7", 5, id="v5-pinned-on-v7-server"),
    ],
    indirect=["server"],
)
async def test_every_primitive_on_the_negotiated_version(
    server: RestateServer, announced: Literal[5, 6, 7], negotiated: int
) -> None:
    key, tag = new_key(), new_key()
    async with serving(server, announced, (Tally, Helper)) as (board, recorder, uri):
        deployment = await deployment_of(server, uri)
        assert deployment["min_protocol_version"] == 5
        assert deployment["max_protocol_version"] == announced
        with trio.fail_after(DEADLINE):
            response = await server.ingress(f"/Tally/{key}/exercise", tag)
            result = cast("dict[str, object]", ok(response))
            current = ok(await server.ingress(f"/Tally/{key}/current", b""))
            me = response.invocation_id
            assert me is not None
            row = await server.invocation_status(me)
    assert result["count"] == 1
    assert current == 1
    assert result["stamped"] == f"stamped {tag}"
    assert result["echoed"] == f"echo {tag}"
    assert result["resolution"] == f"resolved {tag}"
    # The run's closure ran once, however many attempts replayed it.
    assert board.counts[("run", me)] == 1
    assert board.counts[("attempt", me)] >= 5, "every await should have suspended"
    # Durable randomness: the same values in every attempt, before and after suspensions.
    early, late = board.log[("early", me)], board.log[("late", me)]
    assert len(early) >= 5
    assert len(late) >= 2
    assert all(value == result["early"] for value in early), early
    assert all(value == result["late"] for value in late), late
    # The version really used, as the endpoint saw it and as the server pinned it.
    assert recorder.content_types
    assert set(recorder.content_types) == {f"{_INVOCATION_CONTENT_TYPE}{negotiated}"}
    assert row is not None
    assert row["pinned_service_protocol_version"] == negotiated


@pytest.mark.parametrize("server", ["v7-vqueues"], indirect=True)
async def test_v7_scope_limit_key_and_idempotency_key_reach_the_callee(
    server: RestateServer,
) -> None:
    tag = new_key()
    async with serving(server, 7, (Scoped, Callee)) as (board, recorder, _):
        with trio.fail_after(DEADLINE):
            result = cast("dict[str, object]", ok(await server.ingress("/Scoped/call", tag)))
            recorded = await board.wait(("recorded", tag))
            idempotent = ok(
                await server.ingress(
                    "/Callee/info", tag, headers={"idempotency-key": f"idem-{tag}"}
                )
            )
    assert result["called"] == {
        "tag": tag,
        "scope": "s1",
        "limit_key": "l1",
        "idempotency_key": None,
    }
    assert str(result["sent"]).startswith("inv_")
    assert recorded == {"tag": tag, "scope": "s2", "limit_key": "l2", "idempotency_key": None}
    assert idempotent == {
        "tag": tag,
        "scope": None,
        "limit_key": None,
        "idempotency_key": f"idem-{tag}",
    }
    assert set(recorder.content_types) == {f"{_INVOCATION_CONTENT_TYPE}7"}


@pytest.mark.parametrize("server", ["v6"], indirect=True)
async def test_v6_call_with_a_scope_fails_the_attempt_as_unsupported(
    server: RestateServer,
) -> None:
    tag = new_key()
    async with serving(server, 7, (Scoped, Callee)) as (_, recorder, _):
        invocation = await send(server, "/Scoped/call", tag)

        async def failed() -> dict[str, object] | None:
            row = await server.invocation_status(invocation)
            if row is not None and row.get("last_failure"):
                return dict(row)
            return None

        row = await poll(failed)
        assert row is not None
        await kill(server, invocation)
        with trio.fail_after(DEADLINE):
            await server.wait_for_invocation_status(invocation, "completed")
    failure = str(row["last_failure"])
    assert "scope" in failure, row
    assert "V7" in failure, row
    assert "573" in failure, row
    assert row["status"] in ("backing-off", "running", "ready"), row
    assert set(recorder.content_types) == {f"{_INVOCATION_CONTENT_TYPE}6"}
