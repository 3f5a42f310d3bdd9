"""The transport tests run against both HTTP servers of ``Endpoint.serve``.

Tests that take the ``transport`` fixture run once per server (ids ``[builtin]``, restate-trio's
own server and the default, and ``[hypercorn]``). Behaviour only one server has (hypercorn's
end-after-the-request-ended workaround; the builtin server's own limits and HTTP/1.1
connection handling) is tested by separately named tests or modules that say which server
they are about.
"""

from __future__ import annotations

import pytest

TRANSPORTS = ["builtin", "hypercorn"]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """The ``server=`` argument of ``Endpoint.serve`` under test."""
    return str(request.param)
