"""Run a tenant-wide outage scan: every failed callout and email of a window, folded by cause.

Both history lists stream through ONE scan of the Zuora client's bounded, adaptive concurrency
(pages of both kinds are fetched ahead in parallel, records are folded as they arrive), so the
emails do not wait for the callouts' last page and memory stays at one group per cause.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Literal, Protocol

from bot.failures.retry_policy import RetryRule
from bot.outages.causes import OutageScan
from bot.zuora.models import CalloutHistory, EmailHistory, TimeWindow

logger = logging.getLogger(__name__)

ScanKinds = Literal["callouts", "emails", "all"]
OnRecord = Callable[[OutageScan, CalloutHistory | EmailHistory], None]


class HistorySource(Protocol):
    """What a scan reads: the NotificationService, or a ZuoraClient (the CLI)."""

    def iter_failed_history(
        self, window: TimeWindow, *, track_id: str, callouts: bool = True, emails: bool = True
    ) -> Iterator[CalloutHistory | EmailHistory]: ...


def scan_outages(
    service: HistorySource,
    window: TimeWindow,
    *,
    track_id: str,
    kinds: ScanKinds = "all",
    on_record: OnRecord | None = None,
    retry: RetryRule | None = None,
) -> OutageScan:
    """Fold the tenant's failures in `window` into an OutageScan (both kinds in one scan).

    `on_record` is called after each record is counted (a progress display; keep it cheap);
    `retry` counts the callouts Zuora still retries per cause.
    """
    started = time.monotonic()
    scan = OutageScan(retry)
    records = service.iter_failed_history(
        window,
        track_id=track_id,
        callouts=kinds in ("callouts", "all"),
        emails=kinds in ("emails", "all"),
    )
    for record in records:
        if isinstance(record, CalloutHistory):
            scan.add_callout(record)
        else:
            scan.add_email(record)
        if on_record is not None:
            on_record(scan, record)
    logger.info(
        "outage scan %s: %d callouts, %d emails, %d causes in %.1fs (track %s)",
        window.label,
        scan.callouts,
        scan.emails,
        scan.cause_count,
        time.monotonic() - started,
        track_id,
    )
    return scan
