"""restate-trio's benchmark services served by ``Endpoint.serve()`` (the default transport).

``python bench/trio_serve.py HOST:PORT``; stops on SIGTERM (graceful) or SIGINT. The side
``restate-trio`` serves the same ``bench.trio_app`` with ``hypercorn -k trio`` instead, so the
two sides compare the transports under one set of services.
"""

import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.trio_app import endpoint


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python bench/trio_serve.py HOST:PORT")
    trio.run(endpoint.serve, sys.argv[1])


if __name__ == "__main__":
    main()
