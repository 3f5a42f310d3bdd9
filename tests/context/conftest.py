"""Every context test runs with both ways a transport can take an attempt's output."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.context.driver import OUTPUT_MODE


@pytest.fixture(autouse=True, params=["await", "listen"])
def output_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """``await``: a writer task awaits ``next_output`` (the ASGI path); ``listen``: the
    ``on_output`` listener wakes a writer that pulls ``take_output`` (the h2 server)."""
    token = OUTPUT_MODE.set(str(request.param))
    try:
        yield str(request.param)
    finally:
        OUTPUT_MODE.reset(token)
