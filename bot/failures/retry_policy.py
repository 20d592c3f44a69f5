"""Whether Zuora still retries a failed callout by itself, so the bot does not deliver it twice.

Zuora documents (callout settings and overview): it retries a failed callout up to the attempt
limit (3 by default, 5 at most), at least the interval apart (30 min by default, 1,440 at most),
and only for 1xx, 403, 408, 429, 5xx and negative (connection) codes; -2000 (invalid custom body)
is neither sent nor retried; redirects are not followed. A callout resent by hand while Zuora still
has attempts left is delivered twice.

Where the documents are silent this module GUESSES, and /zuora status shows the guesses
(`GUESSES`):
- `attemptedNum` counts the tries made so far (missing: 1);
- `createTime` is the first try, so the next one comes at or after createTime + attemptedNum x
  interval; a callout whose next try is more than one interval overdue is taken as given up
  ("overdue": resendable, and said so);
- a failed 200 (a parsed body said `success: false`) and any other 2xx are not retried;
- a missing response code is a connection failure (retried, like negative codes); text that is
  no number is not retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.zuora.models import CalloutHistory

INVALID_BODY = -2000  # Zuora: the custom body is invalid; never sent, never retried

GUESSES = (
    "attemptedNum counts the tries so far",
    "next try ≥ createTime + attemptedNum × interval",
    "a try more than one interval overdue means Zuora gave up",
    "a failed 200 (parsed body) or other 2xx is not retried",
    "no response code counts as a connection failure (retried)",
)

StateKind = Literal["retrying", "overdue", "exhausted", "never", "invalid_body"]


@dataclass(frozen=True)
class RetryLimits:
    """Zuora's callout retry settings as the bot knows them, and where the limit came from."""

    attempt_limit: int
    interval: timedelta
    source: str  # "Data Query AttemptLimit" or "settings"


@dataclass(frozen=True)
class RetryRule:
    """The limits and the moment to judge at: what a card or a replay classifies callouts with."""

    limits: RetryLimits
    now: datetime


@dataclass(frozen=True)
class RetryState:
    """What Zuora does with one failed callout; only "retrying" and "invalid_body" block a resend."""

    kind: StateKind
    code: str
    attempt: int = 0
    limit: int = 0
    next_after: datetime | None = None

    @property
    def resendable(self) -> bool:
        """Whether a resend control (and bulk resends) may include it without being asked to."""
        return self.kind not in ("retrying", "invalid_body")


def response_code(callout: CalloutHistory) -> int | None:
    """The callout's response code as a number, None when missing or not a number."""
    text = (callout.response_code or "").strip()
    return int(text) if text.lstrip("-").isdigit() else None


def zuora_retries(code: int | None) -> bool:
    """Whether Zuora retries a callout that failed with `code` (documented classes; see GUESSES)."""
    if code is None:
        return True  # guess: no answer at all, like a connection failure
    if code == INVALID_BODY:
        return False
    return code < 0 or 100 <= code < 200 or code in (403, 408, 429) or 500 <= code < 600


def classify(callout: CalloutHistory, rule: RetryRule) -> RetryState:
    """The callout's retry state at `rule.now` under `rule.limits`."""
    code = response_code(callout)
    text = (callout.response_code or "").strip()
    shown = text or "no response"
    if code == INVALID_BODY:
        return RetryState("invalid_body", shown)
    if (code is None and text) or not zuora_retries(code):  # text that is no number: not retried
        return RetryState("never", shown)
    limit = rule.limits.attempt_limit
    attempt = max(callout.attempted_num or 1, 1)
    if attempt >= limit:
        return RetryState("exhausted", shown, attempt=attempt, limit=limit)
    next_after = callout.create_time + attempt * rule.limits.interval
    kind: StateKind = "overdue" if rule.now > next_after + rule.limits.interval else "retrying"
    return RetryState(kind, shown, attempt=attempt, limit=limit, next_after=next_after)


def still_retried(callout: CalloutHistory, rule: RetryRule | None) -> bool:
    """Whether Zuora will still try it: left out of bulk resends unless someone includes it."""
    return rule is not None and classify(callout, rule).kind == "retrying"
