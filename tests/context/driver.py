"""Drive one invocation attempt of the context layer with scripted frames, without a server.

The driver plays the transport (see the docstring of ``restate_trio/_context/invocation.py``):
it feeds the runtime's frames with ``attempt.feed``/``feed_eof``, "writes" what
``attempt.next_output()`` returns (parsed back into messages) until it returns ``None`` (or,
in the ``"listen"`` mode, what ``attempt.take_output()`` returns whenever the ``on_output``
listener was called, until it says the attempt is over), and awaits ``attempt.run()``; all
in one nursery. A test then scripts the runtime's side and
asserts the exact messages the attempt wrote::

    async with drive(Greeter(), "greet", version=7) as d:
        d.start(body=b'"x"', eof=True)
        assert await d.finish() == [m.OutputCommandMessage(...), m.EndMessage()]

:meth:`Driver.output` returns what was written once every task is blocked (trio's
``wait_all_tasks_blocked``), so the tests never sleep to synchronise. Tests request
pytest-trio's ``autojump_clock`` fixture (:func:`drive` checks that they did): a ``trio.sleep``
in a run closure or in the test then passes instantly, in virtual time. (A closure running in a
worker thread is not "a blocked task": while it works, the autojump clock would jump to the
driver's deadlines, so a test with a sync closure turns autojumping off.)
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio
import trio.testing

from restate_trio import reflect
from restate_trio._context.invocation import Attempt
from restate_trio._protocol import messages as m
from restate_trio._protocol.machine import StateMachine
from tests.protocol.transcripts import frames, journal_bytes, parse_frames

#: How the driver's writer takes the attempt's output: ``"await"`` (``next_output``) or
#: ``"listen"`` (``on_output`` + ``take_output``); conftest.py runs every test with both.
OUTPUT_MODE: contextvars.ContextVar[str] = contextvars.ContextVar("output_mode", default="await")

# Virtual seconds (autojump clock) an attempt gets to end once the test is done with it.
_END_TIMEOUT = 600

Frame = tuple[m.MessageType, int, m.Message]


class Driver:
    """The runtime's side of one attempt: feed frames in, read the messages written back."""

    def __init__(self, attempt: Attempt) -> None:
        self.attempt = attempt
        self.machine = attempt.machine
        self._written: list[Frame] = []
        self._read = 0
        #: Set once ``attempt.run()`` returned.
        self.ended = trio.Event()
        #: Set once ``attempt.next_output()`` returned ``None``.
        self.output_closed = trio.Event()

    # ------------------------------------------------------------------ runtime → attempt

    def start(
        self,
        journal: Sequence[m.Message] = (),
        *,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
        eof: bool = False,
        **start_kw: object,
    ) -> None:
        """Start + Input + ``journal`` in one batch (``eof``: then close the request body)."""
        self.attempt.feed(journal_bytes(journal, body=body, headers=headers, **start_kw))
        if eof:
            self.attempt.feed_eof()

    def feed(self, *messages: m.Message) -> None:
        """``messages`` as one batch of bytes, as if they arrived in one HTTP/2 data frame."""
        self.attempt.feed(frames(*messages))

    def feed_eof(self) -> None:
        self.attempt.feed_eof()

    # ------------------------------------------------------------------ attempt → runtime

    async def frames(self) -> list[Frame]:
        """``(type, flags, message)`` of everything written since the last read, once every
        task is blocked."""
        await trio.testing.wait_all_tasks_blocked()
        new = self._written[self._read :]
        self._read = len(self._written)
        return new

    async def output(self) -> list[m.Message]:
        """The messages written since the last read, once every task is blocked."""
        return [msg for _, _, msg in await self.frames()]

    async def finish(self) -> list[m.Message]:
        """Wait until the attempt ended and its output stream closed; the rest of its output."""
        with trio.fail_after(_END_TIMEOUT):
            await self.ended.wait()
            await self.output_closed.wait()
        return await self.output()

    # ------------------------------------------------------------------ the transport's tasks

    async def _run(self) -> None:
        await self.attempt.run()
        self.ended.set()

    async def _write(self) -> None:
        """A writer task awaiting ``next_output`` (the ASGI transport's way)."""
        while (data := await self.attempt.next_output()) is not None:
            assert data, "next_output returned no bytes"
            self._written.extend(parse_frames(data))
        self.output_closed.set()

    async def _pull(self) -> None:
        """A writer that is told about output and pulls it (the h2 server's way)."""
        told = trio.Event()

        def listener() -> None:
            told.set()

        self.attempt.on_output(listener)
        while True:
            await told.wait()
            told = trio.Event()
            data, over = self.attempt.take_output()
            self._written.extend(parse_frames(data))
            if over:
                assert not self.attempt.take_output()[0], "output after the attempt was over"
                self.output_closed.set()
                return


@asynccontextmanager
async def drive(service: object, handler: str, *, version: int = 6) -> AsyncIterator[Driver]:
    """An attempt of ``handler`` of ``service`` (a plain class instance, reflected), speaking
    protocol ``version``. On leaving, the attempt must have ended and every message it wrote
    must have been read by the test (so that no frame goes unasserted)."""
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, trio.testing.MockClock), "request the autojump_clock fixture"
    assert clock.autojump_threshold == 0, "request the autojump_clock fixture"
    definition = reflect(service).handlers[handler]
    attempt = Attempt(StateMachine(version), definition, {}, codec=definition.effective_codec)
    driver = Driver(attempt)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(driver._run, name="attempt.run")
        writer = driver._pull if OUTPUT_MODE.get() == "listen" else driver._write
        nursery.start_soon(writer, name="writer")
        try:
            yield driver
            with trio.fail_after(_END_TIMEOUT):
                await driver.ended.wait()
                await driver.output_closed.wait()
        except BaseException:
            nursery.cancel_scope.cancel()  # the test failed: stop the attempt
            raise
    await trio.testing.wait_all_tasks_blocked()
    unread = driver._written[driver._read :]
    assert not unread, f"output the test did not assert: {unread}"
