"""``python -m restate_trio.testing``: see :func:`restate_trio.testing.main`."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
