"""The client's retry policy and request loop, without a server: what is retried, how often,
after how long. (Retries against a real restate-server are in tests/e2e/test_client.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import trio
import trio.testing

from restate_trio._client.addressing import call_path, delay_query, idempotent_path
from restate_trio._client.http import HttpSeam
from restate_trio._client.retry import RequestRetryPolicy, retry_after_seconds
from restate_trio.client import TransportError

NO_JITTER = RequestRetryPolicy(
    max_attempts=4,
    initial_delay=timedelta(milliseconds=100),
    factor=2.0,
    max_delay=timedelta(milliseconds=300),
    jitter=False,
)


@pytest.mark.parametrize("status", [429, 502, 503, 504, None])
def test_retryable_failures_are_retried_until_the_last_attempt(status: int | None) -> None:
    assert [NO_JITTER.should_retry(n, status) for n in (1, 2, 3, 4)] == [True, True, True, False]


@pytest.mark.parametrize("status", [200, 202, 400, 404, 409, 470, 500, 501])
def test_other_statuses_are_not_retried(status: int) -> None:
    assert not NO_JITTER.should_retry(1, status)


def test_backoff_grows_by_factor_up_to_the_cap() -> None:
    assert [NO_JITTER.delay(n) for n in (1, 2, 3, 4)] == pytest.approx([0.1, 0.2, 0.3, 0.3])


def test_retry_after_is_respected_and_capped() -> None:
    assert NO_JITTER.delay(1, retry_after=0.25) == pytest.approx(0.25)
    assert NO_JITTER.delay(1, retry_after=60.0) == pytest.approx(0.3)
    ignoring = RequestRetryPolicy(respect_retry_after=False, jitter=False)
    assert ignoring.delay(1, retry_after=4.0) == pytest.approx(0.1)


def test_jitter_stays_in_the_upper_half() -> None:
    policy = RequestRetryPolicy(initial_delay=timedelta(seconds=1), jitter=True)
    waits = [policy.delay(1) for _ in range(200)]
    assert all(0.5 <= wait <= 1.0 for wait in waits)
    assert len(set(waits)) > 1


def test_a_single_attempt_never_retries() -> None:
    assert not RequestRetryPolicy(max_attempts=1).should_retry(1, 503)


@pytest.mark.parametrize(
    "options",
    [{"max_attempts": 0}, {"factor": 0.5}, {"initial_delay": timedelta(seconds=-1)}],
)
def test_invalid_policies_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RequestRetryPolicy(**options)  # type: ignore[arg-type]


def test_retry_after_header_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("3", now) == 3.0
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:05 GMT", now) == pytest.approx(5.0)
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_paths_encode_user_segments() -> None:
    assert call_path("Counter", "add", "a/b c") == "/Counter/a%2Fb%20c/add"
    assert call_path("Greeter", "greet", None, send=True) == "/Greeter/greet/send"
    assert call_path("Counter", "add", "") == "/Counter//add"
    assert (
        idempotent_path("Counter", "add", "k", "id/1", "attach")
        == "/restate/invocation/Counter/k/add/id%2F1/attach"
    )
    assert delay_query(timedelta(seconds=1.5)) == {"delay": "1500ms"}
    assert delay_query(None) == {}
    with pytest.raises(ValueError):
        delay_query(timedelta(seconds=-1))


# --------------------------------------------------------------------------- the request loop


def _seam(answers: list[httpx.Response | Exception], policy: RequestRetryPolicy | None):
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    seam = HttpSeam(
        "http://restate",
        headers={"x-default": "1"},
        retry=policy,
        http_client=http,
        propagate_trace=False,
    )
    return seam, seen


async def test_the_loop_retries_a_safe_request_and_waits_retry_after(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seam, seen = _seam(
        [
            httpx.Response(503, headers={"retry-after": "2"}),
            httpx.ConnectError("refused"),
            httpx.Response(200, content=b"ok"),
        ],
        RequestRetryPolicy(max_attempts=3, max_delay=timedelta(seconds=10), jitter=False),
    )
    start = trio.current_time()
    answer = await seam.request("GET", "/x", retry_safe=True)
    assert (answer.status, answer.body) == (200, b"ok")
    assert len(seen) == 3
    # 2 s asked by Retry-After, then the second backoff step (0.2 s).
    assert trio.current_time() - start == pytest.approx(2.2)
    assert all(request.headers["x-default"] == "1" for request in seen)


async def test_the_loop_gives_up_after_max_attempts(autojump_clock: trio.testing.MockClock) -> None:
    seam, seen = _seam(
        [httpx.ConnectError("refused")] * 3, RequestRetryPolicy(max_attempts=3, jitter=False)
    )
    with pytest.raises(TransportError) as failed:
        await seam.request("GET", "/x", retry_safe=True)
    assert len(seen) == 3
    assert isinstance(failed.value.__cause__, httpx.ConnectError)
    # The last retryable answer is returned as it is.
    seam, seen = _seam([httpx.Response(503)] * 2, RequestRetryPolicy(max_attempts=2))
    assert (await seam.request("GET", "/x", retry_safe=True)).status == 503
    assert len(seen) == 2


async def test_the_loop_never_retries_an_unsafe_request() -> None:
    seam, seen = _seam([httpx.Response(503)], RequestRetryPolicy(max_attempts=5))
    assert (await seam.request("POST", "/x", retry_safe=False)).status == 503
    assert len(seen) == 1
