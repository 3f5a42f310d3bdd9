"""The endpoint: the services you serve to Restate, as an ASGI app or a trio server.

Example::

    import trio
    import restate_trio as restate

    class Greeter:
        async def greet(self, ctx: restate.Context, name: str) -> str:
            return f"Hello {name}!"

    endpoint = restate.Endpoint()
    endpoint.bind(restate.reflect(Greeter()))
    app = endpoint.app()  # for `hypercorn -k trio module:app`

    if __name__ == "__main__":
        trio.run(endpoint.serve, "127.0.0.1:9080")

Then register it with Restate (``restate-trio register http://127.0.0.1:9080``, or serve it
with ``restate-trio dev module:endpoint``, which also starts a local Restate) and call
``curl localhost:8080/Greeter/greet --json '"Ada"'``.
"""

from __future__ import annotations

import copy
import signal
import threading
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Literal

import trio

from ._context.hooks import HookSet
from ._protocol.framing import DEFAULT_MAX_MESSAGE_SIZE
from ._protocol.identity import IdentityVerifier
from ._service.definitions import ServiceDefinition
from ._transport.router import DEFAULT_MAX_INVOCATIONS
from .codecs import DEFAULT_CODEC, PayloadCodec
from .observability import Hook

if TYPE_CHECKING:
    from hypercorn.config import Config

    from ._transport.asgi import RestateApp

__all__ = ["ASGIApp", "Endpoint"]

#: The ASGI-3 callable type: ``await app(scope, receive, send)``.
ASGIApp = Callable[
    [
        MutableMapping[str, object],
        Callable[[], Awaitable[MutableMapping[str, object]]],
        Callable[[MutableMapping[str, object]], Awaitable[None]],
    ],
    Awaitable[None],
]


class Endpoint:
    """A set of services served to Restate.

    :param identity_keys: Restate's request-identity public keys (``publickeyv1_…``). When
        given, every discovery and invocation request must carry a valid signature from one of
        them, otherwise it is answered 401. Without keys, requests are not checked.
    :param protocol_mode: ``"bidi"`` or ``"request_response"``; by default the endpoint answers
        discovery over HTTP/2 with bidirectional streaming and over HTTP/1.1 with
        request/response.
    :param max_message_size: the largest protocol message accepted from the runtime, in bytes.
    :param codec: the default payload codec of the bound services (JSON by default); a codec
        set on a service, a handler or an operation wins over it (nearest wins).
    :param max_protocol_version: the newest service protocol version to announce (5, 6 or 7);
        Restate picks the newest both sides support. Lower it to pin a version, e.g. while
        rolling out an upgrade.
    :param max_invocations: the most invocations this process runs at once (10,000 by
        default: at ~10-25 KiB per waiting invocation, up to a few hundred MiB). Beyond it a
        new invocation is refused before it starts and Restate retries it later: on HTTP/2
        the builtin server refuses the stream (REFUSED_STREAM); over HTTP/1.1, and over
        hypercorn, the answer is 503 with ``Retry-After``.
    :param max_buffered_input: the most request bytes held across all streams before they
        form whole messages (partial messages, serde bodies), by default four times
        ``max_message_size`` and at least 64 MiB. The stream that would exceed it is dropped
        (HTTP/2 reset; over hypercorn, its invocation fails and Restate retries it).
    :param hooks: instrumentation around every invocation attempt and every executed
        ``ctx.run`` closure (:class:`~restate_trio.observability.Hook`, e.g.
        :func:`restate_trio.otel.tracing_hook`); the first is the outermost. Without hooks,
        attempts take no path through them.
    """

    def __init__(
        self,
        *,
        identity_keys: Sequence[str] = (),
        protocol_mode: Literal["bidi", "request_response"] | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_protocol_version: Literal[5, 6, 7] = 7,
        codec: PayloadCodec | None = None,
        max_invocations: int = DEFAULT_MAX_INVOCATIONS,
        max_buffered_input: int | None = None,
        hooks: Sequence[Hook] = (),
    ) -> None:
        if max_invocations < 1:
            raise ValueError("max_invocations must be at least 1")
        if max_buffered_input is not None and max_buffered_input < max_message_size:
            raise ValueError("max_buffered_input must be at least max_message_size")
        self._max_invocations = max_invocations
        self._max_buffered_input = max_buffered_input
        self._codec: PayloadCodec = codec or DEFAULT_CODEC
        if max_protocol_version not in (5, 6, 7):
            raise ValueError("max_protocol_version must be 5, 6 or 7")
        self._max_protocol_version = max_protocol_version
        if isinstance(identity_keys, str):
            raise TypeError("identity_keys takes a list of keys, not a single string")
        self._identity = IdentityVerifier(list(identity_keys))
        self._protocol_mode: str | None = {
            None: None,
            "bidi": "BIDI_STREAM",
            "request_response": "REQUEST_RESPONSE",
        }[protocol_mode]
        self._max_message_size = max_message_size
        self._services: dict[str, ServiceDefinition] = {}
        self._app: RestateApp | None = None
        for hook in hooks:
            if not isinstance(hook, Hook):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise TypeError(
                    "hooks takes restate_trio.observability.Hook objects, "
                    f"got {type(hook).__name__}"
                )
        self._hooks = HookSet(hooks) if hooks else None

    def bind(self, *services: ServiceDefinition) -> Endpoint:
        """Add services (from :func:`~restate_trio.reflect`); returns the endpoint for chaining."""
        if self._app is not None:
            raise RuntimeError("bind() must be called before app() or serve()")
        for service in services:
            if not isinstance(service, ServiceDefinition):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise TypeError(
                    f"bind() takes service definitions (use restate_trio.reflect(obj)), "
                    f"got {type(service).__name__}"
                )
            if service.name in self._services:
                raise ValueError(f"a service named {service.name!r} is already bound")
            self._services[service.name] = service.with_default_codec(self._codec)
        return self

    @property
    def services(self) -> Sequence[ServiceDefinition]:
        """The bound services, in binding order."""
        return tuple(self._services.values())

    def app(self) -> ASGIApp:
        """The ASGI application, for ``hypercorn -k trio module:app``."""
        if self._app is None:
            from ._transport.asgi import RestateApp
            from ._transport.router import Router

            router = Router(
                self._services,
                identity=self._identity,
                protocol_mode=self._protocol_mode,
                max_message_size=self._max_message_size,
                max_protocol_version=self._max_protocol_version,
                max_invocations=self._max_invocations,
                max_buffered_input=self._max_buffered_input,
                hooks=self._hooks,
            )
            self._app = RestateApp(router)
        return self._app

    async def serve(
        self,
        address: str = "0.0.0.0:9080",
        *,
        server: Literal["builtin", "hypercorn"] = "builtin",
        config: Config | None = None,
        shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
        task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve the endpoint until cancelled.

        With ``nursery.start(endpoint.serve, "127.0.0.1:0")`` it reports the bound URLs, e.g.
        ``["http://127.0.0.1:43567"]``.

        ``server`` picks the HTTP server; both serve HTTP/2 cleartext (prior knowledge, as
        Restate connects to ``http://`` deployments) and HTTP/1.1 (deployments registered
        with ``--use-http1.1``, in request/response mode) on the one port:

        * ``"builtin"`` (the default): restate-trio's own server on trio (its own HTTP/2, ``h11``),
          lean per invocation. It takes no ``config``; it advertises and enforces 128
          concurrent streams per HTTP/2 connection (Restate's own cap).
        * ``"hypercorn"``: hypercorn's trio worker running :meth:`app`, as
          ``hypercorn -k trio module:app`` would. ``config`` replaces the Restate-tuned
          hypercorn configuration (keep-alive and stream limits; see ``restate_config``).

        Graceful shutdown: on SIGTERM, or when ``shutdown_trigger`` returns, the endpoint stops
        accepting connections and every invocation that is waiting for Restate suspends at once
        (Restate resumes it on another endpoint or after the restart); the others get the
        graceful timeout (5 s) to finish. Cancelling the task stops it at once.
        """
        if server not in ("builtin", "hypercorn"):
            raise ValueError(f"server must be 'builtin' or 'hypercorn', not {server!r}")
        if server == "builtin" and config is not None:
            raise ValueError("config= configures hypercorn; the builtin server takes none")
        self.app()
        app = self._app
        assert app is not None
        trigger = shutdown_trigger or _termination_requested

        async def drain_then_stop() -> None:
            await trigger()
            app.drain()

        if server == "builtin":
            from ._transport.server import serve_builtin

            await serve_builtin(
                app.router, address, shutdown_trigger=drain_then_stop, task_status=task_status
            )
            return

        from ._transport.serve import serve

        await serve(
            app,
            address,
            config=config,
            shutdown_trigger=drain_then_stop,
            task_status=task_status,
        )

    def run(
        self,
        address: str = "0.0.0.0:9080",
        *,
        workers: int = 1,
        server: Literal["builtin", "hypercorn"] = "builtin",
        config: Config | None = None,
        on_ready: Callable[[list[str]], object] | None = None,
    ) -> None:
        """Serve the endpoint from a plain (non-async) program, in one process or several.

        ``on_ready`` is called with the bound URLs once the endpoint serves, e.g.
        ``["http://0.0.0.0:9080"]``. ``server`` and ``config`` are those of :meth:`serve`
        (with several workers, each binds its own socket in place of ``config.bind``).

        With ``workers=1`` this is ``trio.run(endpoint.serve, address)``. With more, this
        process becomes a supervisor (it never runs trio) of that many forked worker processes,
        each listening on the same port with ``SO_REUSEPORT`` (the kernel spreads connections
        over them; port 0 picks one port for all). A worker that dies is restarted (waiting
        0.1 s, doubling to 10 s while it keeps crashing); a worker that fails before it first
        serves stops them all with an error. SIGTERM or SIGINT stops the workers gracefully
        (as :meth:`serve`; a second one kills them) and returns; it raises RuntimeError if a
        worker failed to start or to stop cleanly. Workers exit when the supervisor does, even
        if it is SIGKILLed, so none is left holding the port. Needs ``os.fork`` and
        ``SO_REUSEPORT`` (Linux, macOS): elsewhere ``workers > 1`` raises RuntimeError. Call
        it from the main thread, before starting threads, and not under ``trio.run``: a
        process running trio must not fork.
        """
        if workers == 1:
            trio.run(_serve_then_report, self, address, server, config, on_ready)
            return
        from ._workers import supervise

        async def serve_on(
            address: str,
            *,
            shutdown_trigger: Callable[[], Awaitable[None]],
            task_status: trio.TaskStatus[list[str]],
        ) -> None:
            # A worker serves on its own SO_REUSEPORT socket, given as ``fd://N``.
            await self.serve(
                address,
                server=server,
                config=_bound_to(config, address),
                shutdown_trigger=shutdown_trigger,
                task_status=task_status,
            )

        supervise(address, workers, serve_on, on_ready=on_ready)


async def _serve_then_report(
    endpoint: Endpoint,
    address: str,
    server: Literal["builtin", "hypercorn"],
    config: Config | None,
    on_ready: Callable[[list[str]], object] | None,
) -> None:
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(partial(endpoint.serve, address, server=server, config=config))
        if on_ready is not None:
            on_ready(urls)


def _bound_to(config: Config | None, address: str) -> Config | None:
    """A copy of the user's hypercorn config that binds ``address`` instead of its own."""
    if config is None:
        return None
    config = copy.copy(config)
    config.bind = [address]
    return config


async def _termination_requested() -> None:
    """Return on SIGTERM (how process managers and Kubernetes stop a server)."""
    if threading.current_thread() is not threading.main_thread():
        await trio.sleep_forever()  # signals can only be received in the main thread
    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async for _ in signals:
            return
