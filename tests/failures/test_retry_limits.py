"""bot.failures.retry_limits: Data Query's AttemptLimit when learned (kept LEARNED_FOR), else settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from bot.failures.retry_limits import (
    FROM_DATA_QUERY,
    FROM_SETTINGS,
    LEARNED_FOR,
    LIMIT_QUERY,
    RetryLimitSource,
)
from bot.zuora.errors import ZuoraQueryError
from tests.support.zuora_fakes import zuora_settings


class QueryClient:
    """The two things RetryLimitSource reads of a ZuoraClient: its settings and run_query."""

    def __init__(self, answer: Any, **settings: Any) -> None:
        self.settings = zuora_settings(**settings)
        self.answer = answer
        self.queries: list[str] = []

    def run_query(self, query: str, *, track_id: str, timeout: float) -> Any:
        self.queries.append(query)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def source(client: QueryClient, clock: Clock | None = None) -> RetryLimitSource:
    return RetryLimitSource(client, timer=clock or Clock())  # type: ignore[arg-type]


def test_limits_come_from_settings_until_learned() -> None:
    client = QueryClient([{"attempt_limit": 5}], callout_attempt_limit=2)
    limits = source(client).limits()

    assert (limits.attempt_limit, limits.source) == (2, FROM_SETTINGS)
    assert limits.interval == timedelta(minutes=30)
    assert client.queries == []  # nothing runs until asked (a Data Query job is scarce)


def test_learn_uses_data_query_attempt_limit_for_learned_for_seconds() -> None:
    clock = Clock()
    client = QueryClient([{"attempt_limit": 5}], callout_retry_interval_minutes=90)
    limits = source(client, clock)

    check = limits.learn(track_id="t", timeout=5)

    assert client.queries == [LIMIT_QUERY]
    assert check.problem is None
    assert (check.limits.attempt_limit, check.limits.source) == (5, FROM_DATA_QUERY)
    assert check.limits.interval == timedelta(minutes=90)
    clock.now = LEARNED_FOR - 1
    assert limits.limits().source == FROM_DATA_QUERY
    clock.now = LEARNED_FOR + 1
    assert (limits.limits().attempt_limit, limits.limits().source) == (3, FROM_SETTINGS)


@pytest.mark.parametrize(
    "answer",
    [
        [],
        [{"attempt_limit": None}],
        [{"attempt_limit": 0}],
        [{"attempt_limit": 6}],
        [{"attempt_limit": "x"}],
    ],
)
def test_learn_ignores_an_attempt_limit_zuora_does_not_allow(answer: Any) -> None:
    check = source(QueryClient(answer)).learn(track_id="t", timeout=5)

    assert check.limits.source == FROM_SETTINGS
    assert check.problem == "Data Query gave no AttemptLimit in 1..5"


def test_learn_says_why_when_data_query_fails_or_is_off() -> None:
    failing = source(QueryClient(ZuoraQueryError("Data Query job failed: no access")))
    assert failing.learn(track_id="t", timeout=5).problem == (
        "Data Query: Data Query job failed: no access"
    )
    off = QueryClient([{"attempt_limit": 5}], history_ids="rest")
    assert source(off).learn(track_id="t", timeout=5).problem == (
        "Data Query is off (ZUORA_HISTORY_IDS=rest)"
    )
    assert off.queries == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("callout_attempt_limit", 0),
        ("callout_attempt_limit", 6),
        ("callout_retry_interval_minutes", 29),
        ("callout_retry_interval_minutes", 1441),
    ],
)
def test_settings_refuse_values_zuora_does_not_allow(name: str, value: int) -> None:
    with pytest.raises(ValidationError):
        zuora_settings(**{name: value})
