"""Persistence for the bot (click dedup, resend audit, digest subscriptions and runs) via SQLAlchemy Core.

Works on a SQLite file (one host) and on PostgreSQL (several processes or hosts). Every claim is one atomic
statement (``INSERT ... ON CONFLICT ... DO UPDATE ... WHERE``) whose row count decides the single winner, so it
holds across threads, processes and hosts. The schema is created and upgraded by the versioned steps in
``MIGRATIONS``, applied by ``Store.migrate()`` when the store is built; nobody runs SQL by hand.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    Date,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    cast,
    create_engine,
    event,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeDecorator

from bot.core.secrets_mask import mask_database_url

logger = logging.getLogger(__name__)

ResendKind = Literal["email", "callout"]
# 'waiting': Zuora's answer is unknown (timeout, dropped connection, 5xx); asked again with the same key.
ResendStatus = Literal["requested", "waiting", "succeeded", "partial", "failed", "error"]
ResendJobState = Literal["claimed", "answered", "done"]
ReplayState = Literal["running", "stopped", "done"]
DigestKind = Literal["callouts", "emails", "all"]
DigestRunStatus = Literal["claimed", "posting", "posted", "skipped", "failed", "unconfirmed"]
DigestFinishStatus = Literal["posted", "skipped", "failed", "unconfirmed"]

RESEND_KINDS: Final[tuple[ResendKind, ...]] = ("email", "callout")
RESEND_STATUSES: Final[tuple[ResendStatus, ...]] = (
    "requested",
    "waiting",
    "succeeded",
    "partial",
    "failed",
    "error",
)
RESEND_JOB_STATES: Final[tuple[ResendJobState, ...]] = ("claimed", "answered", "done")
REPLAY_STATES: Final[tuple[ReplayState, ...]] = ("running", "stopped", "done")
#: Audit statuses after which the same click is handled for good; after 'failed' or 'error' a click
#: may try again as a new attempt with a new Idempotency-Key (Zuora replays a stored failure 24 h).
HANDLED_STATUSES: Final = frozenset({"succeeded", "partial"})
DIGEST_KINDS: Final[tuple[DigestKind, ...]] = ("callouts", "emails", "all")
DIGEST_RUN_STATUSES: Final[tuple[DigestRunStatus, ...]] = (
    "claimed",
    "posting",
    "posted",
    "skipped",
    "failed",
    "unconfirmed",
)
DIGEST_FINISH_STATUSES: Final[tuple[DigestFinishStatus, ...]] = (
    "posted",
    "skipped",
    "failed",
    "unconfirmed",
)
AlertState = Literal["claimed", "posting", "open", "recovered", "failed", "unconfirmed"]
AlertPostOutcome = Literal["open", "failed", "unconfirmed"]
ALERT_STATES: Final[tuple[AlertState, ...]] = (
    "claimed",
    "posting",
    "open",
    "recovered",
    "failed",
    "unconfirmed",
)
ALERT_POST_OUTCOMES: Final[tuple[AlertPostOutcome, ...]] = ("open", "failed", "unconfirmed")
# Accounts an incident remembers by id (its count of accounts stops growing past this).
MAX_ALERT_ACCOUNTS: Final = 500
MAX_ALERT_HOURS: Final = 72
# A run someone holds: 'claimed' (building) or 'posting' (the Slack post may be under way).
_HELD_STATUSES: Final = ("claimed", "posting")

UNAVAILABLE_MESSAGE: Final = (
    "The bot's database is unavailable right now; nothing was changed. Try again in a minute."
)
SQLITE_BUSY_TIMEOUT_MS: Final = 5000
POSTGRES_CONNECT_TIMEOUT_S: Final = 5
# Namespace for pg_advisory_xact_lock(int4, int4); the second key is a hash of the current schema.
_MIGRATION_LOCK_NAMESPACE: Final = 0x5A4F5053  # "ZOPS"
_READ_ONLY_OPTION: Final = "zops_read_only"

_L = TypeVar("_L", bound=str)


class StoreError(Exception):
    """The database could not be reached or failed; the message is safe to show to a Slack user."""

    def __init__(self, message: str = UNAVAILABLE_MESSAGE) -> None:
        super().__init__(message)


def _check_literal(value: str, allowed: tuple[_L, ...], what: str) -> _L:
    """Return ``value`` typed as one of ``allowed``, or raise ValueError naming ``what``."""
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _require_aware(value: datetime, what: str) -> datetime:
    """Return ``value`` in UTC; naive datetimes are refused because their zone is a guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC (naive UTC on SQLite) and always returned as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC; SQLite keeps the naive UTC text, which sorts correctly."""
        if value is None:
            return None
        utc = _require_aware(value, "timestamp")
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to SQLite's naive values and normalise PostgreSQL's session-zone values."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# --- Schema (current version). Tables are created and changed only by the MIGRATIONS below. ---

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", UtcDateTime(), nullable=False),
)

click_keys = Table(
    "click_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("claimed_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Index("ix_click_keys_expires_at", "expires_at"),
)

resend_audit = Table(
    "resend_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("team_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("account_key", String(255), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("ids", Text, nullable=False),
    Column("track_id", String(255), nullable=False),
    Column("dedup_key", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("outcome", Text, nullable=False),
    Column("error", Text, nullable=True),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("audit_channel", String(64), nullable=True),
    Column("audit_ts", String(64), nullable=True),
    CheckConstraint("kind IN ('email', 'callout')", name="ck_resend_audit_kind"),
    CheckConstraint(
        "status IN ('requested', 'waiting', 'succeeded', 'partial', 'failed', 'error')",
        name="ck_resend_audit_status",
    ),
    Index("ix_resend_audit_account_requested", "account_key", "requested_at"),
    Index("ix_resend_audit_requested", "requested_at"),
)

# resend_audit as migration 1 created it (before migration 7 allowed the 'waiting' status).
_resend_audit_v1 = Table(
    "resend_audit",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("team_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("account_key", String(255), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("ids", Text, nullable=False),
    Column("track_id", String(255), nullable=False),
    Column("dedup_key", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("outcome", Text, nullable=False),
    Column("error", Text, nullable=True),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("audit_channel", String(64), nullable=True),
    Column("audit_ts", String(64), nullable=True),
    CheckConstraint("kind IN ('email', 'callout')", name="ck_resend_audit_kind"),
    CheckConstraint(
        "status IN ('requested', 'succeeded', 'partial', 'failed', 'error')",
        name="ck_resend_audit_status",
    ),
    Index("ix_resend_audit_account_requested", "account_key", "requested_at"),
    Index("ix_resend_audit_requested", "requested_at"),
)

digest_subscriptions = Table(
    "digest_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("team_id", String(64), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("hour", Integer, nullable=False),
    Column("minute", Integer, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("accounts", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("quiet", Boolean, nullable=False),
    Column("active", Boolean, nullable=False),
    CheckConstraint("hour BETWEEN 0 AND 23", name="ck_digest_subscriptions_hour"),
    CheckConstraint("minute BETWEEN 0 AND 59", name="ck_digest_subscriptions_minute"),
    CheckConstraint("kind IN ('callouts', 'emails', 'all')", name="ck_digest_subscriptions_kind"),
    Index("ix_digest_subscriptions_team_channel", "team_id", "channel_id"),
)

digest_runs = Table(
    "digest_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "subscription_id",
        Integer,
        ForeignKey("digest_subscriptions.id", name="fk_digest_runs_subscription"),
        nullable=False,
    ),
    Column("local_date", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("claimed_at", UtcDateTime(), nullable=False),
    Column("claimed_by", String(255), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("message_ts", String(64), nullable=True),
    Column("detail", Text, nullable=True),
    # Version 2: the holder's last heartbeat (its lease runs from here), and when it began the Slack post.
    Column("heartbeat_at", UtcDateTime(), nullable=True),
    Column("posting_at", UtcDateTime(), nullable=True),
    UniqueConstraint("subscription_id", "local_date", name="uq_digest_runs_subscription_date"),
    CheckConstraint(
        "status IN ('claimed', 'posting', 'posted', 'skipped', 'failed', 'unconfirmed')",
        name="ck_digest_runs_status",
    ),
)

# digest_runs as migration 1 created it (frozen: migration 1 must replay the same on a fresh database).
_v1_metadata = MetaData()
_digest_subscriptions_v1 = digest_subscriptions.to_metadata(_v1_metadata)
_digest_runs_v1 = Table(
    "digest_runs",
    _v1_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "subscription_id",
        Integer,
        ForeignKey("digest_subscriptions.id", name="fk_digest_runs_subscription"),
        nullable=False,
    ),
    Column("local_date", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("claimed_at", UtcDateTime(), nullable=False),
    Column("claimed_by", String(255), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("message_ts", String(64), nullable=True),
    Column("detail", Text, nullable=True),
    UniqueConstraint("subscription_id", "local_date", name="uq_digest_runs_subscription_date"),
    CheckConstraint(
        "status IN ('claimed', 'posted', 'skipped', 'failed')", name="ck_digest_runs_status"
    ),
)


# A resend click as durable work: claimed (written before Zuora is called, under a lease) ->
# answered (Zuora's outcome is in resend_audit) -> done (the card shows it). A row left before done
# past its lease is re-driven with the same attempt, hence the same Idempotency-Key.
resend_jobs = Table(
    "resend_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedup_key", String(255), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("audit_id", Integer, ForeignKey("resend_audit.id"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("lease_owner", String(255), nullable=True),
    Column("lease_until", UtcDateTime(), nullable=True),
    Column("reply_url", Text, nullable=True),
    Column("context", Text, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("dedup_key", "attempt", name="uq_resend_jobs_attempt"),
    CheckConstraint("state IN ('claimed', 'answered', 'done')", name="ck_resend_jobs_state"),
    Index("ix_resend_jobs_state_lease", "state", "lease_until"),
)


# Spike alerts (migration 4). A subscription: post to a channel when one cause fails `threshold` times
# within `minutes`. An incident: one alert message for one (subscription, cause) spike; `seq` numbers
# the spikes of a cause, and the unique (subscription, cause, seq) key lets exactly one clock open each.
alert_subscriptions = Table(
    "alert_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("team_id", String(64), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("threshold", Integer, nullable=False),
    Column("minutes", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("active", Boolean, nullable=False),
    CheckConstraint("threshold >= 1", name="ck_alert_subscriptions_threshold"),
    CheckConstraint("minutes >= 1", name="ck_alert_subscriptions_minutes"),
    CheckConstraint("kind IN ('callouts', 'emails', 'all')", name="ck_alert_subscriptions_kind"),
    Index("ix_alert_subscriptions_team_channel", "team_id", "channel_id"),
)

# States: 'claimed' (opened, message being built) -> 'posting' (chat.postMessage may be under way; the
# message carries the incident's key in its metadata) -> 'open' (posted, message_ts known), updated in
# place as it grows -> 'recovered' (final). 'failed': Slack refused the post (tried again next check).
# 'unconfirmed': an interrupted post Slack could not be checked for; it is never posted again, but keeps
# counting and recovers, so the same spike cannot open a second incident.
alert_incidents = Table(
    "alert_incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "subscription_id",
        Integer,
        ForeignKey("alert_subscriptions.id", name="fk_alert_incidents_subscription"),
        nullable=False,
    ),
    Column("cause_id", String(16), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("cause_kind", String(16), nullable=False),
    Column("label", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("count", Integer, nullable=False),
    Column("accounts", Text, nullable=False),  # JSON list of account ids ("" for tenant events)
    Column("hourly", Text, nullable=False),  # JSON {hour ISO: failures}
    Column("first_at", UtcDateTime(), nullable=False),
    Column("last_at", UtcDateTime(), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("recovered_at", UtcDateTime(), nullable=True),
    Column("claimed_by", String(255), nullable=False),
    Column("heartbeat_at", UtcDateTime(), nullable=False),
    Column("posting_at", UtcDateTime(), nullable=True),
    Column("checked_at", UtcDateTime(), nullable=True),
    Column("message_ts", String(64), nullable=True),
    Column("shown_state", String(16), nullable=True),  # what the Slack message last showed
    Column("shown_count", Integer, nullable=True),
    Column("detail", Text, nullable=True),
    UniqueConstraint("subscription_id", "cause_id", "seq", name="uq_alert_incidents_spike"),
    CheckConstraint(
        "state IN ('claimed', 'posting', 'open', 'recovered', 'failed', 'unconfirmed')",
        name="ck_alert_incidents_state",
    ),
    Index("ix_alert_incidents_state", "state"),
)


# An outage replay ("Resend all N" for one cause and window) as durable work. One row per
# (cause, window): the ids are frozen when it is claimed, so every worker and every re-drive cuts
# the same chunks and sends each with the same derived Idempotency-Key. `chunks_done` and the
# outcome counters advance together in one transaction per chunk; each chunk's request and outcome
# is also one resend_audit row. State: running (under a lease) -> done, or stopped (Zuora refused
# or was unreachable; a new click or `zuora-ops replay` continues from `chunks_done`).
outage_replays = Table(
    "outage_replays",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("replay_key", String(255), nullable=False),
    Column("cause_id", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("label", Text, nullable=False),
    Column("window_start", UtcDateTime(), nullable=False),
    Column("window_end", UtcDateTime(), nullable=False),
    Column("window_label", String(16), nullable=False),
    Column("team_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("track_id", String(255), nullable=False),
    Column("ids", Text, nullable=False),
    Column("total", Integer, nullable=False),
    Column("accounts", Integer, nullable=False),
    Column("chunk_size", Integer, nullable=False),
    Column("chunks_done", Integer, nullable=False),
    Column("chunk_attempt", Integer, nullable=False),
    Column("sent", Integer, nullable=False),
    Column("in_progress", Integer, nullable=False),
    Column("not_sent", Integer, nullable=False),
    Column("refused", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("lease_owner", String(255), nullable=True),
    Column("lease_until", UtcDateTime(), nullable=True),
    Column("reply_url", Text, nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    UniqueConstraint("replay_key", name="uq_outage_replays_key"),
    CheckConstraint("kind IN ('email', 'callout')", name="ck_outage_replays_kind"),
    CheckConstraint("state IN ('running', 'stopped', 'done')", name="ck_outage_replays_state"),
    Index("ix_outage_replays_state_lease", "state", "lease_until"),
)


# Once per notification (migration 6): one row per (Zuora tenant scope, kind, history id). Whoever
# resends an id (a card, `/zuora resend`, a digest, an alert or outages replay, the CLI) first wins
# its row, in the transaction that writes the resend's job or replay, before Zuora is called; the
# row stands for `expires_at` (the once window). `holder` is the click dedup key or replay key that
# resends it: a retry of the same click keeps its claim; anyone else is told who has it. A
# deliberate "Resend again" takes the row over (again=True, previous_user_id remembers whose it was).
notification_claims = Table(
    "notification_claims",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("history_id", String(255), nullable=False),
    Column("holder", String(255), nullable=False),
    Column("team_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("claimed_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("audit_id", Integer, nullable=True),
    Column("again", Boolean, nullable=False),
    Column("previous_user_id", String(64), nullable=True),
    UniqueConstraint("scope", "kind", "history_id", name="uq_notification_claims_id"),
    CheckConstraint("kind IN ('email', 'callout')", name="ck_notification_claims_kind"),
    Index("ix_notification_claims_holder", "holder"),
)
# Bulk claims are written this many rows per statement (well under SQLite's bound-parameter limit).
_CLAIM_BATCH: Final = 400
# Claims a replay reads back to name who holds the ids it left out (the count covers the rest).
_CLAIMS_SHOWN: Final = 40


# --- Migrations ---


@dataclass(frozen=True)
class Migration:
    """One schema step: applied once, in order, inside the migration transaction, then recorded."""

    version: int
    name: str
    apply: Callable[[Connection], None]


def _migration_1_initial(conn: Connection) -> None:
    """Create the first four tables.

    Uses the current Table definitions where they equal version 1, and the frozen ``_digest_runs_v1`` for
    the table migration 2 changed. When a later step changes another table, freeze its version-1 definition
    the same way so a fresh database still replays every step in order.
    """
    metadata.create_all(conn, tables=[click_keys, digest_subscriptions], checkfirst=False)
    _resend_audit_v1.create(conn, checkfirst=False)
    _digest_runs_v1.create(conn, checkfirst=False)


def _migration_2_digest_posting(conn: Connection) -> None:
    """digest_runs: add heartbeat_at and posting_at, and allow the 'posting' and 'unconfirmed' statuses.

    PostgreSQL alters the table in place. SQLite cannot change a CHECK constraint, so it rebuilds the table
    (create the new shape under a temporary name, copy the rows, drop, rename), inside the same transaction.
    Uses the current ``digest_runs`` definition, which equals version 2; freeze a copy here if a later step
    changes it.
    """
    old = [column.name for column in _digest_runs_v1.columns]
    if conn.dialect.name == "postgresql":
        for name in ("heartbeat_at", "posting_at"):
            column = digest_runs.c[name]
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE digest_runs ADD COLUMN {name} {kind}")
        conn.exec_driver_sql("ALTER TABLE digest_runs DROP CONSTRAINT ck_digest_runs_status")
        conn.exec_driver_sql(
            "ALTER TABLE digest_runs ADD CONSTRAINT ck_digest_runs_status CHECK "
            "(status IN ('claimed', 'posting', 'posted', 'skipped', 'failed', 'unconfirmed'))"
        )
        return
    shapes = MetaData()
    digest_subscriptions.to_metadata(shapes)  # so the copied foreign key resolves
    rebuilt = digest_runs.to_metadata(shapes, name="digest_runs_v2")
    rebuilt.create(conn, checkfirst=False)
    columns = ", ".join(old)
    conn.exec_driver_sql(
        f"INSERT INTO digest_runs_v2 ({columns}) SELECT {columns} FROM digest_runs"
    )
    conn.exec_driver_sql("DROP TABLE digest_runs")
    conn.exec_driver_sql("ALTER TABLE digest_runs_v2 RENAME TO digest_runs")


def _migration_3_resend_jobs(conn: Connection) -> None:
    """Create resend_jobs: resends as leased, re-drivable work (issue 13)."""
    metadata.create_all(conn, tables=[resend_jobs], checkfirst=False)


def _migration_4_alerts(conn: Connection) -> None:
    """Create alert_subscriptions and alert_incidents: spike alerts (issue point 3)."""
    metadata.create_all(conn, tables=[alert_subscriptions, alert_incidents], checkfirst=False)


def _migration_5_outage_replays(conn: Connection) -> None:
    """Create outage_replays: "Resend all N" of one cause as chunked, leased, resumable work."""
    metadata.create_all(conn, tables=[outage_replays], checkfirst=False)


def _migration_6_notification_claims(conn: Connection) -> None:
    """Create notification_claims, and allow one running replay per cause (issue 16).

    The partial unique index makes "a replay of this cause is running" part of the claim itself, so two
    cards of one outage with different windows cannot both start one. Raw DDL (both dialects accept it)
    keeps migration 5's table definition unchanged.
    """
    metadata.create_all(conn, tables=[notification_claims], checkfirst=False)
    # Two replays of one cause running at once (the bug this fixes) would block the index: keep the
    # oldest running, stop the others (a click or `zuora-ops replay` resumes a stopped one).
    conn.exec_driver_sql(
        "UPDATE outage_replays SET state = 'stopped', lease_owner = NULL, lease_until = NULL, "
        "error = 'stopped by the upgrade: another replay of this cause was running' "
        "WHERE state = 'running' AND id NOT IN "
        "(SELECT MIN(id) FROM outage_replays WHERE state = 'running' GROUP BY cause_id)"
    )
    conn.exec_driver_sql(
        "CREATE UNIQUE INDEX uq_outage_replays_running_cause ON outage_replays (cause_id) "
        "WHERE state = 'running'"
    )


def _migration_7_resend_waiting(conn: Connection) -> None:
    """resend_audit: allow the 'waiting' status (Zuora's answer unknown; asked again, same key).

    PostgreSQL swaps the CHECK constraint. SQLite cannot change one, so it rebuilds the table inside
    the migration transaction: copy the rows aside, drop the table, create the current shape, copy
    them back. resend_jobs keeps pointing at resend_audit by name; with foreign-key checks deferred
    to commit, the rows copied back satisfy its references again before the check runs.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE resend_audit DROP CONSTRAINT ck_resend_audit_status")
        conn.exec_driver_sql(
            "ALTER TABLE resend_audit ADD CONSTRAINT ck_resend_audit_status CHECK "
            "(status IN ('requested', 'waiting', 'succeeded', 'partial', 'failed', 'error'))"
        )
        return
    old = [row[1] for row in conn.exec_driver_sql("PRAGMA table_info(resend_audit)")]
    columns = ", ".join(c.name for c in resend_audit.columns if c.name in old)
    conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    conn.exec_driver_sql(f"CREATE TEMP TABLE resend_audit_v7 AS SELECT {columns} FROM resend_audit")
    conn.exec_driver_sql("DROP TABLE resend_audit")
    resend_audit.create(conn, checkfirst=False)
    conn.exec_driver_sql(
        f"INSERT INTO resend_audit ({columns}) SELECT {columns} FROM resend_audit_v7"
    )
    conn.exec_driver_sql("DROP TABLE resend_audit_v7")


#: The columns that make two active subscriptions the same one (migration 9's unique indexes).
ALERT_SUBSCRIPTION_KEY: Final = ("team_id", "channel_id", "threshold", "minutes", "kind")
DIGEST_SUBSCRIPTION_KEY: Final = ("team_id", "channel_id", "kind", "accounts")


def _migration_9_one_active_subscription(conn: Connection) -> None:
    """At most one active alert / digest subscription per identical request (a replayed command).

    Duplicates an earlier release let in (a signed request replayed within its five minutes) are
    deactivated, the oldest kept; then a partial unique index over the active rows makes the next
    identical insert fail, which the store answers with the existing subscription.
    """
    for table, key, index in (
        (alert_subscriptions, ALERT_SUBSCRIPTION_KEY, "uq_alert_subscriptions_active"),
        (digest_subscriptions, DIGEST_SUBSCRIPTION_KEY, "uq_digest_subscriptions_active"),
    ):
        older = table.alias("older")
        duplicate = (
            select(older.c.id)
            .where(
                older.c.active.is_(True),
                older.c.id < table.c.id,
                *(older.c[name] == table.c[name] for name in key),
            )
            .exists()
        )
        conn.execute(update(table).where(table.c.active.is_(True), duplicate).values(active=False))
        conn.exec_driver_sql(
            f"CREATE UNIQUE INDEX {index} ON {table.name} ({', '.join(key)}) WHERE active"
        )


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "create click_keys, resend_audit, digest_subscriptions, digest_runs",
        _migration_1_initial,
    ),
    Migration(
        2,
        "digest_runs: heartbeat_at, posting_at; statuses 'posting' and 'unconfirmed'",
        _migration_2_digest_posting,
    ),
    Migration(3, "create resend_jobs", _migration_3_resend_jobs),
    Migration(4, "create alert_subscriptions, alert_incidents", _migration_4_alerts),
    Migration(5, "create outage_replays", _migration_5_outage_replays),
    Migration(
        6,
        "create notification_claims; one running replay per cause",
        _migration_6_notification_claims,
    ),
    Migration(7, "resend_audit: status 'waiting'", _migration_7_resend_waiting),
    Migration(
        9,
        "alert_subscriptions, digest_subscriptions: one active row per identical subscription",
        _migration_9_one_active_subscription,
    ),
)


# --- Value types ---


@dataclass(frozen=True)
class ResendRequest:
    """A resend about to be sent to Zuora; recorded before the call so a crash still leaves a trace."""

    requested_at: datetime
    team_id: str
    user_id: str
    account_key: str | None
    kind: ResendKind
    ids: tuple[str, ...]
    track_id: str
    dedup_key: str
    audit_channel: str | None = None


@dataclass(frozen=True)
class IdOutcome:
    """What Zuora said about one resent id."""

    ok: bool
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class ResendAuditEntry:
    """One row of the resend audit trail."""

    id: int
    requested_at: datetime
    team_id: str
    user_id: str
    account_key: str | None
    kind: ResendKind
    ids: tuple[str, ...]
    track_id: str
    dedup_key: str
    status: ResendStatus
    outcome: Mapping[str, IdOutcome]
    error: str | None
    finished_at: datetime | None
    audit_channel: str | None
    audit_ts: str | None


@dataclass(frozen=True)
class ResendJob:
    """One resend attempt as durable work, with the audit row it completes."""

    id: int
    dedup_key: str
    attempt: int
    state: ResendJobState
    lease_owner: str | None
    lease_until: datetime | None
    reply_url: str | None
    context: str  # JSON the caller needs to redraw the card (labels, account, card reference)
    audit: ResendAuditEntry


@dataclass(frozen=True)
class OnceRule:
    """How a resend claims its notifications: in which tenant scope, for how long, and whether a
    deliberate "Resend again" may take over claims made at or before `again_before`."""

    scope: str
    window: timedelta
    again_before: datetime | None = None

    def __post_init__(self) -> None:
        """Refuse a rule that could not hold anything."""
        if not self.scope or len(self.scope) > 64:
            raise ValueError("scope must be 1-64 characters")
        if self.window <= timedelta(0):
            raise ValueError("the once window must be positive")


@dataclass(frozen=True)
class NotificationClaim:
    """Who holds one notification's resend in the window, and what became of it so far."""

    kind: ResendKind
    history_id: str
    holder: str
    team_id: str
    user_id: str
    claimed_at: datetime
    expires_at: datetime
    again: bool
    previous_user_id: str | None
    audit_status: ResendStatus | None  # the resend_audit row resending it (None: not sent yet)
    id_outcome: IdOutcome | None  # Zuora's answer for this id, once recorded
    replay_state: ReplayState | None  # when a replay holds it


@dataclass(frozen=True)
class ResendClaim:
    """The answer to a resend click: a new attempt to run (`won`), or the attempt already there.

    `elsewhere` are the click's ids another resend holds in the once window (left out of the
    attempt); `job` is None when every id is held elsewhere and this click has no attempt of its own.
    """

    won: bool
    job: ResendJob | None
    elsewhere: tuple[NotificationClaim, ...] = ()


@dataclass(frozen=True)
class ReplayRequest:
    """An outage replay about to start: the cause, its fixed window and the ids frozen for it."""

    replay_key: str
    cause_id: str
    kind: ResendKind
    label: str
    window_start: datetime
    window_end: datetime
    window_label: str
    team_id: str
    user_id: str
    requested_at: datetime
    track_id: str
    ids: tuple[str, ...]
    accounts: int
    chunk_size: int = 1000


@dataclass(frozen=True)
class Replay:
    """One outage replay as stored: its frozen ids, how far it got and what Zuora said so far."""

    id: int
    replay_key: str
    cause_id: str
    kind: ResendKind
    label: str
    window_start: datetime
    window_end: datetime
    window_label: str
    team_id: str
    user_id: str
    requested_at: datetime
    track_id: str
    ids: tuple[str, ...]
    accounts: int
    chunk_size: int
    chunks_done: int
    chunk_attempt: int
    sent: int
    in_progress: int
    not_sent: int
    refused: Mapping[str, int]  # "code\tmessage" -> ids Zuora refused for that reason
    state: ReplayState
    error: str | None
    lease_owner: str | None
    lease_until: datetime | None
    reply_url: str | None
    updated_at: datetime
    finished_at: datetime | None

    @property
    def total(self) -> int:
        """How many ids the replay resends."""
        return len(self.ids)

    @property
    def chunk_count(self) -> int:
        """How many requests of at most chunk_size ids the replay needs."""
        return -(-len(self.ids) // self.chunk_size)

    @property
    def handled(self) -> int:
        """Ids whose chunk has an outcome (sent, refused, in progress or not sent)."""
        return min(len(self.ids), self.chunks_done * self.chunk_size)

    @property
    def waiting(self) -> bool:
        """Whether the replay waits for Zuora's answer to its next chunk (the clock asks again)."""
        return self.state == "running" and self.lease_owner is None and self.error is not None

    def chunk(self, index: int) -> tuple[str, ...]:
        """The ids of chunk `index` (the same cut on every worker)."""
        return self.ids[index * self.chunk_size : (index + 1) * self.chunk_size]


@dataclass(frozen=True)
class ReplayClaim:
    """The answer to a replay click: this caller drives it (`won`), or someone else has it."""

    won: bool
    replay: Replay | None
    resumed: bool = False
    joined: bool = False  # a replay of this cause (another window, perhaps) was running: joined it
    elsewhere: tuple[NotificationClaim, ...] = ()  # ids held by other resends (the first few)
    left_out: int = 0  # how many ids were left out in all


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk added to a replay's counters."""

    sent: int = 0
    in_progress: int = 0
    not_sent: int = 0
    refused: Mapping[str, int] | None = None


@dataclass(frozen=True)
class NewSubscription:
    """A digest subscription to add: post at hour:minute in ``timezone`` every day to ``channel_id``."""

    team_id: str
    channel_id: str
    created_by: str
    created_at: datetime
    hour: int
    minute: int
    timezone: str
    accounts: tuple[str, ...] = ()
    kind: DigestKind = "all"
    quiet: bool = False

    def __post_init__(self) -> None:
        """Refuse values the scheduler could not use."""
        if not 0 <= self.hour <= 23:
            raise ValueError(f"hour must be 0-23; got {self.hour}")
        if not 0 <= self.minute <= 59:
            raise ValueError(f"minute must be 0-59; got {self.minute}")
        _check_literal(self.kind, DIGEST_KINDS, "kind")
        _require_aware(self.created_at, "created_at")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {self.timezone!r}") from exc


@dataclass(frozen=True)
class Subscription:
    """A stored digest subscription; an empty ``accounts`` means every account."""

    id: int
    team_id: str
    channel_id: str
    created_by: str
    created_at: datetime
    hour: int
    minute: int
    timezone: str
    accounts: tuple[str, ...]
    kind: DigestKind
    quiet: bool
    active: bool = True


@dataclass(frozen=True)
class DigestRun:
    """One day's digest for one subscription: who claimed it, and how it ended."""

    subscription_id: int
    local_date: date
    status: DigestRunStatus
    claimed_at: datetime
    claimed_by: str
    finished_at: datetime | None
    message_ts: str | None
    detail: str | None
    heartbeat_at: datetime | None = None
    posting_at: datetime | None = None

    def lease_expires_at(self, lease: timedelta) -> datetime:
        """When a holder that stopped beating loses this run (only meaningful while it is held)."""
        return (self.heartbeat_at or self.claimed_at) + lease


@dataclass(frozen=True)
class NewAlertSubscription:
    """A spike-alert subscription to add: alert ``channel_id`` when a cause fails ``threshold`` times
    within ``minutes``."""

    team_id: str
    channel_id: str
    created_by: str
    created_at: datetime
    threshold: int
    minutes: int
    kind: DigestKind = "all"

    def __post_init__(self) -> None:
        """Refuse values the alert check could not use."""
        if self.threshold < 1:
            raise ValueError(f"threshold must be at least 1; got {self.threshold}")
        if self.minutes < 1:
            raise ValueError(f"minutes must be at least 1; got {self.minutes}")
        _check_literal(self.kind, DIGEST_KINDS, "kind")
        _require_aware(self.created_at, "created_at")


@dataclass(frozen=True)
class AlertSubscription:
    """A stored spike-alert subscription."""

    id: int
    team_id: str
    channel_id: str
    created_by: str
    created_at: datetime
    threshold: int
    minutes: int
    kind: DigestKind
    active: bool = True


@dataclass(frozen=True)
class AlertSpike:
    """What a check saw of one cause: the failures to add to an incident (or to open it with)."""

    count: int
    accounts: frozenset[str]
    first_at: datetime
    last_at: datetime
    hourly: Mapping[datetime, int]


@dataclass(frozen=True)
class AlertIncident:
    """One alert: a cause's spike for one subscription, its message and its state."""

    id: int
    subscription_id: int
    cause_id: str
    seq: int
    cause_kind: str
    label: str
    state: AlertState
    count: int
    accounts: tuple[str, ...]
    hourly: Mapping[datetime, int]
    first_at: datetime
    last_at: datetime
    opened_at: datetime
    recovered_at: datetime | None
    claimed_by: str
    heartbeat_at: datetime
    posting_at: datetime | None
    checked_at: datetime | None
    message_ts: str | None
    shown_state: str | None
    shown_count: int | None
    detail: str | None

    @property
    def key(self) -> str:
        """The key this incident's message carries in its metadata (one message per key)."""
        return f"{self.subscription_id}:{self.cause_id}:{self.seq}"


# --- Engine ---


def _set_sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """Per connection: let SQLAlchemy emit BEGIN itself, wait on locks, use WAL, enforce foreign keys."""
    # sqlite3's legacy mode would skip BEGIN before SELECT and DDL; with None we send BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL once (the mode persists in the file), retrying while another process holds it.

    Changing the journal mode needs an exclusive lock and SQLite may refuse at once, without waiting for
    busy_timeout, when several processes open a new file together; so retry until that timeout has passed.
    """
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            mode = str(cursor.fetchone()[0]).lower()
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
    if mode != "wal":
        logger.warning(
            "SQLite refused WAL journal mode (got %r); concurrent use will be slower", mode
        )


def _begin_sqlite(conn: Connection) -> None:
    """Start SQLite write transactions holding the write lock, so read-then-write never hits SQLITE_BUSY.

    Read-only work runs on an engine copy with ``_READ_ONLY_OPTION`` set and takes a plain (deferred) BEGIN,
    which in WAL mode reads a snapshot without blocking writers.
    """
    if conn.get_execution_options().get(_READ_ONLY_OPTION):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _create_private_file(path: str) -> None:
    """Create a new SQLite file readable by its owner only (0600): it holds live response_urls.

    SQLite gives the -wal and -shm files it creates the main file's mode, so they are private too.
    An existing file keeps its mode (an operator may have chosen it); a group- or world-readable one
    is logged once so it can be tightened.
    """
    if path.startswith("file:"):
        return  # a SQLite URI: SQLite opens it itself
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            return
        if mode & 0o077:
            logger.warning(
                "SQLite file %s is readable by others (mode %o); it holds live response_urls: "
                "chmod 600 it",
                path,
                mode,
            )
        return
    except OSError:
        return  # a missing directory and the like: SQLite reports it when it opens the file
    os.close(fd)
    os.chmod(path, 0o600)  # os.open's mode is filtered by the umask; be exact


def _build_engine(url: str) -> Engine:
    """Create the engine for ``url`` with the per-dialect settings described in the module docstring."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        # SQLAlchemy's default PostgreSQL driver is psycopg2, which is not installed.
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            raise ValueError("an in-memory SQLite database is not supported; use sqlite:///path.db")
        _create_private_file(parsed.database)
        engine = create_engine(parsed, pool_pre_ping=True)
        event.listen(engine, "connect", _set_sqlite_pragmas)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    if backend == "postgresql":
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    raise ValueError(f"unsupported database backend {backend!r}; use sqlite or postgresql+psycopg")


def _rowcount(conn: Connection, stmt: Executable) -> int:
    """Execute ``stmt`` and return how many rows it inserted, updated or deleted.

    SQLAlchemy 2 reports a reliable rowcount for INSERT only when asked to keep it; claims depend on it.
    """
    return conn.execute(stmt, execution_options={"preserve_rowcount": True}).rowcount


def _dumps(value: object) -> str:
    """Compact, stable JSON for text columns."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _hourly_json(old: Mapping[datetime, int], new: Mapping[datetime, int]) -> str:
    """Merge hourly failure counts and keep the newest MAX_ALERT_HOURS hours, as JSON."""
    merged: dict[datetime, int] = dict(old)
    for hour, count in new.items():
        merged[hour] = merged.get(hour, 0) + count
    kept = sorted(merged)[-MAX_ALERT_HOURS:]
    return _dumps({hour.astimezone(UTC).isoformat(): merged[hour] for hour in kept})


def _hourly_from_json(text: str) -> dict[datetime, int]:
    return {datetime.fromisoformat(key): int(value) for key, value in json.loads(text).items()}


def _audit_from_row(row: Any) -> ResendAuditEntry:
    """A resend_audit row as a ResendAuditEntry."""
    return ResendAuditEntry(
        id=row.id,
        requested_at=row.requested_at,
        team_id=row.team_id,
        user_id=row.user_id,
        account_key=row.account_key,
        kind=_check_literal(row.kind, RESEND_KINDS, "kind"),
        ids=tuple(json.loads(row.ids)),
        track_id=row.track_id,
        dedup_key=row.dedup_key,
        status=_check_literal(row.status, RESEND_STATUSES, "status"),
        outcome=_outcome_from_json(row.outcome),
        error=row.error,
        finished_at=row.finished_at,
        audit_channel=row.audit_channel,
        audit_ts=row.audit_ts,
    )


def _outcome_from_json(text: str) -> dict[str, IdOutcome]:
    """Parse the outcome column back into IdOutcome values."""
    raw = json.loads(text)
    return {
        str(key): IdOutcome(
            ok=bool(value.get("ok")), code=value.get("code"), message=value.get("message")
        )
        for key, value in raw.items()
    }


class Store:
    """The bot's database: claims, resend audit, digest subscriptions and digest runs."""

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine built by ``from_url`` (SQLite needs its connect and begin hooks)."""
        self._engine = engine
        self._read_engine = engine.execution_options(**{_READ_ONLY_OPTION: True})
        # The password can sit in the query too (`?password=…`), which hide_password leaves alone.
        self._safe_url = mask_database_url(engine.url.render_as_string(hide_password=False))

    @classmethod
    def from_url(cls, url: str) -> Store:
        """Build the engine for ``url`` and bring the schema up to date; raises StoreError if unreachable."""
        store = cls(_build_engine(url))
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def describe(self) -> str:
        """The database URL with its password (userinfo or query) masked, for logs and status output."""
        return self._safe_url

    def __repr__(self) -> str:
        """Show the URL without its password."""
        return f"Store({self._safe_url!r})"

    @contextmanager
    def _transaction(self, operation: str, *, read_only: bool = False) -> Iterator[Connection]:
        """Run one transaction; turn connection and driver failures into StoreError, logging the cause."""
        engine = self._read_engine if read_only else self._engine
        try:
            with engine.begin() as conn:
                yield conn
        except sa_exc.IntegrityError:
            raise
        except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            logger.error(
                "Database %s failed during %s: %s",
                self._safe_url,
                operation,
                type(exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc).__name__,
                exc_info=True,
            )
            raise StoreError() from exc

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT supporting ON CONFLICT for this engine's dialect (both dialects share the API)."""
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    # --- migrations ---

    def migrate(self) -> int:
        """Apply pending MIGRATIONS in one locked transaction and return the schema version; safe to repeat."""
        with self._transaction("migrate") as conn:
            if conn.dialect.name == "postgresql":
                # Serialises concurrent starters per schema; released at commit. SQLite has BEGIN IMMEDIATE.
                conn.execute(
                    select(
                        func.pg_advisory_xact_lock(
                            _MIGRATION_LOCK_NAMESPACE, func.hashtext(func.current_schema())
                        )
                    )
                )
            schema_version.create(conn, checkfirst=True)
            applied = set(conn.scalars(select(schema_version.c.version)))
            known = {m.version for m in MIGRATIONS}
            if applied - known:
                logger.warning(
                    "Database schema has versions %s unknown to this release",
                    sorted(applied - known),
                )
            for migration in sorted(MIGRATIONS, key=lambda m: m.version):
                if migration.version in applied:
                    continue
                logger.info("Applying schema migration %d: %s", migration.version, migration.name)
                migration.apply(conn)
                conn.execute(
                    insert(schema_version).values(
                        version=migration.version,
                        name=migration.name,
                        applied_at=datetime.now(UTC),
                    )
                )
                applied.add(migration.version)
            return max(applied, default=0)

    def schema_versions(self) -> list[int]:
        """The recorded migration versions, ascending."""
        with self._transaction("schema_versions", read_only=True) as conn:
            return list(
                conn.scalars(select(schema_version.c.version).order_by(schema_version.c.version))
            )

    # --- click dedup ---

    def claim_click(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        """Return True for exactly one caller per ``key`` until ``now + ttl``; an expired key can be re-won."""
        if not key or len(key) > 255:
            raise ValueError("click key must be 1-255 characters")
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        now = _require_aware(now, "now")
        stmt = self._insert(click_keys).values(key=key, claimed_at=now, expires_at=now + ttl)
        stmt = stmt.on_conflict_do_update(
            index_elements=[click_keys.c.key],
            set_={"claimed_at": stmt.excluded.claimed_at, "expires_at": stmt.excluded.expires_at},
            where=click_keys.c.expires_at <= now,
        )
        with self._transaction("claim_click") as conn:
            won = _rowcount(conn, stmt) == 1
        logger.debug("Click claim %s: %s", "won" if won else "lost", key)
        return won

    def purge_expired_clicks(self, now: datetime) -> int:
        """Delete expired click keys and return how many went."""
        stmt = click_keys.delete().where(click_keys.c.expires_at <= _require_aware(now, "now"))
        with self._transaction("purge_expired_clicks") as conn:
            return _rowcount(conn, stmt)

    # --- resend audit ---

    def record_resend_requested(self, entry: ResendRequest) -> int:
        """Record a resend as 'requested' (before Zuora is called) and return its audit id."""
        with self._transaction("record_resend_requested") as conn:
            return self._insert_requested(conn, entry)

    def _insert_requested(self, conn: Connection, entry: ResendRequest) -> int:
        _check_literal(entry.kind, RESEND_KINDS, "kind")
        stmt = (
            insert(resend_audit)
            .values(
                requested_at=entry.requested_at,
                team_id=entry.team_id,
                user_id=entry.user_id,
                account_key=entry.account_key,
                kind=entry.kind,
                ids=_dumps(list(entry.ids)),
                track_id=entry.track_id,
                dedup_key=entry.dedup_key,
                status="requested",
                outcome=_dumps({}),
                audit_channel=entry.audit_channel,
            )
            .returning(resend_audit.c.id)
        )
        return int(conn.execute(stmt).scalar_one())

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
            if self._record_outcome(conn, audit_id, status, outcome, error, now) != 1:
                logger.warning("No resend audit row %d to record an outcome on", audit_id)

    def set_audit_message(self, audit_id: int, channel: str, ts: str) -> None:
        """Remember the Slack message that shows this audit entry, so it can be updated later."""
        stmt = (
            update(resend_audit)
            .where(resend_audit.c.id == audit_id)
            .values(audit_channel=channel, audit_ts=ts)
        )
        with self._transaction("set_audit_message") as conn:
            if _rowcount(conn, stmt) != 1:
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
        return [_audit_from_row(row) for row in rows]

    def count_resends(self, account_key: str | None = None, *, team_id: str | None = None) -> int:
        """How many audit entries exist, optionally of one workspace and for one account."""
        stmt = select(func.count()).select_from(resend_audit)
        if team_id is not None:
            stmt = stmt.where(resend_audit.c.team_id == team_id)
        if account_key is not None:
            stmt = stmt.where(resend_audit.c.account_key == account_key)
        with self._transaction("count_resends", read_only=True) as conn:
            return int(conn.execute(stmt).scalar_one())

    # --- resend jobs ---

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
        now = _require_aware(request.requested_at, "requested_at")
        elsewhere: tuple[NotificationClaim, ...] = ()
        try:
            with self._transaction("claim_resend") as conn:
                latest = self._latest_job(conn, request.dedup_key)
                if latest is not None and (
                    latest.state != "done" or latest.audit.status in HANDLED_STATUSES
                ):
                    return ResendClaim(False, latest)
                if once is not None:
                    won = self._claim_notifications(
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
                    elsewhere = tuple(self._claims(conn, once.scope, request.kind, lost))
                    if not won:
                        return ResendClaim(False, latest, elsewhere=elsewhere)
                    request = replace(request, ids=tuple(i for i in request.ids if i in won))
                attempt = 1 if latest is None else latest.attempt + 1
                audit_id = self._insert_requested(conn, request)
                if once is not None:
                    self._attach_audit(
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
        stmt = (
            update(resend_jobs)
            .where(
                resend_jobs.c.id == job_id,
                resend_jobs.c.lease_owner == owner,
                resend_jobs.c.state != "done",
            )
            .values(lease_until=_require_aware(until, "until"))
        )
        with self._transaction("renew_resend_lease") as conn:
            return _rowcount(conn, stmt) == 1

    def take_stale_resend(
        self, job_id: int, *, owner: str, now: datetime, lease: timedelta
    ) -> bool:
        """Take over an unfinished job whose lease ran out (at most one taker wins)."""
        now = _require_aware(now, "now")
        stmt = (
            update(resend_jobs)
            .where(
                resend_jobs.c.id == job_id,
                resend_jobs.c.state != "done",
                resend_jobs.c.lease_until <= now,
            )
            .values(lease_owner=owner, lease_until=now + lease, updated_at=now)
        )
        with self._transaction("take_stale_resend") as conn:
            return _rowcount(conn, stmt) == 1

    def advance_resend(
        self, job_id: int, *, owner: str, state: ResendJobState, now: datetime
    ) -> bool:
        """Move ``owner``'s job forward to 'answered' (from 'claimed') or 'done' (from either).

        A compare-and-set on the lease owner and the state: False (and logged) when the lease went
        to someone else or the job is already past that state.
        """
        _check_literal(state, RESEND_JOB_STATES, "state")
        values: dict[str, object] = {"state": state, "updated_at": _require_aware(now, "now")}
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
        with self._transaction("advance_resend") as conn:
            moved = _rowcount(conn, stmt) == 1
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
        now = _require_aware(now, "now")
        c = resend_jobs.c
        with self._transaction("finish_resend") as conn:
            moved = _rowcount(
                conn,
                update(resend_jobs)
                .where(c.id == job_id, c.lease_owner == owner, c.state == "claimed")
                .values(state="answered", updated_at=now),
            )
            if moved == 1:
                audit_id = conn.execute(select(c.audit_id).where(c.id == job_id)).scalar_one()
                self._record_outcome(conn, int(audit_id), status, outcome, error, now)
        if moved != 1:
            logger.warning(
                "Resend job %d: %s lost its lease; its %s answer is not recorded",
                job_id,
                owner,
                status,
            )
        return moved == 1

    def wait_resend(
        self, job_id: int, *, owner: str, error: str, retry_at: datetime, now: datetime
    ) -> bool:
        """Zuora's answer is unknown: mark the audit row 'waiting' and leave the job to the re-driver.

        The job stays 'claimed' (same attempt, so the same Idempotency-Key); its lease is released
        until ``retry_at``, when ``stale_resends`` hands it to the clock to ask again. The same
        compare-and-set as ``finish_resend``.
        """
        now = _require_aware(now, "now")
        c = resend_jobs.c
        with self._transaction("wait_resend") as conn:
            moved = _rowcount(
                conn,
                update(resend_jobs)
                .where(c.id == job_id, c.lease_owner == owner, c.state == "claimed")
                .values(
                    lease_owner=None,
                    lease_until=_require_aware(retry_at, "retry_at"),
                    updated_at=now,
                ),
            )
            if moved == 1:
                audit_id = conn.execute(select(c.audit_id).where(c.id == job_id)).scalar_one()
                self._record_waiting(conn, int(audit_id), error)
        if moved != 1:
            logger.warning("Resend job %d: %s lost its lease before Zuora's answer", job_id, owner)
        return moved == 1

    def stale_resends(self, now: datetime, *, limit: int = 50) -> list[ResendJob]:
        """Unfinished jobs whose lease has run out, oldest first: the re-driver's work list."""
        stmt = (
            select(resend_jobs.c.dedup_key)
            .where(
                resend_jobs.c.state != "done",
                resend_jobs.c.lease_until <= _require_aware(now, "now"),
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
        return ResendJob(
            id=row.id,
            dedup_key=row.dedup_key,
            attempt=row.attempt,
            state=_check_literal(row.state, RESEND_JOB_STATES, "state"),
            lease_owner=row.lease_owner,
            lease_until=row.lease_until,
            reply_url=row.reply_url,
            context=row.context,
            audit=self._audit_entry(conn, row.audit_id),
        )

    # --- once per notification ---

    def _claim_notifications(
        self,
        conn: Connection,
        rule: OnceRule,
        *,
        kind: ResendKind,
        ids: Iterable[str],
        holder: str,
        team_id: str,
        user_id: str,
        now: datetime,
    ) -> set[str]:
        """Claim each id for ``holder``; the ids won (free, expired, already ``holder``'s, or taken
        over by a "Resend again" from claims made at or before ``rule.again_before``).

        One INSERT ... ON CONFLICT DO UPDATE ... WHERE per id (one executemany): a row locked by a
        racing transaction is re-checked after it commits, so exactly one holder wins each id. Ids
        go in sorted order, so two racers lock rows in the same order and cannot deadlock.
        """
        _check_literal(kind, RESEND_KINDS, "kind")
        c = notification_claims.c
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        # One INSERT ... SELECT over a JSON array of the ids (one bound parameter, whatever the
        # count: a replay's 10,000 ids cost one statement, not 10,000 parameter sets).
        if conn.dialect.name == "postgresql":
            source = func.jsonb_array_elements_text(
                cast(literal(_dumps(wanted)), postgresql.JSONB)
            ).table_valued("value")
        else:
            source = func.json_each(literal(_dumps(wanted))).table_valued("value")
        rows = (
            select(
                literal(rule.scope, String()),
                literal(kind, String()),
                source.c.value,
                literal(holder, String()),
                literal(team_id, String()),
                literal(user_id, String()),
                literal(now, UtcDateTime()),
                literal(now + rule.window, UtcDateTime()),
                literal(rule.again_before is not None, Boolean()),
            )
            .select_from(source)
            .where(true())  # SQLite: tells the upsert's ON CONFLICT from a join's ON
        )
        stmt = self._insert(notification_claims).from_select(
            [
                "scope",
                "kind",
                "history_id",
                "holder",
                "team_id",
                "user_id",
                "claimed_at",
                "expires_at",
                "again",
            ],
            rows,
        )
        free = or_(c.expires_at <= now, c.holder == stmt.excluded.holder)
        if rule.again_before is not None:
            free = or_(free, c.claimed_at <= _require_aware(rule.again_before, "again_before"))
        upsert = stmt.on_conflict_do_update(
            index_elements=[c.scope, c.kind, c.history_id],
            set_={
                "holder": stmt.excluded.holder,
                "team_id": stmt.excluded.team_id,
                "user_id": stmt.excluded.user_id,
                "claimed_at": stmt.excluded.claimed_at,
                "expires_at": stmt.excluded.expires_at,
                "audit_id": None,
                "again": stmt.excluded.again,
                "previous_user_id": case(
                    (c.holder == stmt.excluded.holder, c.previous_user_id), else_=c.user_id
                ),
            },
            where=free,
        )
        # The rows this holder now has with this claim time are the ones won: a row inserted or
        # taken over here stays locked by this transaction until it commits.
        conn.execute(upsert)
        won: set[str] = set()
        for start in range(0, len(wanted), _CLAIM_BATCH):
            won.update(
                str(i)
                for i in conn.scalars(
                    select(c.history_id).where(
                        c.scope == rule.scope,
                        c.kind == kind,
                        c.holder == holder,
                        c.claimed_at == now,
                        c.history_id.in_(wanted[start : start + _CLAIM_BATCH]),
                    )
                )
            )
        return won

    def _attach_audit(
        self,
        conn: Connection,
        scope: str,
        kind: ResendKind,
        ids: Iterable[str],
        holder: str,
        audit_id: int,
    ) -> None:
        """Point ``holder``'s claims on ``ids`` at the audit row that resends them."""
        c = notification_claims.c
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), _CLAIM_BATCH):
            conn.execute(
                update(notification_claims)
                .where(
                    c.scope == scope,
                    c.kind == kind,
                    c.holder == holder,
                    c.history_id.in_(wanted[start : start + _CLAIM_BATCH]),
                )
                .values(audit_id=audit_id)
            )

    def _claims(
        self, conn: Connection, scope: str, kind: ResendKind, ids: Iterable[str]
    ) -> list[NotificationClaim]:
        """The stored claims on ``ids`` (expired ones included), with what became of each."""
        c = notification_claims.c
        wanted = sorted(set(ids))
        found: list[NotificationClaim] = []
        for start in range(0, len(wanted), _CLAIM_BATCH):
            stmt = (
                select(
                    notification_claims,
                    resend_audit.c.status.label("audit_status"),
                    resend_audit.c.outcome.label("audit_outcome"),
                    outage_replays.c.state.label("replay_state"),
                )
                .select_from(
                    notification_claims.outerjoin(
                        resend_audit, resend_audit.c.id == c.audit_id
                    ).outerjoin(outage_replays, outage_replays.c.replay_key == c.holder)
                )
                .where(
                    c.scope == scope,
                    c.kind == kind,
                    c.history_id.in_(wanted[start : start + _CLAIM_BATCH]),
                )
            )
            for row in conn.execute(stmt):
                outcome = _outcome_from_json(row.audit_outcome) if row.audit_outcome else {}
                found.append(
                    NotificationClaim(
                        kind=_check_literal(row.kind, RESEND_KINDS, "kind"),
                        history_id=row.history_id,
                        holder=row.holder,
                        team_id=row.team_id,
                        user_id=row.user_id,
                        claimed_at=row.claimed_at,
                        expires_at=row.expires_at,
                        again=bool(row.again),
                        previous_user_id=row.previous_user_id,
                        audit_status=None
                        if row.audit_status is None
                        else _check_literal(row.audit_status, RESEND_STATUSES, "status"),
                        id_outcome=outcome.get(row.history_id),
                        replay_state=None
                        if row.replay_state is None
                        else _check_literal(row.replay_state, REPLAY_STATES, "state"),
                    )
                )
        return sorted(found, key=lambda claim: claim.history_id)

    def notification_claims(
        self, scope: str, kind: ResendKind, ids: Iterable[str], *, now: datetime
    ) -> list[NotificationClaim]:
        """Claims on ``ids`` still inside their once window at ``now``."""
        now = _require_aware(now, "now")
        with self._transaction("notification_claims", read_only=True) as conn:
            claims = self._claims(conn, scope, kind, ids)
        return [claim for claim in claims if claim.expires_at > now]

    # --- outage replays ---

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
        now = _require_aware(request.requested_at, "requested_at")
        _check_literal(request.kind, RESEND_KINDS, "kind")
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
                    taken = _rowcount(
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
                    won = self._claim_notifications(
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
                        self._claims(conn, once.scope, request.kind, lost[:_CLAIMS_SHOWN])
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
                        replay_key=request.replay_key,
                        cause_id=request.cause_id,
                        kind=request.kind,
                        label=request.label,
                        window_start=request.window_start,
                        window_end=request.window_end,
                        window_label=request.window_label,
                        team_id=request.team_id,
                        user_id=request.user_id,
                        requested_at=now,
                        track_id=request.track_id,
                        ids=_dumps(list(ids)),
                        total=len(ids),
                        accounts=request.accounts,
                        chunk_size=request.chunk_size,
                        chunks_done=0,
                        chunk_attempt=1,
                        sent=0,
                        in_progress=0,
                        not_sent=0,
                        refused=_dumps({}),
                        state="running",
                        lease_owner=owner,
                        lease_until=now + lease,
                        reply_url=reply_url,
                        updated_at=now,
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
        with self._transaction("replays_for_cause", read_only=True) as conn:
            keys = list(conn.scalars(stmt))
            found = [self._replay_by_key(conn, key) for key in keys]
        return [r for r in found if r is not None]

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
                done.update(k for k, v in _outcome_from_json(text).items() if v.ok)
        return done

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
                    outage_replays.c.id == replay_id,
                    outage_replays.c.lease_owner == owner,
                    outage_replays.c.state == "running",
                    outage_replays.c.chunks_done == index,
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
                audit_id = self._insert_requested(conn, request)
            if scope is not None:
                self._attach_audit(
                    conn, scope, request.kind, request.ids, replay_key, int(audit_id)
                )
            return self._audit_entry(conn, int(audit_id))

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
        now = _require_aware(now, "now")
        with self._transaction("finish_replay_chunk") as conn:
            row = conn.execute(
                select(outage_replays.c.refused).where(
                    outage_replays.c.id == replay_id,
                    outage_replays.c.lease_owner == owner,
                    outage_replays.c.state == "running",
                    outage_replays.c.chunks_done == index,
                )
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
            advanced = _rowcount(
                conn,
                update(outage_replays)
                .where(
                    c.id == replay_id,
                    c.lease_owner == owner,
                    c.state == "running",
                    c.chunks_done == index,
                )
                .values(
                    chunks_done=c.chunks_done + 1,
                    chunk_attempt=1,
                    error=None,
                    sent=c.sent + counts.sent,
                    in_progress=c.in_progress + counts.in_progress,
                    not_sent=c.not_sent + counts.not_sent,
                    refused=_dumps(refused),
                    updated_at=now,
                ),
            )
            if advanced != 1:
                return False
            self._record_outcome(conn, audit_id, status, outcome, None, now)
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
        now = _require_aware(now, "now")
        c = outage_replays.c
        with self._transaction("wait_replay_chunk") as conn:
            waiting = _rowcount(
                conn,
                update(outage_replays)
                .where(
                    c.id == replay_id,
                    c.lease_owner == owner,
                    c.state == "running",
                    c.chunks_done == index,
                )
                .values(
                    error=error,
                    lease_owner=None,
                    lease_until=_require_aware(retry_at, "retry_at"),
                    updated_at=now,
                ),
            )
            if waiting == 1:
                self._record_waiting(conn, audit_id, error)
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
        now = _require_aware(now, "now")
        c = outage_replays.c
        with self._transaction("stop_replay") as conn:
            stopped = _rowcount(
                conn,
                update(outage_replays)
                .where(c.id == replay_id, c.lease_owner == owner, c.state == "running")
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
                self._record_outcome(conn, audit_id, "error", {}, error, now)
        return stopped == 1

    def finish_replay(self, replay_id: int, *, owner: str, now: datetime) -> bool:
        """Mark ``owner``'s replay done once every chunk is counted."""
        now = _require_aware(now, "now")
        c = outage_replays.c
        stmt = (
            update(outage_replays)
            .where(c.id == replay_id, c.lease_owner == owner, c.state == "running")
            .values(state="done", lease_until=None, updated_at=now, finished_at=now)
        )
        with self._transaction("finish_replay") as conn:
            return _rowcount(conn, stmt) == 1

    def renew_replay_lease(self, replay_id: int, *, owner: str, until: datetime) -> bool:
        """Extend ``owner``'s lease on a running replay; False if someone else holds it now."""
        c = outage_replays.c
        stmt = (
            update(outage_replays)
            .where(c.id == replay_id, c.lease_owner == owner, c.state == "running")
            .values(lease_until=_require_aware(until, "until"))
        )
        with self._transaction("renew_replay_lease") as conn:
            return _rowcount(conn, stmt) == 1

    def stale_replays(self, now: datetime, *, limit: int = 20) -> list[Replay]:
        """Running replays whose lease ran out (their worker died), oldest first."""
        c = outage_replays.c
        stmt = (
            select(c.replay_key)
            .where(c.state == "running", c.lease_until <= _require_aware(now, "now"))
            .order_by(c.updated_at)
            .limit(limit)
        )
        with self._transaction("stale_replays", read_only=True) as conn:
            keys = list(conn.scalars(stmt))
            found = [self._replay_by_key(conn, key) for key in keys]
        return [r for r in found if r is not None]

    def take_stale_replay(
        self, replay_id: int, *, owner: str, now: datetime, lease: timedelta
    ) -> bool:
        """Take over a running replay whose lease ran out (at most one taker wins)."""
        now = _require_aware(now, "now")
        c = outage_replays.c
        stmt = (
            update(outage_replays)
            .where(c.id == replay_id, c.state == "running", c.lease_until <= now)
            .values(lease_owner=owner, lease_until=now + lease, updated_at=now)
        )
        with self._transaction("take_stale_replay") as conn:
            return _rowcount(conn, stmt) == 1

    def _record_outcome(
        self,
        conn: Connection,
        audit_id: int,
        status: ResendStatus,
        outcome: Mapping[str, IdOutcome],
        error: str | None,
        now: datetime,
    ) -> int:
        """Write an audit row's status and per-id outcome; how many rows it changed (0 or 1)."""
        _check_literal(status, RESEND_STATUSES, "status")
        payload = {
            key: {"ok": value.ok, "code": value.code, "message": value.message}
            for key, value in outcome.items()
        }
        stmt = (
            update(resend_audit)
            .where(resend_audit.c.id == audit_id)
            .values(status=status, outcome=_dumps(payload), error=error, finished_at=now)
        )
        return _rowcount(conn, stmt)

    def _record_waiting(self, conn: Connection, audit_id: int, error: str) -> int:
        """Mark an audit row 'waiting' for Zuora's answer (not finished: finished_at stays empty)."""
        stmt = (
            update(resend_audit)
            .where(resend_audit.c.id == audit_id)
            .values(status="waiting", error=error, finished_at=None)
        )
        return _rowcount(conn, stmt)

    def _audit_entry(self, conn: Connection, audit_id: int) -> ResendAuditEntry:
        row = conn.execute(select(resend_audit).where(resend_audit.c.id == audit_id)).one()
        return _audit_from_row(row)

    def _replay_by_key(self, conn: Connection, replay_key: str) -> Replay | None:
        row = conn.execute(
            select(outage_replays).where(outage_replays.c.replay_key == replay_key)
        ).first()
        if row is None:
            return None
        return Replay(
            id=row.id,
            replay_key=row.replay_key,
            cause_id=row.cause_id,
            kind=_check_literal(row.kind, RESEND_KINDS, "kind"),
            label=row.label,
            window_start=row.window_start,
            window_end=row.window_end,
            window_label=row.window_label,
            team_id=row.team_id,
            user_id=row.user_id,
            requested_at=row.requested_at,
            track_id=row.track_id,
            ids=tuple(json.loads(row.ids)),
            accounts=row.accounts,
            chunk_size=row.chunk_size,
            chunks_done=row.chunks_done,
            chunk_attempt=row.chunk_attempt,
            sent=row.sent,
            in_progress=row.in_progress,
            not_sent=row.not_sent,
            refused={str(k): int(v) for k, v in json.loads(row.refused).items()},
            state=_check_literal(row.state, REPLAY_STATES, "state"),
            error=row.error,
            lease_owner=row.lease_owner,
            lease_until=row.lease_until,
            reply_url=row.reply_url,
            updated_at=row.updated_at,
            finished_at=row.finished_at,
        )

    # --- digest subscriptions ---

    def add_subscription(self, new: NewSubscription) -> Subscription:
        """Store a new active subscription and return it with its id."""
        stmt = (
            insert(digest_subscriptions)
            .values(
                team_id=new.team_id,
                channel_id=new.channel_id,
                created_by=new.created_by,
                created_at=new.created_at,
                hour=new.hour,
                minute=new.minute,
                timezone=new.timezone,
                accounts=_dumps(list(new.accounts)),
                kind=new.kind,
                quiet=new.quiet,
                active=True,
            )
            .returning(*digest_subscriptions.c)
        )
        with self._transaction("add_subscription") as conn:
            row = conn.execute(stmt).one()
        return self._subscription(row)

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
                table.c.accounts == _dumps(list(new.accounts)),
            )
            with self._transaction("ensure_subscription", read_only=True) as conn:
                row = conn.execute(stmt).first()
            if row is None:
                raise
            return self._subscription(row), False

    def list_subscriptions(
        self, *, team_id: str | None = None, channel_id: str | None = None
    ) -> list[Subscription]:
        """Active subscriptions, oldest first, optionally for one workspace and/or channel."""
        stmt = select(digest_subscriptions).where(digest_subscriptions.c.active.is_(True))
        if team_id is not None:
            stmt = stmt.where(digest_subscriptions.c.team_id == team_id)
        if channel_id is not None:
            stmt = stmt.where(digest_subscriptions.c.channel_id == channel_id)
        with self._transaction("list_subscriptions", read_only=True) as conn:
            rows = conn.execute(stmt.order_by(digest_subscriptions.c.id)).all()
        return [self._subscription(row) for row in rows]

    def remove_subscription(self, subscription_id: int, *, team_id: str) -> bool:
        """Deactivate a subscription of this workspace; False if there was no such active one."""
        stmt = (
            update(digest_subscriptions)
            .where(
                digest_subscriptions.c.id == subscription_id,
                digest_subscriptions.c.team_id == team_id,
                digest_subscriptions.c.active.is_(True),
            )
            .values(active=False)
        )
        with self._transaction("remove_subscription") as conn:
            return _rowcount(conn, stmt) == 1

    def get_subscription(self, subscription_id: int) -> Subscription | None:
        """One subscription by id, removed ones included (check ``active``); None if unknown."""
        stmt = select(digest_subscriptions).where(digest_subscriptions.c.id == subscription_id)
        with self._transaction("get_subscription", read_only=True) as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else self._subscription(row)

    @staticmethod
    def _subscription(row: Any) -> Subscription:
        """Build a Subscription from a digest_subscriptions row."""
        return Subscription(
            id=row.id,
            team_id=row.team_id,
            channel_id=row.channel_id,
            created_by=row.created_by,
            created_at=row.created_at,
            hour=row.hour,
            minute=row.minute,
            timezone=row.timezone,
            accounts=tuple(json.loads(row.accounts)),
            kind=_check_literal(row.kind, DIGEST_KINDS, "kind"),
            quiet=bool(row.quiet),
            active=bool(row.active),
        )

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
        now = _require_aware(now, "now")
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
                digest_runs.c.status.in_(_HELD_STATUSES)
                & (
                    func.coalesce(digest_runs.c.heartbeat_at, digest_runs.c.claimed_at)
                    < now - lease
                )
            ),
        )
        with self._transaction("claim_digest_run") as conn:
            won = _rowcount(conn, stmt) == 1
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
        now = _require_aware(now, "now")
        held: set[tuple[int, date]] = set()
        with self._transaction("renew_digest_runs") as conn:
            for subscription_id, local_date in runs:
                stmt = (
                    update(digest_runs)
                    .where(
                        digest_runs.c.subscription_id == subscription_id,
                        digest_runs.c.local_date == local_date,
                        digest_runs.c.claimed_by == owner,
                        digest_runs.c.status.in_(_HELD_STATUSES),
                    )
                    .values(heartbeat_at=now)
                )
                if _rowcount(conn, stmt) == 1:
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
        now = _require_aware(now, "now")
        stmt = (
            update(digest_runs)
            .where(
                digest_runs.c.subscription_id == subscription_id,
                digest_runs.c.local_date == local_date,
                digest_runs.c.claimed_by == owner,
                digest_runs.c.status.in_(_HELD_STATUSES),
            )
            .values(
                status="posting",
                heartbeat_at=now,
                posting_at=func.coalesce(digest_runs.c.posting_at, now),
            )
        )
        with self._transaction("mark_digest_posting") as conn:
            held = _rowcount(conn, stmt) == 1
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
        _check_literal(status, DIGEST_FINISH_STATUSES, "status")
        conditions = [
            digest_runs.c.subscription_id == subscription_id,
            digest_runs.c.local_date == local_date,
            digest_runs.c.status.in_(_HELD_STATUSES),
        ]
        if owner is not None:
            conditions.append(digest_runs.c.claimed_by == owner)
        stmt = (
            update(digest_runs)
            .where(*conditions)
            .values(status=status, finished_at=now, message_ts=message_ts, detail=detail)
        )
        with self._transaction("finish_digest_run") as conn:
            done = _rowcount(conn, stmt) == 1
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
        with self._transaction("get_digest_run", read_only=True) as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else self._digest_run(row)

    def list_digest_runs(self, subscription_id: int) -> list[DigestRun]:
        """Every run of one subscription, oldest day first."""
        stmt = (
            select(digest_runs)
            .where(digest_runs.c.subscription_id == subscription_id)
            .order_by(digest_runs.c.local_date)
        )
        with self._transaction("list_digest_runs", read_only=True) as conn:
            rows = conn.execute(stmt).all()
        return [self._digest_run(row) for row in rows]

    @staticmethod
    def _digest_run(row: Any) -> DigestRun:
        """Build a DigestRun from a digest_runs row."""
        return DigestRun(
            subscription_id=row.subscription_id,
            local_date=row.local_date,
            status=_check_literal(row.status, DIGEST_RUN_STATUSES, "status"),
            claimed_at=row.claimed_at,
            claimed_by=row.claimed_by,
            finished_at=row.finished_at,
            message_ts=row.message_ts,
            detail=row.detail,
            heartbeat_at=row.heartbeat_at,
            posting_at=row.posting_at,
        )

    # --- alert subscriptions ---

    def add_alert_subscription(self, new: NewAlertSubscription) -> AlertSubscription:
        """Store a new active alert subscription and return it with its id."""
        stmt = (
            insert(alert_subscriptions)
            .values(
                team_id=new.team_id,
                channel_id=new.channel_id,
                created_by=new.created_by,
                created_at=new.created_at,
                threshold=new.threshold,
                minutes=new.minutes,
                kind=new.kind,
                active=True,
            )
            .returning(*alert_subscriptions.c)
        )
        with self._transaction("add_alert_subscription") as conn:
            row = conn.execute(stmt).one()
        return self._alert_subscription(row)

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
        with self._transaction("find_alert_subscription", read_only=True) as conn:
            row = conn.execute(stmt).first()
        if row is not None:
            return self._alert_subscription(row), False
        try:
            return self.add_alert_subscription(new), True
        except sa_exc.IntegrityError:
            with self._transaction("find_alert_subscription", read_only=True) as conn:
                row = conn.execute(stmt).first()
            if row is None:
                raise
            return self._alert_subscription(row), False

    def list_alert_subscriptions(
        self, *, team_id: str | None = None, channel_id: str | None = None
    ) -> list[AlertSubscription]:
        """Active alert subscriptions, oldest first, optionally for one workspace and/or channel."""
        table = alert_subscriptions
        stmt = select(table).where(table.c.active.is_(True))
        if team_id is not None:
            stmt = stmt.where(table.c.team_id == team_id)
        if channel_id is not None:
            stmt = stmt.where(table.c.channel_id == channel_id)
        with self._transaction("list_alert_subscriptions", read_only=True) as conn:
            rows = conn.execute(stmt.order_by(table.c.id)).all()
        return [self._alert_subscription(row) for row in rows]

    def get_alert_subscription(self, subscription_id: int) -> AlertSubscription | None:
        """One alert subscription by id, removed ones included; None if unknown."""
        stmt = select(alert_subscriptions).where(alert_subscriptions.c.id == subscription_id)
        with self._transaction("get_alert_subscription", read_only=True) as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else self._alert_subscription(row)

    def remove_alert_subscription(self, subscription_id: int, *, team_id: str) -> bool:
        """Deactivate an alert subscription of this workspace; False if there was no such active one.

        Its open incidents still recover (their messages are closed), but no new one opens.
        """
        table = alert_subscriptions
        stmt = (
            update(table)
            .where(
                table.c.id == subscription_id,
                table.c.team_id == team_id,
                table.c.active.is_(True),
            )
            .values(active=False)
        )
        with self._transaction("remove_alert_subscription") as conn:
            return _rowcount(conn, stmt) == 1

    @staticmethod
    def _alert_subscription(row: Any) -> AlertSubscription:
        return AlertSubscription(
            id=row.id,
            team_id=row.team_id,
            channel_id=row.channel_id,
            created_by=row.created_by,
            created_at=row.created_at,
            threshold=row.threshold,
            minutes=row.minutes,
            kind=_check_literal(row.kind, DIGEST_KINDS, "kind"),
            active=bool(row.active),
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
        with self._transaction("latest_alert_incident", read_only=True) as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else self._alert_incident(row)

    def get_alert_incident(self, incident_id: int) -> AlertIncident | None:
        """One incident by id."""
        stmt = select(alert_incidents).where(alert_incidents.c.id == incident_id)
        with self._transaction("get_alert_incident", read_only=True) as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else self._alert_incident(row)

    def list_alert_incidents(self, subscription_id: int | None = None) -> list[AlertIncident]:
        """Incidents, oldest first (optionally of one subscription)."""
        stmt = select(alert_incidents).order_by(alert_incidents.c.id)
        if subscription_id is not None:
            stmt = stmt.where(alert_incidents.c.subscription_id == subscription_id)
        with self._transaction("list_alert_incidents", read_only=True) as conn:
            rows = conn.execute(stmt).all()
        return [self._alert_incident(row) for row in rows]

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
        with self._transaction("watched_alert_incidents", read_only=True) as conn:
            rows = conn.execute(stmt).all()
        return [self._alert_incident(row) for row in rows]

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
        now = _require_aware(now, "now")
        stmt = (
            insert(alert_incidents)
            .values(
                subscription_id=subscription_id,
                cause_id=cause_id,
                seq=seq,
                cause_kind=cause_kind,
                label=label,
                state="claimed",
                count=spike.count,
                accounts=_dumps(sorted(spike.accounts)[:MAX_ALERT_ACCOUNTS]),
                hourly=_hourly_json({}, spike.hourly),
                first_at=spike.first_at,
                last_at=spike.last_at,
                opened_at=now,
                claimed_by=owner,
                heartbeat_at=now,
                checked_at=now,
            )
            .returning(*alert_incidents.c)
        )
        try:
            with self._transaction("open_alert_incident") as conn:
                row = conn.execute(stmt).one()
        except sa_exc.IntegrityError:
            logger.info(
                "Alert spike %d of cause %s (subscription %d) was opened by another clock",
                seq,
                cause_id,
                subscription_id,
            )
            return None
        return self._alert_incident(row)

    def take_alert_incident(
        self, incident_id: int, *, owner: str, now: datetime, lease: timedelta
    ) -> bool:
        """Take over an incident whose post is unfinished: 'failed', or held past its lease by a clock
        that stopped. A 'posting' one stays 'posting' (the new holder checks Slack before posting)."""
        now = _require_aware(now, "now")
        table = alert_incidents
        stmt = (
            update(table)
            .where(
                table.c.id == incident_id,
                (table.c.state == "failed")
                | (table.c.state.in_(_HELD_STATUSES) & (table.c.heartbeat_at < now - lease)),
            )
            .values(
                state=case((table.c.state == "posting", "posting"), else_="claimed"),
                claimed_by=owner,
                heartbeat_at=now,
            )
        )
        with self._transaction("take_alert_incident") as conn:
            return _rowcount(conn, stmt) == 1

    def mark_alert_posting(self, incident_id: int, *, owner: str, now: datetime) -> bool:
        """Record that ``owner`` is about to post this incident; False if it no longer holds it."""
        now = _require_aware(now, "now")
        table = alert_incidents
        stmt = (
            update(table)
            .where(
                table.c.id == incident_id,
                table.c.claimed_by == owner,
                table.c.state.in_(_HELD_STATUSES),
            )
            .values(
                state="posting",
                heartbeat_at=now,
                posting_at=func.coalesce(table.c.posting_at, now),
            )
        )
        with self._transaction("mark_alert_posting") as conn:
            return _rowcount(conn, stmt) == 1

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
        _check_literal(outcome, ALERT_POST_OUTCOMES, "outcome")
        table = alert_incidents
        stmt = (
            update(table)
            .where(
                table.c.id == incident_id,
                table.c.claimed_by == owner,
                table.c.state.in_(_HELD_STATUSES),
            )
            .values(
                state=outcome,
                message_ts=message_ts,
                shown_state="open" if message_ts else None,
                shown_count=shown_count if message_ts else None,
                detail=detail,
            )
        )
        with self._transaction("finish_alert_post") as conn:
            return _rowcount(conn, stmt) == 1

    def claim_alert_check(self, incident_id: int, *, now: datetime, gap: timedelta) -> bool:
        """True for one caller per ``gap``: the clock that updates this incident in this check."""
        now = _require_aware(now, "now")
        table = alert_incidents
        stmt = (
            update(table)
            .where(
                table.c.id == incident_id,
                table.c.checked_at.is_(None) | (table.c.checked_at <= now - gap),
            )
            .values(checked_at=now)
        )
        with self._transaction("claim_alert_check") as conn:
            return _rowcount(conn, stmt) == 1

    def grow_alert_incident(
        self, incident_id: int, *, seen_last_at: datetime, spike: AlertSpike
    ) -> AlertIncident | None:
        """Add failures newer than ``seen_last_at``; None if another clock added them first.

        Compare-and-set on last_at, so no failure is counted twice whatever the number of clocks.
        """
        table = alert_incidents
        with self._transaction("grow_alert_incident") as conn:
            row = conn.execute(select(table).where(table.c.id == incident_id)).one_or_none()
            if row is None or row.last_at != _require_aware(seen_last_at, "seen_last_at"):
                return None
            accounts = sorted(set(json.loads(row.accounts)) | spike.accounts)
            stmt = (
                update(table)
                .where(table.c.id == incident_id, table.c.last_at == row.last_at)
                .values(
                    count=table.c.count + spike.count,
                    last_at=spike.last_at,
                    accounts=_dumps(accounts[:MAX_ALERT_ACCOUNTS]),
                    hourly=_hourly_json(_hourly_from_json(row.hourly), spike.hourly),
                )
            )
            if _rowcount(conn, stmt) != 1:
                return None
            fresh = conn.execute(select(table).where(table.c.id == incident_id)).one()
        return self._alert_incident(fresh)

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
                table.c.last_at <= _require_aware(quiet_since, "quiet_since"),
            )
            .values(state="recovered", recovered_at=_require_aware(now, "now"))
        )
        with self._transaction("recover_alert_incident") as conn:
            return _rowcount(conn, stmt) == 1

    def record_alert_shown(self, incident_id: int, *, state: str, count: int) -> None:
        """Remember what the incident's Slack message shows now (after chat.update)."""
        stmt = (
            update(alert_incidents)
            .where(alert_incidents.c.id == incident_id)
            .values(shown_state=state, shown_count=count)
        )
        with self._transaction("record_alert_shown") as conn:
            conn.execute(stmt)

    @staticmethod
    def _alert_incident(row: Any) -> AlertIncident:
        return AlertIncident(
            id=row.id,
            subscription_id=row.subscription_id,
            cause_id=row.cause_id,
            seq=row.seq,
            cause_kind=row.cause_kind,
            label=row.label,
            state=_check_literal(row.state, ALERT_STATES, "state"),
            count=row.count,
            accounts=tuple(json.loads(row.accounts)),
            hourly=_hourly_from_json(row.hourly),
            first_at=row.first_at,
            last_at=row.last_at,
            opened_at=row.opened_at,
            recovered_at=row.recovered_at,
            claimed_by=row.claimed_by,
            heartbeat_at=row.heartbeat_at,
            posting_at=row.posting_at,
            checked_at=row.checked_at,
            message_ts=row.message_ts,
            shown_state=row.shown_state,
            shown_count=row.shown_count,
            detail=row.detail,
        )


__all__ = [
    "ALERT_STATES",
    "AlertIncident",
    "AlertPostOutcome",
    "AlertSpike",
    "AlertState",
    "AlertSubscription",
    "NewAlertSubscription",
    "DIGEST_FINISH_STATUSES",
    "DIGEST_KINDS",
    "DIGEST_RUN_STATUSES",
    "MIGRATIONS",
    "NotificationClaim",
    "OnceRule",
    "RESEND_KINDS",
    "RESEND_STATUSES",
    "UNAVAILABLE_MESSAGE",
    "DigestFinishStatus",
    "DigestKind",
    "DigestRun",
    "DigestRunStatus",
    "IdOutcome",
    "Migration",
    "NewSubscription",
    "REPLAY_STATES",
    "ChunkResult",
    "Replay",
    "ReplayClaim",
    "ReplayRequest",
    "ReplayState",
    "ResendAuditEntry",
    "ResendClaim",
    "ResendJob",
    "ResendJobState",
    "ResendKind",
    "ResendRequest",
    "ResendStatus",
    "Store",
    "StoreError",
    "Subscription",
    "UtcDateTime",
    "metadata",
]
