"""Versioned schema steps: each applied once, in order, in one locked transaction, then recorded.

A step that changes a table keeps that table's earlier shape frozen here (built by the same
``bot.store.tables`` builder), so a fresh database replays every step as it first ran.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Connection, MetaData, func, insert, select, update

from bot.store.alert_quiet_tables import QUIET_TABLES
from bot.store.records import RESEND_STATUSES
from bot.store.tables import (
    ALERT_SUBSCRIPTION_KEY,
    DIGEST_SUBSCRIPTION_KEY,
    account_watches,
    alert_incidents,
    alert_subscriptions,
    click_keys,
    digest_runs,
    digest_runs_table,
    digest_subscriptions,
    metadata,
    notification_claims,
    outage_replays,
    outcome_watches,
    resend_audit,
    resend_audit_table,
    resend_jobs,
    schema_version,
)

# One name for every store log line, as before the store became a package.
logger = logging.getLogger("bot.store")

# Namespace for pg_advisory_xact_lock(int4, int4); the second key is a hash of the current schema.
_MIGRATION_LOCK_NAMESPACE: Final = 0x5A4F5053  # "ZOPS"

# resend_audit as migration 1 created it (before migration 7 allowed the 'waiting' status).
_resend_audit_v1 = resend_audit_table(
    MetaData(), tuple(status for status in RESEND_STATUSES if status != "waiting")
)
# digest_runs as migration 1 created it (frozen: migration 1 must replay the same on a fresh database).
_v1_metadata = MetaData()
_digest_subscriptions_v1 = digest_subscriptions.to_metadata(_v1_metadata)
_digest_runs_v1 = digest_runs_table(
    _v1_metadata, ("claimed", "posted", "skipped", "failed"), leased=False
)


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


def _migration_10_outcome_watches(conn: Connection) -> None:
    """Create outcome_watches: after a resend, the clock looks for its new history record (issue 18)."""
    metadata.create_all(conn, tables=[outcome_watches], checkfirst=False)


def _migration_11_account_watches(conn: Connection) -> None:
    """Create account_watches: who watches which account, and when they were last told."""
    metadata.create_all(conn, tables=[account_watches], checkfirst=False)


def _migration_12_quiet_alerts(conn: Connection) -> None:
    """Create alert_mutes, alert_thread_replies and alert_update_modes (issue 19: quiet alerts)."""
    metadata.create_all(conn, tables=list(QUIET_TABLES), checkfirst=False)


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
    Migration(10, "create outcome_watches", _migration_10_outcome_watches),
    Migration(11, "create account_watches", _migration_11_account_watches),
    Migration(
        12,
        "create alert_mutes, alert_thread_replies, alert_update_modes",
        _migration_12_quiet_alerts,
    ),
)


def apply_migrations(conn: Connection) -> int:
    """Apply pending MIGRATIONS on ``conn`` (the caller's transaction) and return the schema version."""
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


def recorded_versions(conn: Connection) -> list[int]:
    """The recorded migration versions, ascending."""
    return list(conn.scalars(select(schema_version.c.version).order_by(schema_version.c.version)))
