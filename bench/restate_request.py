"""The request headers restate-server 1.7.12 sends when it starts an invocation (captured from
the benchmark), for the in-process harnesses that play the runtime (``bench/h2cost.py``,
``bench/stackcost.py``)."""

#: The invocation protocol version restate-server 1.7.12 negotiates by default.
INVOCATION_CONTENT_TYPE = b"application/vnd.restate.invocation.v6"


def request_headers(path: bytes, n: int) -> list[tuple[bytes, bytes]]:
    """The headers of the ``n``-th invocation request to ``path``: the invocation id differs
    per request, as Restate's do; ``:path`` is at index 3."""
    return [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":authority", b"127.0.0.1:9080"),
        (b":path", path),
        (b"content-type", INVOCATION_CONTENT_TYPE),
        (b"accept", INVOCATION_CONTENT_TYPE),
        (b"x-restate-invocation-id", b"inv_1%037d" % n),
        (b"x-restate-cluster-name", b"localcluster"),
    ]
