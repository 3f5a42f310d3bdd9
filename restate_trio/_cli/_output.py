"""Rendering: styled for a terminal, plain text when stdout is not one or ``NO_COLOR`` is set.

Every line the command prints goes through :class:`Output`, so the choice is made once.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

import click


def _wants_color(stream: TextIO) -> bool:
    # https://no-color.org: any non-empty NO_COLOR disables colour, whatever the terminal.
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Output:
    """Lines for humans on stdout, problems on stderr."""

    def __init__(self, *, color: bool | None = None) -> None:
        self.color = _wants_color(sys.stdout) if color is None else color
        self.error_color = _wants_color(sys.stderr) if color is None else color

    @staticmethod
    def _style(text: str, *, color: bool, fg: str | None = None, bold: bool | None = None) -> str:
        return click.style(text, fg=fg, bold=bold) if color else text

    def line(self, text: str = "") -> None:
        """A plain line."""
        click.echo(text, color=self.color)

    def heading(self, text: str) -> None:
        """A section title."""
        click.echo(self._style(text, color=self.color, bold=True), color=self.color)

    def field(self, label: str, value: str) -> None:
        """``label: value``, aligned, with the value highlighted (URLs, paths)."""
        styled = self._style(value, color=self.color, fg="cyan")
        click.echo(f"  {label + ':':<10} {styled}", color=self.color)

    def command(self, text: str) -> None:
        """A ready-to-paste shell command."""
        click.echo("  " + self._style(text, color=self.color, fg="green"), color=self.color)

    def event(self, text: str) -> None:
        """Something that happened (a reload, a registration)."""
        click.echo(self._style("» ", color=self.color, fg="magenta") + text, color=self.color)

    def warning(self, text: str) -> None:
        """A problem the command survives (on stderr)."""
        prefix = self._style("warning:", color=self.error_color, fg="yellow", bold=True)
        click.echo(f"{prefix} {text}", err=True, color=self.error_color)

    def error(self, text: str) -> None:
        """A problem that ends the command (on stderr)."""
        prefix = self._style("error:", color=self.error_color, fg="red", bold=True)
        click.echo(f"{prefix} {text}", err=True, color=self.error_color)


class CliError(click.ClickException):
    """A failure reported as ``error: message`` with exit status 1 (no traceback)."""

    def show(self, file: object = None) -> None:
        """Print through :class:`Output`, styled like the command's other lines."""
        Output().error(self.format_message())
