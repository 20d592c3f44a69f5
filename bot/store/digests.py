"""Digest subscriptions and runs: who gets a daily digest, and one claimed run per subscription and day."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy import exc as sa_exc

from bot.store.engine import StoreBase, dumps, from_row, posting_values, rowcount, values_of
from bot.store.records import (
    DIGEST_FINISH_STATUSES,
    DIGEST_KINDS,
    DIGEST_RUN_STATUSES,
    DigestFinishStatus,
    DigestRun,
    NewSubscription,
    Subscription,
    check_literal,
    require_aware,
)
from bot.store.tables import HELD_STATUSES, digest_runs, digest_subscriptions

logger = logging.getLogger("bot.store")


def _held(subscription_id: int, local_date: date, owner: str | None) -> list[ColumnElement[bool]]:
    """Conditions: this day's run is held (by ``owner``, when given)."""
    c = digest_runs.c
    held = [c.subscription_id == subscription_id, c.local_date == local_date]
    held.append(c.status.in_(HELD_STATUSES))
    if owner is not None:
        held.append(c.claimed_by == owner)
    return held


def _subscription(row: Any) -> Subscription:
    """Build a Subscription from a digest_subscriptions row."""
    return from_row(
        Subscription,
        row,
        accounts=tuple(json.loads(row.accounts)),
        kind=check_literal(row.kind, DIGEST_KINDS, "kind"),
        quiet=bool(row.quiet),
        active=bool(row.active),
    )


def _digest_run(row: Any) -> DigestRun:
    """Build a DigestRun from a digest_runs row."""
    return from_row(DigestRun, row, status=check_literal(row.status, DIGEST_RUN_STATUSES, "status"))


class DigestStore(StoreBase):
    """The digest_subscriptions and digest_runs tables."""

    def add_subscription(self, new: NewSubscription) -> Subscription:
        """Store a new active subscription and return it with its id."""
        values = values_of(new, accounts=dumps(list(new.accounts)), active=True)
        return _subscription(self._insert_row("add_subscription", digest_subscriptions, values))

    def ensure_subscription(self, new: NewSubscription) -> tuple[Subscription, bool]:
        """Add `new` unless an active one with the same key exists: (the subscription, whether new).

        The key is DIGEST_SUBSCRIPTION_KEY; a concurrent identical insert (a replayed command) loses
        on the unique index and gets the winner's row.
        """
        try:
            return self.add_subscription(new), True
        except sa_exc.IntegrityError:
            table = digest_subscriptions
            stmt = select(table).where(
                table.c.active.is_(True),
                table.c.team_id == new.team_id,
                table.c.channel_id == new.channel_id,
                table.c.kind == new.kind,
                table.c.accounts == dumps(list(new.accounts)),
            )
            with self._transaction("ensure_subscription", read_only=True) as conn:
                row = conn.execute(stmt).first()
            if row is None:
                raise
            return _subscription(row), False

    def list_subscriptions(
        self, *, team_id: str | None = None, channel_id: str | None = None
    ) -> list[Subscription]:
        """Active subscriptions, oldest first, optionally for one workspace and/or channel."""
        return self._active_subscriptions(
            "list_subscriptions", digest_subscriptions, team_id, channel_id, _subscription
        )

    def remove_subscription(self, subscription_id: int, *, team_id: str) -> bool:
        """Deactivate a subscription of this workspace; False if there was no such active one."""
        return self._deactivate(
            "remove_subscription", digest_subscriptions, subscription_id, team_id
        )

    def get_subscription(self, subscription_id: int) -> Subscription | None:
        """One subscription by id, removed ones included (check ``active``); None if unknown."""
        stmt = select(digest_subscriptions).where(digest_subscriptions.c.id == subscription_id)
        return self._fetch_one("get_subscription", stmt, _subscription)

    # --- digest runs ---

    def claim_digest_run(
        self,
        subscription_id: int,
        local_date: date,
        *,
        owner: str,
        now: datetime,
        lease: timedelta,
    ) -> bool:
        """Return True for the one caller that may post this day's digest.

        A new day is won by the first insert. An existing run is won again only if it 'failed', or if its
        holder stopped renewing the lease (``heartbeat_at``, else ``claimed_at``, older than ``lease``): it
        died mid-run. A run taken over in 'posting' stays 'posting' (its ``posting_at`` kept), so the new
        holder knows the post may have reached Slack and checks before posting. 'posted', 'skipped' and
        'unconfirmed' are final.
        """
        if lease <= timedelta(0):
            raise ValueError("lease must be positive")
        now = require_aware(now, "now")
        stmt = self._insert(digest_runs).values(
            subscription_id=subscription_id,
            local_date=local_date,
            status="claimed",
            claimed_at=now,
            claimed_by=owner,
            heartbeat_at=now,
        )
        was_posting = digest_runs.c.status == "posting"
        stmt = stmt.on_conflict_do_update(
            index_elements=[digest_runs.c.subscription_id, digest_runs.c.local_date],
            set_={
                "status": case((was_posting, "posting"), else_="claimed"),
                "claimed_at": stmt.excluded.claimed_at,
                "claimed_by": stmt.excluded.claimed_by,
                "heartbeat_at": stmt.excluded.heartbeat_at,
                "posting_at": case((was_posting, digest_runs.c.posting_at), else_=None),
                "finished_at": None,
                "message_ts": None,
                "detail": None,
            },
            where=(digest_runs.c.status == "failed")
            | (
                digest_runs.c.status.in_(HELD_STATUSES)
                & (
                    func.coalesce(digest_runs.c.heartbeat_at, digest_runs.c.claimed_at)
                    < now - lease
                )
            ),
        )
        won = self._changed("claim_digest_run", stmt)
        logger.info(
            "Digest run %s for subscription %d on %s by %s",
            "claimed" if won else "already taken",
            subscription_id,
            local_date.isoformat(),
            owner,
        )
        return won

    def renew_digest_runs(
        self, runs: Iterable[tuple[int, date]], *, owner: str, now: datetime
    ) -> set[tuple[int, date]]:
        """Heartbeat: push back the lease of the runs ``owner`` still holds; return those it still holds."""
        now = require_aware(now, "now")
        held: set[tuple[int, date]] = set()
        with self._transaction("renew_digest_runs") as conn:
            for subscription_id, local_date in runs:
                stmt = (
                    update(digest_runs)
                    .where(*_held(subscription_id, local_date, owner))
                    .values(heartbeat_at=now)
                )
                if rowcount(conn, stmt) == 1:
                    held.add((subscription_id, local_date))
        return held

    def mark_digest_posting(
        self, subscription_id: int, local_date: date, *, owner: str, now: datetime
    ) -> bool:
        """Record that ``owner`` is about to post this run to Slack; False if it no longer holds the run.

        Written before chat.postMessage, so a holder that dies during the post leaves 'posting' behind and
        whoever takes over checks Slack first. ``posting_at`` keeps the first attempt's time (the check
        looks from there).
        """
        now = require_aware(now, "now")
        stmt = (
            update(digest_runs)
            .where(*_held(subscription_id, local_date, owner))
            .values(status="posting", **posting_values(digest_runs, now))
        )
        held = self._changed("mark_digest_posting", stmt)
        if not held:
            logger.warning(
                "Digest run for subscription %d on %s is no longer held by %s; not posting",
                subscription_id,
                local_date.isoformat(),
                owner,
            )
        return held

    def finish_digest_run(
        self,
        subscription_id: int,
        local_date: date,
        *,
        status: DigestFinishStatus,
        now: datetime,
        message_ts: str | None = None,
        detail: str | None = None,
        owner: str | None = None,
    ) -> bool:
        """Mark a held run 'posted', 'skipped', 'failed' or 'unconfirmed'; True if it was.

        A run not in 'claimed' or 'posting' (or, with ``owner``, held by someone else) is left alone.
        """
        check_literal(status, DIGEST_FINISH_STATUSES, "status")
        stmt = (
            update(digest_runs)
            .where(*_held(subscription_id, local_date, owner))
            .values(status=status, finished_at=now, message_ts=message_ts, detail=detail)
        )
        done = self._changed("finish_digest_run", stmt)
        if not done:
            logger.warning(
                "No held digest run for subscription %d on %s to mark %s",
                subscription_id,
                local_date.isoformat(),
                status,
            )
        return done

    def get_digest_run(self, subscription_id: int, local_date: date) -> DigestRun | None:
        """One day's run of one subscription, or None if nobody claimed it yet."""
        stmt = select(digest_runs).where(
            digest_runs.c.subscription_id == subscription_id,
            digest_runs.c.local_date == local_date,
        )
        return self._fetch_one("get_digest_run", stmt, _digest_run)

    def list_digest_runs(self, subscription_id: int) -> list[DigestRun]:
        """Every run of one subscription, oldest day first."""
        stmt = (
            select(digest_runs)
            .where(digest_runs.c.subscription_id == subscription_id)
            .order_by(digest_runs.c.local_date)
        )
        return self._fetch_all("list_digest_runs", stmt, _digest_run)
