"""Resend jobs: each resend click as leased, re-drivable work with the audit row it completes.

A job goes claimed (written before Zuora is called, under a lease) -> answered (Zuora's outcome is in
resend_audit) -> done (the card shows it); one left before done past its lease is re-driven with the
same attempt, hence the same Idempotency-Key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select, update
from sqlalchemy import exc as sa_exc

from bot.store.audit import audit_entry, insert_requested, record_outcome, record_waiting
from bot.store.claims import attach_audit, claim_notifications, claims_on
from bot.store.engine import StoreBase, from_row, rowcount
from bot.store.records import (
    HANDLED_STATUSES,
    RESEND_JOB_STATES,
    IdOutcome,
    NotificationClaim,
    OnceRule,
    ResendClaim,
    ResendJob,
    ResendJobState,
    ResendRequest,
    ResendStatus,
    check_literal,
    require_aware,
)
from bot.store.tables import resend_jobs

logger = logging.getLogger("bot.store")


def _move_claimed(conn: Connection, job_id: int, owner: str, **values: object) -> int | None:
    """Update ``owner``'s job while still 'claimed' (compare-and-set); its audit id if it did."""
    c = resend_jobs.c
    moved = rowcount(
        conn,
        update(resend_jobs)
        .where(c.id == job_id, c.lease_owner == owner, c.state == "claimed")
        .values(**values),
    )
    if moved != 1:
        return None
    return int(conn.execute(select(c.audit_id).where(c.id == job_id)).scalar_one())


class ResendJobStore(StoreBase):
    """The resend_jobs table (with the audit rows and notification claims each attempt writes)."""

    def claim_resend(
        self,
        request: ResendRequest,
        *,
        owner: str,
        lease: timedelta,
        reply_url: str | None,
        context: str,
        once: OnceRule | None = None,
    ) -> ResendClaim:
        """Start a resend attempt for ``request.dedup_key`` unless one is running or succeeded.

        In one transaction: the key's latest attempt still before 'done', or done with a handled
        status, is returned (won=False); otherwise, under ``once``, each id is claimed for this key
        (ids another resend holds in the window are left out and returned in ``elsewhere``; none
        left: won=False, no attempt written), and the next attempt is written with its audit row
        (status 'requested') and a lease for ``owner``. Two racing callers cannot both win: the
        (dedup_key, attempt) pair and each notification's claim are unique.
        """
        now = require_aware(request.requested_at, "requested_at")
        elsewhere: tuple[NotificationClaim, ...] = ()
        try:
            with self._transaction("claim_resend") as conn:
                latest = self._latest_job(conn, request.dedup_key)
                if latest is not None and (
                    latest.state != "done" or latest.audit.status in HANDLED_STATUSES
                ):
                    return ResendClaim(False, latest)
                if once is not None:
                    won = claim_notifications(
                        conn,
                        once,
                        kind=request.kind,
                        ids=request.ids,
                        holder=request.dedup_key,
                        team_id=request.team_id,
                        user_id=request.user_id,
                        now=now,
                    )
                    lost = [i for i in request.ids if i not in won]
                    elsewhere = tuple(claims_on(conn, once.scope, request.kind, lost))
                    if not won:
                        return ResendClaim(False, latest, elsewhere=elsewhere)
                    request = replace(request, ids=tuple(i for i in request.ids if i in won))
                attempt = 1 if latest is None else latest.attempt + 1
                audit_id = insert_requested(conn, request)
                if once is not None:
                    attach_audit(
                        conn, once.scope, request.kind, request.ids, request.dedup_key, audit_id
                    )
                conn.execute(
                    insert(resend_jobs).values(
                        dedup_key=request.dedup_key,
                        attempt=attempt,
                        audit_id=audit_id,
                        state="claimed",
                        lease_owner=owner,
                        lease_until=now + lease,
                        reply_url=reply_url,
                        context=context,
                        updated_at=now,
                    )
                )
                job = self._latest_job(conn, request.dedup_key)
        except sa_exc.IntegrityError:
            # Another worker wrote this attempt between our read and our insert: theirs stands.
            with self._transaction("claim_resend_lost", read_only=True) as conn:
                job = self._latest_job(conn, request.dedup_key)
            if job is None:
                raise
            return ResendClaim(False, job)
        assert job is not None
        logger.debug("Resend claim %s attempt %d won", request.dedup_key[:12], attempt)
        return ResendClaim(True, job, elsewhere=elsewhere)

    def renew_resend_lease(self, job_id: int, *, owner: str, until: datetime) -> bool:
        """Extend ``owner``'s lease on an unfinished job; False if someone else holds it now."""
        return self._renew_lease(
            "renew_resend_lease",
            resend_jobs,
            job_id,
            owner=owner,
            until=until,
            live=resend_jobs.c.state != "done",
        )

    def take_stale_resend(
        self, job_id: int, *, owner: str, now: datetime, lease: timedelta
    ) -> bool:
        """Take over an unfinished job whose lease ran out (at most one taker wins)."""
        return self._take_stale(
            "take_stale_resend",
            resend_jobs,
            job_id,
            owner=owner,
            now=now,
            lease=lease,
            live=resend_jobs.c.state != "done",
        )

    def advance_resend(
        self, job_id: int, *, owner: str, state: ResendJobState, now: datetime
    ) -> bool:
        """Move ``owner``'s job forward to 'answered' (from 'claimed') or 'done' (from either).

        A compare-and-set on the lease owner and the state: False (and logged) when the lease went
        to someone else or the job is already past that state.
        """
        check_literal(state, RESEND_JOB_STATES, "state")
        values: dict[str, object] = {"state": state, "updated_at": require_aware(now, "now")}
        if state == "done":
            values["lease_until"] = None
        before = ("claimed",) if state == "answered" else ("claimed", "answered")
        stmt = (
            update(resend_jobs)
            .where(
                resend_jobs.c.id == job_id,
                resend_jobs.c.lease_owner == owner,
                resend_jobs.c.state.in_(before),
            )
            .values(**values)
        )
        moved = self._changed("advance_resend", stmt)
        if not moved:
            logger.warning(
                "Resend job %d not moved to %s: %s no longer holds it", job_id, state, owner
            )
        return moved

    def finish_resend(
        self,
        job_id: int,
        *,
        owner: str,
        status: ResendStatus,
        outcome: Mapping[str, IdOutcome],
        error: str | None,
        now: datetime,
    ) -> bool:
        """Record Zuora's answer on the job's audit row and move the job to 'answered', atomically.

        Only while ``owner`` still holds the lease of a job still 'claimed' (compare-and-set): a slow
        worker whose lease was taken over must not overwrite what the new holder recorded. False,
        logged, and nothing written otherwise.
        """
        now = require_aware(now, "now")
        with self._transaction("finish_resend") as conn:
            audit_id = _move_claimed(conn, job_id, owner, state="answered", updated_at=now)
            if audit_id is not None:
                record_outcome(conn, audit_id, status, outcome, error, now)
        if audit_id is None:
            logger.warning(
                "Resend job %d: %s lost its lease; its %s answer is not recorded",
                job_id,
                owner,
                status,
            )
        return audit_id is not None

    def wait_resend(
        self, job_id: int, *, owner: str, error: str, retry_at: datetime, now: datetime
    ) -> bool:
        """Zuora's answer is unknown: mark the audit row 'waiting' and leave the job to the re-driver.

        The job stays 'claimed' (same attempt, so the same Idempotency-Key); its lease is released
        until ``retry_at``, when ``stale_resends`` hands it to the clock to ask again. The same
        compare-and-set as ``finish_resend``.
        """
        now = require_aware(now, "now")
        with self._transaction("wait_resend") as conn:
            audit_id = _move_claimed(
                conn,
                job_id,
                owner,
                lease_owner=None,
                lease_until=require_aware(retry_at, "retry_at"),
                updated_at=now,
            )
            if audit_id is not None:
                record_waiting(conn, audit_id, error)
        if audit_id is None:
            logger.warning("Resend job %d: %s lost its lease before Zuora's answer", job_id, owner)
        return audit_id is not None

    def stale_resends(self, now: datetime, *, limit: int = 50) -> list[ResendJob]:
        """Unfinished jobs whose lease has run out, oldest first: the re-driver's work list."""
        stmt = (
            select(resend_jobs.c.dedup_key)
            .where(
                resend_jobs.c.state != "done",
                resend_jobs.c.lease_until <= require_aware(now, "now"),
            )
            .order_by(resend_jobs.c.updated_at)
            .limit(limit)
        )
        with self._transaction("stale_resends", read_only=True) as conn:
            keys = list(conn.scalars(stmt))
            jobs = [self._latest_job(conn, key) for key in keys]
        return [job for job in jobs if job is not None and job.state != "done"]

    def resend_job(self, dedup_key: str) -> ResendJob | None:
        """The latest attempt for a click key, with its audit row."""
        with self._transaction("resend_job", read_only=True) as conn:
            return self._latest_job(conn, dedup_key)

    def _latest_job(self, conn: Connection, dedup_key: str) -> ResendJob | None:
        stmt = (
            select(resend_jobs)
            .where(resend_jobs.c.dedup_key == dedup_key)
            .order_by(resend_jobs.c.attempt.desc())
            .limit(1)
        )
        row = conn.execute(stmt).first()
        if row is None:
            return None
        return from_row(
            ResendJob,
            row,
            state=check_literal(row.state, RESEND_JOB_STATES, "state"),
            audit=audit_entry(conn, row.audit_id),
        )
