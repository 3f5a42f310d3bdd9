"""The transport tests run against both HTTP servers of ``Endpoint.serve``.

Tests that take the ``transport`` fixture run once per server (ids ``[hypercorn]`` and
``[h2]``). Behaviour only one server has (HTTP/1.1, which the h2 server does not speak yet, and
hypercorn's end-after-the-request-ended workaround) is tested by separately named tests that
say which server they are about.
"""

from __future__ import annotations

import pytest

TRANSPORTS = ["hypercorn", "h2"]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """The ``server=`` argument of ``Endpoint.serve`` under test."""
    return str(request.param)
