"""`zuora-ops replay <cause id>`: resend every failure of one outage cause, with the button's record."""

from __future__ import annotations

import argparse
import re
import sys
from typing import IO, TYPE_CHECKING

from bot.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    EXIT_ZUORA,
    cli_window,
    plural,
)
from bot.core.command_text import UsageError
from bot.store import Replay
from bot.zuora.models import TimeWindow
from bot.zuora.track import new_track_id

if TYPE_CHECKING:
    from bot.deps import Deps
    from bot.outages.replay_target import ReplayTarget


def cmd_replay(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Replay one outage cause (`zuora-ops outages` lists them), with the Slack button's record.

    Exit 0 when every id was resent, 1 when Zuora refused some or the replay is someone else's,
    3 when Zuora stopped answering (run it again to continue; nothing is sent twice).
    """
    from bot.deps import build_deps
    from bot.outages.replay import (
        NothingToReplay,
        ReplayBusy,
        ReplayOutOfDate,
        start_replay,
    )
    from bot.resend.service import ClaimedElsewhere, worker_name
    from bot.settings import Settings

    cause_id = str(args.cause_id).strip().lower()
    if not re.fullmatch(r"[a-z2-7]{10}", cause_id):
        raise UsageError(f"{cause_id!r} is not a cause id (10 letters and digits, from `outages`)")
    length, label = cli_window("replay", args.window)
    deps = build_deps(Settings.load())
    try:
        # A stopped replay of the cause is continued in its own window; otherwise the last `label`.
        stopped = next(
            (r for r in deps.store.replays_for_cause(cause_id) if r.state == "stopped"), None
        )
        if stopped is not None:
            window = TimeWindow(
                start=stopped.window_start, end=stopped.window_end, label=stopped.window_label
            )
        else:
            window = TimeWindow.ending_at(deps.now().replace(microsecond=0), length, label)
        bar = ReplayBar(err, enabled=err.isatty() or args.progress)
        unconfirmed = False
        track_id = new_track_id("zops", "cli")

        def confirm(target: ReplayTarget | None) -> bool:
            nonlocal unconfirmed
            if target is not None:
                out.write(_recovery_line(deps, target, track_id) + "\n")
            out.write(_replay_plan(cause_id, label, stopped, target) + "\n")
            out.flush()
            if args.yes:
                return True
            if not sys.stdin.isatty():
                err.write("Refusing to replay without confirmation: pass --yes in scripts.\n")
                unconfirmed = True
                return False
            if input("Send them through Zuora? [y/N] ").strip().lower() not in ("y", "yes"):
                err.write("Nothing was resent.\n")
                return False
            return True

        def started(replay: Replay, left_out: int) -> None:
            if left_out:
                err.write(
                    f"{left_out:,} left out: resent by someone else within the once "
                    "window meanwhile.\n"
                )
            bar.draw(replay)

        outcome = start_replay(
            deps,
            cause_id,
            window,
            team_id="cli",
            user_id=args.user,
            track_id=track_id,
            reply_url=None,
            resume_stopped=True,
            answer_finished=False,
            scanning=lambda: err.write(f"Scanning the tenant's failures, {window.label}…\n"),
            confirm=confirm,
            started=started,
            progress=bar.draw,
            owner=f"cli:{worker_name()}",
            include_retrying=bool(getattr(args, "include_retrying", False)),
        )
        if outcome is None:  # not confirmed
            return EXIT_USAGE if unconfirmed else EXIT_OK
        if isinstance(outcome, ReplayBusy):
            err.write(f"{_replay_busy_line(outcome.replay)}\n")
            return EXIT_PARTIAL
        if isinstance(outcome, ReplayOutOfDate):  # the cause is gone (a CLI window is always valid)
            out.write(f"No failures of cause {cause_id} in the last {label}; nothing to replay.\n")
            return EXIT_OK
        if isinstance(outcome, NothingToReplay):
            out.write(_replay_plan(cause_id, label, None, outcome.target) + " Nothing to send.\n")
            return EXIT_OK
        if isinstance(outcome, ClaimedElsewhere):
            out.write(
                f"All {outcome.total:,} were resent by someone else within the once window "
                "(RESEND_ONCE_WINDOW) meanwhile; nothing was sent twice.\n"
            )
            return EXIT_OK
        bar.done()
        done = outcome.replay
        _print_replay(out, done)
        if done.state == "stopped":
            return EXIT_ZUORA
        return EXIT_OK if done.sent + done.in_progress == done.total else EXIT_PARTIAL
    finally:
        deps.close()


def _recovery_line(deps: Deps, target: ReplayTarget, track_id: str) -> str:
    """Is the cause over? A cause still failing is a WARNING (the replay is still allowed)."""
    from bot.outages.recovery import StillFailing
    from bot.outages.recovery_cards import recovery_text

    found = deps.outages.recovery.check(target.group, track_id=track_id)
    text = recovery_text(found, target.group.cause.kind, deps.now())
    return f"WARNING: {text}." if isinstance(found, StillFailing) else f"{text}."


def _replay_plan(
    cause_id: str, label: str, stopped: Replay | None, target: ReplayTarget | None
) -> str:
    """What the replay will do, for the operator to confirm."""
    if stopped is not None:
        left = stopped.total - stopped.handled
        return (
            f"Continue the replay of {stopped.label}: {left:,} of "
            f"{plural(stopped.total, stopped.kind)} not sent yet "
            f"({plural(stopped.accounts, 'account')}; stopped: "
            f"{stopped.error or 'no answer'})."
        )
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
    if target.retrying:
        plan += (
            f" {target.retrying:,} that Zuora still retries are skipped "
            "(--include-retrying sends them too)."
        )
    if target.invalid_body:
        plan += f" {target.invalid_body:,} with an invalid custom body (-2000) are skipped."
    return plan


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
