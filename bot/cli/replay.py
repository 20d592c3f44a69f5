"""`zuora-ops replay <cause id>`: resend every failure of one outage cause, with the button's record."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timedelta
from typing import IO

from bot.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    EXIT_ZUORA,
    cli_window,
    plural,
)
from bot.core.command_text import UsageError
from bot.store import Replay, ReplayRequest
from bot.zuora.models import TimeWindow
from bot.zuora.track import new_track_id


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
