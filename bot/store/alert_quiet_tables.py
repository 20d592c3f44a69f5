"""The quiet-alert tables (migration 12): cause mutes, thread replies, subscriptions' update modes.

On the schema's one MetaData like every table; kept apart from ``bot.store.tables`` so the feature's
schema reads in one place (``bot.store.alert_quiet`` describes the rows).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bot.store.tables import UtcDateTime, metadata

alert_mutes = Table(
    "alert_mutes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("team_id", String(64), nullable=False),
    Column("cause_id", String(16), nullable=False),
    Column("label", Text, nullable=False),  # the cause's label when muted, for outages and digests
    Column("until", UtcDateTime(), nullable=True),  # None: until the cause's alert recovers
    Column("muted_by", String(64), nullable=False),
    Column("muted_at", UtcDateTime(), nullable=False),
    Column("unmuted_by", String(64), nullable=True),
    Column("unmuted_at", UtcDateTime(), nullable=True),
    Column("end_reason", String(16), nullable=True),
    CheckConstraint(
        "end_reason IS NULL OR end_reason IN ('unmuted', 'recovered', 'replaced')",
        name="ck_alert_mutes_end_reason",
    ),
    Index("ix_alert_mutes_team_cause", "team_id", "cause_id"),
)

alert_thread_replies = Table(
    "alert_thread_replies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "incident_id",
        Integer,
        ForeignKey("alert_incidents.id", name="fk_alert_thread_replies_incident"),
        nullable=False,
    ),
    Column("seq", Integer, nullable=False),
    Column("count", Integer, nullable=False),
    Column("accounts", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("claimed_by", String(255), nullable=False),
    Column("claimed_at", UtcDateTime(), nullable=False),
    Column("message_ts", String(64), nullable=True),
    UniqueConstraint("incident_id", "seq", name="uq_alert_thread_replies_seq"),
    CheckConstraint(
        "state IN ('posting', 'posted', 'unconfirmed', 'refused')",
        name="ck_alert_thread_replies_state",
    ),
)

alert_update_modes = Table(
    "alert_update_modes",
    metadata,
    Column(
        "subscription_id",
        Integer,
        ForeignKey("alert_subscriptions.id", name="fk_alert_update_modes_subscription"),
        primary_key=True,
    ),
    Column("updates", String(16), nullable=False),
    Column("set_by", String(64), nullable=False),
    Column("set_at", UtcDateTime(), nullable=False),
    CheckConstraint("updates IN ('thread', 'edit')", name="ck_alert_update_modes_updates"),
)

QUIET_TABLES: Final = (alert_mutes, alert_thread_replies, alert_update_modes)
