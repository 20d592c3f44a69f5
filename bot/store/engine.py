"""The engine under the store, and the base every table group's store class builds on.

Works on a SQLite file (one host) and on PostgreSQL (several processes or hosts). Every claim is one
atomic statement (``INSERT ... ON CONFLICT ... DO UPDATE ... WHERE``) whose row count decides the single
winner, so it holds across threads, processes and hosts. The schema is created and upgraded by
``bot.store.migrations``, applied by ``migrate()`` when the store is built; nobody runs SQL by hand.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Self, TypeVar

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Table,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql import Select
from sqlalchemy.sql.expression import Executable

from bot.core.secrets_mask import mask_database_url
from bot.store.migrations import apply_migrations, recorded_versions
from bot.store.records import StoreError, require_aware

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# One name for every store log line, as before the store became a package.
logger = logging.getLogger("bot.store")

SQLITE_BUSY_TIMEOUT_MS: Final = 5000
POSTGRES_CONNECT_TIMEOUT_S: Final = 5
_READ_ONLY_OPTION: Final = "zops_read_only"

_T = TypeVar("_T")
_D = TypeVar("_D", bound="DataclassInstance")


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


def rowcount(conn: Connection, stmt: Executable) -> int:
    """Execute ``stmt`` and return how many rows it inserted, updated or deleted.

    SQLAlchemy 2 reports a reliable rowcount for INSERT only when asked to keep it; claims depend on it.
    """
    return conn.execute(stmt, execution_options={"preserve_rowcount": True}).rowcount


def dumps(value: object) -> str:
    """Compact, stable JSON for text columns."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def upsert(dialect: Dialect, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT supporting ON CONFLICT for ``dialect`` (both dialects share the API)."""
    if dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def from_row(cls: type[_D], row: Any, **converted: object) -> _D:
    """Build the value type ``cls`` from a row: each field from its like-named column, unless given."""
    values = {f.name: getattr(row, f.name) for f in fields(cls) if f.name not in converted}
    return cls(**values, **converted)


def values_of(record: DataclassInstance, **converted: object) -> dict[str, object]:
    """A value type's fields as column values, with ``converted`` replacing or adding some."""
    return {f.name: getattr(record, f.name) for f in fields(record)} | converted


def posting_values(table: Table, now: datetime) -> dict[str, object]:
    """A held post about to start: a fresh heartbeat, and ``posting_at`` kept from the first try."""
    return {"heartbeat_at": now, "posting_at": func.coalesce(table.c.posting_at, now)}


class StoreBase:
    """The engine, its transactions and the row helpers the per-group store classes share."""

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine built by ``from_url`` (SQLite needs its connect and begin hooks)."""
        self._engine = engine
        self._read_engine = engine.execution_options(**{_READ_ONLY_OPTION: True})
        # The password can sit in the query too (`?password=…`), which hide_password leaves alone.
        self._safe_url = mask_database_url(engine.url.render_as_string(hide_password=False))

    @classmethod
    def from_url(cls, url: str) -> Self:
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
        """An INSERT supporting ON CONFLICT for this engine's dialect."""
        return upsert(self._engine.dialect, table)

    # --- migrations ---
    def _changed(self, operation: str, stmt: Executable) -> bool:
        """Run one write in its own transaction; True if it changed exactly one row (it won)."""
        with self._transaction(operation) as conn:
            return rowcount(conn, stmt) == 1

    def _fetch_one(
        self, operation: str, stmt: Select[Any], build: Callable[[Any], _T]
    ) -> _T | None:
        """The one row ``stmt`` selects, built into a value; None if there is none."""
        with self._transaction(operation, read_only=True) as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else build(row)

    def _fetch_all(self, operation: str, stmt: Select[Any], build: Callable[[Any], _T]) -> list[_T]:
        """Every row ``stmt`` selects, built into values."""
        with self._transaction(operation, read_only=True) as conn:
            rows = conn.execute(stmt).all()
        return [build(row) for row in rows]

    def _insert_row(self, operation: str, table: Table, values: Mapping[str, object]) -> Any:
        """Insert one row and return it as stored (its id and defaults included)."""
        stmt = insert(table).values(**values).returning(*table.c)
        with self._transaction(operation) as conn:
            return conn.execute(stmt).one()

    def _active_subscriptions(
        self,
        operation: str,
        table: Table,
        team_id: str | None,
        channel_id: str | None,
        build: Callable[[Any], _T],
    ) -> list[_T]:
        """Active rows of a subscriptions table, oldest first, optionally of one workspace/channel."""
        stmt = select(table).where(table.c.active.is_(True))
        if team_id is not None:
            stmt = stmt.where(table.c.team_id == team_id)
        if channel_id is not None:
            stmt = stmt.where(table.c.channel_id == channel_id)
        return self._fetch_all(operation, stmt.order_by(table.c.id), build)

    def _deactivate(self, operation: str, table: Table, subscription_id: int, team_id: str) -> bool:
        """Deactivate an active subscription row of this workspace; False if there was none."""
        stmt = (
            update(table)
            .where(
                table.c.id == subscription_id,
                table.c.team_id == team_id,
                table.c.active.is_(True),
            )
            .values(active=False)
        )
        return self._changed(operation, stmt)

    def _renew_lease(
        self, operation: str, table: Table, row_id: int, *, owner: str, until: datetime, live: Any
    ) -> bool:
        """Extend ``owner``'s lease on a live row of leased work; False if someone else holds it now."""
        stmt = (
            update(table)
            .where(table.c.id == row_id, table.c.lease_owner == owner, live)
            .values(lease_until=require_aware(until, "until"))
        )
        return self._changed(operation, stmt)

    def _take_stale(
        self,
        operation: str,
        table: Table,
        row_id: int,
        *,
        owner: str,
        now: datetime,
        lease: timedelta,
        live: Any,
    ) -> bool:
        """Take over a live row of leased work whose lease ran out (at most one taker wins)."""
        now = require_aware(now, "now")
        stmt = (
            update(table)
            .where(table.c.id == row_id, live, table.c.lease_until <= now)
            .values(lease_owner=owner, lease_until=now + lease, updated_at=now)
        )
        return self._changed(operation, stmt)

    def migrate(self) -> int:
        """Apply pending migrations in one locked transaction and return the schema version; safe to repeat."""
        with self._transaction("migrate") as conn:
            return apply_migrations(conn)

    def schema_versions(self) -> list[int]:
        """The recorded migration versions, ascending."""
        with self._transaction("schema_versions", read_only=True) as conn:
            return recorded_versions(conn)
