"""Define Restate services from plain classes.

Write a class whose ``async`` methods take a context as their first parameter, and
:func:`reflect` an instance of it; the context types decide what kind of service it is (see
:mod:`restate_trio.context`)::

    import restate_trio as restate
    from restate_trio.service import reflect, service_name

    @service_name("greeter")
    class Greeter:
        \"\"\"Greets people.\"\"\"

        async def greet(self, ctx: restate.Context, name: str) -> str:
            \"\"\"Say hello to ``name``.\"\"\"
            return f"Hello {name}!"

    greeter = reflect(Greeter())
    assert greeter.name == "greeter"
    assert greeter.kind.value == "SERVICE"
    assert list(greeter.handlers) == ["greet"]
    assert greeter.documentation == "Greets people."

The resulting :class:`ServiceDefinition` is immutable; bind it to an endpoint to serve it, and
use :meth:`ServiceDefinition.configure_handler` to set options of single handlers.
Problems raise :class:`ServiceDefinitionError` (a :class:`ValueError`).
"""

from __future__ import annotations

from ._service.declarations import (
    handler as handler,
    service_codec as service_codec,
    service_name as service_name,
)
from ._service.definitions import (
    HandlerDefinition as HandlerDefinition,
    HandlerKind as HandlerKind,
    ServiceDefinition as ServiceDefinition,
    ServiceKind as ServiceKind,
)
from ._service.options import HandlerOptions as HandlerOptions, ServiceOptions as ServiceOptions
from ._service.reflect import reflect as reflect
from .errors import ServiceDefinitionError as ServiceDefinitionError
from .retry import InvocationRetryPolicy as InvocationRetryPolicy

__all__ = [
    "HandlerDefinition",
    "HandlerKind",
    "HandlerOptions",
    "InvocationRetryPolicy",
    "ServiceDefinition",
    "ServiceDefinitionError",
    "ServiceKind",
    "ServiceOptions",
    "handler",
    "reflect",
    "service_codec",
    "service_name",
]

# Defined in private modules; documented, printed and pickled as this module's.
for _public in (
    HandlerDefinition,
    HandlerKind,
    HandlerOptions,
    ServiceDefinition,
    ServiceKind,
    ServiceOptions,
    handler,
    reflect,
    service_codec,
    service_name,
):
    _public.__module__ = __name__
del _public
