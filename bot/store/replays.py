"""Outage replays: "Resend all N" of one cause and window as chunked, leased, resumable work.

One row per (cause, window): the ids are frozen when it is claimed, so every worker and every re-drive
cuts the same chunks and sends each with the same derived Idempotency-Key. ``chunks_done`` and the
outcome counters advance together in one transaction per chunk; each chunk's request and outcome is
also one resend_audit row.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, Select, insert, select, update
from sqlalchemy import exc as sa_exc

from bot.store.audit import (
    audit_entry,
    insert_requested,
    record_outcome,
    record_waiting,
)
from bot.store.claims import attach_audit, claim_notifications, claims_on
from bot.store.engine import StoreBase, dumps, from_row, rowcount, values_of
from bot.store.records import (
    REPLAY_STATES,
    RESEND_KINDS,
    ChunkResult,
    IdOutcome,
    NotificationClaim,
    OnceRule,
    Replay,
    ReplayClaim,
    ReplayRequest,
    ResendAuditEntry,
    ResendRequest,
    ResendStatus,
    check_literal,
    require_aware,
)
from bot.store.tables import outage_replays, resend_audit

logger = logging.getLogger("bot.store")

# Claims a replay reads back to name who holds the ids it left out (the count covers the rest).
_CLAIMS_SHOWN: Final = 40
_RUNNING: Final = outage_replays.c.state == "running"


def _held(replay_id: int, owner: str, index: int | None = None) -> list[ColumnElement[bool]]:
    """Conditions: ``owner`` holds this running replay (and, with ``index``, that chunk is next)."""
    c = outage_replays.c
    held = [c.id == replay_id, c.lease_owner == owner, _RUNNING]
    if index is not None:
        held.append(c.chunks_done == index)
    return held


class ReplayStore(StoreBase):
    """The outage_replays table (with the audit rows and notification claims its chunks write)."""

    def claim_replay(
        self,
        request: ReplayRequest,
        *,
        owner: str,
        lease: timedelta,
        reply_url: str | None,
        once: OnceRule | None = None,
    ) -> ReplayClaim:
        """Start (or resume a stopped) replay for ``request.replay_key``, or join the cause's running one.

        In one transaction: a replay of the cause running under any key (another card's window) is
        returned to join (won=False, joined=True); a running or done replay under this key is
        returned as it is (won=False); a stopped one is taken over by this caller, keeping its
        frozen ids and progress (resumed=True). Otherwise, under ``once``, each id is claimed for
        the replay (ids another resend or replay holds in the window are left out and returned in
        ``elsewhere``) and the replay is written with the ids won (none won: replay None). Racers
        are decided by the unique replay_key and the one-running-replay-per-cause index.
        """
        now = require_aware(request.requested_at, "requested_at")
        check_literal(request.kind, RESEND_KINDS, "kind")
        if request.chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        elsewhere: tuple[NotificationClaim, ...] = ()
        left_out = 0
        try:
            with self._transaction("claim_replay") as conn:
                existing = self._replay_by_key(conn, request.replay_key)
                running = self._running_replay(conn, request.cause_id)
                if running is not None and (existing is None or existing.id != running.id):
                    return ReplayClaim(False, running, joined=True)
                if existing is not None:
                    if existing.state != "stopped":
                        return ReplayClaim(False, existing)
                    taken = rowcount(
                        conn,
                        update(outage_replays)
                        .where(
                            outage_replays.c.id == existing.id,
                            outage_replays.c.state == "stopped",
                        )
                        .values(
                            state="running",
                            error=None,
                            lease_owner=owner,
                            lease_until=now + lease,
                            reply_url=reply_url,
                            updated_at=now,
                        ),
                    )
                    replay = self._replay_by_key(conn, request.replay_key)
                    assert replay is not None
                    return ReplayClaim(taken == 1, replay, resumed=taken == 1)
                ids = request.ids
                if once is not None:
                    won = claim_notifications(
                        conn,
                        once,
                        kind=request.kind,
                        ids=ids,
                        holder=request.replay_key,
                        team_id=request.team_id,
                        user_id=request.user_id,
                        now=now,
                    )
                    lost = [i for i in ids if i not in won]
                    left_out = len(lost)
                    # Who holds them, for the message: the first few are enough.
                    elsewhere = tuple(
                        claims_on(conn, once.scope, request.kind, lost[:_CLAIMS_SHOWN])
                    )
                    ids = tuple(i for i in ids if i in won)
                    if not ids:
                        # A racer that froze them all may have committed meanwhile: join it.
                        running = self._running_replay(conn, request.cause_id)
                        if running is not None:
                            return ReplayClaim(
                                False, running, joined=True, elsewhere=elsewhere, left_out=left_out
                            )
                        return ReplayClaim(False, None, elsewhere=elsewhere, left_out=left_out)
                conn.execute(
                    insert(outage_replays).values(
                        **values_of(
                            request,
                            requested_at=now,
                            ids=dumps(list(ids)),
                            total=len(ids),
                            chunks_done=0,
                            chunk_attempt=1,
                            sent=0,
                            in_progress=0,
                            not_sent=0,
                            refused=dumps({}),
                            state="running",
                            lease_owner=owner,
                            lease_until=now + lease,
                            reply_url=reply_url,
                            updated_at=now,
                        )
                    )
                )
                replay = self._replay_by_key(conn, request.replay_key)
        except sa_exc.IntegrityError:
            # Another worker inserted this replay, or started one of this cause under another
            # window, between our read and our insert: theirs stands (our claims rolled back).
            with self._transaction("claim_replay_lost", read_only=True) as conn:
                running = self._running_replay(conn, request.cause_id)
                theirs = self._replay_by_key(conn, request.replay_key)
            if theirs is not None and (running is None or running.id == theirs.id):
                return ReplayClaim(False, theirs)
            if running is None:
                raise
            return ReplayClaim(False, running, joined=True)
        assert replay is not None
        return ReplayClaim(True, replay, elsewhere=elsewhere, left_out=left_out)

    def _running_replay(self, conn: Connection, cause_id: str) -> Replay | None:
        """The cause's running replay (at most one, by the partial unique index)."""
        key = conn.scalar(
            select(outage_replays.c.replay_key)
            .where(outage_replays.c.cause_id == cause_id, outage_replays.c.state == "running")
            .limit(1)
        )
        return None if key is None else self._replay_by_key(conn, str(key))

    def replay(self, replay_key: str) -> Replay | None:
        """The replay stored under a key, if any."""
        with self._transaction("replay", read_only=True) as conn:
            return self._replay_by_key(conn, replay_key)

    def replays_for_cause(self, cause_id: str, *, limit: int = 5) -> list[Replay]:
        """The cause's replays (any window), newest first."""
        stmt = (
            select(outage_replays.c.replay_key)
            .where(outage_replays.c.cause_id == cause_id)
            .order_by(outage_replays.c.requested_at.desc(), outage_replays.c.id.desc())
            .limit(limit)
        )
        return self._replays_of("replays_for_cause", stmt)

    def begin_replay_chunk(
        self,
        replay_id: int,
        *,
        owner: str,
        index: int,
        request: ResendRequest,
        scope: str | None = None,
    ) -> ResendAuditEntry | None:
        """The audit row of chunk ``index``, written ('requested') before Zuora is called.

        A re-driver finds the row its predecessor wrote (same dedup key) instead of adding one.
        With ``scope``, the replay's claims on the chunk's ids point at that row (so anyone told
        "already resent" learns what Zuora said). None when ``owner`` no longer holds the replay or
        the chunk is already counted.
        """
        with self._transaction("begin_replay_chunk") as conn:
            held = conn.execute(
                select(outage_replays.c.id, outage_replays.c.replay_key).where(
                    *_held(replay_id, owner, index)
                )
            ).first()
            if held is None:
                return None
            replay_key = str(held.replay_key)
            audit_id = conn.scalar(
                select(resend_audit.c.id)
                .where(resend_audit.c.dedup_key == request.dedup_key)
                .order_by(resend_audit.c.id)
                .limit(1)
            )
            if audit_id is None:
                audit_id = insert_requested(conn, request)
            if scope is not None:
                attach_audit(conn, scope, request.kind, request.ids, replay_key, int(audit_id))
            return audit_entry(conn, int(audit_id))

    def finish_replay_chunk(
        self,
        replay_id: int,
        *,
        owner: str,
        index: int,
        audit_id: int,
        status: ResendStatus,
        outcome: Mapping[str, IdOutcome],
        counts: ChunkResult,
        now: datetime,
    ) -> bool:
        """Record a chunk's outcome on its audit row and count it on the replay, atomically.

        False (and nothing written) when ``owner`` lost the replay or the chunk was counted.
        """
        now = require_aware(now, "now")
        with self._transaction("finish_replay_chunk") as conn:
            row = conn.execute(
                select(outage_replays.c.refused).where(*_held(replay_id, owner, index))
            ).first()
            if row is None:
                logger.warning(
                    "Replay %d chunk %d: %s no longer holds it; its answer is not counted",
                    replay_id,
                    index,
                    owner,
                )
                return False
            refused = {str(k): int(v) for k, v in json.loads(row.refused).items()}
            for reason, count in (counts.refused or {}).items():
                refused[reason] = refused.get(reason, 0) + count
            c = outage_replays.c
            advanced = rowcount(
                conn,
                update(outage_replays)
                .where(*_held(replay_id, owner, index))
                .values(
                    chunks_done=c.chunks_done + 1,
                    chunk_attempt=1,
                    error=None,
                    sent=c.sent + counts.sent,
                    in_progress=c.in_progress + counts.in_progress,
                    not_sent=c.not_sent + counts.not_sent,
                    refused=dumps(refused),
                    updated_at=now,
                ),
            )
            if advanced != 1:
                return False
            record_outcome(conn, audit_id, status, outcome, None, now)
        return True

    def wait_replay_chunk(
        self,
        replay_id: int,
        *,
        owner: str,
        index: int,
        audit_id: int,
        error: str,
        retry_at: datetime,
        now: datetime,
    ) -> bool:
        """Zuora's answer to chunk ``index`` is unknown: the replay waits, still running.

        The chunk's audit row becomes 'waiting' and the replay's lease is released until
        ``retry_at``, when the clock's re-driver asks for the chunk again with the same key
        (``chunk_attempt`` is kept). Nothing is counted. The same compare-and-set as
        ``finish_replay_chunk``; False (nothing written) when ``owner`` lost the replay.
        """
        now = require_aware(now, "now")
        with self._transaction("wait_replay_chunk") as conn:
            waiting = rowcount(
                conn,
                update(outage_replays)
                .where(*_held(replay_id, owner, index))
                .values(
                    error=error,
                    lease_owner=None,
                    lease_until=require_aware(retry_at, "retry_at"),
                    updated_at=now,
                ),
            )
            if waiting == 1:
                record_waiting(conn, audit_id, error)
        if waiting != 1:
            logger.warning("Replay %d chunk %d: %s no longer holds it", replay_id, index, owner)
        return waiting == 1

    def stop_replay(
        self,
        replay_id: int,
        *,
        owner: str,
        audit_id: int | None,
        error: str,
        new_key: bool,
        now: datetime,
    ) -> bool:
        """Zuora gave no usable answer for the next chunk: record it and stop until asked again.

        With ``new_key`` (Zuora answered with an error, which it may replay for the old key) the
        chunk's next try uses the next attempt's key; otherwise (no answer: it may have arrived)
        the same key, so Zuora can never send it twice.
        """
        now = require_aware(now, "now")
        c = outage_replays.c
        with self._transaction("stop_replay") as conn:
            stopped = rowcount(
                conn,
                update(outage_replays)
                .where(*_held(replay_id, owner))
                .values(
                    state="stopped",
                    error=error,
                    chunk_attempt=c.chunk_attempt + (1 if new_key else 0),
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                ),
            )
            if stopped == 1 and audit_id is not None:
                record_outcome(conn, audit_id, "error", {}, error, now)
        return stopped == 1

    def finish_replay(self, replay_id: int, *, owner: str, now: datetime) -> bool:
        """Mark ``owner``'s replay done once every chunk is counted."""
        now = require_aware(now, "now")
        stmt = (
            update(outage_replays)
            .where(*_held(replay_id, owner))
            .values(state="done", lease_until=None, updated_at=now, finished_at=now)
        )
        return self._changed("finish_replay", stmt)

    def renew_replay_lease(self, replay_id: int, *, owner: str, until: datetime) -> bool:
        """Extend ``owner``'s lease on a running replay; False if someone else holds it now."""
        return self._renew_lease(
            "renew_replay_lease", outage_replays, replay_id, owner=owner, until=until, live=_RUNNING
        )

    def stale_replays(self, now: datetime, *, limit: int = 20) -> list[Replay]:
        """Running replays whose lease ran out (their worker died), oldest first."""
        c = outage_replays.c
        stmt = (
            select(c.replay_key)
            .where(c.state == "running", c.lease_until <= require_aware(now, "now"))
            .order_by(c.updated_at)
            .limit(limit)
        )
        return self._replays_of("stale_replays", stmt)

    def take_stale_replay(
        self, replay_id: int, *, owner: str, now: datetime, lease: timedelta
    ) -> bool:
        """Take over a running replay whose lease ran out (at most one taker wins)."""
        return self._take_stale(
            "take_stale_replay",
            outage_replays,
            replay_id,
            owner=owner,
            now=now,
            lease=lease,
            live=_RUNNING,
        )

    def _replays_of(self, operation: str, stmt: Select[Any]) -> list[Replay]:
        """The replays under the keys ``stmt`` selects, in its order."""
        with self._transaction(operation, read_only=True) as conn:
            keys = list(conn.scalars(stmt))
            found = [self._replay_by_key(conn, key) for key in keys]
        return [r for r in found if r is not None]

    def _replay_by_key(self, conn: Connection, replay_key: str) -> Replay | None:
        row = conn.execute(
            select(outage_replays).where(outage_replays.c.replay_key == replay_key)
        ).first()
        if row is None:
            return None
        return from_row(
            Replay,
            row,
            kind=check_literal(row.kind, RESEND_KINDS, "kind"),
            ids=tuple(json.loads(row.ids)),
            refused={str(k): int(v) for k, v in json.loads(row.refused).items()},
            state=check_literal(row.state, REPLAY_STATES, "state"),
        )
