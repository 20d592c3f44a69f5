"""Resend IDs for history rows Zuora lists without one: Data Query lookups, row matching, caching.

Zuora's history lists carry no `id` (zuora-api.md, Trap 1) but both resend calls need one. The IDs
live in Data Query's `notificationhistoryemail` and `notificationhistorycallout` tables, so for one
account and window this module runs (at most) one job per table, concurrently, and matches the rows
back: emails on account, send time, event category, recipient and subject; callouts on `<Event.ID>`
and create time. Lookups are shared while running and cached per account and window (IDs never
change), so a card's refresh, paging and "Resend all" reuse them.

`ZUORA_HISTORY_IDS` picks the source: `auto` uses the REST `id` when present and Data Query for the
rest, `rest` never queries, `data-query` always queries and ignores REST ids.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Any, Literal

from bot.failures import AccountFailures
from bot.zuora.client import ZuoraClient
from bot.zuora.dataquery import callout_ids_query, email_ids_query, wall_clock
from bot.zuora.errors import ZuoraError, ZuoraQueryError
from bot.zuora.guard import is_history_id
from bot.zuora.models import (
    Account,
    CalloutHistory,
    EmailHistory,
    NotificationKind,
    TimeWindow,
)

logger = logging.getLogger(__name__)

IdMode = Literal["auto", "rest", "data-query"]
KINDS: tuple[NotificationKind, ...] = ("callout", "email")
ID_CACHE_TTL = 3600.0  # history IDs never change; new rows are picked up by a Refresh
FAILED_LOOKUP_TTL = 60.0  # a failed lookup is retried after this long (or by the next command)
ID_CACHE_SIZE = 256
RESOLVER_THREADS = 4

MatchKey = tuple[str, ...]


@dataclass(frozen=True)
class HistoryIds:
    """Data Query's history IDs for one account's emails or callouts, indexed for matching."""

    kind: NotificationKind
    exact: Mapping[MatchKey, tuple[str, ...]]  # match key -> ids, in a stable order
    by_event: Mapping[str, tuple[str, ...]]  # callouts: <Event.ID> -> ids, newest first
    rows: int = 0


def email_key(
    account_id: str | None,
    sent: object,
    category: object,
    to_email: object,
    subject: object,
    tz: tzinfo,
) -> MatchKey | None:
    """What an email row and an email history record share; None without a usable send time."""
    when = wall_clock(sent, tz)
    if when is None:
        return None
    return ((account_id or "").lower(), when, _text(category), _text(to_email), _text(subject))


def callout_key(event_id: object, created: object, tz: tzinfo) -> MatchKey | None:
    """What a callout row and a callout history record share: the event and the attempt's time."""
    when = wall_clock(created, tz)
    if when is None:
        return None
    return (_text(event_id), when)


def index_rows(kind: NotificationKind, rows: Iterable[Mapping[str, Any]], tz: tzinfo) -> HistoryIds:
    """Index Data Query rows (lower-cased column names) by their match keys."""
    exact: dict[MatchKey, list[str]] = {}
    events: dict[str, list[tuple[str, str]]] = {}
    count = 0
    for row in rows:
        count += 1
        history_id = _history_id(row.get("id"))
        if history_id is None:
            continue
        if kind == "email":
            key = email_key(
                _text(row.get("accountid")),
                _first(row, "sendtime", "createdon"),
                row.get("eventcategory"),
                row.get("toemail"),
                row.get("subject"),
                tz,
            )
        else:
            created = _first(row, "createtime", "createdon")
            key = callout_key(row.get("eventid"), created, tz)
            event_id = _text(row.get("eventid"))
            if event_id and key is not None:
                events.setdefault(event_id, []).append((key[1], history_id))
        if key is not None:
            exact.setdefault(key, []).append(history_id)
    return HistoryIds(
        kind=kind,
        exact={key: tuple(sorted(ids)) for key, ids in exact.items()},
        by_event={
            event: tuple(history_id for _, history_id in sorted(found, reverse=True))
            for event, found in events.items()
        },
        rows=count,
    )


def assign_ids(
    failures: AccountFailures,
    found: Mapping[NotificationKind, HistoryIds],
    *,
    tz: tzinfo,
    override: bool,
) -> AccountFailures:
    """`failures` with resolved IDs on the rows that need one (every row when `override`).

    Rows sharing a match key get distinct IDs; a row nothing matches keeps no ID (the card shows it
    without resend controls and links to Zuora).
    """
    callouts, emails = failures.callouts, failures.emails
    if "email" in found:
        emails = _assign_emails(failures.account, emails, found["email"], tz, override)
    if "callout" in found:
        callouts = _assign_callouts(callouts, found["callout"], tz, override)
    return replace(failures, callouts=callouts, emails=emails, ids_pending=False, ids_error=None)


def _assign_emails(
    account: Account,
    emails: Sequence[EmailHistory],
    ids: HistoryIds,
    tz: tzinfo,
    override: bool,
) -> list[EmailHistory]:
    used: set[str] = set()
    out: list[EmailHistory] = []
    for email in emails:
        if email.id and not override:
            out.append(email)
            continue
        key = email_key(
            email.account_id or account.id,
            email.send_time,
            email.event_category,
            email.to_email,
            email.subject,
            tz,
        )
        chosen = _unused(ids.exact.get(key, ()) if key else (), used)
        out.append(email.model_copy(update={"id": chosen}))
    return out


def _assign_callouts(
    callouts: Sequence[CalloutHistory], ids: HistoryIds, tz: tzinfo, override: bool
) -> list[CalloutHistory]:
    used: set[str] = set()
    out: list[CalloutHistory] = []
    for callout in callouts:
        if callout.id and not override:
            out.append(callout)
            continue
        key = callout_key(callout.event_id, callout.create_time, tz)
        chosen = _unused(ids.exact.get(key, ()) if key else (), used)
        if chosen is None and callout.event_id:
            # The same event's other attempt: resending it resends the same event (Trap 1).
            chosen = _unused(ids.by_event.get(callout.event_id, ()), used)
        out.append(callout.model_copy(update={"id": chosen}))
    return out


def _unused(candidates: Iterable[str], used: set[str]) -> str | None:
    for candidate in candidates:
        if candidate not in used:
            used.add(candidate)
            return candidate
    return None


def _text(value: object) -> str:
    """Normalise a field for matching: numbers as in str(), text stripped, missing as ''."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _first(row: Mapping[str, Any], *names: str) -> object:
    for name in names:
        if row.get(name) not in (None, ""):
            return row[name]
    return None


def _history_id(value: object) -> str | None:
    """An ID our buttons and the resend API accept (see `is_history_id`), else None."""
    text = _text(value)
    return text if is_history_id(text) else None


@dataclass
class _Entry:
    created: float
    future: Future[HistoryIds]


class HistoryIdResolver:
    """Finds resend IDs with Data Query, one shared lookup per account, window and kind.

    Thread-safe. Lookups run on the resolver's own threads (each polls one job), so they never take
    the client's scan workers; every Zuora call still goes through the client's request choke point.
    """

    def __init__(
        self,
        client: ZuoraClient,
        *,
        mode: IdMode | None = None,
        ttl: float = ID_CACHE_TTL,
        max_entries: int = ID_CACHE_SIZE,
        threads: int = RESOLVER_THREADS,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.mode: IdMode = mode or client.settings.history_ids
        self._tz = client.settings.tz
        self._ttl = ttl
        self._max_entries = max_entries
        self._threads = threads
        self._timer = timer
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[object, ...], _Entry] = OrderedDict()
        self._missing_seen: set[NotificationKind] = set()
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
        """The kinds whose rows need Data Query in this mode (none for `rest`)."""
        if self.mode == "rest":
            return frozenset()
        always = self.mode == "data-query"
        needed: set[NotificationKind] = set()
        if any(always or not c.id for c in failures.callouts):
            needed.add("callout")
        if any(always or not e.id for e in failures.emails):
            needed.add("email")
        return frozenset(needed)

    def expected_kinds(self) -> frozenset[NotificationKind]:
        """Kinds worth looking up before the history scan ends (so both run at once)."""
        if self.mode == "data-query":
            return frozenset(KINDS)
        if self.mode == "auto":
            with self._lock:
                return frozenset(self._missing_seen)
        return frozenset()

    def learn(self, failures: AccountFailures) -> None:
        """Remember which kinds this tenant lists without IDs, to start their lookups early."""
        if self.mode != "auto":
            return
        missing: set[NotificationKind] = set()
        if any(not c.id for c in failures.callouts):
            missing.add("callout")
        if any(not e.id for e in failures.emails):
            missing.add("email")
        if missing:
            with self._lock:
                self._missing_seen.update(missing)

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
        """`failures` with the looked-up IDs assigned (see `assign_ids`)."""
        return assign_ids(failures, found, tz=self._tz, override=self.mode == "data-query")

    def unresolved(self, failures: AccountFailures) -> bool:
        """Whether some row that needed an ID still has none."""
        return bool(self.kinds_needed(failures)) and (
            any(not c.id for c in failures.callouts) or any(not e.id for e in failures.emails)
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
        # Whole seconds rounded up, like a card's window (a lookup covers an hour either side).
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
            future = self._start(kind, account.id, window, track_id)
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

    def _start(
        self, kind: NotificationKind, account_id: str, window: TimeWindow, track_id: str
    ) -> Future[HistoryIds]:
        """Submit one lookup (called with the lock held)."""
        if self._closed:
            failed: Future[HistoryIds] = Future()
            failed.set_exception(ZuoraQueryError("The bot is stopping", track_id=track_id))
            return failed
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self._threads, thread_name_prefix="history-ids"
            )
        return self._pool.submit(self._resolve, kind, account_id, window, track_id)

    def _resolve(
        self, kind: NotificationKind, account_id: str, window: TimeWindow, track_id: str
    ) -> HistoryIds:
        build = email_ids_query if kind == "email" else callout_ids_query
        query = build(account_id, window, self._tz)
        started = self._timer()
        rows = self._client.run_query(query, track_id=track_id)
        found = index_rows(kind, rows, self._tz)
        logger.info(
            "Resolved %s history IDs: %d rows, %d keys in %.2f s (track %s)",
            kind,
            found.rows,
            len(found.exact),
            self._timer() - started,
            track_id,
        )
        return found


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


__all__ = [
    "HistoryIdResolver",
    "HistoryIds",
    "IdMode",
    "assign_ids",
    "callout_key",
    "describe_failure",
    "email_key",
    "gather",
    "index_rows",
]
