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
from .context import (
    Context as Context,
    DurableFuture as DurableFuture,
    ObjectContext as ObjectContext,
    ObjectSharedContext as ObjectSharedContext,
    Request as Request,
    WorkflowContext as WorkflowContext,
    WorkflowSharedContext as WorkflowSharedContext,
)
from .endpoint import Endpoint as Endpoint
from .errors import TerminalError as TerminalError
from .service import (
    ServiceDefinition as ServiceDefinition,
    ServiceDefinitionError as ServiceDefinitionError,
    reflect as reflect,
    service_name as service_name,
)

__all__ = [
    "Context",
    "DurableFuture",
    "Endpoint",
    "ObjectContext",
    "ObjectSharedContext",
    "Request",
    "ServiceDefinition",
    "ServiceDefinitionError",
    "TerminalError",
    "WorkflowContext",
    "WorkflowSharedContext",
    "__version__",
    "reflect",
    "service_name",
]
