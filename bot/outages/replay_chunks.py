"""One chunk of an outage replay: audited before it is sent, sent with its own key, then counted.

Chunk i is always the same slice of the replay's frozen ids and goes out with an Idempotency-Key
derived from (replay key, i, attempt), so a re-drive or a second worker gets Zuora's stored answer
instead of a second send. An unknown outcome leaves the chunk waiting (same key, asked again by the
clock); a refusal or no answer stops the replay. The driving loop is bot.outages.replay's.
"""

from __future__ import annotations

import logging

from bot.audit.service import IN_PROGRESS_CODE, result_per_id, result_status
from bot.core.keys import idempotency_key
from bot.explain import explain
from bot.outages.replay_target import ReplayDeps
from bot.resend.once import notification_scope
from bot.resend.service import ASK_AGAIN_FOR, next_ask, unknown_reason
from bot.store import ChunkResult, IdOutcome, Replay, ResendRequest, ResendStatus
from bot.zuora.errors import ZuoraConnectionError, ZuoraError, is_unknown_outcome
from bot.zuora.models import ResendResult

logger = logging.getLogger(__name__)
audit_log = logging.getLogger("zuora_ops.audit")


def chunk_dedup_key(replay: Replay, index: int, attempt: int) -> str:
    """The audit dedup key of one chunk's attempt; its Idempotency-Key is derived from it."""
    return f"{replay.replay_key}:chunk-{index}:attempt-{attempt}"


def chunk_key(replay: Replay, index: int, attempt: int) -> str:
    """The Idempotency-Key for one chunk's attempt: the same on every worker and re-drive."""
    return idempotency_key(chunk_dedup_key(replay, index, attempt))


def send_chunk(deps: ReplayDeps, replay: Replay, owner: str) -> bool:
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
