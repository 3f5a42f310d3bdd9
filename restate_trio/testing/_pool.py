"""The pytest plugin's servers: one restate-server per distinct set of test settings, started
when a test module first needs it and kept for the rest of the session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from ._server import RestateServer

if TYPE_CHECKING:
    from pathlib import Path

# Restate's default retry policy (``default-retry-policy`` in ``restate-server --dump-config``).
_ENV_MAX_ATTEMPTS = "RESTATE_DEFAULT_RETRY_POLICY__MAX_ATTEMPTS"
_ENV_ON_MAX_ATTEMPTS = "RESTATE_DEFAULT_RETRY_POLICY__ON_MAX_ATTEMPTS"


@dataclass(frozen=True)
class ServerSettings:
    """What a test module asks of its server (the plugin's options and ``restate`` marker)."""

    always_replay: bool = False
    disable_retries: bool = False
    protocol_v7: bool = False

    def make_server(self, binary: Path) -> RestateServer:
        """A (not yet started) server configured for these settings."""
        return RestateServer(
            binary=binary,
            # The server closes an invocation's stream as soon as it waits: the endpoint
            # suspends at every await and replays its journal on the next attempt.
            inactivity_timeout=timedelta(0) if self.always_replay else None,
            # One attempt; a failed attempt kills the invocation (instead of pausing it).
            env={_ENV_MAX_ATTEMPTS: "1", _ENV_ON_MAX_ATTEMPTS: "kill"}
            if self.disable_retries
            else None,
            enable_protocol_v7=self.protocol_v7,
        )


class ServerPool:
    """Servers by settings; :meth:`close` stops them all."""

    def __init__(self, binary: Path) -> None:
        self._binary = binary
        self._servers: dict[ServerSettings, RestateServer] = {}

    def get(self, settings: ServerSettings) -> RestateServer:
        """The server for ``settings``, started on first use."""
        server = self._servers.get(settings)
        if server is None:
            server = settings.make_server(self._binary)
            server.start()
            self._servers[settings] = server
        return server

    def close(self) -> None:
        """Stop every server (each is stopped even if stopping another fails)."""
        servers = list(self._servers.values())
        self._servers.clear()
        errors: list[Exception] = []
        for server in reversed(servers):
            try:
                server.stop()
            except Exception as exc:  # one failure must not leave the others running
                errors.append(exc)
        if errors:
            raise errors[0]
