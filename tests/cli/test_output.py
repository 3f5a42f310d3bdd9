"""Terminal or plain: colour only when the stream is a terminal and ``NO_COLOR`` is unset.

(That a pipe gets plain text is checked by every other test here: they read pipes.)
"""

from __future__ import annotations

import io
import os
import pty
import subprocess
from typing import TYPE_CHECKING

import pytest
from cli_helpers import DEADLINE, SCRIPT

from restate_trio._cli._output import Output
from restate_trio.testing._process import free_ports

if TYPE_CHECKING:
    from collections.abc import Callable

_ESC = "\x1b["


def _failing_call(env: dict[str, str], stderr: int) -> int:
    """``restate-trio call`` against a closed port, its stderr on ``stderr``."""
    (closed,) = free_ports(1)
    process = subprocess.run(
        [str(SCRIPT), "call", "Greeter/greet", '"x"', f"--ingress=http://127.0.0.1:{closed}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env=env,
        timeout=DEADLINE,
        check=False,
    )
    return process.returncode


def _through_a_terminal(env: dict[str, str]) -> str:
    master, slave = pty.openpty()
    try:
        code = _failing_call(env, slave)
        os.close(slave)
        slave = -1
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert code == 1
        return b"".join(chunks).decode()
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_errors_are_coloured_on_a_terminal(cli_env: dict[str, str]) -> None:
    text = _through_a_terminal(cli_env)
    assert "cannot reach http://127.0.0.1:" in text
    assert _ESC in text


def test_no_color_keeps_a_terminal_plain(cli_env: dict[str, str]) -> None:
    text = _through_a_terminal(dict(cli_env, NO_COLOR="1"))
    assert "cannot reach http://127.0.0.1:" in text
    assert _ESC not in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("no_color", "stream", "coloured"),
    [
        (None, _Terminal, True),
        ("1", _Terminal, False),
        ("", _Terminal, True),  # no-color.org: only a non-empty value counts
        (None, io.StringIO, False),
    ],
)
def test_output_picks_colour_from_stdout(
    monkeypatch: pytest.MonkeyPatch,
    no_color: str | None,
    stream: Callable[[], io.StringIO],
    coloured: bool,
) -> None:
    out = stream()
    monkeypatch.setattr("sys.stdout", out)
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    Output().field("ingress", "http://127.0.0.1:8080")
    assert (_ESC in out.getvalue()) is coloured
    assert "ingress:" in out.getvalue()
