"""restate_trio.service in use: classes turned into service definitions, and their options.

``tests/e2e/test_reference_definitions.py`` serves :data:`endpoint`, calls the handlers and
reads back from the Restate server what it was told about each service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import restate_trio as restate
from restate_trio.codecs import BytesCodec, CborCodec
from restate_trio.service import HandlerKind, HandlerOptions, ServiceKind, ServiceOptions


# [reflect]
class Greeter:
    """Greets people (the Restate UI shows this text)."""

    async def greet(self, ctx: restate.Context, name: str) -> str:
        return f"Hello {name}!"

    def polite(self, name: str) -> str:  # no context parameter: not a handler
        return f"Good day, {name}."


greeter = restate.reflect(Greeter())  # a Service named "Greeter" with one handler
# [/reflect]

# [HandlerDefinition]
greet = greeter.handler("greet")  # or greeter.handlers["greet"]
assert (greet.input_type, greet.output_type) == (str, str)
assert greet.effective_input_codec.content_type == "application/json"
# [/HandlerDefinition]

# [ServiceDefinition]
hello = restate.reflect(Greeter(), name="Hello").configure_handler(
    "greet", documentation="Says hello.", inactivity_timeout=timedelta(minutes=1)
)
# Definitions are immutable: configure_handler returned a changed copy.
assert greeter.handler("greet").documentation is None
assert hello.handler("greet").documentation == "Says hello."
# [/ServiceDefinition]

# [ServiceOptions]
options: ServiceOptions = {
    "documentation": "Greets people, politely.",
    "metadata": {"team": "front desk"},
    "inactivity_timeout": timedelta(minutes=2),
}
polite = restate.reflect(Greeter(), name="Polite", **options)
# [/ServiceOptions]


# [ServiceKind]
class Cart:
    async def add(self, ctx: restate.ObjectContext, item: str) -> int:
        count = (await ctx.get(item, type=int) or 0) + 1
        ctx.set(item, count)
        return count

    async def items(self, ctx: restate.ObjectSharedContext) -> list[str]:
        return await ctx.state_keys()

    async def clear(self, ctx: restate.ObjectContext) -> None:
        ctx.clear_all()


cart = restate.reflect(Cart())
assert cart.kind is ServiceKind.VIRTUAL_OBJECT  # decided by the context annotations
# [/ServiceKind]

# [HandlerKind]
assert cart.handler("add").kind is HandlerKind.EXCLUSIVE  # ObjectContext: one at a time
assert cart.handler("items").kind is HandlerKind.SHARED  # ObjectSharedContext: concurrent
assert greeter.handler("greet").kind is None  # a plain service's handlers have no kind
# [/HandlerKind]

# [HandlerOptions]
back_office: HandlerOptions = {"ingress_private": True, "documentation": "Internal only."}
# The ingress refuses Cart.clear now; other services may still call it.
cart = cart.configure_handler("clear", **back_office)
# [/HandlerOptions]


@dataclass
class Reading:
    sensor: str
    celsius: float


# [service_codec]
@restate.service_codec(CborCodec())
class Sensors:
    """Speaks CBOR: inputs, outputs and state."""

    async def fahrenheit(self, ctx: restate.Context, reading: Reading) -> float:
        return reading.celsius * 9 / 5 + 32


class Station:
    async def report(self, ctx: restate.Context, reading: Reading) -> str:
        # A call by method reference encodes with the callee's codec: CBOR here.
        degrees = await ctx.service_call(Sensors.fahrenheit, reading)
        return f"{reading.sensor}: {degrees:.1f} °F"


# [/service_codec]


# [handler]
class Uploads:
    @restate.handler(input_codec=BytesCodec(), accept="*/*")
    async def size(self, ctx: restate.Context, data: bytes) -> int:
        # Any content type is accepted, and the body arrives as raw bytes.
        return len(data)


# [/handler]


# [service_name]
@restate.service_name("greetings")
class GreeterService:
    async def greet(self, ctx: restate.Context, name: str) -> str:
        return f"Greetings, {name}!"


# Served as "greetings" (curl localhost:8080/greetings/greet --json '"Ada"').
greetings = restate.reflect(GreeterService())
# [/service_name]


endpoint = restate.Endpoint().bind(
    greeter,
    hello,
    polite,
    cart,
    restate.reflect(Sensors()),
    restate.reflect(Station()),
    restate.reflect(Uploads()),
    greetings,
)
