"""Outcome watches: after Zuora accepts a resend, when to read the history again and what it said.

A watch is opened once per key (an insert on the unique watch_key; a second opener is told False),
claimed by one clock at a time (a compare-and-set on its lease, so several clocks or processes on
PostgreSQL never check it twice), and written back by its holder only (another compare-and-set):
each id's outcome so far, and either the next check time or the final outcome.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy import exc as sa_exc

from bot.store.audit import audit_from_row
from bot.store.engine import StoreBase, dumps
from bot.store.records import RESEND_KINDS, ResendAuditEntry, check_literal, require_aware
from bot.store.tables import notification_claims, outage_replays, outcome_watches, resend_audit
from bot.store.watch_records import (
    ITEM_STATES,
    WATCH_OUTCOMES,
    NewWatch,
    OutcomeWatch,
    WatchItem,
    WatchOutcome,
    WatchTarget,
)

logger = logging.getLogger("bot.store")


def _items_json(items: Iterable[WatchItem]) -> str:
    """The items column: one object per id, in order."""
    return dumps(
        [
            {
                "id": item.history_id,
                "label": item.label,
                "match": dict(item.match) if item.match is not None else None,
                "state": item.state,
                "at": item.at.isoformat() if item.at else None,
                "detail": item.detail,
            }
            for item in items
        ]
    )


def _items_from(text: str) -> tuple[WatchItem, ...]:
    """Parse the items column back."""
    return tuple(
        WatchItem(
            history_id=str(raw["id"]),
            label=str(raw.get("label") or ""),
            match={str(k): str(v) for k, v in raw["match"].items()} if raw.get("match") else None,
            state=check_literal(raw.get("state", "pending"), ITEM_STATES, "state"),
            at=datetime.fromisoformat(raw["at"]) if raw.get("at") else None,
            detail=raw.get("detail"),
        )
        for raw in json.loads(text)
    )


def _target_json(target: WatchTarget) -> str:
    return dumps(
        {
            "reply_url": target.reply_url,
            "replace": target.replace,
            "channel": target.channel,
            "ts": target.ts,
            "thread_ts": target.thread_ts,
        }
    )


def _watch_from(row: Any) -> OutcomeWatch:
    """A row as an OutcomeWatch."""
    target = json.loads(row.target)
    return OutcomeWatch(
        id=row.id,
        watch_key=row.watch_key,
        kind=check_literal(row.kind, RESEND_KINDS, "kind"),
        team_id=row.team_id,
        user_id=row.user_id,
        audit_id=row.audit_id,
        replay_id=row.replay_id,
        cause_id=row.cause_id,
        account_id=row.account_id,
        source=json.loads(row.source),
        target=WatchTarget(
            reply_url=target.get("reply_url"),
            replace=bool(target.get("replace", True)),
            channel=target.get("channel"),
            ts=target.get("ts"),
            thread_ts=target.get("thread_ts"),
        ),
        items=_items_from(row.items),
        resent_at=row.resent_at,
        next_check_at=row.next_check_at,
        checks_done=row.checks_done,
        outcome=None
        if row.outcome is None
        else check_literal(row.outcome, WATCH_OUTCOMES, "outcome"),
        outcome_at=row.outcome_at,
        outcome_detail=row.outcome_detail,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
    )


class OutcomeWatchStore(StoreBase):
    """The outcome_watches table."""

    def open_watch(self, watch: NewWatch) -> bool:
        """Open a watch; False (nothing written) when its key is watched already."""
        check_literal(watch.kind, RESEND_KINDS, "kind")
        values = {
            "watch_key": watch.watch_key,
            "kind": watch.kind,
            "team_id": watch.team_id,
            "user_id": watch.user_id,
            "audit_id": watch.audit_id,
            "replay_id": watch.replay_id,
            "cause_id": watch.cause_id,
            "account_id": watch.account_id,
            "source": dumps(dict(watch.source)),
            "target": _target_json(watch.target),
            "items": _items_json(watch.items),
            "resent_at": require_aware(watch.resent_at, "resent_at"),
            "next_check_at": require_aware(watch.first_check_at, "first_check_at"),
            "checks_done": 0,
            "updated_at": watch.resent_at,
        }
        try:
            self._insert_row("open_watch", outcome_watches, values)
        except sa_exc.IntegrityError:
            logger.info("Outcome watch %s is open already", watch.watch_key)
            return False
        return True

    def due_watches(self, now: datetime, *, limit: int = 50) -> list[int]:
        """Ids of open watches whose next check is due and nobody holds, soonest first."""
        now = require_aware(now, "now")
        c = outcome_watches.c
        stmt = (
            select(c.id)
            .where(
                c.outcome.is_(None),
                c.next_check_at <= now,
                or_(c.lease_until.is_(None), c.lease_until <= now),
            )
            .order_by(c.next_check_at, c.id)
            .limit(limit)
        )
        with self._transaction("due_watches", read_only=True) as conn:
            return [int(i) for i in conn.scalars(stmt)]

    def claim_watch(
        self, watch_id: int, *, owner: str, now: datetime, lease: timedelta
    ) -> OutcomeWatch | None:
        """Take a due watch for one check (compare-and-set); None when another clock has it."""
        now = require_aware(now, "now")
        c = outcome_watches.c
        stmt = (
            update(outcome_watches)
            .where(
                c.id == watch_id,
                c.outcome.is_(None),
                c.next_check_at <= now,
                or_(c.lease_until.is_(None), c.lease_until <= now),
            )
            .values(lease_owner=owner, lease_until=now + lease, updated_at=now)
        )
        if not self._changed("claim_watch", stmt):
            return None
        return self.watch(watch_id)

    def record_check(
        self,
        watch_id: int,
        *,
        owner: str,
        items: Iterable[WatchItem],
        next_check_at: datetime | None,
        outcome: WatchOutcome | None,
        outcome_detail: str | None,
        now: datetime,
        source: Mapping[str, object] | None = None,
    ) -> bool:
        """Write one check's result and release the lease; only while ``owner`` still holds it.

        ``outcome`` set makes the watch final (no next check); otherwise ``next_check_at`` is when
        the clock looks again.
        """
        now = require_aware(now, "now")
        if outcome is not None:
            check_literal(outcome, WATCH_OUTCOMES, "outcome")
        c = outcome_watches.c
        values: dict[str, object] = {
            "items": _items_json(items),
            "checks_done": c.checks_done + 1,
            "next_check_at": None if outcome is not None else next_check_at,
            "outcome": outcome,
            "outcome_at": now if outcome is not None else None,
            "outcome_detail": outcome_detail,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": now,
        }
        if source is not None:
            values["source"] = dumps(dict(source))
        stmt = (
            update(outcome_watches)
            .where(c.id == watch_id, c.lease_owner == owner, c.outcome.is_(None))
            .values(**values)
        )
        changed = self._changed("record_check", stmt)
        if not changed:
            logger.warning(
                "Outcome watch %d: %s no longer holds it; check not recorded", watch_id, owner
            )
        return changed

    def watch(self, watch_id: int) -> OutcomeWatch | None:
        """One watch by id."""
        stmt = select(outcome_watches).where(outcome_watches.c.id == watch_id)
        return self._fetch_one("watch", stmt, _watch_from)

    def watches_for_audits(self, audit_ids: Iterable[int]) -> dict[int, OutcomeWatch]:
        """The watches of these audit rows, by audit id."""
        wanted = sorted(set(audit_ids))
        if not wanted:
            return {}
        stmt = select(outcome_watches).where(outcome_watches.c.audit_id.in_(wanted))
        return {
            w.audit_id: w
            for w in self._fetch_all("watches_for_audits", stmt, _watch_from)
            if w.audit_id is not None
        }

    def watch_for_replay(self, replay_id: int) -> OutcomeWatch | None:
        """The watch of one replay (its cause's resent ids), if it has one."""
        stmt = select(outcome_watches).where(outcome_watches.c.replay_id == replay_id)
        return self._fetch_one("watch_for_replay", stmt, _watch_from)

    def audit_row(self, audit_id: int) -> ResendAuditEntry | None:
        """One resend_audit row by id (what a watch of it shows)."""
        stmt = select(resend_audit).where(resend_audit.c.id == audit_id)
        return self._fetch_one("audit_row", stmt, audit_from_row)

    def watches_for_claims(
        self, scope: str, kind: str, ids: Iterable[str]
    ) -> dict[str, OutcomeWatch]:
        """The watch of whatever resent each id (a click's request or a replay), by history id."""
        c, w = notification_claims.c, outcome_watches.c
        wanted = sorted(set(ids))
        found: dict[str, OutcomeWatch] = {}
        by_click = notification_claims.join(outcome_watches, w.audit_id == c.audit_id)
        by_replay = notification_claims.join(
            outage_replays, outage_replays.c.replay_key == c.holder
        ).join(outcome_watches, w.replay_id == outage_replays.c.id)
        with self._transaction("watches_for_claims", read_only=True) as conn:
            for start in range(0, len(wanted), 400):
                batch = wanted[start : start + 400]
                for joined in (by_click, by_replay):
                    stmt: Select[Any] = (
                        select(c.history_id, *outcome_watches.c)
                        .select_from(joined)
                        .where(c.scope == scope, c.kind == kind, c.history_id.in_(batch))
                    )
                    for row in conn.execute(stmt):
                        found.setdefault(row.history_id, _watch_from(row))
        return found
