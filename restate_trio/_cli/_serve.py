"""``restate-trio serve``: production serving through :meth:`restate_trio.Endpoint.run`.

``Endpoint.run`` already has the settings Restate needs (h2c and HTTP/1.1 on one port,
Restate's stream cap, graceful drain on SIGTERM, worker processes sharing the port), so this
is only the loading and the reporting around it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from typing import TYPE_CHECKING, Literal

from ._target import load_endpoint

if TYPE_CHECKING:
    from ..endpoint import Endpoint
    from ._output import Output

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with(parent: int) -> None:
    """Linux: the kernel SIGTERMs us when the dev loop dies, even by SIGKILL, so a reload
    child is never orphaned holding its port. Elsewhere the dev loop's own stop is all."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before prctl took effect
        raise SystemExit(0)


def describe(endpoint: Endpoint) -> str:
    """``Greeter, Counter (object)``: the bound services."""
    kinds = {"VIRTUAL_OBJECT": " (object)", "WORKFLOW": " (workflow)"}
    names = [f"{s.name}{kinds.get(s.kind.value, '')}" for s in endpoint.services]
    return ", ".join(names) or "no services"


def run_serve(
    target: str,
    *,
    bind: str,
    workers: int,
    server: Literal["builtin", "hypercorn"],
    out: Output,
    dev_parent: int | None = None,
) -> None:
    """Load ``target`` and serve it until SIGTERM or Ctrl-C."""
    if dev_parent is not None:
        _die_with(dev_parent)
    endpoint = load_endpoint(target)

    def ready(urls: list[str]) -> None:
        if dev_parent is None:
            out.event(f"serving {describe(endpoint)} on {', '.join(urls)}")
            local = urls[0].replace("//0.0.0.0:", "//127.0.0.1:")
            out.line(f"  register it with: restate-trio register {local}")

    # Ctrl-C is a stop request like SIGTERM; Endpoint.run's workers handle it themselves.
    with contextlib.suppress(KeyboardInterrupt):
        endpoint.run(bind, workers=workers, server=server, on_ready=ready)
