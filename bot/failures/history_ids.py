"""Resend IDs for history rows Zuora lists without one: Data Query lookups, strict matching, caching.

Zuora's history lists carry no `id` (zuora-api.md, Trap 1) but both resend calls need one. The IDs
live in Data Query's `notificationhistoryemail` and `notificationhistorycallout` tables. This module
learns which columns the tenant's tables really have (SHOW COLUMNS, else a one-row query's header),
builds each lookup from those columns only and for failed rows only (Data Query lags the REST
history, so a delivered look-alike must never stand in for a row not there yet), and matches rows
back strictly with `bot.failures.id_matching`: a row gets an ID only when exactly one Data Query
record fits it and that record fits no other row.

`ZUORA_HISTORY_IDS` picks the source: `auto` uses the REST `id` when present and Data Query only for
rows without one (so a tenant whose records carry ids never submits a job), `rest` never queries,
`data-query` always queries and ignores REST ids.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar

from bot.failures.id_matching import (
    KINDS,
    NO_MATCH,
    TABLES,
    Candidate,
    HistoryIds,
    IdMode,
    IdSourceStatus,
    MatchStats,
    TableSchema,
    TableStatus,
    assign_ids,
    index_rows,
    match_records,
    tally,
)
from bot.failures.results import AccountFailures
from bot.zuora.client import ZuoraClient
from bot.zuora.dataquery import (
    columns_from_show,
    ids_query,
    ids_query_accounts,
    required_columns,
    sample_row_query,
    show_columns_query,
)
from bot.zuora.errors import ZuoraError, ZuoraQueryError
from bot.zuora.guard import is_history_id
from bot.zuora.models import Account, CalloutHistory, EmailHistory, NotificationKind, TimeWindow

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

ID_CACHE_TTL = 3600.0  # history IDs never change; new rows are picked up by a Refresh
SCHEMA_TTL = (
    6 * 3600.0
)  # columns change rarely; /zuora status and a "cannot be resolved" relearn them
FAILED_LOOKUP_TTL = 60.0  # a failed lookup is retried after this long (or by the next command)
ID_CACHE_SIZE = 256


# -- the resolver --------------------------------------------------------------------------------


@dataclass
class _Entry:
    created: float
    future: Future[HistoryIds]


@dataclass
class _Schema:
    learned: float
    schema: TableSchema


GROUP_QUERY_ACCOUNTS = (
    500  # accounts per `AccountId IN (...)` query of a replay (one job for most outages)
)


class HistoryIdResolver:
    """Finds resend IDs with Data Query, one shared lookup per account, window and kind.

    Thread-safe. Lookups run on the resolver's own threads, at most `ZUORA_MAX_QUERY_JOBS` at once
    (Zuora allows a tenant 5 running and 10 queued jobs, shared with every integration); every
    Zuora call still goes through the client's request choke point.
    """

    def __init__(
        self,
        client: ZuoraClient,
        *,
        mode: IdMode | None = None,
        ttl: float = ID_CACHE_TTL,
        schema_ttl: float = SCHEMA_TTL,
        max_entries: int = ID_CACHE_SIZE,
        threads: int | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = client.settings
        self._client = client
        self.mode: IdMode = mode or settings.history_ids
        self.tolerance = timedelta(seconds=settings.id_match_tolerance)
        self._ttl = ttl
        self._schema_ttl = schema_ttl
        self._max_entries = max_entries
        self._threads = threads or settings.max_query_jobs
        self._timer = timer
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[object, ...], _Entry] = OrderedDict()
        self._schemas: dict[str, _Schema] = {}
        self._schema_errors: dict[str, str] = {}
        self._schema_locks = {table: threading.Lock() for table in TABLES.values()}
        self._rest_ids_seen: bool | None = None
        self._stats: dict[NotificationKind, MatchStats] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False

    def close(self) -> None:
        """Stop starting lookups; queued ones are cancelled and running ones end with the client."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # -- what to resolve ---------------------------------------------------------------------------

    def kinds_needed(self, failures: AccountFailures) -> frozenset[NotificationKind]:
        """The kinds whose rows on this card need Data Query (none for `rest`, none with REST ids).

        Decided from these rows alone, never from what earlier cards saw: a tenant whose REST
        records carry ids submits no job.
        """
        if self.mode == "rest":
            return frozenset()
        always = self.mode == "data-query"
        needed: set[NotificationKind] = set()
        if any(always or not c.id for c in failures.callouts):
            needed.add("callout")
        if any(always or not e.id for e in failures.emails):
            needed.add("email")
        return frozenset(needed)

    def observe(self, failures: AccountFailures) -> None:
        """Note whether these REST rows carried ids (shown by /zuora status; decides nothing)."""
        rows: list[CalloutHistory | EmailHistory] = [*failures.callouts, *failures.emails]
        if rows:
            with self._lock:
                self._rest_ids_seen = all(bool(row.id) for row in rows)

    def prepare(self, failures: AccountFailures) -> AccountFailures:
        """The rows as shown before lookup: REST IDs dropped in `data-query` mode, kept otherwise."""
        if self.mode != "data-query":
            return failures
        return replace(
            failures,
            callouts=[c.model_copy(update={"id": None}) if c.id else c for c in failures.callouts],
            emails=[e.model_copy(update={"id": None}) if e.id else e for e in failures.emails],
        )

    def apply(
        self, failures: AccountFailures, found: Mapping[NotificationKind, HistoryIds]
    ) -> AccountFailures:
        """`failures` with the looked-up IDs assigned (see `assign_ids`), stats noted for status."""
        done = assign_ids(
            failures, found, tolerance=self.tolerance, override=self.mode == "data-query"
        )
        with self._lock:
            for kind in found:
                self._stats[kind] = tally(done, kind)
        return done

    def unresolved(self, failures: AccountFailures) -> bool:
        """Whether some row that needed an ID has none and no Data Query record (a newer row)."""
        rows: list[CalloutHistory | EmailHistory] = [*failures.callouts, *failures.emails]
        return bool(self.kinds_needed(failures)) and any(
            not row.id and row.id_problem in (None, NO_MATCH) for row in rows
        )

    # -- columns -----------------------------------------------------------------------------------

    def schema(self, table: str, *, track_id: str, refresh: bool = False) -> TableSchema:
        """The table's columns on this tenant: cached, else learned with SHOW COLUMNS (or one row).

        Concurrent callers share one learning run; a failure raises ZuoraQueryError and is shown
        by /zuora status.
        """
        with self._schema_locks[table]:
            cached = self._schemas.get(table)
            if (
                cached is not None
                and not refresh
                and self._timer() - cached.learned <= self._schema_ttl
            ):
                return cached.schema
            try:
                schema = self._learn(table, track_id)
            except ZuoraError as exc:
                self._schema_errors[table] = exc.message
                raise
            self._schema_errors.pop(table, None)
            self._schemas[table] = _Schema(self._timer(), schema)
            return schema

    def forget_schema(self, table: str) -> None:
        """Drop a table's cached columns (a lookup found they changed)."""
        with self._schema_locks[table]:
            self._schemas.pop(table, None)

    def _learn(self, table: str, track_id: str) -> TableSchema:
        try:
            rows = self._client.run_query(show_columns_query(table), track_id=track_id)
            columns = columns_from_show(rows)
            source = "SHOW COLUMNS"
        except ZuoraQueryError as exc:
            logger.info("SHOW COLUMNS failed for %s (%s); reading one row instead", table, exc)
            result = self._client.query(
                sample_row_query(table), track_id=track_id, output_format="CSV"
            )
            if not result.columns:
                raise ZuoraQueryError(
                    f"neither SHOW COLUMNS nor a one-row query named the columns of {table}",
                    track_id=track_id,
                ) from exc
            columns = frozenset(result.columns)
            source = "a one-row query"
        logger.info("Data Query %s has %d columns (from %s)", table, len(columns), source)
        return TableSchema(table=table, columns=columns, source=source)

    def status(self, *, track_id: str, timeout: float) -> IdSourceStatus:
        """Relearn both tables' columns (at most `timeout` s) and report the ID source's state."""
        tables: list[TableStatus] = []
        if self.mode != "rest":
            learning = {
                table: self._submit(self.schema, table, track_id=track_id, refresh=True)
                for table in TABLES.values()
            }
            for table, future in learning.items():
                tables.append(self._table_status(table, future, timeout))
        with self._lock:
            return IdSourceStatus(
                mode=self.mode,
                rest_ids_seen=self._rest_ids_seen,
                tables=tuple(tables),
                stats=dict(self._stats),
            )

    def _table_status(self, table: str, future: Future[TableSchema], timeout: float) -> TableStatus:
        try:
            schema = future.result(timeout=timeout)
        except TimeoutError:
            return TableStatus(table, error=f"no answer within {timeout:g} s")
        except ZuoraError as exc:
            return TableStatus(table, error=exc.message)
        except CancelledError:
            return TableStatus(table, error="the bot is stopping")
        wanted = [name.lower() for name in required_columns(table)]
        return TableStatus(
            table,
            columns=tuple(sorted(schema.columns)),
            source=schema.source,
            missing=tuple(name for name in wanted if name not in schema.columns),
        )

    # -- lookups -----------------------------------------------------------------------------------

    def lookup(
        self,
        account: Account,
        window: TimeWindow,
        kinds: Collection[NotificationKind],
        *,
        track_id: str,
        refresh: bool = False,
        retry_failed: bool = True,
    ) -> Future[dict[NotificationKind, HistoryIds]]:
        """The IDs of `kinds` for the account and window: a cached, running or new lookup.

        `refresh` replaces finished lookups (a Refresh that found rows they do not cover);
        `retry_failed=False` hands back a recent failure instead of starting again.
        """
        futures = {
            kind: self._lookup_kind(
                kind, account, window, track_id, refresh=refresh, retry_failed=retry_failed
            )
            for kind in KINDS
            if kind in kinds
        }
        return gather(futures)

    def _lookup_kind(
        self,
        kind: NotificationKind,
        account: Account,
        window: TimeWindow,
        track_id: str,
        *,
        refresh: bool,
        retry_failed: bool,
    ) -> Future[HistoryIds]:
        # Whole seconds rounded up, like a card's window.
        key = (
            kind,
            account.id.lower(),
            math.ceil(window.start.timestamp()),
            math.ceil(window.end.timestamp()),
        )
        now = self._timer()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._stale(entry, now, refresh, retry_failed):
                del self._entries[key]
                entry = None
            if entry is not None:
                self._entries.move_to_end(key)
                return entry.future
            future = self._submit(self._resolve, kind, account.id, window, track_id)
            self._entries[key] = _Entry(now, future)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
            return future

    def _stale(self, entry: _Entry, now: float, refresh: bool, retry_failed: bool) -> bool:
        """Whether a cached lookup must be replaced (called with the lock held)."""
        future = entry.future
        if not future.done():
            return False
        failed = future.cancelled() or future.exception() is not None
        if failed:
            return retry_failed or now - entry.created > FAILED_LOOKUP_TTL
        return refresh or now - entry.created > self._ttl

    def _submit(self, work: Callable[..., _T], *args: Any, **kwargs: Any) -> Future[_T]:
        """Run `work` on the resolver's threads (a failed future once the resolver is closed)."""
        if self._closed:
            failed: Future[_T] = Future()
            failed.set_exception(ZuoraQueryError("The bot is stopping"))
            return failed
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self._threads, thread_name_prefix="history-ids"
            )
        return self._pool.submit(work, *args, **kwargs)

    def _resolve(
        self, kind: NotificationKind, account_id: str, window: TimeWindow, track_id: str
    ) -> HistoryIds:
        table = TABLES[kind]
        schema = self.schema(table, track_id=track_id)
        query = ids_query(table, account_id, window, schema.columns, pad=self.tolerance)
        started = self._timer()
        try:
            rows = self._client.run_query(query, track_id=track_id)
        except ZuoraQueryError as exc:
            if "cannot be resolved" in exc.message:  # the columns changed under us: relearn
                self.forget_schema(table)
            raise
        found = index_rows(kind, rows, schema.columns)
        logger.info(
            "Resolved %s history IDs: %d rows, %d usable in %.2f s (track %s)",
            kind,
            found.rows,
            len(found.candidates),
            self._timer() - started,
            track_id,
        )
        return found

    def resolve_records(
        self,
        kind: NotificationKind,
        records: Sequence[EmailHistory | CalloutHistory],
        window: TimeWindow,
        *,
        track_id: str,
    ) -> list[str | None]:
        """Resend IDs for records of many accounts (an outage replay), in the records' order.

        One Data Query job per GROUP_QUERY_ACCOUNTS accounts (`AccountId IN (...)`), run on the
        caller's thread; each record is matched by the same strict `match_records` as a card.
        Records without an account (tenant events) cannot be looked up and stay None.
        """
        by_account: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            account = record.account_id
            if account and is_history_id(account):
                by_account.setdefault(account.lower(), []).append(index)
        out: list[str | None] = [None] * len(records)
        if not by_account or self.mode == "rest":
            return out
        table = TABLES[kind]
        schema = self.schema(table, track_id=track_id)
        accounts = sorted(by_account)
        candidates: list[Candidate] = []
        rows = 0
        used: tuple[str, ...] = ()
        for start in range(0, len(accounts), GROUP_QUERY_ACCOUNTS):
            part = accounts[start : start + GROUP_QUERY_ACCOUNTS]
            query = ids_query_accounts(table, part, window, schema.columns, pad=self.tolerance)
            found = index_rows(
                kind, self._client.run_query(query, track_id=track_id), schema.columns
            )
            candidates.extend(found.candidates)
            rows += found.rows
            used = found.columns
        per_account: dict[str, list[Candidate]] = {}
        for candidate in candidates:
            per_account.setdefault(candidate.account, []).append(candidate)
        for account, indexes in by_account.items():
            found = HistoryIds(
                kind=kind,
                candidates=tuple(per_account.get(account, ())),
                columns=used,
                rows=rows,
            )
            mine = [records[i] for i in indexes]
            matches = match_records(mine, found, tolerance=self.tolerance)
            for index, match in zip(indexes, matches, strict=True):
                out[index] = match.id
        logger.info(
            "Resolved %d of %d %s IDs for a replay from %d accounts (track %s)",
            sum(1 for i in out if i),
            len(records),
            kind,
            len(accounts),
            track_id,
        )
        return out


def gather(
    futures: Mapping[NotificationKind, Future[HistoryIds]],
) -> Future[dict[NotificationKind, HistoryIds]]:
    """One future for several lookups: their results by kind, or the first failure."""
    combined: Future[dict[NotificationKind, HistoryIds]] = Future()
    if not futures:
        combined.set_result({})
        return combined
    lock = threading.Lock()
    pending = set(futures)

    def settle_for(kind: NotificationKind) -> Callable[[Future[HistoryIds]], None]:
        return lambda done: settle(kind, done)

    def settle(kind: NotificationKind, done: Future[HistoryIds]) -> None:
        with lock:
            if combined.done():
                return
            error = _failure_of(done)
            if error is not None:
                combined.set_exception(error)
                return
            pending.discard(kind)
            if pending:
                return
            combined.set_result({k: f.result() for k, f in futures.items()})

    for kind, future in futures.items():
        future.add_done_callback(settle_for(kind))
    return combined


def _failure_of(future: Future[Any]) -> BaseException | None:
    """The exception a finished future ended with (cancellation included), else None."""
    if future.cancelled():
        return ZuoraQueryError("The resend-ID lookup was cancelled")
    try:
        return future.exception()
    except CancelledError:
        return ZuoraQueryError("The resend-ID lookup was cancelled")


def describe_failure(exc: BaseException) -> str:
    """Short words for the card's 'Couldn't load resend IDs (…)' note."""
    if isinstance(exc, ZuoraError):
        return exc.message
    logger.error("Resend-ID lookup failed unexpectedly", exc_info=exc)
    return "an unexpected error in the bot"


__all__ = ["GROUP_QUERY_ACCOUNTS", "HistoryIdResolver", "describe_failure", "gather"]
