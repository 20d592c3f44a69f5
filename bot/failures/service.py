"""NotificationService: the bot's one entry into Zuora for cards, resends and digests.

A failures card needs resend IDs Zuora's lists may lack; `bot.failures.history_ids` looks them up with Data
Query. Callers that can update a card later pass `defer_ids=True`: they get the failures within
`ZUORA_ID_WAIT` seconds (with `ids_pending` if the lookup still runs) and `when_ids_resolved` hands
them the completed failures once the IDs arrive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bot.core.actions import CardRef
from bot.explain import explain
from bot.failures.history_ids import HistoryIdResolver, describe_failure
from bot.failures.id_matching import HistoryIds, IdSourceStatus
from bot.failures.results import AccountFailures
from bot.failures.retry_limits import LimitCheck, RetryLimitSource
from bot.failures.retry_policy import RetryRule
from bot.zuora.client import ZuoraClient
from bot.zuora.client.history import Recent
from bot.zuora.client.resend import ChunkDone
from bot.zuora.errors import ZuoraError
from bot.zuora.models import (
    Account,
    CalloutHistory,
    EmailHistory,
    NotificationKind,
    ResendResult,
    TimeWindow,
)

logger = logging.getLogger(__name__)

STATUS_QUERY_WAIT = 20.0  # seconds /zuora status waits for SHOW COLUMNS before it says so


@dataclass(frozen=True)
class ZuoraHealth:
    """Whether Zuora accepts our credentials, in words, and how long the token has left."""

    ok: bool
    detail: str
    token_expires_in: float | None


def utc_now() -> datetime:
    """The wall clock in aware UTC (the default clock)."""
    return datetime.now(UTC)


class NotificationService:
    """Reads an account's failures (with resend IDs), resends history ids, checks credentials."""

    def __init__(
        self,
        client: ZuoraClient,
        *,
        now: Callable[[], datetime] = utc_now,
        ids: HistoryIdResolver | None = None,
        id_wait: float | None = None,
    ) -> None:
        self._client = client
        self._now = now
        self._ids = ids if ids is not None else HistoryIdResolver(client)
        self._id_wait = client.settings.id_wait if id_wait is None else id_wait
        self._limits = RetryLimitSource(client)

    def close(self) -> None:
        """Stop ID lookups and close the Zuora client."""
        self._ids.close()
        self._client.close()

    def failures_for(
        self,
        account_key: str,
        length: timedelta,
        label: str,
        *,
        track_id: str,
        defer_ids: bool = False,
    ) -> AccountFailures:
        """An account's failures in the window of `length` ending now.

        With `defer_ids` the wait for resend IDs is capped at `ZUORA_ID_WAIT` (then `ids_pending`);
        otherwise it lasts until the lookup ends (bounded by `ZUORA_QUERY_TIMEOUT`).
        """
        account = self._client.get_account(account_key, track_id=track_id)
        # Whole seconds: the card's buttons carry epoch seconds, so their clicks name this very
        # window and find its cached rows and resend IDs.
        window = TimeWindow.ending_at(self._now().replace(microsecond=0), length, label)
        return self._collect(account, window, track_id=track_id, fresh=False, defer_ids=defer_ids)

    def failures_without_ids(
        self, account_key: str, length: timedelta, label: str, *, track_id: str, fresh: bool = False
    ) -> AccountFailures:
        """An account's failures in the window ending now, with no resend-ID lookup.

        For watch checks (`fresh`) and link summaries: the history lists show a new failure and its
        counts, and no Data Query job (Zuora allows a tenant few) starts for a card nobody opened.
        """
        account = self._client.get_account(account_key, track_id=track_id)
        window = TimeWindow.ending_at(self._now().replace(microsecond=0), length, label)
        if fresh:
            self._client.forget(account, window)
        callouts, emails = self._client.failures_for(account, window, track_id=track_id)
        return AccountFailures(account=account, window=window, callouts=callouts, emails=emails)

    def failures_on_card(
        self, card: CardRef, *, track_id: str, fresh: bool, defer_ids: bool = False
    ) -> AccountFailures:
        """The failures behind a card (its fixed window); `fresh` skips the short read cache.

        Resend IDs come from the cached lookup of this account and window when there is one.
        """
        account = self._client.get_account(card.a, track_id=track_id)
        window = TimeWindow(start=card.start, end=card.end, label=card.w)
        return self._collect(account, window, track_id=track_id, fresh=fresh, defer_ids=defer_ids)

    def when_ids_resolved(
        self,
        failures: AccountFailures,
        deliver: Callable[[AccountFailures], None],
        *,
        track_id: str,
    ) -> bool:
        """If `failures` has `ids_pending`, call `deliver` with the completed failures later.

        `deliver` runs once, on a lookup thread, with the IDs or with `ids_error` set; its own
        errors are logged. Returns whether an update is coming.
        """
        if not failures.ids_pending:
            return False
        waiting = replace(failures, ids_pending=False)
        lookup = self._ids.lookup(
            failures.account,
            failures.window,
            self._ids.kinds_needed(waiting),
            track_id=track_id,
            retry_failed=False,
        )

        def finish(done: Future[dict[NotificationKind, HistoryIds]]) -> None:
            updated = self._settle(waiting, done, wait=0)
            try:
                deliver(updated)
            except Exception:  # a callback thread has no one else to tell
                logger.exception("Could not deliver the card with resend IDs (track %s)", track_id)

        lookup.add_done_callback(finish)
        return True

    def _collect(
        self,
        account: Account,
        window: TimeWindow,
        *,
        track_id: str,
        fresh: bool,
        defer_ids: bool = False,
    ) -> AccountFailures:
        if fresh:
            self._client.forget(account, window)
        callouts, emails = self._client.failures_for(account, window, track_id=track_id)
        failures = AccountFailures(
            account=account,
            window=window,
            callouts=callouts,
            emails=emails,
            retry=self.retry_rule(),
        )
        return self._with_ids(failures, track_id=track_id, fresh=fresh, defer_ids=defer_ids)

    def _with_ids(
        self, failures: AccountFailures, *, track_id: str, fresh: bool, defer_ids: bool
    ) -> AccountFailures:
        """Fill in resend IDs from Data Query for the rows on this card that lack one.

        Nothing is looked up before the history lists are read: only the rows decide whether a
        Data Query job is needed (Zuora allows a tenant few, shared with every integration).
        """
        self._ids.observe(failures)
        needed = self._ids.kinds_needed(failures)
        if not needed:
            return failures
        shown = self._ids.prepare(failures)
        account, window = failures.account, failures.window
        lookup = self._ids.lookup(account, window, needed, track_id=track_id)
        if fresh and lookup.done() and self._ids.unresolved(self._settle(shown, lookup, wait=0)):
            # A Refresh found rows the cached lookup does not know: look again.
            lookup = self._ids.lookup(account, window, needed, track_id=track_id, refresh=True)
        return self._settle(shown, lookup, wait=self._id_wait if defer_ids else None)

    def _settle(
        self,
        shown: AccountFailures,
        lookup: Future[dict[NotificationKind, HistoryIds]],
        *,
        wait: float | None,
    ) -> AccountFailures:
        """`shown` with the lookup's IDs, or marked pending (still running) or failed."""
        try:
            found = lookup.result(timeout=wait)
        except TimeoutError as exc:
            if lookup.done():  # the lookup itself ended with a TimeoutError
                return replace(shown, ids_error=describe_failure(exc))
            return replace(shown, ids_pending=True)
        except Exception as exc:  # any lookup failure becomes the card's note
            return replace(shown, ids_error=describe_failure(exc))
        return self._ids.apply(shown, found)

    def get_account(self, key: str, *, track_id: str) -> Account:
        """Resolve an account number or ID (cached briefly by the client)."""
        return self._client.get_account(key, track_id=track_id)

    def iter_failed_callouts(
        self, window: TimeWindow, *, track_id: str
    ) -> Iterator[CalloutHistory]:
        """Every failed callout of the tenant in `window`, streamed (the digest's input)."""
        return self._client.iter_failed_callouts(window, track_id=track_id)

    def iter_failed_emails(self, window: TimeWindow, *, track_id: str) -> Iterator[EmailHistory]:
        """Every failed email of the tenant in `window`, streamed (the digest's input)."""
        return self._client.iter_failed_emails(window, track_id=track_id)

    def iter_failed_history(
        self, window: TimeWindow, *, track_id: str, callouts: bool = True, emails: bool = True
    ) -> Iterator[CalloutHistory | EmailHistory]:
        """The tenant's failed callouts and emails in `window` in one concurrent scan (outages)."""
        return self._client.iter_failed_history(
            window, track_id=track_id, callouts=callouts, emails=emails
        )

    def recent_callouts(
        self, *, start: datetime, end: datetime, track_id: str, max_pages: int
    ) -> Recent[CalloutHistory]:
        """The tenant's recent callouts, successes included, a few pages (outage recovery)."""
        return self._client.recent_callouts(
            start=start, end=end, track_id=track_id, max_pages=max_pages
        )

    def recent_emails(
        self, *, account_id: str, start: datetime, end: datetime, track_id: str, max_pages: int
    ) -> Recent[EmailHistory]:
        """One account's recent emails, successes included, a few pages (outage recovery)."""
        return self._client.recent_emails(
            account_id=account_id, start=start, end=end, track_id=track_id, max_pages=max_pages
        )

    def iter_history(
        self,
        kind: NotificationKind,
        *,
        start: datetime,
        end: datetime,
        account_id: str | None,
        track_id: str,
    ) -> Iterator[CalloutHistory | EmailHistory]:
        """Every record of one kind in [start, end), delivered ones too (a resend's new record).

        Emails are filtered by `account_id` when given; callouts have no account filter in Zuora.
        """
        if kind == "email":
            yield from self._client.iter_email_history(
                account_id=account_id, start=start, end=end, track_id=track_id, failed_only=False
            )
        else:
            yield from self._client.iter_callout_history(
                start=start, end=end, track_id=track_id, failed_only=False
            )

    def callout_detail(
        self, card: CardRef, *, created_at: datetime, event_id: str | None, track_id: str
    ) -> tuple[Account, CalloutHistory | None]:
        """One callout with its response content, fetched on demand."""
        account = self._client.get_account(card.a, track_id=track_id)
        callout = self._client.get_callout_response(
            account, created_at, event_id, track_id=track_id
        )
        return account, callout

    def resend(
        self,
        kind: NotificationKind,
        ids: Sequence[str],
        *,
        idempotency_key: str,
        track_id: str,
        on_chunk: ChunkDone | None = None,
    ) -> ResendResult:
        """Resend history ids through Zuora; the key makes a repeated request a no-op.

        `on_chunk(done, total)` is called after each request of at most 1,000 ids.
        """
        if kind == "email":
            return self._client.resend_emails(
                list(ids), idempotency_key=idempotency_key, track_id=track_id, on_chunk=on_chunk
            )
        return self._client.resend_callouts(
            list(ids), idempotency_key=idempotency_key, track_id=track_id, on_chunk=on_chunk
        )

    def resolve_ids(
        self,
        kind: NotificationKind,
        records: Sequence[EmailHistory | CalloutHistory],
        window: TimeWindow,
        *,
        track_id: str,
    ) -> list[str | None]:
        """Resend IDs for tenant-wide records listed without one (Data Query, per 500 accounts)."""
        return self._ids.resolve_records(kind, records, window, track_id=track_id)

    def id_source(self, *, track_id: str) -> IdSourceStatus:
        """The resend-ID source and the Data Query columns, relearned now (for /zuora status)."""
        timeout = min(self._client.settings.query_timeout, STATUS_QUERY_WAIT)
        return self._ids.status(track_id=track_id, timeout=timeout)

    def retry_rule(self) -> RetryRule:
        """Zuora's callout retry limits in force, judged at this moment (cards, replays)."""
        return RetryRule(self._limits.limits(), self._now())

    def retry_limits(self, *, track_id: str) -> LimitCheck:
        """The attempt limit relearned from Data Query now, and its source (for /zuora status)."""
        timeout = min(self._client.settings.query_timeout, STATUS_QUERY_WAIT)
        return self._limits.learn(track_id=track_id, timeout=timeout)

    def check_zuora(self, *, track_id: str) -> ZuoraHealth:
        """Fetch (or reuse) an OAuth token to prove the credentials work."""
        try:
            status = self._client.check_credentials(track_id=track_id)
        except ZuoraError as exc:
            explanation = explain(exc)
            return ZuoraHealth(
                False, f"{explanation.message} {explanation.hint or ''}".strip(), None
            )
        # No detail: the status card's headline already says the credentials are accepted.
        return ZuoraHealth(True, "", status.expires_in)
