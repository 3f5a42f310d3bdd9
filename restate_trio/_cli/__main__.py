"""``python -m restate_trio._cli``: the ``restate-trio`` command without its script (the dev
loop starts its endpoint child this way, with the same interpreter)."""

from ._app import main

if __name__ == "__main__":
    main()
