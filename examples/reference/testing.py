"""The reference's examples of :mod:`restate_trio.testing`: one region per public name.

tests/test_reference_testing.py runs each function against a real restate-server (the
module's, or the fresh ones the examples start themselves).
"""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import trio

import restate_trio as restate
from restate_trio.testing import (
    RESTATE_SERVER_VERSION,
    HarnessError,
    HarnessTimeoutError,
    InvocationTimeoutError,
    RegistrationError,
    RestateServer,
    RestateServerNotFoundError,
    ServerStartError,
    default_cache_dir,
    find_restate_server,
    generate_signing_key,
    install_restate_server,
    main,
    serve_endpoint,
)


class Greeter:
    async def greet(self, ctx: restate.Context, name: str) -> str:
        return f"Hello {name}!"


class Approval:
    async def run(self, ctx: restate.WorkflowContext) -> bool:
        return await ctx.promise("approved", type=bool).value()


class Flaky:
    async def fail(self, ctx: restate.Context, reason: str) -> None:
        raise RuntimeError(reason)  # retryable: Restate tries again, and again


greeter = restate.Endpoint().bind(restate.reflect(Greeter()))
endpoint = restate.Endpoint().bind(
    restate.reflect(Greeter()), restate.reflect(Approval()), restate.reflect(Flaky())
)


async def greet_through(endpoint: restate.Endpoint, server: RestateServer) -> str:
    # [serve_endpoint]
    async with serve_endpoint(endpoint, server):
        # Served on a free port and registered: its handlers answer through the ingress.
        response = await server.ingress("/Greeter/greet", "Ada")
    # [/serve_endpoint]
    return response.json(type=str)


def greet_on_a_fresh_server() -> str:
    # [RestateServer]
    with RestateServer() as server:
        # Its own free ports and temporary data folder, gone when the block exits.
        greeting = trio.run(greet_through, greeter, server)
    # [/RestateServer]
    return greeting


def greet_signed() -> str:
    # [generate_signing_key]
    private_key, public_key = generate_signing_key()
    # The endpoint accepts only requests signed with the private key: the server's.
    signed = restate.Endpoint(identity_keys=[public_key]).bind(restate.reflect(Greeter()))
    with RestateServer(signing_key_pem=private_key) as server:
        greeting = trio.run(greet_through, signed, server)
    # [/generate_signing_key]
    return greeting


async def send_greeting(server: RestateServer) -> str:
    # [IngressResponse]
    response = await server.ingress("/Greeter/greet/send", "Ada")
    assert response.ok, response.text  # a non-2xx answer is returned, not raised
    invocation_id = response.invocation_id  # from the send's answer, or x-restate-id
    assert invocation_id is not None
    await server.wait_for_invocation_status(invocation_id, "completed")
    # [/IngressResponse]
    return invocation_id


async def registered_services(server: RestateServer) -> list[str]:
    # [HttpResponse]
    response = await server.admin_get("/services")
    assert response.ok, (response.status, response.text)
    services = response.json(type=dict[str, list[dict[str, object]]])["services"]
    names = sorted(str(service["name"]) for service in services)
    # [/HttpResponse]
    return names


# [ServableEndpoint]
class RecordingEndpoint:
    """Serves an endpoint and keeps the URLs it bound: an object with a ``serve`` method
    like :meth:`restate_trio.Endpoint.serve` is a ServableEndpoint."""

    def __init__(self, endpoint: restate.Endpoint) -> None:
        self.endpoint = endpoint
        self.urls: list[str] = []

    async def serve(
        self, address: str, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with trio.open_nursery() as nursery:
            self.urls = await nursery.start(self.endpoint.serve, address)
            task_status.started(self.urls)


# [/ServableEndpoint]


async def serve_recording(server: RestateServer) -> tuple[list[str], str]:
    recording = RecordingEndpoint(greeter)
    async with serve_endpoint(recording, server) as uri:
        response = await server.ingress("/Greeter/greet", "Ada")
        assert response.json(type=str) == "Hello Ada!", response.text
    return recording.urls, uri


def server_version() -> str:
    # [find_restate_server]
    binary = find_restate_server()  # $RESTATE_SERVER_BIN, else the cached install
    answer = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    # [/find_restate_server]
    return answer.stdout.strip()


def check_version(version: str) -> None:
    # [RESTATE_SERVER_VERSION]
    if RESTATE_SERVER_VERSION not in version:
        # e.g. $RESTATE_SERVER_BIN names another release than the SDK is tested against
        warnings.warn(f"{version}: not restate-server {RESTATE_SERVER_VERSION}", stacklevel=2)
    # [/RESTATE_SERVER_VERSION]


def cache_folder() -> Path:
    # [default_cache_dir]
    # The folder for CI to keep between runs, so that the server is downloaded once.
    folder = default_cache_dir()  # $RESTATE_TRIO_CACHE, else ~/.cache/restate-trio
    # [/default_cache_dir]
    return folder


def install_for_ci() -> Path:
    # [install_restate_server]
    # A CI setup step: npm downloads the server the first time, then it is a no-op.
    binary = install_restate_server(progress=True)
    # [/install_restate_server]
    return binary


def binary_or_exit() -> Path:
    # [RestateServerNotFoundError]
    try:
        return find_restate_server()
    except RestateServerNotFoundError as error:
        # Its message says how to install the server.
        raise SystemExit(f"cannot test against Restate: {error}") from None
    # [/RestateServerNotFoundError]


def print_binary() -> int:
    # [main]
    # `python -m restate_trio.testing path`: print the binary the harness would use.
    exit_code = main(["path"])
    # [/main]
    return exit_code


async def invocation_count(server: RestateServer, sql: str) -> int:
    # [HarnessError]
    try:
        rows = await server.query(sql)
    except HarnessError as error:
        # The base of every harness error; here the server rejected the SQL.
        raise AssertionError(f"bad introspection query: {error}") from error
    # [/HarnessError]
    return len(rows)


async def approval(server: RestateServer, order: str) -> str:
    # [HarnessTimeoutError]
    try:
        response = await server.ingress(f"/Approval/{order}/run")
    except HarnessTimeoutError:
        # No answer within server.request_timeout: nobody approved the order yet.
        return "pending"
    # [/HarnessTimeoutError]
    return response.text


async def why_stuck(server: RestateServer) -> tuple[str | None, str | None]:
    # [InvocationTimeoutError]
    response = await server.ingress("/Flaky/fail/send", "the bank is down")
    assert response.invocation_id is not None, response.text
    try:
        await server.wait_for_invocation_status(response.invocation_id, "completed", timeout=3)
    except InvocationTimeoutError as error:
        # Still retrying: error.status is e.g. "backing-off", error.last_failure says why.
        return error.invocation_id, error.last_failure
    # [/InvocationTimeoutError]
    return None, None


async def register_at(server: RestateServer, uri: str) -> str | None:
    # [RegistrationError]
    try:
        await server.register(uri)
    except RegistrationError as error:
        # error.status and error.body: the server's answer, e.g. why discovery failed.
        return f"{error.uri}: HTTP {error.status}"
    # [/RegistrationError]
    return None


def start_on(port: int) -> str:
    # [ServerStartError]
    try:
        with RestateServer(ingress_port=port) as server:
            return server.ingress_url
    except ServerStartError as error:
        # It did not come up (here: the port is taken); the message ends with its log.
        return f"no server: {error}"
    # [/ServerStartError]
