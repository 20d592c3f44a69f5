"""`zuora-ops outages`: the tenant's failures of a window grouped by cause, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import time
from typing import IO, Any

from bot.cli.common import EXIT_OK, _minute, _table, cli_window, plural, time_now
from bot.outages.cards import SPARK_WIDTH
from bot.outages.causes import HOUR, CauseGroup, OutageScan, hour_of, hourly_series, sparkline
from bot.outages.recovery import NoNewsYet, Recovered, Recovery, StillFailing
from bot.outages.recovery_cards import RECOVERY_CAUSES, recovery_text
from bot.outages.recovery_read import RecoveryReads
from bot.outages.scan import scan_outages
from bot.settings import ZuoraSettings, load_area
from bot.zuora.client import ZuoraClient
from bot.zuora.models import CalloutHistory, EmailHistory, NotificationKind, TimeWindow
from bot.zuora.track import new_track_id


class ScanProgress:
    """Progress of a tenant-wide scan on stderr: a bar on a terminal, a plain line now and then
    otherwise (logs and CI keep them). The share done is read from the records' times: callouts
    stream oldest first over the window, then emails do."""

    EVERY = 2.0  # seconds between plain lines (and redraws of the bar at most 10x a second)

    def __init__(self, stream: IO[str], window: TimeWindow, *, tty: bool) -> None:
        self._stream = stream
        self._window = window
        self._tty = tty
        self._started = self._last = time.monotonic()

    def record(self, scan: OutageScan, record: CalloutHistory | EmailHistory) -> None:
        """Called after each record is counted (see scan_outages' on_record)."""
        if (scan.callouts + scan.emails) % 200:
            return
        now = time.monotonic()
        if now - self._last < (0.1 if self._tty else self.EVERY):
            return
        self._last = now
        self._show(scan, self._share(record), now)

    def _share(self, record: CalloutHistory | EmailHistory) -> float:
        span = (self._window.end - self._window.start).total_seconds() or 1.0
        if isinstance(record, CalloutHistory):
            at, half = record.create_time, 0.0
        else:
            at, half = record.send_time, 0.5
        return half + 0.5 * min(1.0, max(0.0, (at - self._window.start).total_seconds() / span))

    def _show(self, scan: OutageScan, share: float, now: float) -> None:
        counted = f"{scan.callouts:,} callouts, {scan.emails:,} emails, {now - self._started:.1f}s"
        if self._tty:
            filled = round(30 * share)
            bar = "#" * filled + "." * (30 - filled)
            self._stream.write(f"\rScanning [{bar}] {share:4.0%}  {counted}   ")
        else:
            self._stream.write(f"scanning: about {share:.0%} done, {counted}\n")
        self._stream.flush()

    def done(self, scan: OutageScan | None) -> None:
        """Finish the bar (or say the scan ended)."""
        if scan is not None:
            self._show(scan, 1.0, time.monotonic())
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()


def cmd_outages(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Print the tenant's failures of the window grouped by cause, as a table or JSON."""
    settings = load_area(ZuoraSettings)
    length, label = cli_window("outages", args.window)
    window = TimeWindow.ending_at(time_now().replace(microsecond=0), length, label)
    progress = ScanProgress(err, window, tty=err.isatty() or args.progress)
    client = ZuoraClient.from_settings(settings)  # owns (and closes) its httpx client
    scan: OutageScan | None = None
    recovery: dict[str, Recovery] = {}
    try:
        track_id = new_track_id("zops", "cli")
        scan = scan_outages(client, window, track_id=track_id, on_record=progress.record)
        progress.done(scan)
        checked = scan.groups()[:RECOVERY_CAUSES]
        recovery = RecoveryReads(client, now=time_now).check_all(checked, track_id=track_id)
    finally:
        if scan is None:
            progress.done(scan)
        client.close()
    groups = scan.groups()
    if args.json:
        data = _outages_json(scan, window)
        for cause in data["causes"]:
            cause["recovery"] = _recovery_json(recovery.get(cause["cause_id"]), cause["kind"])
        out.write(json.dumps(data, indent=2) + "\n")
        return EXIT_OK
    total = sum(g.count for g in groups)
    now = time_now()
    out.write(
        f"Outages in the last {label} ({window.start:%Y-%m-%d %H:%M} – {window.end:%Y-%m-%d %H:%M} "
        f"UTC): "
        f"{plural(total, 'failure')} ({plural(scan.callouts, 'callout')}, "
        f"{plural(scan.emails, 'email')}) in {plural(len(groups), 'cause')}\n\n"
    )
    _table(
        out,
        "Causes, biggest first",
        ["cause id", "kind", "count", "accounts", "first (UTC)", "last (UTC)", "hourly", "cause"],
        [
            [
                g.cause.id,
                g.cause.kind,
                f"{g.count:,}",
                str(g.account_count),
                _minute(g.first_at),
                _minute(g.last_at),
                sparkline(hourly_series(g, window.start, window.end), width=SPARK_WIDTH),
                g.label,
            ]
            for g in groups
        ],
        width=72,
    )
    if recovery:
        out.write(f"Is the cause over? (the biggest {len(recovery)}, from recent deliveries)\n")
        for g in groups[:RECOVERY_CAUSES]:
            out.write(f"  {g.cause.id}  {recovery_text(recovery[g.cause.id], g.cause.kind, now)}\n")
        out.write("\n")
    if groups:
        out.write("Replay one cause once it is fixed: zuora-ops replay <cause id>\n")
    return EXIT_OK


def _recovery_json(found: Recovery | None, kind: NotificationKind) -> dict[str, Any] | None:
    """A cause's recovery as JSON: state, the time it is about (UTC), and the words; None: unchecked."""
    if found is None:
        return None
    state, at = "unknown", None
    if isinstance(found, Recovered):
        state, at = "recovered", found.at
    elif isinstance(found, StillFailing):
        state, at = "still_failing", found.last_failure
    elif isinstance(found, NoNewsYet):
        state, at = "no_news", found.last_failure
    return {
        "state": state,
        "at": at.isoformat() if at else None,
        "text": recovery_text(found, kind, time_now()),
    }


def _outages_json(scan: OutageScan, window: TimeWindow) -> dict[str, Any]:
    return {
        "window": {
            "label": window.label,
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
        },
        "callouts": scan.callouts,
        "emails": scan.emails,
        "causes": [
            {
                "cause_id": g.cause.id,
                "kind": g.cause.kind,
                "label": g.label,
                "count": g.count,
                "accounts": g.account_count,
                "without_account": g.affected.without_account,
                "first": g.first_at.isoformat() if g.first_at else None,
                "last": g.last_at.isoformat() if g.last_at else None,
                "hourly": _hourly(g, window),
                "resend_ids": len(g.ids),
                "without_id": g.unresolved,
            }
            for g in scan.groups()
        ],
    }


def _hourly(group: CauseGroup, window: TimeWindow) -> list[dict[str, Any]]:
    series = hourly_series(group, window.start, window.end)
    first = hour_of(window.start)
    return [{"hour": (first + i * HOUR).isoformat(), "count": n} for i, n in enumerate(series)]
