"""Rejections an unauthenticated peer can cause are logged at WARNING at most once per interval."""

from __future__ import annotations

import logging

import pytest
import trio
from rawh2 import connect, input_frame, invocation_headers, start_frame
from test_asgi import default_endpoint, serving

from restate_trio._protocol.identity import generate_signing_key
from restate_trio._transport.logs import RateLimitedWarning


def test_one_warning_per_interval_the_rest_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RateLimitedWarning(
        logging.getLogger("test.ratelimit"), interval=10.0, clock=lambda: now[0]
    )
    with caplog.at_level(logging.DEBUG, logger="test.ratelimit"):
        for i in range(5):
            log("rejected %s", i)
        now[0] = 9.9
        log("rejected %s", 5)
        now[0] = 10.0
        log("rejected %s", 6)
    levels = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert levels == [
        (logging.WARNING, "rejected 0"),
        *[(logging.DEBUG, f"rejected {i}") for i in range(1, 6)],
        (logging.WARNING, "rejected 6 (and 5 more since the last such warning, logged at DEBUG)"),
    ]


async def test_a_flood_of_unsigned_requests_writes_one_warning(
    caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    _, public_key = generate_signing_key()
    endpoint, _ = default_endpoint(identity_keys=[public_key])
    with caplog.at_level(logging.DEBUG, logger="restate_trio"):
        async with serving(endpoint, transport) as url, connect(url) as client:
            with trio.fail_after(30):
                for _ in range(20):
                    state = await client.request(
                        "/invoke/Greeter/greet",
                        headers=invocation_headers(),
                        body=start_frame() + input_frame(b'"x"'),
                    )
                    await client.response(state)
                    assert state.status == 401
    rejections = [r for r in caplog.records if "rejected request" in r.getMessage()]
    assert len(rejections) == 20
    assert [r.levelno for r in rejections].count(logging.WARNING) == 1
