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
from dataclasses import dataclass, field
from datetime import timedelta

from bot.audit.service import IN_PROGRESS_CODE, result_per_id, result_status
from bot.core.keys import idempotency_key
from bot.deps import Deps
from bot.explain import explain
from bot.outages.causes import CauseGroup, OutageScan, callout_cause, email_cause
from bot.resend.once import notification_scope, once_rule
from bot.resend.service import (
    ASK_AGAIN_FOR,
    LEASE_RENEWALS,
    next_ask,
    renewing,
    unknown_reason,
    worker_name,
)
from bot.store import (
    ChunkResult,
    IdOutcome,
    Replay,
    ReplayClaim,
    ReplayRequest,
    ResendRequest,
    ResendStatus,
)
from bot.zuora.client import MAX_RESEND_BATCH
from bot.zuora.errors import ZuoraConnectionError, ZuoraError, is_unknown_outcome
from bot.zuora.models import CalloutHistory, EmailHistory, ResendResult, TimeWindow

logger = logging.getLogger(__name__)
audit_log = logging.getLogger("zuora_ops.audit")

MAX_REPLAY_WINDOW = timedelta(days=30)

Progress = Callable[[Replay], None]


@dataclass
class ReplayTarget:
    """What a replay of one cause in one window would resend, found by a fresh scan."""

    group: CauseGroup
    window: TimeWindow
    ids: list[str] = field(default_factory=list)  # listed and resolved resend ids, oldest first
    unresolved: int = 0  # failures still without a resend id after Data Query
    already: int = 0  # ids an earlier replay of this cause (another window) already resent
    resolve_error: str | None = None  # why Data Query could not resolve the rest

    @property
    def cause_id(self) -> str:
        """The cause's stable id."""
        return self.group.cause.id


def replay_key(cause_id: str, window: TimeWindow) -> str:
    """The one key every click, worker and CLI run uses for this cause in this window."""
    return f"{cause_prefix(cause_id)}{int(window.start.timestamp())}:{int(window.end.timestamp())}"


def chunk_dedup_key(replay: Replay, index: int, attempt: int) -> str:
    """The audit dedup key of one chunk's attempt; its Idempotency-Key is derived from it."""
    return f"{replay.replay_key}:chunk-{index}:attempt-{attempt}"


def chunk_key(replay: Replay, index: int, attempt: int) -> str:
    """The Idempotency-Key for one chunk's attempt: the same on every worker and re-drive."""
    return idempotency_key(chunk_dedup_key(replay, index, attempt))


def find_target(
    deps: Deps, cause_id: str, window: TimeWindow, *, track_id: str
) -> ReplayTarget | None:
    """Re-scan the fixed window; the cause's group and its resend ids, or None if it is gone.

    Failures Zuora listed without an id are looked up in Data Query, once for the whole group.
    """
    scan = OutageScan()
    missing_callouts: list[CalloutHistory] = []
    missing_emails: list[EmailHistory] = []
    for callout in deps.service.iter_failed_callouts(window, track_id=track_id):
        scan.add_callout(callout)
        if not callout.id and callout_cause(callout)[0].id == cause_id:
            missing_callouts.append(callout)
    for email in deps.service.iter_failed_emails(window, track_id=track_id):
        scan.add_email(email)
        if not email.id and email_cause(email)[0].id == cause_id:
            missing_emails.append(email)
    group = scan.group(cause_id)
    if group is None:
        return None
    target = ReplayTarget(group=group, window=window, ids=list(dict.fromkeys(group.ids)))
    missing: list[CalloutHistory] | list[EmailHistory] = (
        missing_callouts if group.cause.kind == "callout" else missing_emails
    )
    if missing:
        try:
            resolved = deps.service.resolve_ids(
                group.cause.kind, missing, window, track_id=track_id
            )
            found = [i for i in resolved if i]
        except ZuoraError as exc:
            target.resolve_error = explain(exc).message
            found = []
        known = set(target.ids)
        target.ids.extend(i for i in dict.fromkeys(found) if i not in known)
        target.unresolved = len(missing) - len(found)
    # Cards of one outage drawn at different times have overlapping windows: an id an earlier
    # replay of this cause resent (or left in Zuora's hands), or any resend claimed within the once
    # window, is not sent again by a later one. (The claim itself decides; this only counts.)
    done = deps.store.replayed_ids(cause_prefix(cause_id))
    own = replay_key(cause_id, window)  # a stopped replay of this very card resumes its own ids
    done |= {
        claim.history_id
        for claim in deps.store.notification_claims(
            notification_scope(deps.settings.zuora), group.cause.kind, target.ids, now=deps.now()
        )
        if claim.holder != own
    }
    if done:
        before = len(target.ids)
        target.ids = [i for i in target.ids if i not in done]
        target.already = before - len(target.ids)
    return target


def cause_prefix(cause_id: str) -> str:
    """The start of every replay key (and chunk audit key) of one cause."""
    return f"replay:{cause_id}:"


def running_replay(deps: Deps, cause_id: str) -> Replay | None:
    """A replay of this cause (in any window) still running, if any."""
    return next((r for r in deps.store.replays_for_cause(cause_id) if r.state == "running"), None)


def claim_replay(
    deps: Deps,
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
    deps: Deps, replay: Replay, *, owner: str | None = None, progress: Progress | None = None
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
            went_on = _send_chunk(deps, current, owner)
            current = _reload(deps, current)
            if not went_on:
                break
            if progress is not None and current.state == "running":
                progress(current)
        if current.state == "running" and current.chunks_done >= current.chunk_count:
            deps.store.finish_replay(current.id, owner=owner, now=deps.now())
            current = _reload(deps, current)
            logger.info(
                "replay %s done: %d sent, %d refused, %d in progress (track %s)",
                current.replay_key,
                current.sent,
                sum(current.refused.values()),
                current.in_progress,
                current.track_id,
            )
    return current


def _send_chunk(deps: Deps, replay: Replay, owner: str) -> bool:
    """Audit, send and count chunk `chunks_done`; False when the replay must not go on."""
    index, attempt = replay.chunks_done, replay.chunk_attempt
    ids = replay.chunk(index)
    dedup = chunk_dedup_key(replay, index, attempt)
    audit = deps.store.begin_replay_chunk(
        replay.id,
        owner=owner,
        index=index,
        request=ResendRequest(
            requested_at=deps.now(),
            team_id=replay.team_id,
            user_id=replay.user_id,
            account_key=None,
            kind=replay.kind,
            ids=ids,
            track_id=replay.track_id,
            dedup_key=dedup,
        ),
        scope=notification_scope(deps.settings.zuora),
    )
    if audit is None:
        return False  # someone else holds the replay now, or counted this chunk
    audit_log.info(
        "replay chunk requested %s",
        _audit_json(replay, index, attempt, audit.id, len(ids)),
    )
    status: ResendStatus
    outcome: dict[str, IdOutcome]
    if audit.status not in ("requested", "waiting", "error"):
        # A predecessor got Zuora's answer but died before counting it: count what it recorded.
        status, outcome = audit.status, dict(audit.outcome)
    else:
        try:
            result = deps.service.resend(
                replay.kind,
                ids,
                idempotency_key=chunk_key(replay, index, attempt),
                track_id=replay.track_id,
            )
        except ZuoraError as exc:
            explanation = explain(exc)
            if is_unknown_outcome(exc) and deps.now() - audit.requested_at < ASK_AGAIN_FOR:
                retry_at = next_ask(audit.requested_at, deps.now())
                logger.warning(
                    "replay %s: chunk %d of %d has no definite answer (%s); asking again at %s "
                    "with the same key",
                    replay.replay_key,
                    index + 1,
                    replay.chunk_count,
                    type(exc).__name__,
                    retry_at.isoformat(),
                )
                deps.store.wait_replay_chunk(
                    replay.id,
                    owner=owner,
                    index=index,
                    audit_id=audit.id,
                    error=unknown_reason(exc),
                    retry_at=retry_at,
                    now=deps.now(),
                )
                return False
            error = explanation.message + (f" {explanation.hint}" if explanation.hint else "")
            logger.warning(
                "replay %s: chunk %d of %d not sent (%s); stopping",
                replay.replay_key,
                index + 1,
                replay.chunk_count,
                type(exc).__name__,
            )
            deps.store.stop_replay(
                replay.id,
                owner=owner,
                audit_id=audit.id,
                error=error,
                # No answer: Zuora may have it, so the next try keeps this key. An answer (an
                # error Zuora may replay for this key for 24 h): the next try uses a new one.
                new_key=not isinstance(exc, ZuoraConnectionError),
                now=deps.now(),
            )
            return False
        status, outcome = _outcome(result)
    counted = deps.store.finish_replay_chunk(
        replay.id,
        owner=owner,
        index=index,
        audit_id=audit.id,
        status=status,
        outcome=outcome,
        counts=_counts(outcome),
        now=deps.now(),
    )
    audit_log.info(
        "replay chunk finished %s status=%s",
        _audit_json(replay, index, attempt, audit.id, len(ids)),
        status,
    )
    return counted


def _outcome(result: ResendResult) -> tuple[ResendStatus, dict[str, IdOutcome]]:
    """The audit status and per-id outcome of one chunk's answer."""
    return result_status(result), result_per_id(result)


def _counts(outcome: dict[str, IdOutcome]) -> ChunkResult:
    """A chunk's outcome folded into the replay's counters (refusals grouped by reason)."""
    refused: dict[str, int] = {}
    sent = waiting = 0
    for item in outcome.values():
        if item.ok and item.code == IN_PROGRESS_CODE:
            waiting += 1
        elif item.ok:
            sent += 1
        else:
            reason = f"{item.code or 'error'}\t{item.message or ''}"
            refused[reason] = refused.get(reason, 0) + 1
    return ChunkResult(sent=sent, in_progress=waiting, refused=refused)


def _audit_json(replay: Replay, index: int, attempt: int, audit_id: int, count: int) -> str:
    return (
        f"audit_id={audit_id} replay={replay.replay_key} cause={replay.cause_id} "
        f"chunk={index + 1}/{replay.chunk_count} attempt={attempt} ids={count} "
        f"user={replay.user_id} track_id={replay.track_id}"
    )


def _reload(deps: Deps, replay: Replay) -> Replay:
    fresh = deps.store.replay(replay.replay_key)
    assert fresh is not None, replay.replay_key
    return fresh


def _lease(deps: Deps) -> timedelta:
    return timedelta(seconds=deps.settings.resend.resend_lease)


@contextmanager
def _keep_lease(deps: Deps, replay_id: int, *, owner: str) -> Iterator[None]:
    """Renew `owner`'s lease on the replay every lease/LEASE_RENEWALS while the block runs."""
    lease = _lease(deps)

    def renew() -> bool:
        return deps.store.renew_replay_lease(replay_id, owner=owner, until=deps.now() + lease)

    with renewing(renew, every=lease / LEASE_RENEWALS, what=f"replay {replay_id}"):
        yield


def redrive_stale_replays(deps: Deps, *, on_done: Callable[[Replay], None] | None = None) -> int:
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
    "ProgressThrottle",
    "ReplayTarget",
    "chunk_dedup_key",
    "chunk_key",
    "claim_replay",
    "drive_replay",
    "find_target",
    "redrive_stale_replays",
    "cause_prefix",
    "replay_key",
    "running_replay",
]
