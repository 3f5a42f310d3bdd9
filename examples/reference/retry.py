"""restate_trio.retry in use: a retried ``ctx.run`` step, and an invocation retry policy.

``tests/e2e/test_reference_handlers.py`` serves the services and calls their handlers.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import trio

import restate_trio as restate


class Billing:
    # [RetryPolicy]
    async def charge(self, ctx: restate.Context, card: str) -> str:
        policy = restate.RetryPolicy(max_attempts=3, initial_interval=timedelta(milliseconds=50))
        try:
            return await ctx.run("charge the card", charge_card, card, retry=policy)
        except restate.TerminalError as error:
            # Three executions failed: the step's failure is now terminal, and handled here.
            return f"declined: {error.message}"

    # [/RetryPolicy]


# A stand-in for a payment gateway: it is down for cards named "broken…".
GATEWAY_CALLS = Counter[str]()


async def charge_card(card: str) -> str:
    GATEWAY_CALLS[card] += 1
    await trio.lowlevel.checkpoint()
    if card.startswith("broken"):
        raise ConnectionError("the gateway is unreachable")
    return f"charged {card}"


# [InvocationRetryPolicy]
class Reports:
    async def render(self, ctx: restate.Context, name: str) -> str:
        # A KeyError is a bug, not a terminal failure: Restate retries the invocation.
        return TEMPLATES[name].format(key=ctx.request().id)


TEMPLATES = {"daily": "daily report {key}"}

reports = restate.reflect(
    Reports(),
    # Applied by the server: three attempts at most (the first retry after 50 ms), then kill.
    retry_policy=restate.InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=50), max_attempts=3, on_max_attempts="kill"
    ),
)
# [/InvocationRetryPolicy]

endpoint = restate.Endpoint().bind(restate.reflect(Billing()), reports)
