"""Services for tests/e2e/test_attach.py (module level: calls by reference find them here)."""

from __future__ import annotations

import dataclasses

import restate_trio as restate

RUNS: dict[str, int] = {}


@dataclasses.dataclass
class Welcome:
    email: str
    attempt: int


class Onboarding:
    async def run(self, ctx: restate.WorkflowContext, email: str) -> Welcome:
        RUNS[email] = RUNS.get(email, 0) + 1
        return Welcome(email, RUNS[email])


class Billing:
    async def charge(self, ctx: restate.Context, amount: int) -> str:
        key = f"charge-{amount}"
        RUNS[key] = RUNS.get(key, 0) + 1
        return f"charged {amount}"


class Front:
    async def signup(self, ctx: restate.Context, email: str) -> str:
        ctx.workflow_send(Onboarding.run, email, email)
        welcome = await ctx.attach_workflow(Onboarding.run, email)
        assert isinstance(welcome, Welcome)
        return f"{welcome.email}#{welcome.attempt}"

    async def pay(self, ctx: restate.Context, amount: int) -> list[str]:
        ctx.service_send(Billing.charge, amount, idempotency_key=f"pay-{amount}")
        first = await ctx.attach_idempotent(Billing.charge, f"pay-{amount}")
        # A second send with the same key is deduplicated: attaching gives the same result.
        ctx.service_send(Billing.charge, amount, idempotency_key=f"pay-{amount}")
        second = await ctx.attach_idempotent(Billing.charge, f"pay-{amount}")
        return [first, second]


def endpoint() -> restate.Endpoint:
    return restate.Endpoint().bind(
        restate.reflect(Onboarding()), restate.reflect(Billing()), restate.reflect(Front())
    )
