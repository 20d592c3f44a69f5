"""The resend audit trail: one resend_audit row per resend request and what Zuora said to it."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from bot.store.engine import StoreBase, dumps, from_row, rowcount, values_of
from bot.store.records import (
    RESEND_KINDS,
    RESEND_STATUSES,
    IdOutcome,
    ResendAuditEntry,
    ResendRequest,
    ResendStatus,
    check_literal,
)
from bot.store.tables import resend_audit

logger = logging.getLogger("bot.store")


def outcome_from_json(text: str) -> dict[str, IdOutcome]:
    """Parse the outcome column back into IdOutcome values."""
    raw = json.loads(text)
    return {
        str(key): IdOutcome(
            ok=bool(value.get("ok")), code=value.get("code"), message=value.get("message")
        )
        for key, value in raw.items()
    }


def audit_from_row(row: Any) -> ResendAuditEntry:
    """A resend_audit row as a ResendAuditEntry."""
    return from_row(
        ResendAuditEntry,
        row,
        kind=check_literal(row.kind, RESEND_KINDS, "kind"),
        ids=tuple(json.loads(row.ids)),
        status=check_literal(row.status, RESEND_STATUSES, "status"),
        outcome=outcome_from_json(row.outcome),
    )


def audit_entry(conn: Connection, audit_id: int) -> ResendAuditEntry:
    """The audit row ``audit_id`` (it must exist)."""
    row = conn.execute(select(resend_audit).where(resend_audit.c.id == audit_id)).one()
    return audit_from_row(row)


def insert_requested(conn: Connection, entry: ResendRequest) -> int:
    """Write ``entry`` as a 'requested' audit row and return its id."""
    check_literal(entry.kind, RESEND_KINDS, "kind")
    values = values_of(entry, ids=dumps(list(entry.ids)), status="requested", outcome=dumps({}))
    stmt = insert(resend_audit).values(**values).returning(resend_audit.c.id)
    return int(conn.execute(stmt).scalar_one())


def record_outcome(
    conn: Connection,
    audit_id: int,
    status: ResendStatus,
    outcome: Mapping[str, IdOutcome],
    error: str | None,
    now: datetime,
) -> int:
    """Write an audit row's status and per-id outcome; how many rows it changed (0 or 1)."""
    check_literal(status, RESEND_STATUSES, "status")
    payload = {
        key: {"ok": value.ok, "code": value.code, "message": value.message}
        for key, value in outcome.items()
    }
    stmt = (
        update(resend_audit)
        .where(resend_audit.c.id == audit_id)
        .values(status=status, outcome=dumps(payload), error=error, finished_at=now)
    )
    return rowcount(conn, stmt)


def record_waiting(conn: Connection, audit_id: int, error: str) -> int:
    """Mark an audit row 'waiting' for Zuora's answer (not finished: finished_at stays empty)."""
    stmt = (
        update(resend_audit)
        .where(resend_audit.c.id == audit_id)
        .values(status="waiting", error=error, finished_at=None)
    )
    return rowcount(conn, stmt)


class AuditStore(StoreBase):
    """The resend_audit table, read and written on its own."""

    def record_resend_requested(self, entry: ResendRequest) -> int:
        """Record a resend as 'requested' (before Zuora is called) and return its audit id."""
        with self._transaction("record_resend_requested") as conn:
            return insert_requested(conn, entry)

    def record_resend_outcome(
        self,
        audit_id: int,
        *,
        status: ResendStatus,
        outcome: Mapping[str, IdOutcome],
        error: str | None,
        now: datetime,
    ) -> None:
        """Record how a requested resend ended, per id."""
        with self._transaction("record_resend_outcome") as conn:
            if record_outcome(conn, audit_id, status, outcome, error, now) != 1:
                logger.warning("No resend audit row %d to record an outcome on", audit_id)

    def set_audit_message(self, audit_id: int, channel: str, ts: str) -> None:
        """Remember the Slack message that shows this audit entry, so it can be updated later."""
        stmt = (
            update(resend_audit)
            .where(resend_audit.c.id == audit_id)
            .values(audit_channel=channel, audit_ts=ts)
        )
        if not self._changed("set_audit_message", stmt):
            logger.warning("No resend audit row %d to attach a message to", audit_id)

    def list_resends(
        self,
        *,
        team_id: str | None = None,
        account_key: str | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[ResendAuditEntry]:
        """Audit entries newest first, optionally of one workspace and one account, one page at a time.

        Anything shown to a Slack user passes its workspace's `team_id`: one workspace never sees
        another's trail. None (every workspace) is for the CLI and tests.
        """
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        stmt = select(resend_audit)
        if team_id is not None:
            stmt = stmt.where(resend_audit.c.team_id == team_id)
        if account_key is not None:
            stmt = stmt.where(resend_audit.c.account_key == account_key)
        stmt = (
            stmt.order_by(resend_audit.c.requested_at.desc(), resend_audit.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._transaction("list_resends", read_only=True) as conn:
            rows = conn.execute(stmt).all()
        return [audit_from_row(row) for row in rows]

    def count_resends(self, account_key: str | None = None, *, team_id: str | None = None) -> int:
        """How many audit entries exist, optionally of one workspace and for one account."""
        stmt = select(func.count()).select_from(resend_audit)
        if team_id is not None:
            stmt = stmt.where(resend_audit.c.team_id == team_id)
        if account_key is not None:
            stmt = stmt.where(resend_audit.c.account_key == account_key)
        with self._transaction("count_resends", read_only=True) as conn:
            return int(conn.execute(stmt).scalar_one())

    def replayed_ids(self, key_prefix: str) -> set[str]:
        """Ids that audit rows under ``key_prefix`` (a cause's replays) resent or left in Zuora's hands."""
        if not key_prefix or any(ch in key_prefix for ch in "%_\\"):
            raise ValueError("key prefix must be plain text")
        stmt = select(resend_audit.c.outcome).where(
            resend_audit.c.dedup_key.like(f"{key_prefix}%"),
            resend_audit.c.status.in_(("succeeded", "partial")),
        )
        done: set[str] = set()
        with self._transaction("replayed_ids", read_only=True) as conn:
            for text in conn.scalars(stmt):
                done.update(k for k, v in outcome_from_json(text).items() if v.ok)
        return done
