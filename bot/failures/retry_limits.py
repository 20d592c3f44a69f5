"""Zuora's callout attempt limit and retry interval: from Data Query's AttemptLimit, else settings.

The interval has no Data Query column, so it always comes from ZUORA_CALLOUT_RETRY_INTERVAL_MINUTES.
The limit is learned with `SELECT max(AttemptLimit) FROM notificationhistorycallout` (the largest
limit of any callout definition: the cautious one, it keeps a callout "retried by Zuora" longest)
only when /zuora status runs, because a Data Query job is scarce (5 per tenant, shared with every
integration); the answer is kept LEARNED_FOR, and ZUORA_CALLOUT_ATTEMPT_LIMIT serves until then.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from cachetools import TTLCache

from bot.failures.retry_policy import RetryLimits
from bot.zuora.client import ZuoraClient
from bot.zuora.errors import ZuoraError

logger = logging.getLogger(__name__)

LEARNED_FOR = 6 * 3600.0  # seconds a Data Query AttemptLimit is trusted before settings serve again
LIMIT_QUERY = "SELECT max(AttemptLimit) AS attempt_limit FROM notificationhistorycallout"
FROM_DATA_QUERY = "Data Query AttemptLimit"
FROM_SETTINGS = "settings"


@dataclass(frozen=True)
class LimitCheck:
    """What /zuora status shows: the limits in force and why Data Query did not give them, if so."""

    limits: RetryLimits
    problem: str | None = None


class RetryLimitSource:
    """Hands out the retry limits in force; learns the attempt limit from Data Query on request."""

    def __init__(self, client: ZuoraClient, *, timer: Callable[[], float] | None = None) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._learned: TTLCache[str, int] = (
            TTLCache(maxsize=1, ttl=LEARNED_FOR, timer=timer)
            if timer is not None
            else TTLCache(maxsize=1, ttl=LEARNED_FOR)
        )

    def limits(self) -> RetryLimits:
        """The limits now: a learned AttemptLimit while fresh, else the settings."""
        settings = self._client.settings
        interval = timedelta(minutes=settings.callout_retry_interval_minutes)
        with self._lock:
            learned = self._learned.get("limit")
        if learned is not None:
            return RetryLimits(learned, interval, FROM_DATA_QUERY)
        return RetryLimits(settings.callout_attempt_limit, interval, FROM_SETTINGS)

    def learn(self, *, track_id: str, timeout: float) -> LimitCheck:
        """Ask Data Query for the attempt limit now (skipped when ZUORA_HISTORY_IDS=rest)."""
        if self._client.settings.history_ids == "rest":
            return LimitCheck(self.limits(), "Data Query is off (ZUORA_HISTORY_IDS=rest)")
        try:
            rows = self._client.run_query(LIMIT_QUERY, track_id=track_id, timeout=timeout)
        except ZuoraError as exc:
            logger.info("AttemptLimit lookup failed: %s (track %s)", exc.message, track_id)
            return LimitCheck(self.limits(), f"Data Query: {exc.message}")
        value = _limit_of(rows[0].get("attempt_limit") if rows else None)
        if value is None:
            return LimitCheck(self.limits(), "Data Query gave no AttemptLimit in 1..5")
        with self._lock:
            self._learned["limit"] = value
        return LimitCheck(self.limits())


def _limit_of(value: object) -> int | None:
    """An AttemptLimit Zuora allows (1..5), else None."""
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if 1 <= number <= 5 else None
