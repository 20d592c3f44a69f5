"""OutageScans: the tenant-wide outage scans of the bot, each fixed window's scan kept a short while.

An outages card's paging and a replay read the same fixed window again; the scan is reused for
OUTAGE_SCAN_TTL seconds instead of streaming the whole tenant's history once more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from time import monotonic
from typing import Protocol

from bot.failures.retry_policy import RetryRule
from bot.failures.service import NotificationService, utc_now
from bot.outages.causes import OutageScan
from bot.outages.recovery_read import RecoveryReads, RecoverySource
from bot.outages.scan import HistorySource, scan_outages
from bot.zuora.cache import ReadCache
from bot.zuora.models import TimeWindow

OUTAGE_SCAN_TTL = 600.0  # seconds a tenant-wide scan of one fixed window is reused (paging, replay)


class OutageSource(HistorySource, RecoverySource, Protocol):
    """What outages read: failures by window, and recent deliveries (successes too) for recovery."""


class OutageScans:
    """Scans the tenant's failures by cause through `source` (the NotificationService), cached;
    `recovery` says per cause whether it is over (bot.outages.recovery_read)."""

    def __init__(self, source: OutageSource, *, now: Callable[[], datetime] = utc_now) -> None:
        self._source = source
        self._scans = ReadCache(ttl=OUTAGE_SCAN_TTL, maxsize=4, timer=monotonic)
        self.recovery = RecoveryReads(source, now=now)

    def scan(self, window: TimeWindow, *, track_id: str, fresh: bool = False) -> OutageScan:
        """The tenant's failures in `window` grouped by cause; the same fixed window's scan is
        reused for OUTAGE_SCAN_TTL seconds (an outages card's paging, a replay), unless `fresh`."""
        key = ("outages", window.start, window.end)
        if fresh:
            self._scans.discard(key)
        return self._scans.get_or_compute(
            key, lambda: scan_outages(self._source, window, track_id=track_id, retry=self._rule())
        )

    def _rule(self) -> RetryRule | None:
        """Zuora's retry limits now, when the source is the bot's service (it knows them)."""
        source = self._source
        return source.retry_rule() if isinstance(source, NotificationService) else None
