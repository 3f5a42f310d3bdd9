"""The reference's examples of :mod:`restate_trio.client`: one region per public name.

The services below are what the client calls; tests/e2e/test_reference_tools.py serves them
on a real restate-server and runs each function against it (the URLs are the server's).
"""

from __future__ import annotations

from datetime import timedelta

import restate_trio as restate
from restate_trio.client import (
    AdminClient,
    AdminError,
    Client,
    ClientError,
    Deployment,
    IngressError,
    InvocationFailedError,
    InvocationNotFoundError,
    InvocationNotReadyError,
    NotFoundError,
    RequestRetryPolicy,
    SendStatus,
    TransportError,
)
from restate_trio.codecs import JsonCodec


class Greeter:
    async def greet(self, ctx: restate.Context, name: str) -> str:
        return f"Hello {name}!"

    async def check_email(self, ctx: restate.Context, email: str) -> str:
        if "@" not in email:
            raise restate.TerminalError(f"{email!r} is not an email address", code=422)
        return email


class Counter:
    async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
        total = (await ctx.get("total", type=int) or 0) + delta
        ctx.set("total", total)
        return total


class Signup:
    async def run(self, ctx: restate.WorkflowContext, email: str) -> str:
        return f"welcome, {email}"


endpoint = restate.Endpoint().bind(
    restate.reflect(Greeter()), restate.reflect(Counter()), restate.reflect(Signup())
)


async def call_handlers(ingress_url: str, user: str) -> tuple[str, int]:
    # [Client]
    async with Client(ingress_url) as client:
        # Typed by the handlers: greeting is a str, total an int.
        greeting = await client.service_call(Greeter.greet, "Ada")
        total = await client.object_call(Counter.add, user, 5)
    # [/Client]
    return greeting, total


async def register(admin_url: str, endpoint_uri: str) -> Deployment:
    # [Deployment]
    async with AdminClient(admin_url) as admin:
        deployment = await admin.register_deployment(endpoint_uri)
    served = sorted(service.name for service in deployment.services)
    # [/Deployment]
    assert served == ["Counter", "Greeter", "Signup"], served
    return deployment


async def read_counter(admin_url: str, user: str) -> int | None:
    # [AdminClient]
    async with AdminClient(admin_url) as admin:
        state = await admin.get_state("Counter", user)
    # Raw bytes per name, as the handler's codec (JSON here) wrote them.
    total = JsonCodec().decode(state["total"], int) if "total" in state else None
    # [/AdminClient]
    return total


async def service_kind(admin_url: str) -> tuple[str, int]:
    # [ServiceInfo]
    async with AdminClient(admin_url) as admin:
        services = {service.name: service for service in await admin.services()}
    counter = services["Counter"]
    kind, revision = counter.kind, counter.revision  # "VirtualObject", 1 for a first deployment
    # [/ServiceInfo]
    return kind, revision


async def handler_kinds(admin_url: str) -> dict[str, str | None]:
    # [HandlerInfo]
    async with AdminClient(admin_url) as admin:
        (signup,) = [service for service in await admin.services() if service.name == "Signup"]
    kinds = {handler.name: handler.kind for handler in signup.handlers}  # {"run": "Workflow"}
    # [/HandlerInfo]
    return kinds


async def add_in_background(ingress_url: str, user: str, request_id: str) -> tuple[int, int]:
    # [InvocationHandle]
    async with Client(ingress_url) as client:
        handle = await client.object_send(Counter.add, user, 1, idempotency_key=request_id)
        total = await handle.attach()
        # The id is enough to attach again later, from another process.
        same = await client.attach_invocation(handle.invocation_id, type=int)
    # [/InvocationHandle]
    return total, same


async def greet_once(ingress_url: str, request_id: str) -> SendStatus:
    # [SendStatus]
    async with Client(ingress_url) as client:
        handle = await client.service_send(Greeter.greet, "Ada", idempotency_key=request_id)
    status: SendStatus = handle.status
    if status == "previously_accepted":
        pass  # a repeat of an earlier send: that invocation runs, no second one starts
    # [/SendStatus]
    return status


async def sign_up(ingress_url: str, email: str) -> str:
    # [WorkflowHandle]
    async with Client(ingress_url) as client:
        await client.workflow_submit(Signup.run, email, email)
        # Anywhere else, later: a handle on the same run, by its workflow key.
        run = client.workflow_handle(Signup.run, email)
        welcome = await run.attach()
    # [/WorkflowHandle]
    return welcome


async def add_with_retries(ingress_url: str, user: str, request_id: str) -> int:
    # [RequestRetryPolicy]
    policy = RequestRetryPolicy(max_attempts=5, initial_delay=timedelta(milliseconds=200))
    async with Client(ingress_url, retry=policy) as client:
        # Only safe requests are retried: here the idempotency key makes a repeat harmless.
        total = await client.object_call(Counter.add, user, 1, idempotency_key=request_id)
    # [/RequestRetryPolicy]
    return total


async def checked_email(ingress_url: str, email: str) -> str:
    # [ClientError]
    try:
        async with Client(ingress_url) as client:
            return await client.service_call(Greeter.check_email, email)
    except ClientError as error:
        # Any failure of a client call; code is None when Restate did not answer.
        return f"not checked ({error.code}): {error.message}"
    # [/ClientError]


async def greet_if_reachable(ingress_url: str) -> str | None:
    # [TransportError]
    async with Client(ingress_url) as client:
        try:
            return await client.service_call(Greeter.greet, "Ada")
        except TransportError:
            # No answer at all: whether an invocation started is unknown.
            return None
    # [/TransportError]


async def output_status(ingress_url: str, invocation_id: str) -> int | None:
    # [IngressError]
    async with Client(ingress_url) as client:
        try:
            await client.get_invocation_output(invocation_id)
        except IngressError as error:
            return error.status  # 400 for a malformed id; error.body is the raw answer
    # [/IngressError]
    return None


async def greet_by_name(ingress_url: str, service: str) -> bytes | None:
    # [NotFoundError]
    async with Client(ingress_url) as client:
        try:
            return await client.generic_call(service, "greet", b'"Ada"')
        except NotFoundError:
            return None  # no such service or handler registered (yet)
    # [/NotFoundError]


async def validated_email(ingress_url: str, email: str) -> str:
    # [InvocationFailedError]
    async with Client(ingress_url) as client:
        try:
            return await client.service_call(Greeter.check_email, email)
        except InvocationFailedError as error:
            # The handler's TerminalError: here code 422 and its message.
            raise ValueError(f"{error.code}: {error.message}") from error
    # [/InvocationFailedError]


async def welcome_message(ingress_url: str, email: str) -> str | None:
    # [InvocationNotFoundError]
    async with Client(ingress_url) as client:
        try:
            return await client.attach_workflow(Signup.run, email)
        except InvocationNotFoundError:
            return None  # no signup was ever submitted for this email
    # [/InvocationNotFoundError]


async def schedule_greeting(ingress_url: str) -> tuple[str, bool]:
    # [InvocationNotReadyError]
    async with Client(ingress_url) as client:
        later = await client.service_send(Greeter.greet, "Ada", delay=timedelta(hours=1))
        try:
            await later.output()  # does not wait, unlike attach()
            done = True
        except InvocationNotReadyError:
            done = False  # scheduled for in an hour: no output yet
    # [/InvocationNotReadyError]
    return later.invocation_id, done


async def try_to_register(admin_url: str, endpoint_uri: str) -> str | None:
    # [AdminError]
    async with AdminClient(admin_url) as admin:
        try:
            await admin.register_deployment(endpoint_uri)
        except AdminError as error:
            # e.g. discovery failed: nothing answers at endpoint_uri.
            return f"HTTP {error.status}: {error.message}"
    # [/AdminError]
    return None
