"""Tutorial step 5: the application's tests, with restate-trio's pytest plugin.

The plugin starts a real restate-server for the session, serves ``restate_endpoint`` for this
module and hands each test a ``restate_client``. The endpoint runs in a thread of the test
process, so the tests can look at what the stand-ins of the outside world did
(``signup.SENT``). (This repository's suite runs this file through pytester:
tests/test_plugin.py.)
"""

from __future__ import annotations

import uuid

import pytest
import trio

import restate_trio as restate
from examples.tutorial import signup
from examples.tutorial.app import endpoint
from examples.tutorial.greeter import Greeter
from examples.tutorial.signup import Signup, SignupRequest
from examples.tutorial.visits import Visits
from restate_trio.client import Client, InvocationFailedError


@pytest.fixture(scope="module")
def restate_endpoint() -> restate.Endpoint:
    return endpoint


def fresh_email() -> str:
    """An address of this test's own: workflows and objects outlive a test."""
    return f"{uuid.uuid4().hex[:8]}@example.com"


async def verification_code(email: str) -> str:
    """The code the workflow mailed to ``email`` (polled: the mail goes out asynchronously)."""
    with trio.fail_after(10):
        while True:
            for kind, text in signup.SENT:
                if kind == "verification" and text.startswith(f"{email}: "):
                    return text.removeprefix(f"{email}: ")
            await trio.sleep(0.01)


async def test_step1_greet(restate_client: Client) -> None:
    assert await restate_client.service_call(Greeter.greet, "Ada") == "Hello Ada!"


async def test_step2_visits_are_counted_per_visitor(restate_client: Client) -> None:
    visitor = f"ada-{uuid.uuid4().hex[:8]}"
    assert await restate_client.object_call(Visits.visit, visitor) == (
        f"Hello {visitor}, visit number 1!"
    )
    await restate_client.object_call(Visits.visit, visitor)
    assert await restate_client.object_call(Visits.count, visitor) == 2


async def test_steps3_and_4_signup_verifies_then_onboards(restate_client: Client) -> None:
    email = fresh_email()
    run = await restate_client.workflow_submit(Signup.run, email, SignupRequest(email))
    code = await verification_code(email)
    await restate_client.workflow_call(Signup.verify, email, code)
    assert await run.attach() == f"welcome, {email.split('@')[0]}"
    assert await restate_client.workflow_call(Signup.status, email) == "onboarded"
    # The three onboarding steps ran once each (in whatever order they finished).
    done = sorted(kind for kind, text in signup.SENT if text == email)
    assert done == ["account", "newsletter", "welcome"]


async def test_step3_an_unverified_signup_expires(restate_client: Client) -> None:
    email = fresh_email()
    request = SignupRequest(email, verify_within_seconds=0.2)
    with pytest.raises(InvocationFailedError, match="expired") as failure:
        await restate_client.workflow_call(Signup.run, email, request)
    assert failure.value.code == 408
    assert await restate_client.workflow_call(Signup.status, email) == "expired"


async def test_step3_a_wrong_code_fails_the_signup(restate_client: Client) -> None:
    email = fresh_email()
    run = await restate_client.workflow_submit(Signup.run, email, SignupRequest(email))
    await verification_code(email)
    await restate_client.workflow_call(Signup.verify, email, "nope")
    with pytest.raises(InvocationFailedError, match="wrong") as failure:
        await run.attach()
    assert failure.value.code == 400
