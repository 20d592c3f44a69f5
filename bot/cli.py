"""`zuora-ops`: the offline demo, and a CLI twin of the cards for ops people and scripts.

Exit codes scripts can rely on: 0 ok, 1 partial failure, 2 usage error, 3 Zuora unreachable or refused.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from bot.core.command_text import (
    MAX_OUTAGE_WINDOW,
    MAX_WINDOW,
    MIN_TYPED_ID,
    MIN_WINDOW,
    UsageError,
    parse_account,
)
from bot.core.secrets_mask import mask_url, mask_urls_in_text
from bot.explain import explain
from bot.outages.cards import SPARK_WIDTH
from bot.outages.causes import HOUR, CauseGroup, OutageScan, hour_of, hourly_series, sparkline
from bot.outages.scan import scan_outages
from bot.settings import SettingsError, ZuoraSettings, load_area
from bot.store import Replay, ReplayRequest
from bot.zuora.client import ZuoraClient
from bot.zuora.errors import ZuoraError, ZuoraInputError
from bot.zuora.guard import is_history_id
from bot.zuora.models import CalloutHistory, EmailHistory, ResendResult, TimeWindow
from bot.zuora.track import new_track_id

if TYPE_CHECKING:
    from bot.sandbox.stack import SandboxStack

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_ZUORA = 0, 1, 2, 3

_WINDOW = re.compile(r"^(\d{1,6})([mhd])$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
# The one window rule of each command that takes --window: enforced by cli_window, stated in --help.
# outages and replay share the tenant-wide scan's limit; failures reads one account, so it may go further.
WINDOW_LIMITS: dict[str, tuple[timedelta, timedelta]] = {
    "failures": (MIN_WINDOW, MAX_WINDOW),
    "outages": (MIN_WINDOW, MAX_OUTAGE_WINDOW),
    "replay": (MIN_WINDOW, MAX_OUTAGE_WINDOW),
}
DEFAULT_WINDOW = "24h"
DEMO_TICK = 2.0  # seconds between the demo clock's ticks (the real clock ticks every minute)


def _span(length: timedelta) -> str:
    """A limit as the shortest window text that says it (`5m`, `7d`, `30d`)."""
    minutes = int(length.total_seconds() // 60)
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def window_help(command: str) -> str:
    """The --help text of a command's --window, from the limits it enforces."""
    low, high = WINDOW_LIMITS[command]
    return f"{_span(low)} … {_span(high)} (default {DEFAULT_WINDOW}), e.g. 90m, 6h, 2d"


def cli_window(command: str, text: str) -> tuple[timedelta, str]:
    """A --window value as (length, label), within the command's limits, else UsageError."""
    low, high = WINDOW_LIMITS[command]
    match = _WINDOW.match(text.strip())
    if not match:
        raise UsageError(
            f"--window {text!r} is not a time window: use minutes, hours or days, "
            f"{_span(low)} … {_span(high)} for `{command}` (e.g. 90m, 6h, 2d)."
        )
    amount, unit = int(match.group(1)), match.group(2).lower()
    length = timedelta(**{_UNITS[unit]: amount})
    if not low <= length <= high:
        raise UsageError(
            f"--window {text!r} is out of range for `{command}`: use {_span(low)} … {_span(high)}."
        )
    return length, f"{amount}{unit}"


def plural(count: int, noun: str) -> str:
    """`1 failed email`, `2 failed emails`, `1,000 callouts`."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


class Progress:
    """A one-line progress indicator on stderr (only when stderr is a terminal or forced)."""

    def __init__(self, stream: IO[str], label: str, *, enabled: bool) -> None:
        self._stream = stream
        self._label = label
        self._enabled = enabled
        self._pages = 0
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def page_done(self, _response: httpx.Response) -> None:
        """httpx response hook: one more page fetched."""
        with self._lock:
            self._pages += 1
            pages = self._pages
        if self._enabled:
            elapsed = time.monotonic() - self._started
            bar = "#" * min(30, pages) + "." * max(0, 30 - pages)
            self._stream.write(f"\r{self._label} [{bar}] {pages} requests, {elapsed:4.1f}s")
            self._stream.flush()

    def done(self) -> None:
        """End the progress line."""
        if self._enabled:
            self._stream.write("\n")
            self._stream.flush()


def _client(settings: ZuoraSettings, progress: Progress | None = None) -> ZuoraClient:
    """A Zuora client that owns (and on close() closes) its httpx client; pages tick `progress`."""
    client = ZuoraClient.from_settings(settings)
    if progress is not None:
        client.http.event_hooks["response"].append(progress.page_done)
    return client


def cmd_failures(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Print an account's failed callouts and emails as a table or JSON."""
    settings = load_area(ZuoraSettings)
    key = parse_account(args.account)
    length, label = cli_window("failures", args.window)
    progress = Progress(err, f"Scanning {key}, last {label}", enabled=err.isatty() or args.progress)
    client = _client(settings, progress)
    try:
        track_id = new_track_id("zops", "cli")
        account = client.get_account(key, track_id=track_id)
        window = TimeWindow.ending_at(time_now(), length, label)
        callouts = client.failed_callouts_for(account, window, track_id=track_id)
        emails = client.failed_emails_for(account, window, track_id=track_id)
    finally:
        progress.done()
        client.close()
    if args.json:
        payload = {
            "account": account.model_dump(),
            "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
            "callouts": [_callout_json(c) for c in callouts],
            "emails": [_email_json(e) for e in emails],
        }
        out.write(json.dumps(payload, indent=2) + "\n")
        return EXIT_OK
    out.write(f"{account.name} ({account.number}) — last {label}: ")
    out.write(
        f"{plural(len(callouts), 'failed callout')}, {plural(len(emails), 'failed email')}\n\n"
    )
    _table(
        out,
        "Failed callouts",
        ["time (UTC)", "event", "code", "tries", "url", "id"],
        [
            [
                c.create_time.strftime("%Y-%m-%d %H:%M"),
                c.event_name,
                c.response_code or "",
                str(c.attempted_num or ""),
                mask_url(c.request_url) if c.request_url else "",
                c.id or "(no id)",
            ]
            for c in callouts
        ],
    )
    _table(
        out,
        "Failed emails",
        ["time (UTC)", "notification", "to", "error", "id"],
        [
            [
                e.send_time.strftime("%Y-%m-%d %H:%M"),
                e.event_name,
                e.to_email or "",
                mask_urls_in_text(e.error_message or ""),
                e.id or "(no id)",
            ]
            for e in emails
        ],
    )
    return EXIT_OK


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
    try:
        track_id = new_track_id("zops", "cli")
        scan = scan_outages(client, window, track_id=track_id, on_record=progress.record)
    finally:
        progress.done(scan)
        client.close()
    groups = scan.groups()
    if args.json:
        out.write(json.dumps(_outages_json(scan, window), indent=2) + "\n")
        return EXIT_OK
    total = sum(g.count for g in groups)
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
    if groups:
        out.write("Replay one cause once it is fixed: zuora-ops replay <cause id>\n")
    return EXIT_OK


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


def _minute(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else ""


def cmd_resend(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Resend history ids after a confirmation (or --yes); exit 1 if any id failed or was left out.

    The ids are claimed per notification in the bot's database, as a Slack click claims them: an id
    anyone resent within RESEND_ONCE_WINDOW is left out and named (who, when, what became of it)
    unless `--again` asks for a deliberate second resend.
    """
    from bot.audit.service import result_per_id, result_status
    from bot.resend.once import claim_state, notification_scope, once_window
    from bot.resend.service import attempt_key, worker_name
    from bot.settings import ResendSettings, StoreSettings
    from bot.store import OnceRule, ResendRequest
    from bot.store.database import Store

    ids = list(dict.fromkeys(part for arg in args.ids for part in arg.split(",") if part))
    noun = "email" if args.kind == "email" else "callout"
    for history_id in ids:  # checked here, before settings or Zuora: a typo is a usage error
        if len(history_id) < MIN_TYPED_ID or not is_history_id(history_id):
            raise UsageError(
                f"{history_id[:70]!r} is not a notification history ID (8 to 64 letters and "
                "digits, usually 32 hex characters, or a 36-character UUID). Copy the IDs from "
                "Zuora's Notification History, or from the id column of "
                "`zuora-ops failures <account>`. Nothing was resent."
            )
    settings = load_area(ZuoraSettings)
    resend_settings = load_area(ResendSettings)
    if not args.yes:
        if not sys.stdin.isatty():
            err.write("Refusing to resend without confirmation: pass --yes in scripts.\n")
            return EXIT_USAGE
        answer = input(f"Resend {plural(len(ids), noun)} through Zuora? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            err.write("Nothing was resent.\n")
            return EXIT_OK
    store = Store.from_url(load_area(StoreSettings).database_url)
    client = _client(settings)
    try:
        now = datetime.now(UTC)
        owner = f"cli:{worker_name()}"
        track_id = new_track_id("zops", "cli")
        dedup = f"cli:{uuid.uuid4()}"  # one intent per run; the client's retries reuse its key
        claim = store.claim_resend(
            ResendRequest(
                requested_at=now,
                team_id="cli",
                user_id=args.user,
                account_key=None,
                kind=args.kind,
                ids=tuple(ids),
                track_id=track_id,
                dedup_key=dedup,
            ),
            owner=owner,
            lease=timedelta(seconds=resend_settings.resend_lease),
            reply_url=None,
            context="{}",
            once=OnceRule(
                scope=notification_scope(settings),
                window=once_window(resend_settings),
                again_before=now if args.again else None,
            ),
        )
        for held in claim.elsewhere:
            who = held.user_id + (" (CLI)" if held.team_id == "cli" else "")
            out.write(
                f"  SKIPPED {held.history_id}: already resent by {who} at "
                f"{_minute(held.claimed_at)} UTC — {claim_state(held)} (--again to resend anyway)\n"
            )
        if not claim.won or claim.job is None:
            err.write("Nothing was resent: every id was resent within RESEND_ONCE_WINDOW.\n")
            return EXIT_PARTIAL
        job = claim.job
        sending = list(job.audit.ids)
        if args.kind == "email":
            result = client.resend_emails(
                sending, idempotency_key=attempt_key(dedup, job.attempt), track_id=track_id
            )
        else:
            result = client.resend_callouts(
                sending, idempotency_key=attempt_key(dedup, job.attempt), track_id=track_id
            )
        store.record_resend_outcome(
            job.audit.id,
            status=result_status(result),
            outcome=result_per_id(result),
            error=None,
            now=datetime.now(UTC),
        )
        store.advance_resend(job.id, owner=owner, state="done", now=datetime.now(UTC))
    finally:
        client.close()
        store.close()
    _print_resend(out, result, as_json=args.json)
    return EXIT_OK if result.all_succeeded and not claim.elsewhere else EXIT_PARTIAL


def cmd_digest(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Print what the daily digests would post (with --dry-run), optionally for one channel."""
    from bot.deps import build_deps
    from bot.digest.service import render_results, run_due_digests
    from bot.settings import Settings
    from bot.slack.plain_text import mrkdwn_to_plain

    if not args.dry_run:
        err.write("Only --dry-run is available here; the clock process posts digests.\n")
        return EXIT_USAGE
    deps = build_deps(Settings.load())
    try:
        results = run_due_digests(deps, deps.now(), force=True, dry_run=True, owner="cli")
    finally:
        deps.close()
    if args.channel:
        results = [r for r in results if r.subscription.channel_id == args.channel]
    # The terminal gets what a reader sees in Slack, not the markup behind it.
    out.write(mrkdwn_to_plain(render_results(results) or "No digest subscriptions.") + "\n")
    return EXIT_OK


def cmd_replay(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Replay one outage cause (`zuora-ops outages` lists them), with the Slack button's record.

    Exit 0 when every id was resent, 1 when Zuora refused some or the replay is someone else's,
    3 when Zuora stopped answering (run it again to continue; nothing is sent twice).
    """
    from bot.deps import build_deps
    from bot.outages.replay import claim_replay, drive_replay, find_target, running_replay
    from bot.resend.service import worker_name
    from bot.settings import Settings

    cause_id = str(args.cause_id).strip().lower()
    if not re.fullmatch(r"[a-z2-7]{10}", cause_id):
        raise UsageError(f"{cause_id!r} is not a cause id (10 letters and digits, from `outages`)")
    length, label = cli_window("replay", args.window)
    deps = build_deps(Settings.load())
    try:
        busy = running_replay(deps, cause_id)
        if busy is not None:
            err.write(f"{_replay_busy_line(busy)}\n")
            return EXIT_PARTIAL
        stopped = next(
            (r for r in deps.store.replays_for_cause(cause_id) if r.state == "stopped"), None
        )
        if stopped is not None:
            window = TimeWindow(
                start=stopped.window_start, end=stopped.window_end, label=stopped.window_label
            )
        else:
            window = TimeWindow.ending_at(deps.now().replace(microsecond=0), length, label)
        track_id = new_track_id("zops", "cli")
        err.write(f"Scanning the tenant's failures, {window.label}…\n")
        target = find_target(deps, cause_id, window, track_id=track_id)
        if target is None and stopped is None:
            out.write(f"No failures of cause {cause_id} in the last {label}; nothing to replay.\n")
            return EXIT_OK
        if stopped is not None:
            left = stopped.total - stopped.handled
            plan = (
                f"Continue the replay of {stopped.label}: {left:,} of "
                f"{plural(stopped.total, stopped.kind)} not sent yet "
                f"({plural(stopped.accounts, 'account')}; stopped: "
                f"{stopped.error or 'no answer'})."
            )
        else:
            assert target is not None
            plan = (
                f"Resend {plural(len(target.ids), target.group.cause.kind)} of cause {cause_id}: "
                f"{target.group.label} ({target.group.affected.describe()}, "
                f"last {label})."
            )
            if target.already:
                plan += f" {target.already:,} already resent by an earlier replay are skipped."
            if target.unresolved:
                plan += f" {target.unresolved:,} have no resend ID and are skipped."
            if not target.ids:
                out.write(plan + " Nothing to send.\n")
                return EXIT_OK
        out.write(plan + "\n")
        out.flush()
        if not args.yes:
            if not sys.stdin.isatty():
                err.write("Refusing to replay without confirmation: pass --yes in scripts.\n")
                return EXIT_USAGE
            if input("Send them through Zuora? [y/N] ").strip().lower() not in ("y", "yes"):
                err.write("Nothing was resent.\n")
                return EXIT_OK
        if target is None:  # a stopped replay whose failures Zuora no longer lists
            target_replay = deps.store.replay(stopped.replay_key) if stopped else None
            assert target_replay is not None
            claim = deps.store.claim_replay(
                _resume_request(target_replay, deps.now()),
                owner=f"cli:{worker_name()}",
                lease=timedelta(seconds=deps.settings.resend.resend_lease),
                reply_url=target_replay.reply_url,
            )
        else:
            claim = claim_replay(
                deps,
                target,
                team_id="cli",
                user_id=args.user,
                track_id=track_id,
                reply_url=None,
                owner=f"cli:{worker_name()}",
            )
        if claim.replay is None:
            out.write(
                f"All {claim.left_out:,} were resent by someone else within the once window "
                "(RESEND_ONCE_WINDOW) meanwhile; nothing was sent twice.\n"
            )
            return EXIT_OK
        if not claim.won:
            err.write(f"{_replay_busy_line(claim.replay)}\n")
            return EXIT_PARTIAL
        if claim.left_out:
            err.write(
                f"{claim.left_out:,} left out: resent by someone else within the once "
                "window meanwhile.\n"
            )
        bar = ReplayBar(err, enabled=err.isatty() or args.progress)
        bar.draw(claim.replay)
        done = drive_replay(deps, claim.replay, owner=f"cli:{worker_name()}", progress=bar.draw)
        bar.done()
        _print_replay(out, done)
        if done.state == "stopped":
            return EXIT_ZUORA
        return EXIT_OK if done.sent + done.in_progress == done.total else EXIT_PARTIAL
    finally:
        deps.close()


class ReplayBar:
    """Replay progress on stderr: a bar redrawn in place on a terminal, one line per chunk otherwise."""

    def __init__(self, stream: IO[str], *, enabled: bool) -> None:
        self._stream = stream
        self._tty = enabled

    def draw(self, replay: Replay) -> None:
        """Show how far the replay got."""
        done, total = replay.handled, replay.total
        if self._tty:
            filled = 30 * done // max(1, total)
            bar = "#" * filled + "." * (30 - filled)
            self._stream.write(f"\rResending [{bar}] {done:,} of {total:,}")
        else:
            self._stream.write(
                f"resent {done} of {total} ({replay.chunks_done} of {replay.chunk_count} requests)\n"
            )
        self._stream.flush()

    def done(self) -> None:
        """End the bar's line."""
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()


def _resume_request(replay: Replay, now: datetime) -> ReplayRequest:
    """The request that resumes a stopped replay (its stored ids and window are kept)."""
    return ReplayRequest(
        replay_key=replay.replay_key,
        cause_id=replay.cause_id,
        kind=replay.kind,
        label=replay.label,
        window_start=replay.window_start,
        window_end=replay.window_end,
        window_label=replay.window_label,
        team_id=replay.team_id,
        user_id=replay.user_id,
        requested_at=now,
        track_id=replay.track_id,
        ids=replay.ids,
        accounts=replay.accounts,
        chunk_size=replay.chunk_size,
    )


def _replay_busy_line(replay: Replay) -> str:
    when = replay.requested_at.strftime("%Y-%m-%d %H:%M UTC")
    if replay.state == "running":
        return (
            f"Replay in progress, started by {replay.user_id} at {when}: "
            f"{replay.handled:,} of {replay.total:,}. Nothing will be sent twice."
        )
    return (
        f"Already replayed by {replay.user_id} at {when}: {replay.sent:,} of "
        f"{replay.total:,} resent. Nothing was sent twice."
    )


def _print_replay(out: IO[str], replay: Replay) -> None:
    out.write(f"{replay.sent:,} of {plural(replay.total, replay.kind)} resent ({replay.label})\n")
    for reason, count in sorted(replay.refused.items(), key=lambda item: -item[1]):
        code, _, message = reason.partition("\t")
        out.write(f"  REFUSED {count:,} × {code}: {message}\n")
    if replay.in_progress:
        out.write(f"  {replay.in_progress:,} already done or in progress at Zuora (409)\n")
    if replay.waiting:
        out.write(
            f"  WAITING for Zuora's answer to request {replay.chunks_done + 1} of "
            f"{replay.chunk_count}: {replay.error}\n"
            "  Not failed: the clock asks again with the same Idempotency-Key (nothing is sent "
            "twice).\n"
        )
    if replay.state == "stopped":
        left = replay.total - replay.handled
        out.write(
            f"  {left:,} not sent yet: {replay.error}\n"
            f"  Run `zuora-ops replay {replay.cause_id}` again to continue.\n"
        )


def demo_exports(stack: SandboxStack) -> list[str]:
    """`export` lines that point the CLI (and `python -m bot.clock`) at a running demo, ready to paste."""
    settings = stack.settings()
    values = {
        "ZUORA_BASE_URL": settings.zuora.base_url,
        "ZUORA_UI_URL": settings.zuora.ui_url,
        "ZUORA_CLIENT_ID": settings.zuora.client_id.get_secret_value(),
        "ZUORA_CLIENT_SECRET": settings.zuora.client_secret.get_secret_value(),
        "ZUORA_TENANT_TIMEZONE": settings.zuora.tenant_timezone,
        "SLACK_BOT_TOKEN": settings.slack.bot_token.get_secret_value(),
        "SLACK_SIGNING_SECRET": settings.slack.signing_secret.get_secret_value(),
        "SLACK_API_URL": settings.slack.api_url,
        "DATABASE_URL": settings.store.database_url,
        "RESEND_ALLOWED_USERS": ",".join(sorted(settings.resend.resend_allowed_users)),
        "AUDIT_CHANNEL": settings.resend.audit_channel or "",
    }
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


def cmd_demo(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Start sandbox Zuora, the real bot, its clock and the Slack playground on 127.0.0.1 until Ctrl-C."""
    from bot.log_config import configure_logging
    from bot.sandbox.live import LiveSpike
    from bot.sandbox.playground import Playground
    from bot.sandbox.stack import SandboxStack
    from bot.sandbox.tenant import build_tenant

    if args.alert_check < 1 or args.spike_every < 0:
        raise UsageError("--alert-check must be at least 1 second and --spike-every 0 or more.")
    configure_logging("WARNING" if not args.verbose else "INFO")
    with tempfile.TemporaryDirectory(prefix="zuora-ops-demo-") as workdir:
        # The sandbox tenant has an outage in it (an endpoint down, a bouncing mail domain).
        tenant = build_tenant(seed=7, now=time_now(), outage=True)
        stack = SandboxStack(
            Path(workdir),
            tenant=tenant,
            audit_channel="C0AUDIT01",
            bot_port=args.bot_port,
            alert_check_interval=args.alert_check,
        )
        with stack, Playground.for_stack(stack, port=args.port) as playground:
            zuora = stack.zuora
            # The clock, as `python -m bot.clock` runs it, at demo speed; and a spike going on now.
            stack.start_clock(tick=min(DEMO_TICK, args.alert_check))
            live = LiveSpike(zuora, every=args.spike_every).start() if args.spike_every else None
            exports = "\n".join(f"  {line}" for line in demo_exports(stack))
            out.write(
                "\nZuora Ops for Slack — offline demo (nothing leaves this machine)\n\n"
                f"  Slack playground:  {playground.url}\n"
                f"  Bot (real code):   {stack.bot_url}\n"
                f"  Clock:             digests every {DEMO_TICK:g}s, spike alerts every "
                f"{args.alert_check:g}s (the real clock: every minute, every 5 minutes)\n"
                f"  Sandbox Zuora:     {zuora.base_url}\n"
                f"    client id:       {zuora.client_id}\n"
                f"    client secret:   {zuora.client_secret}\n"
                f"  Store (SQLite):    {workdir}/zuora-ops.db\n\n"
                "Open the playground and type:  /zuora failures A00000001 7d\n"
                "               or, for the sandbox's outage:  /zuora outages\n"
                + (
                    f"  A webhook endpoint is failing right now (one callout every "
                    f"{args.spike_every:g}s):\n"
                    "  /zuora alerts subscribe  posts a spike alert at the next check.\n"
                    if live is not None
                    else ""
                )
                + "\nThe CLI against this demo: paste these lines into another shell, then run e.g. "
                "`.venv/bin/zuora-ops outages`:\n\n"
                f"{exports}\n\n"
                "Press Ctrl-C to stop.\n"
            )
            out.flush()
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                out.write("\nStopping…\n")
            finally:
                if live is not None:
                    live.stop()
    return EXIT_OK


def time_now() -> datetime:
    """Now in aware UTC."""
    return datetime.now(UTC)


def _callout_json(callout: CalloutHistory) -> dict[str, Any]:
    return {
        "id": callout.id,
        "time": callout.create_time.isoformat(),
        "event": callout.event_name,
        "event_id": callout.event_id,
        "response_code": callout.response_code,
        "attempts": callout.attempted_num,
        "url": mask_url(callout.request_url) if callout.request_url else None,
    }


def _email_json(email: EmailHistory) -> dict[str, Any]:
    return {
        "id": email.id,
        "time": email.send_time.isoformat(),
        "notification": email.event_name,
        "to": email.to_email,
        "subject": email.subject,
        "error": mask_urls_in_text(email.error_message) if email.error_message else None,
    }


def _print_resend(out: IO[str], result: ResendResult, *, as_json: bool) -> None:
    if as_json:
        out.write(
            json.dumps(
                {
                    "kind": result.kind,
                    "succeeded": list(result.succeeded),
                    "failed": {k: v.model_dump() for k, v in result.failed.items()},
                },
                indent=2,
            )
            + "\n"
        )
        return
    out.write(f"{len(result.succeeded)} of {len(result.requested)} resent\n")
    for history_id, failure in result.failed.items():
        out.write(f"  FAILED {history_id}: {failure.code} — {failure.message}\n")


def _table(
    out: IO[str], title: str, headers: list[str], rows: list[list[str]], *, width: int = 48
) -> None:
    out.write(f"{title} ({len(rows)})\n")
    if not rows:
        out.write("  none\n\n")
        return
    cut = [
        [cell if len(cell) <= width else cell[: width - 1] + "…" for cell in row] for row in rows
    ]
    widths = [max(len(h), *(len(r[i]) for r in cut)) for i, h in enumerate(headers)]
    out.write("  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + "\n")
    for row in cut:
        out.write("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + "\n")
    out.write("\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument grammar of `zuora-ops`."""
    parser = argparse.ArgumentParser(prog="zuora-ops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="offline sandbox Zuora + real bot + Slack playground")
    demo.add_argument("--port", type=int, default=8080, help="playground port (0 = any)")
    demo.add_argument("--bot-port", type=int, default=0, help="bot port (0 = any)")
    demo.add_argument("--verbose", action="store_true", help="log the bot's INFO lines")
    demo.add_argument(
        "--alert-check",
        type=float,
        default=10.0,
        help="seconds between the demo clock's spike-alert checks (default 10)",
    )
    demo.add_argument(
        "--spike-every",
        type=float,
        default=6.0,
        help="seconds between the live spike's failures (default 6; 0 = no live spike)",
    )
    demo.set_defaults(run=cmd_demo)
    failures = sub.add_parser("failures", help="an account's failed callouts and emails")
    failures.add_argument("account")
    failures.add_argument("--window", default=DEFAULT_WINDOW, help=window_help("failures"))
    failures.add_argument("--json", action="store_true")
    failures.add_argument("--progress", action="store_true", help="show progress when piped")
    failures.set_defaults(run=cmd_failures)
    outages = sub.add_parser("outages", help="the tenant's failures grouped by cause")
    outages.add_argument("--window", default=DEFAULT_WINDOW, help=window_help("outages"))
    outages.add_argument("--json", action="store_true")
    outages.add_argument("--progress", action="store_true", help="draw the bar when piped")
    outages.set_defaults(run=cmd_outages)
    resend = sub.add_parser("resend", help="resend email (or callout) history ids")
    resend.add_argument(
        "ids",
        nargs="+",
        help="notification history IDs (not account numbers), from Zuora or `failures`",
    )
    resend.add_argument("--kind", choices=("email", "callout"), default="email")
    resend.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    resend.add_argument("--json", action="store_true")
    resend.add_argument("--user", default="cli", help="who to name in the audit trail")
    resend.add_argument(
        "--again",
        action="store_true",
        help="resend ids someone resent within RESEND_ONCE_WINDOW anyway (a deliberate second time)",
    )
    resend.set_defaults(run=cmd_resend)
    replay = sub.add_parser("replay", help="resend every failure of one outage cause")
    replay.add_argument("cause_id", help="the cause's id, as `outages` lists it")
    replay.add_argument("--window", default=DEFAULT_WINDOW, help=window_help("replay"))
    replay.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    replay.add_argument("--progress", action="store_true", help="draw the bar when piped")
    replay.add_argument("--user", default="cli", help="who to name in the audit trail")
    replay.set_defaults(run=cmd_replay)
    digest = sub.add_parser("digest", help="what the daily digests would post")
    digest.add_argument("--dry-run", action="store_true")
    digest.add_argument("--channel", help="only this channel ID")
    digest.set_defaults(run=cmd_digest)
    return parser


def main(
    argv: Sequence[str] | None = None, *, out: IO[str] | None = None, err: IO[str] | None = None
) -> int:
    """Run one subcommand and map every failure to a clear message and an exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    run: Callable[[argparse.Namespace, IO[str], IO[str]], int] = args.run
    try:
        return run(args, out, err)
    except (UsageError, SettingsError) as exc:
        err.write(f"{exc}\n")
        return EXIT_USAGE
    except ZuoraInputError as exc:  # the local input guard: nothing was sent to Zuora
        err.write(f"{exc}. Nothing was sent to Zuora.\n")
        return EXIT_USAGE
    except ZuoraError as exc:
        explanation = explain(exc)
        err.write(f"{explanation.message} {explanation.hint or ''}".rstrip() + "\n")
        return EXIT_ZUORA
