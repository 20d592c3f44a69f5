"""Run a tenant-wide outage scan: every failed callout and email of a window, folded by cause.

Both history lists stream through the Zuora client's bounded, adaptive concurrency (pages are fetched
ahead in parallel, records are folded as they arrive), so memory stays at one group per cause.
"""

from __future__ import annotations

import logging
from typing import Literal

from bot.notifications import NotificationService
from bot.outages import OutageScan
from bot.zuora.models import TimeWindow

logger = logging.getLogger(__name__)

ScanKinds = Literal["callouts", "emails", "all"]


def scan_outages(
    service: NotificationService,
    window: TimeWindow,
    *,
    track_id: str,
    kinds: ScanKinds = "all",
) -> OutageScan:
    """Fold the tenant's failures in `window` into an OutageScan (callouts, then emails)."""
    scan = OutageScan()
    if kinds in ("callouts", "all"):
        for callout in service.iter_failed_callouts(window, track_id=track_id):
            scan.add_callout(callout)
    if kinds in ("emails", "all"):
        for email in service.iter_failed_emails(window, track_id=track_id):
            scan.add_email(email)
    logger.info(
        "outage scan %s: %d callouts, %d emails, %d causes (track %s)",
        window.label,
        scan.callouts,
        scan.emails,
        len(scan.groups()),
        track_id,
    )
    return scan
