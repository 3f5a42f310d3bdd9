"""restate-trio's benchmark services served by ``Endpoint.serve()`` (side ``restate-trio``).

``python bench/trio_serve.py HOST:PORT [SERVER]`` (SERVER: ``Endpoint.serve``'s ``server=``,
``builtin`` by default or ``hypercorn``); stops on SIGTERM (graceful) or SIGINT. The side
``restate-trio-hypercorn`` serves the same ``bench.trio_app`` with ``hypercorn -k trio``
instead, so the two sides compare the transports under one set of services.
"""

import functools
import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.trio_app import endpoint


def main() -> None:
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: python bench/trio_serve.py HOST:PORT [builtin|hypercorn]")
    server = sys.argv[2] if len(sys.argv) == 3 else "builtin"
    trio.run(functools.partial(endpoint.serve, sys.argv[1], server=server))


if __name__ == "__main__":
    main()
