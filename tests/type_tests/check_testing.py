"""Static type tests of the harness's responses: a strictly typed test decodes an ingress
answer without casts. Checked by mypy and pyright (never run)."""

from __future__ import annotations

from typing import assert_type

from restate_trio.testing import HttpResponse


def decoded(response: HttpResponse) -> None:
    assert_type(response.json(), object)
    assert_type(response.json(type=int), int)
    assert_type(response.json(type=list[str]), list[str])
