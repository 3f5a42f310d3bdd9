"""docs/client.md's calls: trio code that calls the services of ``examples/client_shop.py``
through Restate's ingress, and manages them through the admin API. Each function is one
section of the guide; ``main`` runs the first against a local Restate
(``restate-trio dev examples.client_shop:endpoint``).
"""

from __future__ import annotations

from datetime import timedelta

import orjson
import trio

from examples.client_shop import Checkout, Inventory, Order, Pricing, Reminders
from restate_trio.client import AdminClient, Client, InvocationFailedError, RequestRetryPolicy


async def restock_later(client: Client) -> int:
    handle = await client.object_send(
        Inventory.add, "gadget", 5, idempotency_key="restock-42", delay=timedelta(seconds=1)
    )
    print(handle.invocation_id, handle.status)  # inv_... accepted
    # The same key again names the same invocation instead of starting another:
    again = await client.object_send(Inventory.add, "gadget", 5, idempotency_key="restock-42")
    print(again.invocation_id == handle.invocation_id, again.status)  # True previously_accepted
    return await handle.attach()  # waits for the result: 5


async def find_again(client: Client, invocation_id: str) -> None:
    print(await client.attach_invocation(invocation_id, type=int))  # by invocation id
    print(await client.get_invocation_output(invocation_id, type=int))  # ... without waiting
    print(await client.attach_idempotent(Inventory.add, "restock-42", key="gadget"))  # by key
    print(await client.get_idempotent_output(Inventory.add, "restock-42", key="gadget"))


async def check_out(client: Client) -> None:
    run = await client.workflow_submit(Checkout.run, "order-1", Order("widget", 2))
    print(run.status)  # accepted; submitting "order-1" again: previously_accepted
    await client.workflow_call(Checkout.approve, "order-1", "grace")
    print(await run.attach())  # widget x2, approved by grace

    # Later, elsewhere, by workflow key:
    print(await client.workflow_handle(Checkout.run, "order-1").output())
    print(await client.attach_workflow(Checkout.run, "order-1"))


async def answer(client: Client, awakeable_id: str, approved: bool) -> None:
    if approved:
        await client.resolve_awakeable(awakeable_id, "yes")  # as JSON (codec= for others)
    else:
        await client.reject_awakeable(awakeable_id, "no way")  # TerminalError(500) there


async def take(client: Client, count: int) -> None:
    try:
        await client.object_call(Inventory.add, "widget", -count)
    except InvocationFailedError as failure:
        print(failure.code, failure.message)  # 409 only 10 left


async def wait_for_reminder(client: Client, seconds: float = 5) -> str | None:
    with trio.move_on_after(seconds):
        return await client.service_call(Reminders.wait)
    return None  # no answer in time (the invocation goes on in Restate)


async def restock_with_retries(url: str) -> int:
    policy = RequestRetryPolicy(max_attempts=5, initial_delay=timedelta(milliseconds=200))
    async with Client(url, retry=policy) as client:
        with trio.fail_after(30):  # bounds all attempts together
            return await client.object_call(
                Inventory.add, "widget", 5, idempotency_key="restock-43"
            )


async def administer(admin_url: str, deployment_url: str) -> None:
    async with AdminClient(admin_url) as admin:
        deployment = await admin.register_deployment(deployment_url, force=True)
        print(deployment.id, [service.name for service in deployment.services])
        for service in await admin.services():
            print(service.name, service.kind, [handler.name for handler in service.handlers])

        await admin.set_state("Inventory", "widget", {"stock": orjson.dumps(100)})
        print(await admin.get_state("Inventory", "widget"))  # {'stock': b'100'}

        for row in await admin.query("SELECT id, status FROM sys_invocation LIMIT 10"):
            print(row["id"], row["status"])


async def stop(admin: AdminClient, invocation_id: str, *, at_once: bool = False) -> None:
    if at_once:
        await admin.kill_invocation(invocation_id)  # ends it now, no compensations
    else:
        await admin.cancel_invocation(invocation_id)  # runs its compensations, ends with 409


async def main(url: str = "http://127.0.0.1:8080") -> None:
    async with Client(url) as client:
        stock = await client.object_call(Inventory.add, "widget", 10)  # int
        left = await client.object_call(Inventory.available, "widget")  # int
        cents = await client.service_call(Pricing.quote, Order("widget", 3))  # int
        print(stock, left, cents)


if __name__ == "__main__":
    trio.run(main)
