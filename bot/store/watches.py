"""Account watches: who watches which account, and the one-DM-per-hour compare-and-set the clock uses."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select, update

from bot.store.audit import audit_from_row
from bot.store.engine import StoreBase, from_row, rowcount
from bot.store.records import ResendAuditEntry, require_aware
from bot.store.tables import account_watches, resend_audit

logger = logging.getLogger("bot.store")


@dataclass(frozen=True)
class AccountWatch:
    """One user's watch on one account of one workspace."""

    id: int
    team_id: str
    user_id: str
    account_id: str
    account_number: str
    account_name: str
    created_at: datetime
    last_notified_at: datetime | None
    last_seen_failure_at: datetime | None
    checked_at: datetime | None
    recent_failures: int | None


def _watch(row: Any) -> AccountWatch:
    return from_row(AccountWatch, row)


class WatchStore(StoreBase):
    """The account_watches table."""

    def add_watch(
        self,
        *,
        team_id: str,
        user_id: str,
        account_id: str,
        account_number: str,
        account_name: str,
        now: datetime,
        last_failure_at: datetime | None,
        recent_failures: int | None,
    ) -> tuple[AccountWatch, bool]:
        """Watch an account (idempotent); returns the watch and whether it is new.

        `last_failure_at` (the newest failure already known) is where "new" starts: only a later
        failure is worth a DM; without one, failures after `now` are.
        """
        now = require_aware(now, "now")
        stmt = self._insert(account_watches).values(
            team_id=team_id,
            user_id=user_id,
            account_id=account_id,
            account_number=account_number[:64],
            account_name=account_name[:255],
            created_at=now,
            last_seen_failure_at=last_failure_at or now,
            checked_at=now,
            recent_failures=recent_failures,
        )
        created = self._changed("add_watch", stmt.on_conflict_do_nothing())
        c = account_watches.c
        found = self._fetch_one(
            "add_watch",
            select(account_watches).where(
                c.team_id == team_id, c.user_id == user_id, c.account_id == account_id
            ),
            _watch,
        )
        assert found is not None  # inserted above, or there already
        return found, created

    def remove_watch(self, *, team_id: str, user_id: str, account_key: str) -> AccountWatch | None:
        """Stop one user's watch on an account (its id, or its number in any case); the watch removed."""
        c = account_watches.c
        match = (
            c.team_id == team_id,
            c.user_id == user_id,
            or_(c.account_id == account_key, func.lower(c.account_number) == account_key.lower()),
        )
        with self._transaction("remove_watch") as conn:
            row = conn.execute(select(account_watches).where(*match)).first()
            if row is None:
                return None
            conn.execute(account_watches.delete().where(c.id == row.id))
        return _watch(row)

    def list_watches(
        self,
        *,
        team_id: str | None = None,
        user_id: str | None = None,
        account_ids: Iterable[str] | None = None,
    ) -> list[AccountWatch]:
        """Watches, oldest first, narrowed to a workspace, a user and some accounts when given."""
        c = account_watches.c
        stmt = select(account_watches).order_by(c.created_at, c.id)
        if team_id is not None:
            stmt = stmt.where(c.team_id == team_id)
        if user_id is not None:
            stmt = stmt.where(c.user_id == user_id)
        if account_ids is not None:
            stmt = stmt.where(c.account_id.in_(sorted(set(account_ids))))
        return self._fetch_all("list_watches", stmt, _watch)

    def watched_accounts_due(self, limit: int) -> list[str]:
        """Up to `limit` watched account ids, never-checked first, then least recently checked."""
        c = account_watches.c
        never = func.min(case((c.checked_at.is_(None), 0), else_=1))
        stmt = (
            select(c.account_id)
            .group_by(c.account_id)
            .order_by(never, func.min(c.checked_at), c.account_id)
            .limit(limit)
        )
        with self._transaction("watched_accounts_due", read_only=True) as conn:
            return list(conn.scalars(stmt))

    def record_watch_check(self, account_id: str, *, now: datetime, recent_failures: int) -> None:
        """Remember when an account was last scanned and how many failures its last 24 h held."""
        stmt = (
            update(account_watches)
            .where(account_watches.c.account_id == account_id)
            .values(checked_at=require_aware(now, "now"), recent_failures=recent_failures)
        )
        with self._transaction("record_watch_check") as conn:
            conn.execute(stmt)

    def claim_watch_notice(
        self, watch_id: int, *, failure_at: datetime, now: datetime, gap: timedelta
    ) -> bool:
        """Win the right to DM about `failure_at`: True for exactly one caller.

        One compare-and-set UPDATE: the failure must be newer than the last one seen and the last DM
        at least `gap` ago. Two clocks racing both run it; the row lock (PostgreSQL) or the write
        lock (SQLite) makes the second re-check a row the first already moved, so it matches nothing.
        """
        now = require_aware(now, "now")
        failure_at = require_aware(failure_at, "failure_at")
        c = account_watches.c
        stmt = (
            update(account_watches)
            .where(
                c.id == watch_id,
                or_(c.last_seen_failure_at.is_(None), c.last_seen_failure_at < failure_at),
                or_(c.last_notified_at.is_(None), c.last_notified_at <= now - gap),
            )
            .values(last_notified_at=now, last_seen_failure_at=failure_at)
        )
        with self._transaction("claim_watch_notice") as conn:
            won = rowcount(conn, stmt) == 1
        logger.debug("Watch notice %d for %s: %s", watch_id, failure_at, "won" if won else "lost")
        return won

    def list_user_resends(
        self, *, team_id: str, user_id: str, limit: int
    ) -> list[ResendAuditEntry]:
        """One user's newest resends in one workspace (the Home tab lists them beside the watches)."""
        c = resend_audit.c
        stmt = (
            select(resend_audit)
            .where(c.team_id == team_id, c.user_id == user_id)
            .order_by(c.requested_at.desc(), c.id.desc())
            .limit(limit)
        )
        with self._transaction("list_user_resends", read_only=True) as conn:
            rows = conn.execute(stmt).all()
        return [audit_from_row(row) for row in rows]
