"""Tests of the test harness itself (restate_trio.testing) against a real server."""

from __future__ import annotations

import inspect
import os
import pickle
import socket
import subprocess
import sys
import textwrap
from datetime import timedelta
from typing import TYPE_CHECKING

import orjson
import pytest
import trio

import restate_trio as restate
from restate_trio import testing
from restate_trio.codecs import CodecError
from restate_trio.testing import (
    HarnessError,
    HttpResponse,
    RegistrationError,
    RestateServer,
    RestateServerNotFoundError,
    _http,
    _process,
    _server,
    serve_endpoint,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping
    from pathlib import Path

    from conftest import MakeRestateServer

    Scope = MutableMapping[str, object]
    Receive = Callable[[], Awaitable[MutableMapping[str, object]]]
    Send = Callable[[MutableMapping[str, object]], Awaitable[None]]

MANIFEST_CONTENT_TYPE = b"application/vnd.restate.endpointmanifest.v4+json"
EMPTY_MANIFEST = {
    "protocolMode": "BIDI_STREAM",
    "minProtocolVersion": 5,
    "maxProtocolVersion": 7,
    "services": [],
}


class StandInEndpoint:
    """Answers discovery with an empty manifest; records the requests it gets."""

    def __init__(self, manifest: dict[str, object] | None = None) -> None:
        self.manifest = EMPTY_MANIFEST if manifest is None else manifest
        self.requests: list[tuple[str, str]] = []  # (path, http_version)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = str(scope["path"])
        self.requests.append((path, str(scope["http_version"])))
        # Read the whole request before answering: hypercorn's h2 protocol
        # crashes (KeyError) on request data for a stream it already finished.
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        if path.endswith("/discover"):
            status, content_type, body = 200, MANIFEST_CONTENT_TYPE, orjson.dumps(self.manifest)
        else:
            status, content_type, body = 404, b"text/plain", b"not found"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"x-restate-server", b"restate-trio-harness-test/0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def deployment_uris(answer: object) -> list[str]:
    """URIs from a ``GET /deployments`` answer, without the trailing slash."""
    assert isinstance(answer, dict)
    return [str(d["uri"]).rstrip("/") for d in answer["deployments"]]


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- the server process ---------------------------------------------------------


async def test_server_is_healthy(restate_server: RestateServer) -> None:
    assert restate_server.is_running
    assert (await restate_server.admin_get("/health")).status == 200
    ingress_health = await restate_server.ingress("/restate/health", method="GET")
    assert ingress_health.status == 200
    version = (await restate_server.admin_get("/version")).json()
    assert isinstance(version, dict)
    assert version["version"] == testing.RESTATE_SERVER_VERSION
    assert version["ingress_endpoint"].rstrip("/") == restate_server.ingress_url


def test_ports_are_distinct_and_not_defaults(restate_server: RestateServer) -> None:
    ports = {
        int(restate_server.ingress_url.rsplit(":", 1)[1]),
        int(restate_server.admin_url.rsplit(":", 1)[1]),
        restate_server.node_port,
    }
    assert len(ports) == 3
    assert ports.isdisjoint({8080, 9070, 5122})


async def test_ingress_reports_unknown_service(restate_server: RestateServer) -> None:
    response = await restate_server.ingress("/NoSuchService/handler", {"a": 1})
    assert response.status == 404
    body = response.json()
    assert isinstance(body, dict)
    assert "NoSuchService" in body["message"]
    assert response.headers["content-type"] == "application/json"


async def test_two_servers_at_once(
    restate_server: RestateServer, make_restate_server: MakeRestateServer
) -> None:
    other = make_restate_server()
    assert other.ingress_url != restate_server.ingress_url
    assert other.admin_url != restate_server.admin_url
    assert other.node_port != restate_server.node_port
    for server in (restate_server, other):
        version = (await server.admin_get("/version")).json()
        assert isinstance(version, dict)
        assert version["ingress_endpoint"].rstrip("/") == server.ingress_url


def test_stop_leaves_nothing_behind(make_restate_server: MakeRestateServer) -> None:
    server = make_restate_server()
    pid = server.process.pid
    base_dir = server.base_dir
    assert pid_exists(pid)
    assert base_dir.is_dir()
    server.stop()
    assert server.process.returncode is not None
    assert not pid_exists(pid)
    assert not base_dir.exists()
    assert not server.is_running
    server.stop()  # idempotent


def test_context_manager(restate_server_binary: Path) -> None:
    with RestateServer(binary=restate_server_binary) as server:
        pid = server.process.pid
        assert server.log_path.is_file()
        assert "Starting Restate Server" in server.read_log()
        assert server.log_tail(5).count("\n") <= 4
    assert not pid_exists(pid)


def test_port_clash_is_retried(
    monkeypatch: pytest.MonkeyPatch, restate_server_binary: Path
) -> None:
    """The first ports handed out are taken by someone else: start() moves on."""
    real_free_ports = _process.free_ports
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    calls: list[list[int]] = []

    def fake_free_ports(count: int) -> list[int]:
        ports = real_free_ports(count)
        if not calls:
            ports[0] = taken  # the ingress port is already in use
        calls.append(ports)
        return ports

    monkeypatch.setattr(_server, "free_ports", fake_free_ports)
    try:
        with RestateServer(binary=restate_server_binary) as server:
            assert len(calls) == 2
            assert server.ingress_url.endswith(f":{calls[1][0]}")
            assert "in use" in server.read_log().lower()
    finally:
        blocker.close()


def test_startup_failure_shows_log(restate_server_binary: Path) -> None:
    server = RestateServer(binary=restate_server_binary, env={"RESTATE_LISTEN_MODE": "bogus"})
    with pytest.raises(testing.ServerStartError) as excinfo:
        server.start()
    assert "log tail" in str(excinfo.value)
    assert not server.is_running


def test_config_knobs_reach_the_server(restate_server_binary: Path) -> None:
    server = RestateServer(
        binary=restate_server_binary,
        enable_protocol_v7=True,
        inactivity_timeout=timedelta(milliseconds=1500),
        abort_timeout=timedelta(seconds=2),
        num_partitions=2,
    )
    config = server.dump_config()
    assert 'inactivity-timeout = "1s 500ms"' in config
    assert 'abort-timeout = "2s"' in config
    assert "experimental-enable-protocol-v7 = true" in config
    assert "default-num-partitions = 2" in config


async def test_protocol_v7_flag(make_restate_server: MakeRestateServer) -> None:
    server = make_restate_server(enable_protocol_v7=True)
    version = (await server.admin_get("/version")).json()
    assert isinstance(version, dict)
    assert version["features"]["protocol_v7"] is True


def test_signing_key_is_loaded(
    make_restate_server: MakeRestateServer, signing_key: tuple[bytes, str]
) -> None:
    pem, public_key = signing_key
    assert public_key.startswith("publickeyv1_")
    server = make_restate_server(signing_key_pem=pem)
    # The server logs the public key it signs with.
    assert public_key in server.read_log()


async def test_restart_keeps_data(make_restate_server: MakeRestateServer) -> None:
    server = make_restate_server()
    endpoint = StandInEndpoint()
    async with serve_endpoint(endpoint.app, server) as uri:
        deployments = (await server.admin_get("/deployments")).json()
        assert deployment_uris(deployments) == [uri]
    old_pid = server.process.pid
    await trio.to_thread.run_sync(lambda: server.restart(kill=True))
    assert server.process.pid != old_pid
    assert not pid_exists(old_pid)
    deployments = (await server.admin_get("/deployments")).json()
    assert deployment_uris(deployments) == [uri]


async def test_services_are_callable_right_after_registration(
    restate_server: RestateServer,
) -> None:
    manifest = {
        **EMPTY_MANIFEST,
        # The server ends the request body after the input, so the stand-in
        # can read it all and answer 404 (the server then retries).
        "protocolMode": "REQUEST_RESPONSE",
        "services": [{"name": "HarnessProbe", "ty": "SERVICE", "handlers": [{"name": "run"}]}],
    }
    async with serve_endpoint(StandInEndpoint(manifest).app, restate_server):
        sent = await restate_server.ingress("/HarnessProbe/run/send", {"x": 1})
        assert sent.status == 202, sent.text
        invocation_id = sent.invocation_id
        assert invocation_id is not None
        assert invocation_id.startswith("inv_")
        row = await restate_server.invocation_status(invocation_id)
        assert row is not None
        assert row["target"] == "HarnessProbe/run"
        # The stand-in cannot run it; kill it so that the server stops retrying.
        killed = await restate_server.admin_patch(f"/invocations/{invocation_id}/kill")
        assert killed.ok, killed.text
        row = await restate_server.wait_for_invocation_status(invocation_id, "completed")
        assert row["completion_failure"]


# -- registration -----------------------------------------------------------------


async def test_register_stand_in_endpoint(restate_server: RestateServer) -> None:
    endpoint = StandInEndpoint()
    async with serve_endpoint(endpoint.app, restate_server) as uri:
        assert uri.startswith("http://127.0.0.1:")
        deployments = (await restate_server.admin_get("/deployments")).json()
        assert uri in deployment_uris(deployments)
    # h2c with prior knowledge by default.
    assert endpoint.requests == [("/discover", "2")]


async def test_register_with_prefix_over_http_11(restate_server: RestateServer) -> None:
    endpoint = StandInEndpoint()
    async with serve_endpoint(
        endpoint.app, restate_server, path_prefix="some/prefix/", use_http_11=True
    ) as uri:
        assert uri.endswith("/some/prefix")
    assert endpoint.requests == [("/some/prefix/discover", "1.1")]


async def test_register_returns_the_deployment(restate_server: RestateServer) -> None:
    endpoint = StandInEndpoint()
    async with serve_endpoint(endpoint.app, restate_server, register=False) as url:
        assert endpoint.requests == []  # served, not registered
        answer = await restate_server.register(url, use_http_11=True)
        assert str(answer["id"]).startswith("dp_")
        assert answer["services"] == []


async def test_register_where_nothing_listens(restate_server: RestateServer) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RegistrationError) as excinfo:
        await restate_server.register(uri)
    error = excinfo.value
    assert error.uri == uri
    assert error.status >= 400
    assert "META0003" in error.body
    assert "META0003" in str(error)
    assert uri in str(error)


async def test_serve_endpoint_registration_error_is_not_grouped(
    restate_server: RestateServer,
) -> None:
    class BrokenEndpoint(StandInEndpoint):
        async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await super().app(scope, receive, send)
                return
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"boom"})

    with pytest.raises(RegistrationError, match="boom"):
        async with serve_endpoint(BrokenEndpoint().app, restate_server):
            pytest.fail("registration should have failed")  # pragma: no cover


async def test_serve_endpoint_body_errors_propagate_unchanged(
    restate_server: RestateServer,
) -> None:
    with pytest.raises(KeyError, match="from the block"):
        async with serve_endpoint(StandInEndpoint().app, restate_server):
            raise KeyError("from the block")


async def test_serve_endpoint_stops_serving(restate_server: RestateServer) -> None:
    async with serve_endpoint(StandInEndpoint().app, restate_server) as uri:
        pass
    port = int(uri.rsplit(":", 1)[1])
    with pytest.raises(OSError):  # noqa: PT012
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.aclose()


async def test_invocation_status_of_unknown_invocation(restate_server: RestateServer) -> None:
    # A well-formed id (from another server) that this server never saw.
    assert await restate_server.invocation_status("inv_1afeVIM8FIgd0ETawdDjblcQazBwrgX6bB") is None
    with pytest.raises(HarnessError, match="non valid invocation id"):
        await restate_server.invocation_status("inv_1abc")
    with pytest.raises(ValueError, match="not an invocation id"):
        await restate_server.invocation_status("x' OR 1=1 --")


async def test_request_timeout_is_enforced(restate_server: RestateServer) -> None:
    """A call that cannot finish raises HarnessTimeoutError instead of hanging."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts connections but never answers
    port = listener.getsockname()[1]
    try:
        with pytest.raises(testing.HarnessTimeoutError, match="did not complete"):
            await _http.request("GET", f"http://127.0.0.1:{port}/", body=b"", headers={}, limit=0.3)
    finally:
        listener.close()


# -- installation ---------------------------------------------------------------


def test_find_uses_restate_server_bin(
    monkeypatch: pytest.MonkeyPatch, restate_server_binary: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("RESTATE_SERVER_BIN", str(restate_server_binary))
    assert testing.find_restate_server() == restate_server_binary
    monkeypatch.setenv("RESTATE_SERVER_BIN", str(tmp_path / "missing"))
    with pytest.raises(RestateServerNotFoundError, match="RESTATE_SERVER_BIN"):
        testing.find_restate_server()


def test_find_in_empty_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RESTATE_SERVER_BIN", raising=False)
    monkeypatch.setenv("RESTATE_TRIO_CACHE", str(tmp_path))
    assert testing.default_cache_dir() == tmp_path
    with pytest.raises(RestateServerNotFoundError, match=r"restate_trio\.testing install"):
        testing.find_restate_server()


def test_install_without_npm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RestateServerNotFoundError, match="npm is required"):
        testing.install_restate_server(cache_dir=tmp_path)


def test_install_is_a_no_op_when_present(restate_server_binary: Path) -> None:
    install_dir = restate_server_binary
    while install_dir.name != f"restate-server-{testing.RESTATE_SERVER_VERSION}":
        if install_dir.parent == install_dir:
            pytest.skip("RESTATE_SERVER_BIN points outside the cache")
        install_dir = install_dir.parent
    found = testing.install_restate_server(cache_dir=install_dir.parent)
    assert found == restate_server_binary


def test_cli_path(restate_server_binary: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "restate_trio.testing", "path"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "RESTATE_SERVER_BIN": str(restate_server_binary)},
    )
    assert result.stdout.strip() == str(restate_server_binary)


def test_harness_error_hierarchy() -> None:
    assert issubclass(testing.HarnessTimeoutError, TimeoutError)
    assert issubclass(RegistrationError, HarnessError)
    assert issubclass(RestateServerNotFoundError, FileNotFoundError)


# -- the public surface of restate_trio.testing -----------------------------------

PUBLIC_NAMES = {
    "RESTATE_SERVER_VERSION",
    "HarnessError",
    "HarnessTimeoutError",
    "HttpResponse",
    "IngressResponse",
    "InvocationTimeoutError",
    "RegistrationError",
    "RestateServer",
    "RestateServerNotFoundError",
    "ServableEndpoint",
    "ServerStartError",
    "default_cache_dir",
    "find_restate_server",
    "generate_signing_key",
    "install_restate_server",
    "main",
    "serve_endpoint",
}


def test_public_names_belong_to_restate_trio_testing() -> None:
    """The package's private modules are not part of the public surface."""
    assert set(testing.__all__) == PUBLIC_NAMES
    for name in PUBLIC_NAMES - {"RESTATE_SERVER_VERSION"}:
        assert getattr(testing, name).__module__ == "restate_trio.testing", name
    assert repr(RegistrationError) == "<class 'restate_trio.testing.RegistrationError'>"


# Runs with httpx made unimportable (``sys.modules["httpx"] = None``).
_WITHOUT_HTTPX = """
import sys
sys.modules["httpx"] = None
import runpy
sys.argv = ["python -m restate_trio.testing", *sys.argv[1:]]
runpy.run_module("restate_trio.testing", run_name="__main__")
"""


def test_cli_does_not_need_httpx(restate_server_binary: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_HTTPX, "path"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "RESTATE_SERVER_BIN": str(restate_server_binary)},
    )
    assert result.stdout.strip() == str(restate_server_binary)


async def test_missing_httpx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(ImportError, match=r"pip install 'restate-trio\[testing\]'"):
        await _http.request("GET", "http://127.0.0.1:9/", body=b"", headers={}, limit=1.0)
    with pytest.raises(ImportError, match=r"restate-trio\[testing\]"):
        _http.sync_client()


class Doubler:
    async def double(self, ctx: restate.Context, value: int) -> int:
        return 2 * value


async def test_serve_endpoint_serves_a_restate_endpoint(restate_server: RestateServer) -> None:
    endpoint = restate.Endpoint(max_protocol_version=6).bind(restate.reflect(Doubler()))
    async with serve_endpoint(endpoint, restate_server) as uri:
        response = await restate_server.ingress("/Doubler/double", 21)
        assert response.status == 200, response.text
        assert response.json() == 42
        deployments = (await restate_server.admin_get("/deployments")).json()
        assert isinstance(deployments, dict)
        (ours,) = [d for d in deployments["deployments"] if d["uri"].rstrip("/") == uri]
        # The endpoint's own options reach the server.
        assert ours["max_protocol_version"] == 6


def test_serve_endpoint_docstring_example_runs(
    monkeypatch: pytest.MonkeyPatch,
    restate_server_binary: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The "complete script" in serve_endpoint's docstring is runnable as written."""
    doc = inspect.getdoc(serve_endpoint)
    assert doc is not None
    script = doc.split("Example (a complete script)::", 1)[1]
    script = textwrap.dedent(script.split("\nTo observe", 1)[0])
    assert "with RestateServer() as server:" in script
    monkeypatch.setenv("RESTATE_SERVER_BIN", str(restate_server_binary))
    exec(compile(script, "serve_endpoint-example", "exec"), {"__name__": "example"})
    assert "answered 'Hello Ada!'" in capsys.readouterr().out


def test_invocation_timeout_error_pickles() -> None:
    row = {"id": "inv_1x", "target": "Svc/h", "status": "backing-off", "last_failure": "boom"}
    error = testing.InvocationTimeoutError("gave up", row)
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert (copy.invocation_id, copy.status, copy.last_failure) == ("inv_1x", "backing-off", "boom")


def test_a_response_decodes_into_a_type() -> None:
    assert HttpResponse(200, {}, b"42").json() == 42
    assert HttpResponse(200, {}, b"42").json(type=int) == 42
    assert HttpResponse(200, {}, b'["a","b"]').json(type=list[str]) == ["a", "b"]
    with pytest.raises(CodecError):
        HttpResponse(200, {}, b'"forty-two"').json(type=int)


def test_request_body_is_not_an_async_generator() -> None:
    """A harness request cancelled while sending its body (a test's deadline) must leave no
    unfinished async generator behind: trio's finalizer would warn about it (ResourceWarning)
    in whichever later test the garbage collector runs."""
    from restate_trio.testing._http import _body_stream

    body = _body_stream()(b"payload")
    iterator = body.__aiter__()
    assert not inspect.isasyncgen(iterator)

    async def chunks() -> list[bytes]:
        return [chunk async for chunk in body]

    assert trio.run(chunks) == [b"payload"]
