"""bot.failures.retry_policy: every response-code class Zuora documents, and the schedule's edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.failures.retry_policy import (
    RetryLimits,
    RetryRule,
    classify,
    still_retried,
    zuora_retries,
)
from bot.zuora.models import CalloutHistory

CREATED = datetime(2026, 5, 11, 10, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=30)


def rule(*, limit: int = 3, after: timedelta = timedelta(minutes=5)) -> RetryRule:
    return RetryRule(RetryLimits(limit, INTERVAL, "settings"), CREATED + after)


def callout(code: object, attempts: object = 1) -> CalloutHistory:
    return CalloutHistory.model_validate(
        {
            "id": "a" * 32,
            "createTime": CREATED.isoformat(),
            "responseCode": code,
            "attemptedNum": attempts,
        }
    )


@pytest.mark.parametrize(
    "code",
    [100, 101, 199, 403, 408, 429, 500, 502, 503, 599, -1, -10, None],
)
def test_zuora_retries_the_documented_classes(code: int | None) -> None:
    assert zuora_retries(code)


@pytest.mark.parametrize(
    "code",
    [
        200,
        201,
        204,
        299,
        301,
        302,
        307,
        399,
        400,
        401,
        402,
        404,
        405,
        407,
        409,
        428,
        430,
        499,
        600,
        -2000,
    ],
)
def test_zuora_does_not_retry_anything_else(code: int) -> None:
    assert not zuora_retries(code)


@pytest.mark.parametrize("code", [503, "503", 429, 403, 408, 100, -1, "-1", ""])
def test_classify_a_retried_code_with_attempts_left_is_retrying(code: object) -> None:
    state = classify(callout(code, 1), rule())

    assert state.kind == "retrying"
    assert (state.attempt, state.limit) == (1, 3)
    assert state.next_after == CREATED + INTERVAL
    assert not state.resendable


def test_classify_next_try_counts_the_attempts_already_made() -> None:
    state = classify(callout(503, 2), rule(after=timedelta(minutes=50)))

    assert state.kind == "retrying"
    assert state.next_after == CREATED + 2 * INTERVAL


@pytest.mark.parametrize(("attempts", "limit"), [(3, 3), (5, 3), (5, 5), (1, 1), ("3", 3)])
def test_classify_at_or_over_the_limit_is_exhausted_and_resendable(
    attempts: object, limit: int
) -> None:
    state = classify(callout(500, attempts), rule(limit=limit))

    assert state.kind == "exhausted"
    assert state.resendable


def test_classify_one_below_the_limit_is_still_retrying() -> None:
    assert classify(callout(500, 4), rule(limit=5)).kind == "retrying"
    assert classify(callout(500, 2), rule(limit=3)).kind == "retrying"


def test_classify_missing_attempts_count_as_one() -> None:
    state = classify(callout(503, None), rule())

    assert (state.kind, state.attempt) == ("retrying", 1)


def test_classify_overdue_boundary_is_one_interval_past_the_next_try() -> None:
    due = INTERVAL + INTERVAL  # next try at +30 min, given up after +60 min
    assert classify(callout(503, 1), rule(after=due)).kind == "retrying"
    late = classify(callout(503, 1), rule(after=due + timedelta(seconds=1)))
    assert late.kind == "overdue"
    assert late.resendable


@pytest.mark.parametrize("code", [200, "200", 302, 400, 404, 405, 409, "abc"])
def test_classify_codes_zuora_never_retries_are_never_whatever_the_attempts(code: object) -> None:
    state = classify(callout(code, 1), rule())

    assert state.kind == "never"
    assert state.resendable


def test_classify_non_numeric_code_is_never_retried_and_says_the_code() -> None:
    assert classify(callout("abc"), rule()).code == "abc"


@pytest.mark.parametrize("code", [-2000, "-2000"])
def test_classify_invalid_custom_body_is_not_resendable(code: object) -> None:
    state = classify(callout(code, 1), rule())

    assert state.kind == "invalid_body"
    assert not state.resendable


def test_still_retried_without_a_rule_is_false() -> None:
    assert not still_retried(callout(503), None)
    assert still_retried(callout(503), rule())
