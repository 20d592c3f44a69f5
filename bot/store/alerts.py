"""Spike alerts: alert subscriptions, and one incident (one Slack message) per cause's spike."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy import exc as sa_exc

from bot.store.engine import StoreBase, dumps, from_row, posting_values, rowcount, values_of
from bot.store.records import (
    ALERT_POST_OUTCOMES,
    ALERT_STATES,
    DIGEST_KINDS,
    MAX_ALERT_ACCOUNTS,
    MAX_ALERT_HOURS,
    AlertIncident,
    AlertPostOutcome,
    AlertSpike,
    AlertSubscription,
    NewAlertSubscription,
    check_literal,
    require_aware,
)
from bot.store.tables import HELD_STATUSES, alert_incidents, alert_subscriptions

logger = logging.getLogger("bot.store")


def _hourly_json(old: Mapping[datetime, int], new: Mapping[datetime, int]) -> str:
    """Merge hourly failure counts and keep the newest MAX_ALERT_HOURS hours, as JSON."""
    merged: dict[datetime, int] = dict(old)
    for hour, count in new.items():
        merged[hour] = merged.get(hour, 0) + count
    kept = sorted(merged)[-MAX_ALERT_HOURS:]
    return dumps({hour.astimezone(UTC).isoformat(): merged[hour] for hour in kept})


def _hourly_from_json(text: str) -> dict[datetime, int]:
    return {datetime.fromisoformat(key): int(value) for key, value in json.loads(text).items()}


def _held(incident_id: int, owner: str) -> list[ColumnElement[bool]]:
    """Conditions: ``owner`` holds this incident's post."""
    c = alert_incidents.c
    return [c.id == incident_id, c.claimed_by == owner, c.state.in_(HELD_STATUSES)]


def _alert_subscription(row: Any) -> AlertSubscription:
    """Build an AlertSubscription from an alert_subscriptions row."""
    return from_row(
        AlertSubscription,
        row,
        kind=check_literal(row.kind, DIGEST_KINDS, "kind"),
        active=bool(row.active),
    )


def _alert_incident(row: Any) -> AlertIncident:
    """Build an AlertIncident from an alert_incidents row."""
    return from_row(
        AlertIncident,
        row,
        state=check_literal(row.state, ALERT_STATES, "state"),
        accounts=tuple(json.loads(row.accounts)),
        hourly=_hourly_from_json(row.hourly),
    )


class AlertStore(StoreBase):
    """The alert_subscriptions and alert_incidents tables."""

    def add_alert_subscription(self, new: NewAlertSubscription) -> AlertSubscription:
        """Store a new active alert subscription and return it with its id."""
        values = values_of(new, active=True)
        row = self._insert_row("add_alert_subscription", alert_subscriptions, values)
        return _alert_subscription(row)

    def ensure_alert_subscription(
        self, new: NewAlertSubscription
    ) -> tuple[AlertSubscription, bool]:
        """Add `new` unless an identical active one exists: (the subscription, whether it is new).

        Identical means the same ALERT_SUBSCRIPTION_KEY (team, channel, threshold, window, kinds);
        the unique index settles two identical requests racing (a replayed command).
        """
        table = alert_subscriptions
        stmt = select(table).where(
            table.c.active.is_(True),
            table.c.team_id == new.team_id,
            table.c.channel_id == new.channel_id,
            table.c.threshold == new.threshold,
            table.c.minutes == new.minutes,
            table.c.kind == new.kind,
        )

        def find() -> AlertSubscription | None:
            with self._transaction("find_alert_subscription", read_only=True) as conn:
                row = conn.execute(stmt).first()
            return None if row is None else _alert_subscription(row)

        found = find()
        if found is not None:
            return found, False
        try:
            return self.add_alert_subscription(new), True
        except sa_exc.IntegrityError:
            found = find()
            if found is None:
                raise
            return found, False

    def list_alert_subscriptions(
        self, *, team_id: str | None = None, channel_id: str | None = None
    ) -> list[AlertSubscription]:
        """Active alert subscriptions, oldest first, optionally for one workspace and/or channel."""
        return self._active_subscriptions(
            "list_alert_subscriptions",
            alert_subscriptions,
            team_id,
            channel_id,
            _alert_subscription,
        )

    def get_alert_subscription(self, subscription_id: int) -> AlertSubscription | None:
        """One alert subscription by id, removed ones included; None if unknown."""
        stmt = select(alert_subscriptions).where(alert_subscriptions.c.id == subscription_id)
        return self._fetch_one("get_alert_subscription", stmt, _alert_subscription)

    def remove_alert_subscription(self, subscription_id: int, *, team_id: str) -> bool:
        """Deactivate an alert subscription of this workspace; False if there was no such active one.

        Its open incidents still recover (their messages are closed), but no new one opens.
        """
        return self._deactivate(
            "remove_alert_subscription", alert_subscriptions, subscription_id, team_id
        )

    # --- alert incidents ---

    def latest_alert_incident(self, subscription_id: int, cause_id: str) -> AlertIncident | None:
        """The newest incident of this cause for this subscription (any state), or None."""
        table = alert_incidents
        stmt = (
            select(table)
            .where(table.c.subscription_id == subscription_id, table.c.cause_id == cause_id)
            .order_by(table.c.seq.desc())
            .limit(1)
        )
        return self._fetch_one("latest_alert_incident", stmt, _alert_incident)

    def get_alert_incident(self, incident_id: int) -> AlertIncident | None:
        """One incident by id."""
        stmt = select(alert_incidents).where(alert_incidents.c.id == incident_id)
        return self._fetch_one("get_alert_incident", stmt, _alert_incident)

    def list_alert_incidents(self, subscription_id: int | None = None) -> list[AlertIncident]:
        """Incidents, oldest first (optionally of one subscription)."""
        stmt = select(alert_incidents).order_by(alert_incidents.c.id)
        if subscription_id is not None:
            stmt = stmt.where(alert_incidents.c.subscription_id == subscription_id)
        return self._fetch_all("list_alert_incidents", stmt, _alert_incident)

    def watched_alert_incidents(self) -> list[AlertIncident]:
        """Incidents a check must look at: every one not recovered, and recovered ones whose message
        does not show it yet (a clock died between the two)."""
        table = alert_incidents
        stmt = (
            select(table)
            .where(
                (table.c.state != "recovered")
                | (
                    table.c.message_ts.is_not(None)
                    & (func.coalesce(table.c.shown_state, "") != "recovered")
                )
            )
            .order_by(table.c.id)
        )
        return self._fetch_all("watched_alert_incidents", stmt, _alert_incident)

    def open_alert_incident(
        self,
        subscription_id: int,
        *,
        cause_id: str,
        seq: int,
        cause_kind: str,
        label: str,
        spike: AlertSpike,
        owner: str,
        now: datetime,
    ) -> AlertIncident | None:
        """Open spike number ``seq`` of a cause as 'claimed' by ``owner``; None if someone else did.

        The unique (subscription, cause, seq) key makes exactly one caller win, across processes.
        """
        now = require_aware(now, "now")
        values = values_of(
            spike,
            accounts=dumps(sorted(spike.accounts)[:MAX_ALERT_ACCOUNTS]),
            hourly=_hourly_json({}, spike.hourly),
            subscription_id=subscription_id,
            cause_id=cause_id,
            seq=seq,
            cause_kind=cause_kind,
            label=label,
            state="claimed",
            opened_at=now,
            claimed_by=owner,
            heartbeat_at=now,
            checked_at=now,
        )
        try:
            row = self._insert_row("open_alert_incident", alert_incidents, values)
        except sa_exc.IntegrityError:
            logger.info(
                "Alert spike %d of cause %s (subscription %d) was opened by another clock",
                seq,
                cause_id,
                subscription_id,
            )
            return None
        return _alert_incident(row)

    def take_alert_incident(
        self, incident_id: int, *, owner: str, now: datetime, lease: timedelta
    ) -> bool:
        """Take over an incident whose post is unfinished: 'failed', or held past its lease by a clock
        that stopped. A 'posting' one stays 'posting' (the new holder checks Slack before posting)."""
        now = require_aware(now, "now")
        table = alert_incidents
        stmt = (
            update(table)
            .where(
                table.c.id == incident_id,
                (table.c.state == "failed")
                | (table.c.state.in_(HELD_STATUSES) & (table.c.heartbeat_at < now - lease)),
            )
            .values(
                state=case((table.c.state == "posting", "posting"), else_="claimed"),
                claimed_by=owner,
                heartbeat_at=now,
            )
        )
        return self._changed("take_alert_incident", stmt)

    def mark_alert_posting(self, incident_id: int, *, owner: str, now: datetime) -> bool:
        """Record that ``owner`` is about to post this incident; False if it no longer holds it."""
        now = require_aware(now, "now")
        table = alert_incidents
        stmt = (
            update(table)
            .where(*_held(incident_id, owner))
            .values(state="posting", **posting_values(table, now))
        )
        return self._changed("mark_alert_posting", stmt)

    def finish_alert_post(
        self,
        incident_id: int,
        *,
        owner: str,
        outcome: AlertPostOutcome,
        message_ts: str | None = None,
        shown_count: int | None = None,
        detail: str | None = None,
    ) -> bool:
        """End a held post as 'open' (with its ts), 'failed' or 'unconfirmed'; True if it was held."""
        check_literal(outcome, ALERT_POST_OUTCOMES, "outcome")
        table = alert_incidents
        stmt = (
            update(table)
            .where(*_held(incident_id, owner))
            .values(
                state=outcome,
                message_ts=message_ts,
                shown_state="open" if message_ts else None,
                shown_count=shown_count if message_ts else None,
                detail=detail,
            )
        )
        return self._changed("finish_alert_post", stmt)

    def claim_alert_check(self, incident_id: int, *, now: datetime, gap: timedelta) -> bool:
        """True for one caller per ``gap``: the clock that updates this incident in this check."""
        now = require_aware(now, "now")
        table = alert_incidents
        stmt = (
            update(table)
            .where(
                table.c.id == incident_id,
                table.c.checked_at.is_(None) | (table.c.checked_at <= now - gap),
            )
            .values(checked_at=now)
        )
        return self._changed("claim_alert_check", stmt)

    def grow_alert_incident(
        self, incident_id: int, *, seen_last_at: datetime, spike: AlertSpike
    ) -> AlertIncident | None:
        """Add failures newer than ``seen_last_at``; None if another clock added them first.

        Compare-and-set on last_at, so no failure is counted twice whatever the number of clocks.
        """
        table = alert_incidents
        with self._transaction("grow_alert_incident") as conn:
            row = conn.execute(select(table).where(table.c.id == incident_id)).one_or_none()
            if row is None or row.last_at != require_aware(seen_last_at, "seen_last_at"):
                return None
            accounts = sorted(set(json.loads(row.accounts)) | spike.accounts)
            stmt = (
                update(table)
                .where(table.c.id == incident_id, table.c.last_at == row.last_at)
                .values(
                    count=table.c.count + spike.count,
                    last_at=spike.last_at,
                    accounts=dumps(accounts[:MAX_ALERT_ACCOUNTS]),
                    hourly=_hourly_json(_hourly_from_json(row.hourly), spike.hourly),
                )
            )
            if rowcount(conn, stmt) != 1:
                return None
            fresh = conn.execute(select(table).where(table.c.id == incident_id)).one()
        return _alert_incident(fresh)

    def recover_alert_incident(
        self, incident_id: int, *, now: datetime, quiet_since: datetime
    ) -> bool:
        """Mark an incident recovered if its last failure is at or before ``quiet_since``; one winner."""
        table = alert_incidents
        stmt = (
            update(table)
            .where(
                table.c.id == incident_id,
                table.c.state.in_(("open", "unconfirmed")),
                table.c.last_at <= require_aware(quiet_since, "quiet_since"),
            )
            .values(state="recovered", recovered_at=require_aware(now, "now"))
        )
        return self._changed("recover_alert_incident", stmt)

    def record_alert_shown(self, incident_id: int, *, state: str, count: int) -> None:
        """Remember what the incident's Slack message shows now (after chat.update)."""
        stmt = (
            update(alert_incidents)
            .where(alert_incidents.c.id == incident_id)
            .values(shown_state=state, shown_count=count)
        )
        with self._transaction("record_alert_shown") as conn:
            conn.execute(stmt)
