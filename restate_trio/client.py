"""Call Restate from trio programs: the ingress client and a small admin client.

Calls by method reference are typed like the calls in handlers (``ctx.service_call``) and use
the callee's declared codecs::

    import trio
    from restate_trio.client import Client

    async def main() -> None:
        async with Client("http://127.0.0.1:8080") as client:
            greeting = await client.service_call(Greeter.greet, "Ada")
            handle = await client.object_send(Counter.add, "alice", 5, idempotency_key="a-5")
            total = await handle.attach()

Timeouts are trio cancel scopes: ``with trio.fail_after(5): await client.service_call(...)``.
Errors are :class:`ClientError` subclasses carrying Restate's code and message. See
``docs/client.md`` for the guide.
"""

from __future__ import annotations

from ._client.admin import AdminClient, Deployment, HandlerInfo, ServiceInfo
from ._client.errors import (
    AdminError,
    ClientError,
    IngressError,
    InvocationFailedError,
    InvocationNotFoundError,
    InvocationNotReadyError,
    NotFoundError,
    TransportError,
)
from ._client.handles import InvocationHandle, SendStatus, WorkflowHandle
from ._client.ingress import Client
from ._client.retry import RequestRetryPolicy

__all__ = [
    "AdminClient",
    "AdminError",
    "Client",
    "ClientError",
    "Deployment",
    "HandlerInfo",
    "IngressError",
    "InvocationFailedError",
    "InvocationHandle",
    "InvocationNotFoundError",
    "InvocationNotReadyError",
    "NotFoundError",
    "RequestRetryPolicy",
    "SendStatus",
    "ServiceInfo",
    "TransportError",
    "WorkflowHandle",
]

# Documented, shown in reprs and pickled as restate_trio.client.<name>, wherever defined.
for _public in (
    AdminClient,
    AdminError,
    Client,
    ClientError,
    Deployment,
    HandlerInfo,
    IngressError,
    InvocationFailedError,
    InvocationHandle,
    InvocationNotFoundError,
    InvocationNotReadyError,
    NotFoundError,
    RequestRetryPolicy,
    ServiceInfo,
    TransportError,
    WorkflowHandle,
):
    _public.__module__ = __name__
del _public
