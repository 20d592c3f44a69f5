"""When to retry a Zuora call and how long to wait: a small policy and pure functions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

from bot.zuora.errors import (
    ZuoraAuthError,
    ZuoraConnectionError,
    ZuoraError,
    ZuoraInputError,
    ZuoraRateLimitError,
    ZuoraResponseValidationError,
    ZuoraServerError,
    ZuoraStatusError,
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Statuses worth another try: throttling and transient server failures (not 501/505 and friends).
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
THROTTLED_STATUS = 429
# An idempotent POST whose original is still running answers 409: wait and resend with the same key.
IN_PROGRESS_STATUS = 409
# Refusals that say nothing about an earlier try of the same request (the retry itself was turned
# away before Zuora looked at it): after a try that may have reached Zuora, the outcome stays unknown.
NOT_ABOUT_THE_REQUEST = frozenset({401, 403, 408, 429})
# RateLimit-Reset above this is an epoch timestamp rather than a number of seconds.
_EPOCH_THRESHOLD = 1_000_000_000


@dataclass(frozen=True)
class RetryPolicy:
    """How many retries, and the bounds of the wait before each one (seconds)."""

    max_retries: int
    max_delay: float
    base: float = 0.5
    cap: float = 8.0
    jitter: Literal["full", "equal"] = "equal"

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.max_delay < 0 or self.base < 0 or self.cap < 0:
            raise ValueError("RetryPolicy values must not be negative")


def compute_delay(
    attempt: int,
    *,
    retry_after: str | None,
    ratelimit_reset: str | None,
    policy: RetryPolicy,
    rand: float,
    now: datetime,
) -> float:
    """Seconds to wait before retry number `attempt` (1 = first retry).

    Zuora's `Retry-After` wins (seconds or an HTTP date), then `RateLimit-Reset` (seconds), both capped
    at `policy.max_delay`; otherwise exponential back-off from `policy.base`, capped at `policy.cap` and
    `policy.max_delay`, with full or equal jitter drawn from `rand` in [0, 1).
    """
    told = _retry_after_seconds(retry_after, now)
    if told is None:
        told = _reset_seconds(ratelimit_reset, now)
    if told is not None:
        return min(max(told, 0.0), policy.max_delay)
    ceiling = min(policy.cap, policy.max_delay, policy.base * 2.0 ** max(attempt - 1, 0))
    rand = min(max(rand, 0.0), 1.0)
    if policy.jitter == "full":
        return rand * ceiling
    return ceiling / 2 + rand * ceiling / 2


def should_retry(method: str, outcome: int | BaseException, *, idempotent: bool) -> bool:
    """Whether a call that ended with `outcome` (a status or an exception) may be sent again.

    Any call retries on 429 (Zuora throttled it before doing anything). GETs (and POSTs carrying an
    Idempotency-Key) also retry on connection errors and 500/502/503/504; idempotent POSTs also on
    409 (the original is still running). Nothing else is retried: no other 4xx, no POST without a
    key after it may have reached Zuora, never our own input errors.
    """
    verb = method.upper()
    if isinstance(outcome, ZuoraInputError):
        return False
    if _status_of(outcome) == THROTTLED_STATUS:
        return True  # Zuora refuses a throttled call before acting on it: safe for any method
    if verb not in SAFE_METHODS and not idempotent:
        return False
    if isinstance(outcome, ZuoraConnectionError | httpx.TransportError):
        return True
    status = _status_of(outcome)
    if status is None:
        return False
    if status == IN_PROGRESS_STATUS:
        return verb not in SAFE_METHODS
    return status in RETRYABLE_STATUSES


def _status_of(outcome: int | BaseException) -> int | None:
    if isinstance(outcome, bool):
        return None
    if isinstance(outcome, int):
        return outcome
    if isinstance(outcome, ZuoraRateLimitError):
        return 429  # includes HTTP 200 with a concurrency reason
    if isinstance(outcome, ZuoraServerError):
        return outcome.status_code if outcome.status_code >= 500 else 503
    if isinstance(outcome, ZuoraStatusError):
        return outcome.status_code
    return None


def _retry_after_seconds(value: str | None, now: datetime) -> float | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    seconds = _number(text)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - now).total_seconds()


def _reset_seconds(value: str | None, now: datetime) -> float | None:
    seconds = _number(value.strip()) if value else None
    if seconds is not None and seconds > _EPOCH_THRESHOLD:
        return seconds - now.timestamp()
    return seconds


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def may_have_reached(exc: ZuoraError) -> bool:
    """Whether Zuora may have carried out a try that ended with `exc` although no answer says so.

    A timeout or a connection dropped after the request was sent, a 5xx (or a "temporary" error),
    and an answer that could not be decoded: Zuora may have done the work. A connection that was
    never made, a 4xx, our own input errors: it did not.
    """
    if isinstance(exc, ZuoraConnectionError):
        return exc.request_sent
    return isinstance(exc, ZuoraServerError | ZuoraResponseValidationError)


def unknown_outcome(exc: ZuoraError, *, reached_before: bool) -> bool:
    """Whether a call that changes something and ended with `exc` has an unknown outcome at Zuora.

    Unknown when this try may have been carried out (`may_have_reached`), or when an earlier try
    may have been and this one got no definite answer about the request (a throttled, unauthorised
    or never-sent retry). A definite refusal (another 4xx, including 409 "same key still running")
    settles it.
    """
    if may_have_reached(exc):
        return True
    if not reached_before:
        return False
    if isinstance(exc, ZuoraRateLimitError | ZuoraAuthError):
        return True  # also when Zuora said so in a 200 body
    if isinstance(exc, ZuoraStatusError):
        return exc.status_code in NOT_ABOUT_THE_REQUEST
    return True
