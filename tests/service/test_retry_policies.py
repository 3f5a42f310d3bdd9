"""The two retry policies: one vocabulary, two levels, both documented as such."""

from __future__ import annotations

import dataclasses
import doctest
import inspect
from datetime import timedelta

import pytest

import restate_trio as restate
import restate_trio.context
import restate_trio.retry as retry_module
from restate_trio.retry import InvocationRetryPolicy, RetryPolicy


def test_shared_concepts_have_the_same_names() -> None:
    step = {f.name for f in dataclasses.fields(RetryPolicy)}
    invocation = {f.name for f in dataclasses.fields(InvocationRetryPolicy)}
    assert step & invocation == {"initial_interval", "factor", "max_interval", "max_attempts"}
    assert step - invocation == {"max_duration"}
    assert invocation - step == {"on_max_attempts"}


def test_each_docstring_says_when_to_use_the_other() -> None:
    step, invocation = inspect.getdoc(RetryPolicy), inspect.getdoc(InvocationRetryPolicy)
    assert step
    assert invocation
    assert "InvocationRetryPolicy" in step
    assert "ctx.run" in step
    assert "RetryPolicy" in invocation
    assert "server" in invocation


def test_both_reject_the_same_bad_backoff() -> None:
    for policy in (RetryPolicy, InvocationRetryPolicy):
        with pytest.raises(ValueError, match=r"factor must be at least 1\.0"):
            policy(factor=0.5)
        with pytest.raises(ValueError, match="max_attempts must be at least 1"):
            policy(max_attempts=0)
        with pytest.raises(ValueError, match="initial_interval must not be negative"):
            policy(initial_interval=timedelta(seconds=-1))
    with pytest.raises(restate.ServiceDefinitionError, match="retry_policy: max_interval"):
        InvocationRetryPolicy(max_interval=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_duration must not be negative"):
        RetryPolicy(max_duration=timedelta(seconds=-1))


def test_step_policy_delays() -> None:
    policy = RetryPolicy(
        max_attempts=4, initial_interval=timedelta(milliseconds=100), max_interval=timedelta(1)
    )
    assert [policy.verdict(attempt, 0) for attempt in (1, 2, 3, 4)] == [100, 200, 400, None]
    capped = RetryPolicy(initial_interval=timedelta(seconds=1), max_interval=timedelta(seconds=3))
    assert capped.verdict(5, 0) == 3000
    assert RetryPolicy().verdict(10, 0) == 0  # the server's default delay
    assert RetryPolicy(max_duration=timedelta(seconds=1)).verdict(1, 1000) is None


def test_the_policies_are_importable_where_users_look() -> None:
    assert restate.RetryPolicy is restate_trio.context.RetryPolicy is RetryPolicy
    assert restate.InvocationRetryPolicy is restate.service.InvocationRetryPolicy
    assert RetryPolicy.__module__ == InvocationRetryPolicy.__module__ == "restate_trio.retry"


def test_module_example_runs() -> None:
    doc = retry_module.__doc__
    assert doc
    example = inspect.cleandoc(doc).split("Example::", 1)[1]
    exec(compile(inspect.cleandoc(example), "<retry docstring>", "exec"), {})
    assert doctest.testmod(retry_module).failed == 0
