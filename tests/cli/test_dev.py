"""``restate-trio dev`` end to end: a real restate-server, the endpoint served and
registered, a reload on a code change (the new code answers, the server's state stays), and a
stop by SIGTERM or SIGINT that leaves no process and no temporary folder behind."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from cli_helpers import DEADLINE, SHOP, no_leftovers_in, pidfds, wait_gone

from restate_trio.testing._process import free_ports

if TYPE_CHECKING:
    from pathlib import Path

    from cli_helpers import Cli


def _poll_answer(url: str, body: object, expected: object) -> None:
    """POST until the answer is ``expected``, within DEADLINE. Called after ``dev`` said it
    re-registered: the ingress picks up the new deployment from the server's metadata a
    moment later, and nothing tells a client when (so a bounded poll, not an event)."""
    deadline = time.monotonic() + DEADLINE
    last: object = None
    while time.monotonic() < deadline:
        response = httpx.post(url, json=body, timeout=DEADLINE)
        last = (response.status_code, response.text)
        if response.status_code == 200 and response.json() == expected:
            return
        time.sleep(0.05)
    pytest.fail(f"{url} never answered {expected!r}; last: {last!r}")


def test_dev_serves_reloads_and_stops_clean(cli: Cli, shop: Path, cli_env: dict[str, str]) -> None:
    ingress, admin, endpoint = free_ports(3)
    dev = cli(
        "dev",
        "shop.py:endpoint",
        f"--ingress-port={ingress}",
        f"--admin-port={admin}",
        f"--port={endpoint}",
        cwd=shop,
    )
    dev.wait_for("Watching for changes")
    base = f"http://127.0.0.1:{ingress}"
    output = dev.output
    # The banner: URLs and one ready-to-paste call per handler, plain (stdout is a pipe).
    assert f"ingress:   {base}" in output
    assert f"UI:        http://127.0.0.1:{admin}/ui/" in output
    assert f"curl {base}/Greeter/greet --json '\"...\"'" in output
    assert f"curl '{base}/Counter/<key>/add' --json 0" in output
    # The server describes the CBOR input by its JSON schema; the manifest's content type wins.
    assert (
        f"curl {base}/Pricing/quote -H 'content-type: application/cbor' --data-binary @input"
        in output
    )
    assert output.index("Counter/<key>/add") < output.index("Greeter/greet")
    assert "\x1b[" not in output
    ui = httpx.get(f"http://127.0.0.1:{admin}/ui/", timeout=DEADLINE)
    assert ui.status_code == 200
    assert "<html" in ui.text.lower()

    answer = httpx.post(f"{base}/Greeter/greet", json="Ada", timeout=DEADLINE)
    assert answer.json() == "Hello Ada!", answer.text
    assert httpx.post(f"{base}/Counter/c/add", json=5, timeout=DEADLINE).json() == 5

    (shop / "shop.py").write_text(SHOP.replace('f"Hello {name}!"', 'f"Bye {name}!"'))
    dev.wait_for("reloaded: Counter, Greeter, Pricing")
    _poll_answer(f"{base}/Greeter/greet", "Ada", "Bye Ada!")
    # The server kept running across the reload: the object's state is still there.
    assert httpx.post(f"{base}/Counter/c/add", json=1, timeout=DEADLINE).json() == 6

    children = dev.descendants()
    assert len(children) >= 2, children  # the server and the endpoint child
    fds = pidfds(children)
    assert dev.stop(signal.SIGTERM) == 0, dev.error_output
    assert wait_gone(fds) == []
    assert no_leftovers_in(shop.parent / "tmp") == []
    assert "stopped" in dev.output


def test_dev_stops_clean_on_sigint_and_survives_a_broken_module(cli: Cli, shop: Path) -> None:
    ingress, admin, endpoint = free_ports(3)
    dev = cli(
        "dev",
        "shop:endpoint",  # the module form, imported from the current folder
        f"--ingress-port={ingress}",
        f"--admin-port={admin}",
        f"--port={endpoint}",
        cwd=shop,
    )
    dev.wait_for("Watching for changes")
    # A syntax error: the child fails, the loop keeps watching and the next save recovers.
    (shop / "shop.py").write_text(SHOP + "\ndef broken(:\n")
    dev.wait_for("the endpoint exited")
    (shop / "shop.py").write_text(SHOP.replace('f"Hello {name}!"', 'f"Hi {name}!"'))
    dev.wait_for("reloaded: Counter, Greeter, Pricing")
    _poll_answer(f"http://127.0.0.1:{ingress}/Greeter/greet", "Bo", "Hi Bo!")

    fds = pidfds(dev.descendants())
    assert dev.stop(signal.SIGINT) == 0, dev.error_output
    assert wait_gone(fds) == []
    assert no_leftovers_in(shop.parent / "tmp") == []
