"""The retry table and compute_delay: which calls are retried, and how long the client waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from bot.zuora.errors import (
    ZuoraAuthError,
    ZuoraConnectionError,
    ZuoraInputError,
    ZuoraNotFoundError,
    ZuoraRateLimitError,
    ZuoraResponseValidationError,
    ZuoraServerError,
    ZuoraStatusError,
    ZuoraTimeoutError,
)
from bot.zuora.retry import RetryPolicy, compute_delay, should_retry

NOW = datetime(2026, 5, 11, 17, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_retries=2, max_delay=8.0, base=0.5, cap=8.0)

_request = httpx.Request("GET", "https://z.example/")

# (method, outcome, idempotent) -> retried?
RETRY_TABLE = [
    ("GET", 429, False, True),
    ("GET", 500, False, True),
    ("GET", 502, False, True),
    ("GET", 503, False, True),
    ("GET", 504, False, True),
    ("GET", 501, False, False),
    ("GET", 400, False, False),
    ("GET", 401, False, False),
    ("GET", 403, False, False),
    ("GET", 404, False, False),
    ("GET", 409, False, False),
    ("GET", 409, True, False),
    ("GET", 422, False, False),
    ("GET", httpx.ConnectError("refused", request=_request), False, True),
    ("GET", httpx.ReadTimeout("slow", request=_request), False, True),
    ("GET", ZuoraConnectionError("down"), False, True),
    ("GET", ZuoraTimeoutError("slow"), False, True),
    ("GET", ZuoraInputError("bad key"), False, False),
    ("GET", ZuoraInputError("bad key"), True, False),
    ("GET", ZuoraResponseValidationError("junk"), False, False),
    ("GET", ZuoraNotFoundError("gone", status_code=200), False, False),
    ("GET", ZuoraRateLimitError("busy", status_code=200), False, True),
    ("GET", ZuoraServerError("temporary", status_code=200), False, True),
    ("GET", ZuoraAuthError("no", status_code=401), False, False),
    ("GET", ValueError("bug"), False, False),
    ("POST", 429, False, True),  # throttled before Zuora acted: safe to send again
    ("POST", 500, False, False),
    ("POST", 503, False, False),
    ("POST", 409, False, False),
    ("POST", httpx.ConnectError("refused", request=_request), False, False),
    ("POST", ZuoraTimeoutError("slow"), False, False),
    ("POST", 429, True, True),
    ("POST", 500, True, True),
    ("POST", 503, True, True),
    ("POST", 409, True, True),
    ("POST", ZuoraStatusError("busy", status_code=409), True, True),
    ("POST", httpx.ConnectError("refused", request=_request), True, True),
    ("POST", ZuoraTimeoutError("slow"), True, True),
    ("POST", 400, True, False),
    ("POST", 401, True, False),
    ("POST", 403, True, False),
    ("POST", 404, True, False),
    ("POST", ZuoraInputError("bad id"), True, False),
]


@pytest.mark.parametrize(("method", "outcome", "idempotent", "expected"), RETRY_TABLE)
def test_should_retry_table(
    method: str, outcome: int | BaseException, idempotent: bool, expected: bool
) -> None:
    assert should_retry(method, outcome, idempotent=idempotent) is expected


def test_should_retry_is_case_insensitive_on_method() -> None:
    assert should_retry("get", 503, idempotent=False)


def delay(
    attempt: int = 1,
    *,
    retry_after: str | None = None,
    reset: str | None = None,
    rand: float = 0.5,
    policy: RetryPolicy = POLICY,
) -> float:
    return compute_delay(
        attempt, retry_after=retry_after, ratelimit_reset=reset, policy=policy, rand=rand, now=NOW
    )


def test_compute_delay_retry_after_seconds() -> None:
    assert delay(retry_after="3") == 3.0
    assert delay(retry_after=" 1.5 ") == 1.5


def test_compute_delay_retry_after_http_date() -> None:
    when = format_datetime(NOW + timedelta(seconds=4), usegmt=True)
    assert delay(retry_after=when) == pytest.approx(4.0)


def test_compute_delay_retry_after_past_date_is_zero() -> None:
    when = format_datetime(NOW - timedelta(seconds=30), usegmt=True)
    assert delay(retry_after=when) == 0.0


@pytest.mark.parametrize("told", ["120", format_datetime(NOW + timedelta(hours=1), usegmt=True)])
def test_compute_delay_retry_after_is_capped(told: str) -> None:
    assert delay(retry_after=told) == POLICY.max_delay


def test_compute_delay_ratelimit_reset_when_no_retry_after() -> None:
    assert delay(reset="2") == 2.0
    assert delay(reset="59") == POLICY.max_delay
    assert delay(retry_after="1", reset="5") == 1.0


def test_compute_delay_ratelimit_reset_epoch() -> None:
    assert delay(reset=str(int(NOW.timestamp()) + 3)) == pytest.approx(3.0)


@pytest.mark.parametrize("junk", ["soon", "", "nan", "inf"])
def test_compute_delay_ignores_unparseable_headers(junk: str) -> None:
    assert delay(retry_after=junk, reset=junk, rand=0.0) == pytest.approx(0.25)


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 10])
@pytest.mark.parametrize("jitter", ["full", "equal"])
def test_compute_delay_jitter_bounds(attempt: int, jitter: str) -> None:
    policy = RetryPolicy(max_retries=5, max_delay=60, base=0.5, cap=8.0, jitter=jitter)  # type: ignore[arg-type]
    ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
    low = delay(attempt, rand=0.0, policy=policy)
    high = delay(attempt, rand=0.999999, policy=policy)
    assert low == (0.0 if jitter == "full" else ceiling / 2)
    assert high == pytest.approx(ceiling, rel=1e-5)
    for rand in (0.1, 0.5, 0.9):
        assert low <= delay(attempt, rand=rand, policy=policy) <= ceiling


def test_compute_delay_backoff_grows_then_caps() -> None:
    values = [delay(n, rand=0.999999) for n in range(1, 8)]
    assert values == sorted(values)
    assert values[-1] == pytest.approx(8.0, rel=1e-5)


def test_compute_delay_backoff_respects_max_delay() -> None:
    policy = RetryPolicy(max_retries=5, max_delay=1.0)
    assert delay(6, rand=0.999999, policy=policy) <= 1.0


def test_retry_policy_rejects_negative_values() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1, max_delay=1)
