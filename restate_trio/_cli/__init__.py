"""The ``restate-trio`` command (a console script; see docs/cli.md).

One concern per private module: _app (the click commands), _output (terminal or plain
rendering), _target (loading ``module:attr``), _servers (the local restate-server: binary,
ports), _serve (production serving), _dev (the dev loop and its reloads), _remote
(``register`` and ``call``).
"""

from ._app import main

__all__ = ["main"]
