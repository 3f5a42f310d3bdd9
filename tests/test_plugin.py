"""The pytest plugin (restate_trio.testing._plugin), used as a user would: ``pytester`` runs small
test files in a fresh pytest session where the plugin comes from its ``pytest11`` entry point,
against real restate-servers, and the outcomes are checked here.

Each run with servers costs a restate-server start per distinct setting (about a second), so
the runs are few and each checks several things:

* the default run: two modules with their own endpoints on one shared server (one of them the
  example ``examples/test_services.py``), state helpers, the timeout error naming
  ``last_failure``, the failure report, the clean-up between modules, and a module marked
  ``restate(always_replay=True, disable_retries=True, protocol_v7=True)`` on a second server,
  and docs/testing.md's examples: ``examples/test_signed.py`` (its own ``restate_server``, which
  signs its requests) and ``examples/test_replayed.py`` (``always_replay`` and
  ``disable_retries``, a third server);
* the command-line run: ``--restate-always-replay --restate-disable-retries`` and the
  ``restate_endpoint`` ini option;
* misuse: the marker on a test, an unknown marker keyword, no endpoint (no server needed).
"""

from __future__ import annotations

from pathlib import Path

# pytester's in-process runs drop the modules first imported inside them from sys.modules
# afterwards. Were httpx and httpcore first imported there, the next test would import a
# second copy of httpcore, whose exceptions the first httpx (kept alive by modules imported
# earlier) no longer maps: an unmapped httpcore.ConnectError then escaped the harness's
# start-up probe in tests/test_harness.py. Importing them here keeps one copy.
import httpcore  # noqa: F401
import httpx  # noqa: F401
import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "test_services.py"
# The README walkthrough's tests (of examples/shop.py).
SHOP_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "test_shop.py"
# The documentation's tutorial, step 5 (of examples/tutorial/).
TUTORIAL_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tutorial" / "test_app.py"
# docs/testing.md's own server (request signing) and settings marker (replay mode).
SIGNED_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "test_signed.py"
REPLAYED_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "test_replayed.py"

INI = """
[pytest]
trio_mode = true
"""

# A module of services the inner tests serve; the counters are shared with the tests (the
# endpoint runs in a thread of the same process).
PROBE_SERVICES = """
from datetime import timedelta

import restate_trio as restate

EXECUTIONS: list[str] = []


class Probe:
    async def nap(self, ctx: restate.Context, name: str) -> str:
        EXECUTIONS.append(name)  # once per attempt: replays show up here
        await ctx.sleep(timedelta(milliseconds=10))
        return name


class Tally:
    async def add(self, ctx: restate.ObjectContext, n: int) -> int:
        total = (await ctx.get("total", type=int) or 0) + n
        ctx.set("total", total)
        return total


class Flaky:
    async def fail(self, ctx: restate.Context, what: str) -> str:
        raise RuntimeError(f"out of {what}")


endpoint = restate.Endpoint().bind(
    restate.reflect(Probe()), restate.reflect(Tally()), restate.reflect(Flaky())
)
"""

DEFAULT_MODULE = """
import uuid

import pytest

import probe_services
from restate_trio.testing import InvocationTimeoutError, RestateServer


@pytest.fixture(scope="module")
def restate_endpoint():
    return probe_services.endpoint


async def test_no_replay_by_default(restate_server: RestateServer, restate_deployment: str):
    name = uuid.uuid4().hex
    response = await restate_server.ingress("/Probe/nap", name)
    assert response.json() == name
    assert probe_services.EXECUTIONS.count(name) == 1
    row = await restate_server.invocation_status(response.invocation_id)
    assert row is not None and row["pinned_service_protocol_version"] < 7


async def test_admin_client(restate_admin, restate_deployment: str):
    names = {service.name for service in await restate_admin.services()}
    assert {"Probe", "Tally", "Flaky"} <= names


async def test_state_helpers(restate_server: RestateServer, restate_deployment: str):
    key = uuid.uuid4().hex
    await restate_server.set_state("Tally", key, {"total": 40, "raw": b"\\x00\\xff"})
    assert await restate_server.get_state("Tally", key) == {"total": b"40", "raw": b"\\x00\\xff"}
    assert (await restate_server.ingress(f"/Tally/{key}/add", 2)).json() == 42
    assert (await restate_server.get_state("Tally", key))["total"] == b"42"


async def test_timeout_names_the_last_failure(
    restate_server: RestateServer, restate_deployment: str
):
    sent = await restate_server.ingress("/Flaky/fail/send", "stock")
    # Its first attempt failed; retried (by default), it never completes.
    await restate_server.wait_for_invocation_status(sent.invocation_id, "backing-off")
    with pytest.raises(InvocationTimeoutError) as caught:
        await restate_server.wait_for_invocation_status(
            sent.invocation_id, "completed", timeout=0.5
        )
    error = caught.value
    assert error.invocation_id == sent.invocation_id
    # Waiting for its next attempt, or in it: the last failure stays known either way.
    assert error.status in {"backing-off", "ready", "running"}
    assert "RuntimeError: out of stock" in error.last_failure
    assert "last_failure: [500 Internal] RuntimeError: out of stock" in str(error)


async def test_fails_and_reports_the_stuck_invocation(
    restate_server: RestateServer, restate_deployment: str
):
    sent = await restate_server.ingress("/Flaky/fail/send", "patience")
    await restate_server.wait_for_invocation_status(sent.invocation_id, "backing-off")
    await restate_server.wait_for_invocation_status(sent.invocation_id, "completed", timeout=0.5)
"""

MARKED_MODULE = """
import uuid

import pytest

import probe_services
from restate_trio.testing import RestateServer

pytestmark = pytest.mark.restate(always_replay=True, disable_retries=True, protocol_v7=True)


@pytest.fixture(scope="module")
def restate_endpoint():
    return probe_services.endpoint


async def test_always_replay_and_v7(restate_server: RestateServer, restate_deployment: str):
    name = uuid.uuid4().hex
    response = await restate_server.ingress("/Probe/nap", name)
    assert response.json() == name
    # Suspended at the sleep, then replayed to the end.
    assert probe_services.EXECUTIONS.count(name) == 2
    row = await restate_server.invocation_status(response.invocation_id)
    assert row is not None and row["pinned_service_protocol_version"] == 7


async def test_no_retries(restate_server: RestateServer, restate_deployment: str):
    sent = await restate_server.ingress("/Flaky/fail/send", "luck")
    row = await restate_server.wait_for_invocation_status(sent.invocation_id, "completed")
    assert "out of luck" in row["completion_failure"]
"""

# Runs after the modules above (files are collected in order): their clean-up left nothing.
CLEANUP_MODULE = """
import trio

from restate_trio.testing import RestateServer


async def test_modules_clean_up(restate_server: RestateServer):
    with trio.fail_after(10):
        while await restate_server.query(
            "SELECT id FROM sys_invocation WHERE status != 'completed'"
        ):
            await trio.sleep(0.05)
    deployments = (await restate_server.admin_get("/deployments")).json()
    assert deployments == {"deployments": []}
"""


@pytest.fixture
def plugin_tester(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, restate_server_binary: Path
) -> pytest.Pytester:
    """A pytester directory with trio mode on and the repository's restate-server."""
    pytester.makeini(INI)
    pytester.makepyfile(probe_services=PROBE_SERVICES)
    monkeypatch.setenv("RESTATE_SERVER_BIN", str(restate_server_binary))
    return pytester


def test_fixtures_settings_and_reports(plugin_tester: pytest.Pytester) -> None:
    plugin_tester.makepyfile(
        test_a_default=DEFAULT_MODULE,
        test_b_marked=MARKED_MODULE,
        test_c_example=EXAMPLE.read_text(encoding="utf-8"),
        test_d_cleanup=CLEANUP_MODULE,
        test_e_shop=SHOP_EXAMPLE.read_text(encoding="utf-8"),
        test_f_tutorial=TUTORIAL_EXAMPLE.read_text(encoding="utf-8"),
        test_g_signed=SIGNED_EXAMPLE.read_text(encoding="utf-8"),
        test_h_replayed=REPLAYED_EXAMPLE.read_text(encoding="utf-8"),
    )
    result = plugin_tester.runpytest("-p", "no:cacheprovider")
    example_tests = sum(
        path.read_text(encoding="utf-8").count("\nasync def test_")
        for path in (
            EXAMPLE,
            SHOP_EXAMPLE,
            TUTORIAL_EXAMPLE,
            SIGNED_EXAMPLE,
            REPLAYED_EXAMPLE,
        )
    )
    result.assert_outcomes(passed=7 + example_tests, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_fails_and_reports_the_stuck_invocation*",
            # (pytest-trio reports it inside an exception group)
            "* restate_trio.testing.InvocationTimeoutError: invocation inv_* did not reach "
            "status [[]'completed'[]] within 0.5 s; invocation inv_* (Flaky/fail) is '*', "
            "retried * times, last_failure: [[]500 Internal[]] RuntimeError: out of patience*",
            "*- restate invocations not completed (<RestateServer *) -*",
            "invocation inv_* (Flaky/fail) is '*', retried * times, last_failure: "
            "[[]500 Internal[]] RuntimeError: out of patience*",
            "*- restate-server log (<RestateServer *), last lines -*",
        ]
    )


COMMAND_LINE_MODULE = """
import uuid

import probe_services
from restate_trio.testing import RestateServer


async def test_replays_and_does_not_retry(
    restate_server: RestateServer, restate_deployment: str
):
    name = uuid.uuid4().hex
    response = await restate_server.ingress("/Probe/nap", name)
    assert response.json() == name
    assert probe_services.EXECUTIONS.count(name) == 2
    sent = await restate_server.ingress("/Flaky/fail/send", "luck")
    row = await restate_server.wait_for_invocation_status(sent.invocation_id, "completed")
    assert "out of luck" in row["completion_failure"]
"""


def test_command_line_options_and_ini_endpoint(plugin_tester: pytest.Pytester) -> None:
    """No marker and no fixture override: the ini names the endpoint, the command line
    sets the server up."""
    plugin_tester.makeini(INI + "restate_endpoint = probe_services:endpoint\n")
    plugin_tester.makepyfile(test_command_line=COMMAND_LINE_MODULE)
    result = plugin_tester.runpytest(
        "-p", "no:cacheprovider", "--restate-always-replay", "--restate-disable-retries"
    )
    result.assert_outcomes(passed=1)


MISUSE = {
    "test_marked_test": """
import pytest

@pytest.mark.restate(always_replay=True)
def test_marked():
    pass
""",
    "test_unknown_keyword": """
import pytest

pytestmark = pytest.mark.restate(always_replays=True)

def test_unknown():
    pass
""",
    "test_no_endpoint": """
def test_no_endpoint(restate_deployment):
    pass
""",
}


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (
            "test_marked_test",
            "test_marked_test.py::test_marked: the `restate` marker configures the server of a "
            "whole module: set it with `pytestmark = pytest.mark.restate(...)` at module level",
        ),
        (
            "test_unknown_keyword",
            "test_unknown_keyword.py: the `restate` marker takes the keywords always_replay, "
            "disable_retries, protocol_v7, not ['always_replays']",
        ),
        (
            "test_no_endpoint",
            "test_no_endpoint.py: no endpoint to serve: define a `restate_endpoint` fixture",
        ),
    ],
)
def test_misuse_is_reported(plugin_tester: pytest.Pytester, module: str, message: str) -> None:
    plugin_tester.makepyfile(**{module: MISUSE[module]})
    result = plugin_tester.runpytest("-p", "no:cacheprovider")
    assert result.ret != pytest.ExitCode.OK
    output = "\n".join(result.outlines + result.errlines)
    assert message in output, output
