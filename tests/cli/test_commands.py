"""``restate-trio serve``, ``register``, ``call`` and ``server`` end to end, as real
subprocesses against real restate-servers: what they print (plain, as stdout is a pipe) and
that SIGTERM leaves nothing running."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

import httpx
from cli_helpers import DEADLINE, no_leftovers_in, pidfds, run_cli, wait_gone

from restate_trio.testing._process import free_ports

if TYPE_CHECKING:
    from pathlib import Path

    from cli_helpers import Cli

    from restate_trio.testing import RestateServer


def test_serve_register_call(
    cli: Cli, shop: Path, cli_env: dict[str, str], restate_server: RestateServer
) -> None:
    (port,) = free_ports(1)
    serve = cli("serve", "shop:endpoint", f"--bind=127.0.0.1:{port}", "--workers=2", cwd=shop)
    serve.wait_for(f"serving Greeter, Counter (object), Pricing on http://127.0.0.1:{port}")
    uri = f"http://127.0.0.1:{port}"

    registered = run_cli(
        "register", uri, f"--admin={restate_server.admin_url}", "--force", env=cli_env
    )
    assert registered.returncode == 0, registered.stderr
    assert f"registered {uri} as dp_" in registered.stdout
    assert "Counter:" in registered.stdout
    assert "add  (VirtualObject)" in registered.stdout
    assert "\x1b[" not in registered.stdout

    ingress = f"--ingress={restate_server.ingress_url}"
    greeted = run_cli("call", "Greeter/greet", '"Ada"', ingress, env=cli_env)
    assert (greeted.returncode, greeted.stdout) == (0, '"Hello Ada!"\n'), greeted.stderr
    added = run_cli("call", "Counter/c1/add", "2", ingress, env=cli_env)
    assert (added.returncode, added.stdout) == (0, "2\n"), added.stderr

    missing = run_cli("call", "Nope/greet", '"x"', ingress, env=cli_env)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: Nope/greet failed (404)"), missing.stderr
    not_json = run_cli("call", "Greeter/greet", "Ada", ingress, env=cli_env)
    assert not_json.returncode == 1
    assert "not JSON" in not_json.stderr

    workers = serve.descendants()
    assert len(workers) == 2, workers
    fds = pidfds(workers)
    assert serve.stop(signal.SIGTERM) == 0, serve.error_output
    assert wait_gone(fds) == []


def test_serve_rejects_what_is_not_an_endpoint(shop: Path, cli_env: dict[str, str]) -> None:
    (shop / "other.py").write_text("endpoint = 42\n")
    result = run_cli("serve", f"{shop / 'other.py'}:endpoint", env=cli_env)
    assert result.returncode == 1
    assert "is a int, not a restate_trio.Endpoint" in result.stderr
    result = run_cli("serve", "no_such_module:endpoint", env=cli_env)
    assert result.returncode == 1
    assert "no module named 'no_such_module'" in result.stderr
    result = run_cli("serve", "shop.py", env=cli_env)
    assert result.returncode == 1
    assert "MODULE:ATTRIBUTE" in result.stderr


def test_server_keeps_its_data_across_runs(
    cli: Cli, shop: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    ingress, admin, endpoint = free_ports(3)
    ports = (f"--ingress-port={ingress}", f"--admin-port={admin}")
    serve = cli("serve", "shop:endpoint", f"--bind=127.0.0.1:{endpoint}", cwd=shop)
    serve.wait_for("serving")

    first = cli("server", f"--data-dir={data}", *ports)
    first.wait_for("Ctrl-C to stop")
    assert f"UI:        http://127.0.0.1:{admin}/ui/" in first.output
    assert httpx.get(f"http://127.0.0.1:{admin}/ui/", timeout=DEADLINE).status_code == 200
    admin_url = f"--admin=http://127.0.0.1:{admin}"
    assert (
        run_cli("register", f"http://127.0.0.1:{endpoint}", admin_url, env=cli_env).returncode == 0
    )
    ingress_url = f"--ingress=http://127.0.0.1:{ingress}"
    assert run_cli("call", "Counter/k/add", "3", ingress_url, env=cli_env).stdout.strip() == "3"
    fds = pidfds(first.descendants())
    assert first.stop(signal.SIGTERM) == 0, first.error_output
    assert wait_gone(fds) == []

    # Same folder, new process: the deployment and the object's state are still there.
    second = cli("server", f"--data-dir={data}", *ports)
    second.wait_for("Ctrl-C to stop")
    added = run_cli("call", "Counter/k/add", "4", ingress_url, env=cli_env)
    assert added.stdout.strip() == "7", added.stderr
    fds = pidfds(second.descendants())
    assert second.stop(signal.SIGINT) == 0, second.error_output
    assert wait_gone(fds) == []
    assert (data / "data").is_dir()
    assert no_leftovers_in(tmp_path / "tmp") == []


def test_missing_npm_says_what_to_do(tmp_path: Path, cli_env: dict[str, str]) -> None:
    env = dict(cli_env, PATH=str(tmp_path / "empty"), RESTATE_TRIO_CACHE=str(tmp_path / "cache"))
    del env["RESTATE_SERVER_BIN"]
    result = run_cli("server", f"--data-dir={tmp_path / 'data'}", env=env)
    assert result.returncode == 1
    assert "npm is required" in result.stderr
    assert "Install Node.js" in result.stderr
    assert "RESTATE_SERVER_BIN" in result.stderr
