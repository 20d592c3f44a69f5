"""Replay one outage cause ("Resend all N"): exactly once across clicks, workers and restarts.

A replay is one `outage_replays` row keyed by (cause id, fixed window), claimed by an insert on that
unique key before Zuora is called, with the resend ids frozen in it. In the same transaction each
id is claimed per notification (bot.resend.once), so ids any resend or replay holds in the once window are
left out, and at most one replay of a cause runs at a time: a click on another card (another
window) of a cause whose replay runs joins that replay. Its holder (under a lease it
renews) sends the ids in chunks of at most 1,000, in order. Chunk i is always the same slice of the
frozen list and is sent with an Idempotency-Key derived from (replay key, i, attempt), so a re-drive
after a crash, or a second worker that somehow got the chunk, makes Zuora answer from its stored
result instead of resending. Before each chunk its `resend_audit` row is written ('requested'); the
chunk's outcome and the replay's counters are then written in one transaction. A replay whose
worker died is finished by the clock (`redrive_stale_replays`). When Zuora refuses or cannot be
reached, the replay stops with what it did so far; a new click (or `zuora-ops replay`) continues
from the next chunk and never sends an earlier one again. When a chunk's outcome is unknown (a
timeout or a connection dropped after it was sent, a 5xx) nothing is counted and the replay does
not stop: it waits, still running, with its lease released until the clock asks for that chunk
again with the same key (backing off, see bot.resend.service.next_ask), until Zuora answers for sure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.core.lease import renewing
from bot.outages.replay_chunks import chunk_dedup_key, chunk_key, send_chunk
from bot.outages.replay_target import (
    ReplayDeps,
    ReplayTarget,
    cause_prefix,
    find_target,
    replay_key,
)
from bot.outages.replay_watch import watch_replay
from bot.resend.once import once_rule
from bot.resend.service import (
    LEASE_RENEWALS,
    ClaimedElsewhere,
    worker_name,
)
from bot.store import (
    Replay,
    ReplayClaim,
    ReplayRequest,
)
from bot.zuora.client.resend import MAX_RESEND_BATCH
from bot.zuora.models import TimeWindow

logger = logging.getLogger(__name__)
audit_log = logging.getLogger("zuora_ops.audit")

MAX_REPLAY_WINDOW = timedelta(days=30)

Progress = Callable[[Replay], None]


@dataclass(frozen=True)
class ReplayBusy:
    """A replay of the cause is running (joined: under another card's window), or this one is done."""

    replay: Replay
    joined: bool = False


@dataclass(frozen=True)
class ReplayOutOfDate:
    """What the caller saw no longer holds: a window no card shows, the cause gone, or grown."""

    reason: Literal["window", "gone", "grown"]
    listed: int = 0  # "grown": the failures Zuora lists now
    confirmed: int = 0  # "grown": the count the caller confirmed


@dataclass(frozen=True)
class NothingToReplay:
    """Every failure of the cause was resent already, or none has a resend id."""

    target: ReplayTarget


@dataclass(frozen=True)
class ReplayDone:
    """The replay this call claimed and drove, as driving left it."""

    replay: Replay
    target: ReplayTarget | None  # None: a stopped replay resumed from its stored ids alone
    left_out: int = 0  # ids left out at the claim: another resend or replay holds them


#: Why a start drove no replay of its own (ClaimedElsewhere: every id is held by another resend).
NotStarted = ReplayBusy | ReplayOutOfDate | NothingToReplay | ClaimedElsewhere
ReplayStart = ReplayDone | NotStarted


def start_replay(
    deps: ReplayDeps,
    cause_id: str,
    window: TimeWindow,
    *,
    team_id: str,
    user_id: str,
    track_id: str,
    reply_url: str | None,
    confirmed: int | None = None,
    resume_stopped: bool = False,
    answer_finished: bool = True,
    scanning: Callable[[], object] | None = None,
    confirm: Callable[[ReplayTarget | None], bool] | None = None,
    started: Callable[[Replay, int], None] | None = None,
    progress: Progress | None = None,
    owner: str | None = None,
    include_retrying: bool = False,
) -> ReplayStart | None:
    """Replay the cause's failures in `window`, exactly once: the one start the button and CLI share.

    In order: the window must be one a card shows; a running replay of the cause, or this window's
    finished one, answers busy (a cheap early answer; the claim decides for real); `scanning` is
    told, and the window re-scanned: the cause must still be listed, no larger than `confirmed`,
    with ids to send (`resume_stopped` continues this window's stopped replay from its stored ids
    whatever the scan says; without `answer_finished`, a finished one is not answered early and the
    re-scan tells what is left, as the CLI reports it). `confirm` (a prompt) may still say no: None comes back. Then the claim
    (ids another resend holds are left out); `started` sees the won replay and how many ids were
    left out, and the replay is driven, `progress` seeing it after each chunk. Callouts Zuora still
    retries are left out unless `include_retrying` (bot.failures.retry_policy).
    """
    if not window.start < window.end or window.end - window.start > MAX_REPLAY_WINDOW:
        return ReplayOutOfDate("window")
    mine = deps.store.replay(replay_key(cause_id, window))
    running = running_replay(deps, cause_id)
    if running is not None and (mine is None or mine.id != running.id):
        return ReplayBusy(running, joined=True)
    if answer_finished and mine is not None and mine.state != "stopped":
        return ReplayBusy(mine)
    if scanning is not None:
        scanning()
    target = find_target(
        deps, cause_id, window, track_id=track_id, include_retrying=include_retrying
    )
    resume = resume_stopped and mine is not None and mine.state == "stopped"
    if target is None and not resume:
        return ReplayOutOfDate("gone")
    if target is not None and not resume:
        if confirmed and target.group.count > confirmed:
            return ReplayOutOfDate("grown", listed=target.group.count, confirmed=confirmed)
        if not target.ids:
            return NothingToReplay(target)
    if confirm is not None and not confirm(target):
        return None
    if target is None:
        assert mine is not None  # `resume` holds
        claim = deps.store.claim_replay(
            resume_request(mine, deps.now()),
            owner=owner or worker_name(),
            lease=_lease(deps),
            reply_url=mine.reply_url,
        )
    else:
        claim = claim_replay(
            deps,
            target,
            team_id=team_id,
            user_id=user_id,
            track_id=track_id,
            reply_url=reply_url,
            owner=owner,
        )
    if claim.replay is None:  # every id is held by another resend or replay
        return ClaimedElsewhere(claim.elsewhere, total=claim.left_out)
    if not claim.won:
        return ReplayBusy(claim.replay, joined=claim.joined)
    if started is not None:
        started(claim.replay, claim.left_out)
    finished = drive_replay(deps, claim.replay, owner=owner, progress=progress)
    return ReplayDone(finished, target, left_out=claim.left_out)


def resume_request(replay: Replay, now: datetime) -> ReplayRequest:
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


def running_replay(deps: ReplayDeps, cause_id: str) -> Replay | None:
    """A replay of this cause (in any window) still running, if any."""
    return next((r for r in deps.store.replays_for_cause(cause_id) if r.state == "running"), None)


def claim_replay(
    deps: ReplayDeps,
    target: ReplayTarget,
    *,
    team_id: str,
    user_id: str,
    track_id: str,
    reply_url: str | None,
    owner: str | None = None,
) -> ReplayClaim:
    """Claim the replay of `target` for this worker, or learn who has it.

    One transaction decides: a running replay of the cause (any window) is joined; otherwise the
    ids are claimed per notification (ids any resend or replay holds in the once window are left
    out) and the replay is written with the rest.
    """
    group = target.group
    request = ReplayRequest(
        replay_key=replay_key(group.cause.id, target.window),
        cause_id=group.cause.id,
        kind=group.cause.kind,
        label=group.label[:2000],
        window_start=target.window.start,
        window_end=target.window.end,
        window_label=target.window.label[:16],
        team_id=team_id,
        user_id=user_id,
        requested_at=deps.now(),
        track_id=track_id,
        ids=tuple(target.ids),
        accounts=group.account_count,
        chunk_size=MAX_RESEND_BATCH,
    )
    return deps.store.claim_replay(
        request,
        owner=owner or worker_name(),
        lease=_lease(deps),
        reply_url=reply_url,
        once=once_rule(deps.settings.zuora, deps.settings.resend),
    )


def drive_replay(
    deps: ReplayDeps, replay: Replay, *, owner: str | None = None, progress: Progress | None = None
) -> Replay:
    """Send the replay's remaining chunks as its lease holder; the stored replay at the end.

    `progress` sees the replay after each chunk. Stops early (state 'stopped') when Zuora gives
    no usable answer, or returns as is when another worker took the lease.
    """
    owner = owner or worker_name()
    with _keep_lease(deps, replay.id, owner=owner):
        current = replay
        while current.state == "running" and current.chunks_done < current.chunk_count:
            if current.lease_owner != owner:
                logger.warning(
                    "replay %s: lease now held by %s, not %s; it finishes the replay",
                    current.replay_key,
                    current.lease_owner,
                    owner,
                )
                break
            went_on = send_chunk(deps, current, owner)
            current = _reload(deps, current)
            if not went_on:
                break
            if progress is not None and current.state == "running":
                progress(current)
        if current.state == "running" and current.chunks_done >= current.chunk_count:
            deps.store.finish_replay(current.id, owner=owner, now=deps.now())
            current = _reload(deps, current)
            watch_replay(deps, current)  # did it work? the clock reads the history later
            logger.info(
                "replay %s done: %d sent, %d refused, %d in progress (track %s)",
                current.replay_key,
                current.sent,
                sum(current.refused.values()),
                current.in_progress,
                current.track_id,
            )
    return current


def _reload(deps: ReplayDeps, replay: Replay) -> Replay:
    fresh = deps.store.replay(replay.replay_key)
    assert fresh is not None, replay.replay_key
    return fresh


def _lease(deps: ReplayDeps) -> timedelta:
    return timedelta(seconds=deps.settings.resend.resend_lease)


@contextmanager
def _keep_lease(deps: ReplayDeps, replay_id: int, *, owner: str) -> Iterator[None]:
    """Renew `owner`'s lease on the replay every lease/LEASE_RENEWALS while the block runs."""
    lease = _lease(deps)

    def renew() -> bool:
        return deps.store.renew_replay_lease(replay_id, owner=owner, until=deps.now() + lease)

    with renewing(renew, every=lease / LEASE_RENEWALS, what=f"replay {replay_id}"):
        yield


def redrive_stale_replays(
    deps: ReplayDeps, *, on_done: Callable[[Replay], None] | None = None
) -> int:
    """Finish every running replay whose worker's lease ran out; returns how many were taken.

    The re-driver continues from the first uncounted chunk with that chunk's own key, so a chunk
    the dead worker had sent is answered by Zuora from its stored result, not resent. `on_done`
    (the clock: the card's final summary) sees each replay it drove.
    """
    owner = f"redrive:{worker_name()}"
    taken = 0
    for replay in deps.store.stale_replays(deps.now()):
        if not deps.store.take_stale_replay(
            replay.id, owner=owner, now=deps.now(), lease=_lease(deps)
        ):
            continue
        taken += 1
        logger.warning(
            "re-driving replay %s (%d of %d chunks counted) left by %s",
            replay.replay_key,
            replay.chunks_done,
            replay.chunk_count,
            replay.lease_owner,
        )
        try:
            finished = drive_replay(deps, _reload(deps, replay), owner=owner)
            if on_done is not None:
                on_done(finished)
        except Exception:  # one bad replay must not stop the others; its lease lets it retry
            logger.exception("could not re-drive replay %s", replay.replay_key)
    return taken


class ProgressThrottle:
    """Calls `draw` for at most `redraws` evenly spaced chunks (a response_url has 5 uses)."""

    def __init__(self, draw: Progress, *, redraws: int = 2) -> None:
        self._draw = draw
        self._redraws = redraws
        self._shown = 0

    def __call__(self, replay: Replay) -> None:
        """After a chunk: redraw when it crosses the next of `redraws` evenly spaced marks."""
        chunks = replay.chunk_count
        if self._shown >= self._redraws or replay.chunks_done >= chunks:
            return
        mark = (self._shown + 1) * chunks / (self._redraws + 1)
        if replay.chunks_done >= mark:
            self._shown += 1
            self._draw(replay)


__all__ = [
    "MAX_REPLAY_WINDOW",
    "NotStarted",
    "NothingToReplay",
    "ProgressThrottle",
    "ReplayBusy",
    "ReplayDeps",
    "ReplayDone",
    "ReplayOutOfDate",
    "ReplayStart",
    "ReplayTarget",
    "chunk_dedup_key",
    "chunk_key",
    "claim_replay",
    "drive_replay",
    "find_target",
    "redrive_stale_replays",
    "cause_prefix",
    "replay_key",
    "resume_request",
    "running_replay",
    "start_replay",
]
