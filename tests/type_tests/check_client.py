"""Static typing checks of restate_trio.client: mypy --strict and pyright read this file;
pytest does not run it.

An ``ignore`` comment marks a line that MUST be a type error: both checkers are configured to
report unused ignores, so the file fails to type-check if the error disappears.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Protocol, assert_type

import restate_trio as restate
from restate_trio.client import (
    AdminClient,
    Client,
    Deployment,
    InvocationHandle,
    SendStatus,
    ServiceInfo,
    WorkflowHandle,
)
from restate_trio.codecs import CborCodec


@dataclasses.dataclass
class Order:
    item: str


class Greeter:
    async def greet(self, ctx: restate.Context, name: str) -> str:
        return name

    async def ping(self, ctx: restate.Context) -> int:
        return 1

    async def forget(self, ctx: restate.Context, name: str) -> None:
        return None


class Counter:
    async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
        return delta

    async def current(self, ctx: restate.ObjectSharedContext) -> int:
        return 0


class Checkout:
    async def run(self, ctx: restate.WorkflowContext, order: Order) -> bool:
        return True

    async def status(self, ctx: restate.WorkflowSharedContext) -> str:
        return "ok"


@restate.service_name("Greeter")
class GreeterApi(Protocol):
    async def greet(self, ctx: restate.Context, name: str) -> str: ...


async def calls(client: Client) -> None:
    assert_type(await client.service_call(Greeter.greet, "bob"), str)
    assert_type(await client.service_call(Greeter.ping), int)
    assert_type(await client.service_call(Greeter.forget, "bob"), None)
    assert_type(await client.service_call(GreeterApi.greet, "bob"), str)
    assert_type(await client.object_call(Counter.add, "k", 1), int)
    assert_type(await client.object_call(Counter.current, "k"), int)
    assert_type(await client.workflow_call(Checkout.run, "k", Order("x")), bool)
    assert_type(await client.workflow_call(Checkout.status, "k"), str)
    assert_type(
        await client.service_call(
            Greeter.greet, "b", idempotency_key="i", headers={"h": "v"}, codec=CborCodec()
        ),
        str,
    )
    assert_type(await client.generic_call("Greeter", "greet", b'"x"', key=None), bytes)

    # Wrong argument types, missing keys, a wrong handler kind, an unknown option.
    await client.service_call(Greeter.greet, 3)  # type: ignore[arg-type]
    await client.object_call(Counter.add, "k", "one")  # type: ignore[arg-type]
    await client.object_call(Counter.add, 1)  # type: ignore[call-overload]
    await client.service_call(Counter.add, 1)  # type: ignore[arg-type]
    await client.service_call(Greeter.greet, "b", delay=timedelta(1))  # type: ignore[call-overload]
    await client.generic_call("Greeter", "greet", "text")  # type: ignore[arg-type]


async def sends(client: Client) -> None:
    handle = await client.service_send(Greeter.greet, "b", delay=timedelta(seconds=1))
    assert_type(handle, InvocationHandle[str])
    assert_type(handle.invocation_id, str)
    assert_type(handle.status, SendStatus)
    assert_type(await handle.attach(), str)
    assert_type(await handle.output(), str)
    assert_type(
        await client.object_send(Counter.add, "k", 1, idempotency_key="i"), InvocationHandle[int]
    )
    assert_type(await client.workflow_send(Checkout.run, "k", Order("x")), InvocationHandle[bool])
    assert_type(await client.generic_send("Counter", "add", b"1", key="k"), InvocationHandle[bytes])
    await client.object_send(Counter.add, "k", "one")  # type: ignore[arg-type]

    run = await client.workflow_submit(Checkout.run, "k", Order("x"))
    assert_type(run, WorkflowHandle[bool])
    assert_type(await run.attach(), bool)
    assert_type(await run.output(), bool)
    assert_type(run.invocation_id, str | None)
    assert_type(client.workflow_handle(Checkout.run, "k"), WorkflowHandle[bool])
    await client.workflow_submit(Checkout.run, "k", "not an order")  # type: ignore[arg-type]
    # A handler that needs a workflow's context cannot be called as a Service's (as in ctx).
    await client.service_call(Checkout.status)  # type: ignore[arg-type]


async def attach(client: Client) -> None:
    assert_type(await client.attach_invocation("inv_1", type=int), int)
    assert_type(await client.attach_invocation("inv_1"), object)
    assert_type(await client.get_invocation_output("inv_1", type=bytes), bytes)
    assert_type(await client.attach_idempotent(Greeter.greet, "idem"), str)
    assert_type(await client.get_idempotent_output(Counter.add, "idem", key="k"), int)
    assert_type(await client.attach_workflow(Checkout.run, "k"), bool)
    assert_type(await client.get_workflow_output(Checkout.run, "k"), bool)
    await client.attach_workflow(Checkout.run, 1)  # type: ignore[arg-type]
    await client.resolve_awakeable("sign_1", {"any": "json"})
    await client.reject_awakeable("sign_1", "no")


async def admin(admin: AdminClient) -> None:
    assert_type(await admin.register_deployment("http://h:9080", force=True), Deployment)
    assert_type(await admin.services(), list[ServiceInfo])
    assert_type(await admin.get_state("Counter", "k"), dict[str, bytes])
    await admin.set_state("Counter", "k", {"count": b"1"})
    await admin.set_state("Counter", "k", {"count": 1})  # type: ignore[dict-item]
    assert_type(await admin.query("SELECT 1"), list[dict[str, object]])
    await admin.cancel_invocation("inv_1")
    await admin.kill_invocation("inv_1")
    await admin.purge_invocation("inv_1")
