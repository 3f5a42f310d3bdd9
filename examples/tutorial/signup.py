"""Tutorial steps 3 and 4: a workflow that waits for a durable promise, with a durable
timeout, then onboards the new user in a durable nursery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import restate_trio as restate


@dataclass
class SignupRequest:
    email: str
    #: How long the user has to click the link in the verification mail.
    verify_within_seconds: float = 24 * 3600


class Signup:
    """One workflow per email address: ``run`` executes once, whatever the retries."""

    async def run(self, ctx: restate.WorkflowContext, request: SignupRequest) -> str:
        """Send a verification code, wait for it to come back, then onboard the user."""
        code = await ctx.run("make code", make_code, ctx.uuid())
        await ctx.run("send mail", send_verification_mail, request.email, code)
        ctx.set("status", "waiting for verification")

        with restate.move_on_after(ctx, timedelta(seconds=request.verify_within_seconds)):
            if await ctx.promise("code", type=str).value() != code:
                ctx.set("status", "wrong code")
                raise restate.TerminalError("the verification code is wrong", code=400)
            ctx.set("status", "verified")
            return await onboard(ctx, request.email)

        ctx.set("status", "expired")
        raise restate.TerminalError("the verification code expired", code=408)

    async def verify(self, ctx: restate.WorkflowSharedContext, code: str) -> None:
        """The link in the mail lands here: hand the code to ``run``."""
        await ctx.promise("code", type=str).resolve(code)

    async def status(self, ctx: restate.WorkflowSharedContext) -> str | None:
        """Where the signup is."""
        return await ctx.get("status", type=str)


# --- step 4: onboarding, three steps at once ---------------------------------------------


async def onboard(ctx: restate.WorkflowContext, email: str) -> str:
    """Create the account, send the welcome mail and subscribe to the newsletter at once."""
    # (A nursery block can absorb a cancellation, as trio's can, so type checkers call a name
    # first bound inside it "possibly unbound" after it: the handles get a home before.)
    account: list[restate.TaskResult[str]] = []
    async with restate.open_nursery(ctx) as nursery:
        account.append(nursery.start_soon_result(ctx.run, "create account", create_account, email))
        nursery.start_soon(ctx.run, "welcome mail", send_welcome_mail, email)
        nursery.start_soon(ctx.run, "newsletter", subscribe, email)
    ctx.set("status", "onboarded")
    return f"welcome, {account[0].value}"


# --- the outside world (stand-ins for a mailer, a user database, a newsletter service) ----

#: What the stand-ins did, in the order they did it (the tests look at it).
SENT: list[tuple[str, str]] = []


async def make_code(seed: str) -> str:
    return seed[:6]


async def send_verification_mail(email: str, code: str) -> None:
    SENT.append(("verification", f"{email}: {code}"))


async def create_account(email: str) -> str:
    SENT.append(("account", email))
    return email.split("@")[0]


async def send_welcome_mail(email: str) -> None:
    SENT.append(("welcome", email))


async def subscribe(email: str) -> None:
    SENT.append(("newsletter", email))
