"""Loading the endpoint a command serves: ``package.module:attr`` or ``path/to/file.py:attr``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from ..endpoint import Endpoint
from ._output import CliError


def split_target(target: str) -> tuple[str, str]:
    """``"app.main:endpoint"`` -> ``("app.main", "endpoint")``."""
    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr:
        raise CliError(
            f"{target!r} is not MODULE:ATTRIBUTE or FILE.py:ATTRIBUTE "
            "(e.g. shop.services:endpoint or shop/services.py:endpoint)"
        )
    return where, attr


def is_file_target(where: str) -> bool:
    """A path (``dir/app.py``) rather than a dotted module name (``dir.app``)."""
    return where.endswith(".py") or "/" in where or os.sep in where


def watch_root(target: str) -> Path:
    """The folder the dev loop watches for this target: the file's folder, or the current
    folder for a module (where ``module:attr`` is imported from)."""
    where, _ = split_target(target)
    if is_file_target(where):
        return Path(where).resolve().parent
    return Path.cwd()


def _import_file(path: Path) -> object:
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    # Its folder goes first on sys.path, as `python path/to/file.py` would do, so the file
    # can import its siblings; it is registered under its stem so that pickling, dataclasses
    # and typing.get_type_hints find it in sys.modules.
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CliError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _import_module(name: str) -> object:
    # `python -m` semantics: the current folder is importable.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise CliError(f"no module named {exc.name!r} (from {os.getcwd()})") from exc
        raise


def load_endpoint(target: str) -> Endpoint:
    """Import the target and return its :class:`restate_trio.Endpoint`.

    Errors raised by the user's module itself propagate with their traceback.
    """
    where, attr = split_target(target)
    value = _import_file(Path(where)) if is_file_target(where) else _import_module(where)
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise CliError(f"{where} has no attribute {attr!r}") from None
    if not isinstance(value, Endpoint):
        raise CliError(
            f"{target} is a {type(value).__name__}, not a restate_trio.Endpoint "
            "(e.g. `endpoint = restate_trio.Endpoint().bind(restate_trio.reflect(MyService()))`)"
        )
    return value
