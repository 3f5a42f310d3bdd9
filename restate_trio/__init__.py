"""restate-trio: a trio-native SDK for Restate, the durable-execution engine.

Write services as plain classes, :func:`reflect` them, bind them to an :class:`Endpoint` and
serve it with hypercorn's trio worker::

    import trio
    import restate_trio as restate

    class Greeter:
        async def greet(self, ctx: restate.Context, name: str) -> str:
            return f"Hello {name}!"

    endpoint = restate.Endpoint().bind(restate.reflect(Greeter()))
    app = endpoint.app()  # hypercorn -k trio module:app

    if __name__ == "__main__":
        trio.run(endpoint.serve, "127.0.0.1:9080")
"""

from ._version import __version__ as __version__
from .combinators import (
    DurableTimeoutError as DurableTimeoutError,
    all_completed as all_completed,
    all_succeeded as all_succeeded,
    as_completed as as_completed,
    first_completed as first_completed,
    first_succeeded as first_succeeded,
    with_timeout as with_timeout,
)
from .concurrency import (
    DurableCancelScope as DurableCancelScope,
    DurableNursery as DurableNursery,
    TaskResult as TaskResult,
    fail_after as fail_after,
    fail_at as fail_at,
    move_on_after as move_on_after,
    move_on_at as move_on_at,
    open_nursery as open_nursery,
)
from .context import (
    CallFuture as CallFuture,
    CallOptions as CallOptions,
    Context as Context,
    DurableFuture as DurableFuture,
    DurablePromise as DurablePromise,
    DurableRandom as DurableRandom,
    ObjectContext as ObjectContext,
    ObjectSharedContext as ObjectSharedContext,
    Request as Request,
    SendHandle as SendHandle,
    SendOptions as SendOptions,
    WorkflowContext as WorkflowContext,
    WorkflowSharedContext as WorkflowSharedContext,
)
from .endpoint import Endpoint as Endpoint
from .errors import (
    Cancelled as Cancelled,
    ServiceDefinitionError as ServiceDefinitionError,
    TerminalError as TerminalError,
)
from .retry import InvocationRetryPolicy as InvocationRetryPolicy, RetryPolicy as RetryPolicy
from .service import (
    HandlerDefinition as HandlerDefinition,
    HandlerKind as HandlerKind,
    ServiceDefinition as ServiceDefinition,
    ServiceKind as ServiceKind,
    handler as handler,
    reflect as reflect,
    service_codec as service_codec,
    service_name as service_name,
)

__all__ = [
    "CallFuture",
    "CallOptions",
    "Cancelled",
    "Context",
    "DurableCancelScope",
    "DurableFuture",
    "DurableNursery",
    "DurablePromise",
    "DurableRandom",
    "DurableTimeoutError",
    "Endpoint",
    "HandlerDefinition",
    "HandlerKind",
    "InvocationRetryPolicy",
    "ObjectContext",
    "ObjectSharedContext",
    "Request",
    "RetryPolicy",
    "SendHandle",
    "SendOptions",
    "ServiceDefinition",
    "ServiceDefinitionError",
    "ServiceKind",
    "TaskResult",
    "TerminalError",
    "WorkflowContext",
    "WorkflowSharedContext",
    "__version__",
    "all_completed",
    "all_succeeded",
    "as_completed",
    "fail_after",
    "fail_at",
    "first_completed",
    "first_succeeded",
    "handler",
    "move_on_after",
    "move_on_at",
    "open_nursery",
    "reflect",
    "service_codec",
    "service_name",
    "with_timeout",
]
