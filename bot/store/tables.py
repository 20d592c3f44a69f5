"""The schema: every table on one MetaData, as the newest migration leaves it.

Tables are created and changed only by ``bot.store.migrations``; the builders below also give the
migrations their frozen earlier shapes, so an old step replays the same on a fresh database.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from bot.store.records import DIGEST_RUN_STATUSES, RESEND_STATUSES, require_aware

# A run or incident someone holds: 'claimed' (building) or 'posting' (the Slack post may be under way).
HELD_STATUSES: Final = ("claimed", "posting")
#: The columns that make two active subscriptions the same one (migration 9's unique indexes).
ALERT_SUBSCRIPTION_KEY: Final = ("team_id", "channel_id", "threshold", "minutes", "kind")
DIGEST_SUBSCRIPTION_KEY: Final = ("team_id", "channel_id", "kind", "accounts")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC (naive UTC on SQLite) and always returned as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC; SQLite keeps the naive UTC text, which sorts correctly."""
        if value is None:
            return None
        utc = require_aware(value, "timestamp")
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to SQLite's naive values and normalise PostgreSQL's session-zone values."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _one_of(column: str, values: Iterable[str]) -> str:
    """A CHECK constraint's text allowing ``column`` only the given values."""
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def resend_audit_table(metadata: MetaData, statuses: Iterable[str]) -> Table:
    """resend_audit on ``metadata``, allowing ``statuses`` (migration 7 added 'waiting')."""
    return Table(
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
        CheckConstraint(_one_of("status", statuses), name="ck_resend_audit_status"),
        Index("ix_resend_audit_account_requested", "account_key", "requested_at"),
        Index("ix_resend_audit_requested", "requested_at"),
    )


def digest_runs_table(metadata: MetaData, statuses: Iterable[str], *, leased: bool) -> Table:
    """digest_runs on ``metadata``, allowing ``statuses``; ``leased`` adds migration 2's columns."""
    # Version 2: the holder's last heartbeat (its lease runs from here), and when it began the Slack post.
    leases: list[Column[Any]] = (
        [
            Column("heartbeat_at", UtcDateTime(), nullable=True),
            Column("posting_at", UtcDateTime(), nullable=True),
        ]
        if leased
        else []
    )
    return Table(
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
        *leases,
        UniqueConstraint("subscription_id", "local_date", name="uq_digest_runs_subscription_date"),
        CheckConstraint(_one_of("status", statuses), name="ck_digest_runs_status"),
    )


def _subscription_columns() -> list[Column[Any]]:
    """The columns every subscriptions table starts with: its id, where it posts, who made it."""
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("team_id", String(64), nullable=False),
        Column("channel_id", String(64), nullable=False),
        Column("created_by", String(64), nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
    ]


def _lease_columns() -> list[Column[Any]]:
    """Leased work's holder, until when it holds the row, and the response_url to answer on."""
    return [
        Column("lease_owner", String(255), nullable=True),
        Column("lease_until", UtcDateTime(), nullable=True),
        Column("reply_url", Text, nullable=True),
    ]


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

resend_audit = resend_audit_table(metadata, RESEND_STATUSES)

digest_subscriptions = Table(
    "digest_subscriptions",
    metadata,
    *_subscription_columns(),
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

digest_runs = digest_runs_table(metadata, DIGEST_RUN_STATUSES, leased=True)


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
    *_lease_columns(),
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
    *_subscription_columns(),
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
    *_lease_columns(),
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


# Outcome watches (migration 10): after Zuora accepts a resend, the clock reads the history again
# (first after RESEND_WATCH_FIRST_SECONDS, then backing off) for the resend's NEW record and shows
# whether it was delivered. One row per audit row (a click's request) or per replay (its cause):
# `items` (JSON) holds each id's match fields and outcome, `target` (JSON) where to show it. A clock
# claims a due row with a compare-and-set on its lease, so several clocks never check one twice.
outcome_watches = Table(
    "outcome_watches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("watch_key", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("team_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("audit_id", Integer, nullable=True),
    Column("replay_id", Integer, nullable=True),
    Column("cause_id", String(16), nullable=True),
    Column("account_id", String(64), nullable=True),
    Column("source", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("items", Text, nullable=False),
    Column("resent_at", UtcDateTime(), nullable=False),
    Column("next_check_at", UtcDateTime(), nullable=True),
    Column("checks_done", Integer, nullable=False),
    Column("outcome", String(16), nullable=True),
    Column("outcome_at", UtcDateTime(), nullable=True),
    Column("outcome_detail", Text, nullable=True),
    Column("lease_owner", String(255), nullable=True),
    Column("lease_until", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("watch_key", name="uq_outcome_watches_key"),
    CheckConstraint("kind IN ('email', 'callout')", name="ck_outcome_watches_kind"),
    CheckConstraint(
        "outcome IS NULL OR outcome IN ('delivered', 'failed', 'mixed', 'none')",
        name="ck_outcome_watches_outcome",
    ),
    Index("ix_outcome_watches_due", "next_check_at"),
    Index("ix_outcome_watches_audit", "audit_id"),
    Index("ix_outcome_watches_replay", "replay_id"),
)


# Account watches (migration 11): one row per (workspace, user, account). The clock DMs the user when
# the account fails after `last_seen_failure_at`, at most once per hour: `last_notified_at` and
# `last_seen_failure_at` move together in one compare-and-set UPDATE (bot.store.watches), so two
# clocks never both send. `checked_at` orders the bounded per-tick scan, least recently checked first;
# `recent_failures` is the account's failure count in the 24 h before `checked_at` (the Home tab's).
account_watches = Table(
    "account_watches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("team_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("account_number", String(64), nullable=False),
    Column("account_name", String(255), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_notified_at", UtcDateTime(), nullable=True),
    Column("last_seen_failure_at", UtcDateTime(), nullable=True),
    Column("checked_at", UtcDateTime(), nullable=True),
    Column("recent_failures", Integer, nullable=True),
    UniqueConstraint("team_id", "user_id", "account_id", name="uq_account_watches_user_account"),
    Index("ix_account_watches_account", "account_id"),
)
