"""The reference's examples of restate_trio.testing (examples/reference/testing.py), run
against real restate-servers: the module's, and those the examples start themselves."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

import restate_trio as restate
from examples.reference import testing as ref_testing
from restate_trio.testing import (
    RESTATE_SERVER_VERSION,
    RegistrationError,
    RestateServer,
    generate_signing_key,
    serve_endpoint,
)

_DEADLINE = 30.0


@pytest.fixture
def server_bin(monkeypatch: pytest.MonkeyPatch, restate_server_binary: Path) -> Path:
    """The examples find the server as users do: through $RESTATE_SERVER_BIN."""
    monkeypatch.setenv("RESTATE_SERVER_BIN", str(restate_server_binary))
    return restate_server_binary


@pytest.fixture
def empty_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No $RESTATE_SERVER_BIN, and a cache folder of our own (empty)."""
    monkeypatch.delenv("RESTATE_SERVER_BIN", raising=False)
    monkeypatch.setenv("RESTATE_TRIO_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture
async def served(restate_server: RestateServer) -> AsyncIterator[RestateServer]:
    async with serve_endpoint(ref_testing.endpoint, restate_server):
        yield restate_server


def test_a_fresh_server_and_a_signing_one(server_bin: Path) -> None:
    assert ref_testing.greet_on_a_fresh_server() == "Hello Ada!"
    assert ref_testing.greet_signed() == "Hello Ada!"


async def test_an_unsigned_server_cannot_discover_the_signed_endpoint(
    restate_server: RestateServer,
) -> None:
    # What greet_signed relies on: without the server's signature the endpoint says 401.
    _, public_key = generate_signing_key()
    signed = restate.Endpoint(identity_keys=[public_key]).bind(
        restate.reflect(ref_testing.Greeter())
    )
    with trio.fail_after(_DEADLINE), pytest.raises(RegistrationError, match="401"):
        await ref_testing.greet_through(signed, restate_server)


async def test_responses(served: RestateServer) -> None:
    with trio.fail_after(_DEADLINE):
        invocation_id = await ref_testing.send_greeting(served)
        output = await served.ingress(f"/restate/invocation/{invocation_id}/output", method="GET")
        names = await ref_testing.registered_services(served)
    assert output.json() == "Hello Ada!"
    assert {"Approval", "Flaky", "Greeter"} <= set(names)


async def test_a_servable_endpoint_of_our_own(restate_server: RestateServer) -> None:
    with trio.fail_after(_DEADLINE):
        urls, uri = await ref_testing.serve_recording(restate_server)
    assert uri in urls


async def test_harness_errors(served: RestateServer) -> None:
    with trio.fail_after(_DEADLINE):
        count = await ref_testing.invocation_count(served, "SELECT id FROM sys_invocation")
        assert count >= 0
        with pytest.raises(AssertionError, match="bad introspection query"):
            await ref_testing.invocation_count(served, "SELECT nonsense FROM nowhere")
        with socket.socket() as probe:  # a port nothing listens on once closed
            probe.bind(("127.0.0.1", 0))
            unreachable = f"http://127.0.0.1:{probe.getsockname()[1]}"
        refused = await ref_testing.register_at(served, unreachable)
    assert refused is not None
    assert refused.startswith(f"{unreachable}: HTTP "), refused


async def test_timeouts_say_why(served: RestateServer) -> None:
    order = uuid.uuid4().hex
    previous, served.request_timeout = served.request_timeout, 2.0
    try:
        assert await ref_testing.approval(served, order) == "pending"
    finally:
        served.request_timeout = previous
    with trio.fail_after(_DEADLINE):
        rows = await served.query(
            f"SELECT id FROM sys_invocation WHERE target = 'Approval/{order}/run'"
        )
        stuck, last_failure = await ref_testing.why_stuck(served)
        for invocation_id in [str(row["id"]) for row in rows] + [str(stuck)]:
            response = await served.admin_patch(f"/invocations/{invocation_id}/kill")
            assert response.ok, response.text
    assert len(rows) == 1
    assert stuck is not None
    assert last_failure is not None
    assert "the bank is down" in last_failure


def test_a_taken_port_is_a_start_error(server_bin: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        answer = ref_testing.start_on(blocker.getsockname()[1])
    assert answer.startswith("no server: "), answer
    assert "in use" in answer.lower()


def test_finding_the_binary(server_bin: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = ref_testing.server_version()
    assert version == f"restate-server {RESTATE_SERVER_VERSION}"
    ref_testing.check_version(version)  # no warning (the suite turns warnings into errors)
    with pytest.warns(UserWarning, match=r"restate-server 1\.0\.0: not restate-server"):
        ref_testing.check_version("restate-server 1.0.0")
    assert ref_testing.binary_or_exit() == server_bin
    assert ref_testing.print_binary() == 0
    assert capsys.readouterr().out.strip() == str(server_bin)


def test_no_binary_exits_with_how_to_install(empty_cache: Path) -> None:
    with pytest.raises(SystemExit, match=r"cannot test against Restate: .*testing install"):
        ref_testing.binary_or_exit()
    assert ref_testing.cache_folder() == empty_cache


def test_install_is_a_no_op_once_cached(
    empty_cache: Path, restate_server_binary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cache laid out as npm installs it, holding the suite's binary; no npm on PATH, so
    # install_restate_server can only succeed by finding it.
    package = empty_cache / f"restate-server-{RESTATE_SERVER_VERSION}" / "node_modules"
    binary = package / "@restatedev" / "restate-server-this-platform" / "bin" / "restate-server"
    binary.parent.mkdir(parents=True)
    binary.symlink_to(restate_server_binary)
    monkeypatch.setenv("PATH", str(empty_cache / "no-npm-here"))
    assert ref_testing.install_for_ci() == binary
    assert ref_testing.binary_or_exit() == binary
