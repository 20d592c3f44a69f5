"""The short targeted read behind "Is the cause over?": recent deliveries to a cause's place.

Bounds (per cause, at most RECOVERY_LOOKBACK back from now, starting at the cause's last failure
when that is more recent):
- a callout cause reads the tenant's callouts (Zuora has no account filter), successes included,
  at most CALLOUT_PAGES pages of 40;
- an email cause reads, per account, the emails of its EMAIL_ACCOUNTS most recently failing
  accounts (Zuora's email history needs an account to stay targeted), EMAIL_PAGES page(s) each.
So one cause costs at most 3 requests. A decision is kept RECOVERY_TTL seconds per cause, so the
outages card, its paging and the replay confirm do not read twice; a failed read is not kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from time import monotonic
from typing import Protocol

from bot.explain import explain
from bot.outages.causes import CauseGroup
from bot.outages.recovery import (
    Decision,
    Recovery,
    RecoveryUnknown,
    callout_deliveries,
    decide,
    email_deliveries,
)
from bot.zuora.cache import ReadCache
from bot.zuora.client.history import Recent
from bot.zuora.errors import ZuoraError
from bot.zuora.models import CalloutHistory, EmailHistory

logger = logging.getLogger(__name__)

RECOVERY_TTL = 60.0  # seconds one cause's recovery decision is reused
RECOVERY_LOOKBACK = timedelta(hours=6)  # how far back a recovery read looks at most
STILL_FAILING = timedelta(hours=1)  # a last failure this recent, with no success after: failing
CALLOUT_PAGES = 3  # pages of the tenant's callouts a callout cause reads (40 records each)
EMAIL_ACCOUNTS = 3  # accounts whose emails an email cause reads
EMAIL_PAGES = 1  # pages of each account's emails
EMAIL_DOMAINS = 5  # recipient domains of the cause (most failed first) a success may go to
SECOND = timedelta(seconds=1)


class RecoverySource(Protocol):
    """The recent reads (successes included): the NotificationService, or a ZuoraClient (CLI)."""

    def recent_callouts(
        self, *, start: datetime, end: datetime, track_id: str, max_pages: int
    ) -> Recent[CalloutHistory]: ...

    def recent_emails(
        self, *, account_id: str, start: datetime, end: datetime, track_id: str, max_pages: int
    ) -> Recent[EmailHistory]: ...


class RecoveryReads:
    """Decides per cause whether its endpoint or mail domain recovered, cached RECOVERY_TTL seconds."""

    def __init__(
        self,
        source: RecoverySource,
        *,
        now: Callable[[], datetime],
        timer: Callable[[], float] = monotonic,
    ) -> None:
        self._source = source
        self._now = now
        self._cache = ReadCache(ttl=RECOVERY_TTL, maxsize=256, timer=timer)

    def check(self, group: CauseGroup, *, track_id: str) -> Recovery:
        """The cause's recovery; RecoveryUnknown when Zuora did not answer (never raises it)."""
        key = ("recovery", group.cause.id)
        try:
            return self._cache.get_or_compute(key, lambda: self._read(group, track_id))
        except ZuoraError as exc:
            logger.info("recovery read of cause %s failed: %s", group.cause.id, exc)
            return RecoveryUnknown(explain(exc).message)

    def check_all(self, groups: Iterable[CauseGroup], *, track_id: str) -> dict[str, Recovery]:
        """Each cause's recovery by cause id."""
        return {g.cause.id: self.check(g, track_id=track_id) for g in groups}

    def _read(self, group: CauseGroup, track_id: str) -> Decision:
        now = self._now()
        end = now.replace(microsecond=0) + SECOND
        start = now - RECOVERY_LOOKBACK
        if group.last_at is not None and group.last_at > start:
            start = min(group.last_at, now)
        if group.cause.kind == "callout":
            calls = self._source.recent_callouts(
                start=start, end=end, track_id=track_id, max_pages=CALLOUT_PAGES
            )
            return decide(
                group.last_at,
                callout_deliveries(group, calls.items),
                recent_since=now - STILL_FAILING,
            )
        domains = [d for d, _ in group.domains.most_common(EMAIL_DOMAINS)]
        emails: list[EmailHistory] = []
        for account in recent_accounts(group, EMAIL_ACCOUNTS):
            emails.extend(
                self._source.recent_emails(
                    account_id=account,
                    start=start,
                    end=end,
                    track_id=track_id,
                    max_pages=EMAIL_PAGES,
                ).items
            )
        return decide(
            group.last_at, email_deliveries(domains, emails), recent_since=now - STILL_FAILING
        )


def recent_accounts(group: CauseGroup, limit: int) -> list[str]:
    """The cause's `limit` most recently failing accounts (ids), newest first."""
    found: list[str] = []
    for _, account in sorted(group.moments, key=lambda m: m[0], reverse=True):
        if account and account not in found:
            found.append(account)
            if len(found) == limit:
                break
    return found


__all__ = ["RECOVERY_LOOKBACK", "RecoveryReads", "RecoverySource", "recent_accounts"]
