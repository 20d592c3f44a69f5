"""Quiet alerts (issue 19, migration 12): cause mutes, thread replies, and each subscription's update mode.

- alert_mutes: one row per mute of a cause in a workspace, kept after it ends (who muted, who unmuted,
  when, why it ended). Active: not ended and `until` (None: until the cause's alert recovers) not past.
- alert_thread_replies: one row per thread reply of an incident; the unique (incident, seq) key lets one
  clock win each reply, whose message carries the row's key in its metadata (post once, as alerts do).
  Row seq 0 is the baseline (the count the parent showed when thread updates began; no message).
- alert_update_modes: a subscription's update mode, 'thread' (the default when absent) or 'edit'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import exc as sa_exc
from sqlalchemy import select, update

from bot.store.alert_quiet_tables import alert_mutes, alert_thread_replies, alert_update_modes
from bot.store.engine import StoreBase, from_row
from bot.store.records import check_literal, require_aware

UpdateMode = Literal["thread", "edit"]
UPDATE_MODES: Final[tuple[UpdateMode, ...]] = ("thread", "edit")
MuteEnd = Literal["unmuted", "recovered", "replaced"]
ReplyState = Literal["posting", "posted", "unconfirmed", "refused"]
REPLY_STATES: Final[tuple[ReplyState, ...]] = ("posting", "posted", "unconfirmed", "refused")


@dataclass(frozen=True)
class AlertMute:
    """One mute of a cause in a workspace: by whom, when, until when (None: until recovered)."""

    id: int
    team_id: str
    cause_id: str
    label: str
    until: datetime | None
    muted_by: str
    muted_at: datetime
    unmuted_by: str | None
    unmuted_at: datetime | None
    end_reason: str | None

    def active_at(self, now: datetime) -> bool:
        """Whether this mute silences its cause at `now`."""
        return self.unmuted_at is None and (self.until is None or now < self.until)


@dataclass(frozen=True)
class ThreadReply:
    """One thread reply of an incident (seq 0: the baseline, never posted)."""

    id: int
    incident_id: int
    seq: int
    count: int
    accounts: int
    state: ReplyState
    claimed_by: str
    claimed_at: datetime
    message_ts: str | None


def _mute(row: Any) -> AlertMute:
    return from_row(AlertMute, row)


def _reply(row: Any) -> ThreadReply:
    return from_row(ThreadReply, row, state=check_literal(row.state, REPLY_STATES, "state"))


class QuietAlertStore(StoreBase):
    """The alert_mutes, alert_thread_replies and alert_update_modes tables."""

    # --- mutes ---

    def mute_cause(
        self,
        team_id: str,
        cause_id: str,
        *,
        label: str,
        until: datetime | None,
        user_id: str,
        now: datetime,
    ) -> AlertMute:
        """Mute a cause from `now`; a mute already active is ended ('replaced') in the same step."""
        now = require_aware(now, "now")
        table = alert_mutes
        with self._transaction("mute_cause") as conn:
            conn.execute(
                update(table)
                .where(*_open_mute(team_id, cause_id))
                .values(unmuted_by=user_id, unmuted_at=now, end_reason="replaced")
            )
            values = {
                "team_id": team_id,
                "cause_id": cause_id,
                "label": label,
                "until": None if until is None else require_aware(until, "until"),
                "muted_by": user_id,
                "muted_at": now,
            }
            row = conn.execute(table.insert().values(**values).returning(*table.c)).one()
        return _mute(row)

    def end_cause_mutes(
        self, team_id: str, cause_id: str, *, reason: MuteEnd, now: datetime, user_id: str | None
    ) -> int:
        """End the cause's open mutes ('recovered' ends only until-recovered ones); how many ended."""
        table = alert_mutes
        stmt = update(table).where(*_open_mute(team_id, cause_id))
        if reason == "recovered":
            stmt = stmt.where(table.c.until.is_(None))
        stmt = stmt.values(
            unmuted_by=user_id, unmuted_at=require_aware(now, "now"), end_reason=reason
        )
        with self._transaction("end_cause_mutes") as conn:
            return int(conn.execute(stmt, execution_options={"preserve_rowcount": True}).rowcount)

    def active_mute(self, team_id: str, cause_id: str, now: datetime) -> AlertMute | None:
        """The cause's mute in force at `now`, or None."""
        table = alert_mutes
        now = require_aware(now, "now")
        stmt = (
            select(table)
            .where(*_open_mute(team_id, cause_id))
            .where(table.c.until.is_(None) | (table.c.until > now))
            .order_by(table.c.id.desc())
            .limit(1)
        )
        return self._fetch_one("active_mute", stmt, _mute)

    def active_mutes(self, team_id: str | None, now: datetime) -> dict[tuple[str, str], AlertMute]:
        """Every mute in force at `now` (of one workspace if given), by (team, cause)."""
        table = alert_mutes
        now = require_aware(now, "now")
        stmt = select(table).where(
            table.c.unmuted_at.is_(None), table.c.until.is_(None) | (table.c.until > now)
        )
        if team_id is not None:
            stmt = stmt.where(table.c.team_id == team_id)
        rows = self._fetch_all("active_mutes", stmt.order_by(table.c.id), _mute)
        return {(mute.team_id, mute.cause_id): mute for mute in rows}

    def list_cause_mutes(self, team_id: str, cause_id: str) -> list[AlertMute]:
        """Every mute of a cause in a workspace, oldest first (the record of who muted when)."""
        table = alert_mutes
        stmt = (
            select(table)
            .where(table.c.team_id == team_id, table.c.cause_id == cause_id)
            .order_by(table.c.id)
        )
        return self._fetch_all("list_cause_mutes", stmt, _mute)

    # --- thread replies ---

    def latest_thread_reply(self, incident_id: int) -> ThreadReply | None:
        """The incident's newest thread reply row (the baseline if none was posted), or None."""
        table = alert_thread_replies
        stmt = (
            select(table)
            .where(table.c.incident_id == incident_id)
            .order_by(table.c.seq.desc())
            .limit(1)
        )
        return self._fetch_one("latest_thread_reply", stmt, _reply)

    def claim_thread_reply(
        self,
        incident_id: int,
        *,
        seq: int,
        count: int,
        accounts: int,
        owner: str,
        now: datetime,
        state: ReplyState = "posting",
    ) -> ThreadReply | None:
        """Claim reply `seq` of an incident for `owner`; None if another clock claimed it first."""
        values = {
            "incident_id": incident_id,
            "seq": seq,
            "count": count,
            "accounts": accounts,
            "state": check_literal(state, REPLY_STATES, "state"),
            "claimed_by": owner,
            "claimed_at": require_aware(now, "now"),
        }
        try:
            row = self._insert_row("claim_thread_reply", alert_thread_replies, values)
        except sa_exc.IntegrityError:
            return None
        return _reply(row)

    def take_thread_reply(
        self, reply_id: int, *, owner: str, now: datetime, lease: timedelta
    ) -> bool:
        """Take over a reply left 'posting' past its lease by a clock that stopped."""
        now = require_aware(now, "now")
        table = alert_thread_replies
        stmt = (
            update(table)
            .where(
                table.c.id == reply_id,
                table.c.state == "posting",
                table.c.claimed_at < now - lease,
            )
            .values(claimed_by=owner, claimed_at=now)
        )
        return self._changed("take_thread_reply", stmt)

    def finish_thread_reply(
        self, reply_id: int, *, owner: str, state: ReplyState, message_ts: str | None
    ) -> bool:
        """End a held reply as 'posted' (with its ts), 'unconfirmed' or 'refused'; True if `owner` held it."""
        table = alert_thread_replies
        stmt = (
            update(table)
            .where(
                table.c.id == reply_id,
                table.c.claimed_by == owner,
                table.c.state == "posting",
            )
            .values(state=check_literal(state, REPLY_STATES, "state"), message_ts=message_ts)
        )
        return self._changed("finish_thread_reply", stmt)

    def list_thread_replies(self, incident_id: int) -> list[ThreadReply]:
        """Every reply row of an incident, baseline first."""
        table = alert_thread_replies
        stmt = select(table).where(table.c.incident_id == incident_id).order_by(table.c.seq)
        return self._fetch_all("list_thread_replies", stmt, _reply)

    # --- update modes ---

    def set_alert_update_mode(
        self, subscription_id: int, updates: UpdateMode, *, user_id: str, now: datetime
    ) -> None:
        """Set how a subscription's alerts show growth: thread replies or edits in place."""
        values = {
            "subscription_id": subscription_id,
            "updates": check_literal(updates, UPDATE_MODES, "updates"),
            "set_by": user_id,
            "set_at": require_aware(now, "now"),
        }
        stmt = (
            self._insert(alert_update_modes)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["subscription_id"],
                set_={k: v for k, v in values.items() if k != "subscription_id"},
            )
        )
        with self._transaction("set_alert_update_mode") as conn:
            conn.execute(stmt)

    def alert_update_mode(self, subscription_id: int) -> UpdateMode:
        """A subscription's update mode: 'thread' unless set to 'edit'."""
        table = alert_update_modes
        stmt = select(table.c.updates).where(table.c.subscription_id == subscription_id)
        with self._transaction("alert_update_mode", read_only=True) as conn:
            found = conn.execute(stmt).scalar_one_or_none()
        return "edit" if found == "edit" else "thread"


def _open_mute(team_id: str, cause_id: str) -> list[Any]:
    c = alert_mutes.c
    return [c.team_id == team_id, c.cause_id == cause_id, c.unmuted_at.is_(None)]
