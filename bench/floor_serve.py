"""The ``floor-builtin`` side: restate-trio's builtin server with a canned responder.

``python bench/floor_serve.py HOST:PORT``: serves ``bench.floor_app.router`` (the benchmark
endpoint's router, answering greet with a canned attempt) with ``serve_builtin``, the code
``Endpoint.serve()`` runs; see ``bench/floor_app.py`` for what the side measures. Stops on
SIGTERM or SIGINT (no graceful drain: a floor side has no invocation worth finishing).
"""

import functools
import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.floor_app import router
from restate_trio._transport.server import serve_builtin


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python bench/floor_serve.py HOST:PORT")
    trio.run(functools.partial(serve_builtin, router, sys.argv[1]))


if __name__ == "__main__":
    main()
