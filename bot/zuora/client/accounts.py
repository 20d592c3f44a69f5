"""Accounts: the account lookup and the read cache it shares with an account's failure reads."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from typing import cast

from bot.zuora.client.history import EMAIL_WINDOW, MAX_PAGE_SIZE, check_window
from bot.zuora.client.scans import AnyListing, HistoryScans
from bot.zuora.errors import (
    ZuoraAuthError,
    ZuoraInputError,
    ZuoraNotFoundError,
    ZuoraRateLimitError,
    ZuoraServerError,
    ZuoraStatusError,
)
from bot.zuora.guard import validate_account_key
from bot.zuora.models import Account, CalloutHistory, EmailHistory, TimeWindow
from bot.zuora.parse import parse_account
from bot.zuora.track import validate_track_id

ACCOUNT_PATH = "/v1/accounts/{key}"


class AccountReads(HistoryScans):
    """Looks accounts up and reads one account's failures, both cached for `cache_ttl` seconds."""

    def get_account(self, key: str, *, track_id: str) -> Account:
        """The account with this number or 32-hex id; ZuoraNotFoundError (with `.key`) if none."""
        key = validate_account_key(key)
        track_id = validate_track_id(track_id)
        return self._cache.get_or_compute(
            ("account", key), lambda: self._fetch_account(key, track_id)
        )

    def _fetch_account(self, key: str, track_id: str) -> Account:
        try:
            response = self._request(
                "GET", ACCOUNT_PATH.format(key=key), track_id=track_id, idempotent=True
            )
        except (ZuoraAuthError, ZuoraRateLimitError, ZuoraServerError):
            raise
        except ZuoraStatusError as exc:  # success=false or any other 4xx: Zuora says "no such key"
            raise ZuoraNotFoundError(
                f"No Zuora account matches {key!r}",
                key=key,
                status_code=exc.status_code,
                track_id=track_id,
                reasons=exc.reasons,
                body=exc.body,
            ) from exc
        account = parse_account(response, track_id)
        self._cache.put(("account", account.id), account)
        self._cache.put(("account", account.number), account)
        return account

    # -- an account's failures ---------------------------------------------------------------------

    def failed_callouts_for(
        self, account: Account, window: TimeWindow, *, track_id: str
    ) -> list[CalloutHistory]:
        """The account's failed callouts in `window`: one per event (latest attempt), newest first."""
        track_id = validate_track_id(track_id)
        key = _account_key("callouts", account, window)
        found = self._cache.get_or_compute(
            key, lambda: tuple(self._failures(account, window, track_id, emails=False)[0])
        )
        return list(found)

    def failed_emails_for(
        self, account: Account, window: TimeWindow, *, track_id: str
    ) -> list[EmailHistory]:
        """The account's failed emails in `window`, newest first, duplicates removed."""
        track_id = validate_track_id(track_id)
        key = _account_key("emails", account, window)
        found = self._cache.get_or_compute(
            key, lambda: tuple(self._failures(account, window, track_id, callouts=False)[1])
        )
        return list(found)

    def failures_for(
        self, account: Account, window: TimeWindow, *, track_id: str
    ) -> tuple[list[CalloutHistory], list[EmailHistory]]:
        """Both lists of an account's failures in one concurrent scan (faster than two calls)."""
        track_id = validate_track_id(track_id)
        callout_key = _account_key("callouts", account, window)
        email_key = _account_key("emails", account, window)
        both = self._cache.get_or_compute(
            ("both", callout_key, email_key),
            lambda: self._failures(account, window, track_id),
        )
        self._cache.put(callout_key, tuple(both[0]))
        self._cache.put(email_key, tuple(both[1]))
        return list(both[0]), list(both[1])

    def forget(self, account: Account, window: TimeWindow) -> None:
        """Drop the cached failures of `account` in `window` so the next read asks Zuora again."""
        callout_key = _account_key("callouts", account, window)
        email_key = _account_key("emails", account, window)
        for key in (callout_key, email_key, ("both", callout_key, email_key)):
            self._cache.discard(key)

    def _failures(
        self,
        account: Account,
        window: TimeWindow,
        track_id: str,
        *,
        callouts: bool = True,
        emails: bool = True,
    ) -> tuple[list[CalloutHistory], list[EmailHistory]]:
        check_window(window.start, window.end)
        sources: list[AnyListing] = []
        if callouts:
            sources.extend(
                cast(
                    AnyListing,
                    self._callout_source(piece, track_id, True, False, MAX_PAGE_SIZE),
                )
                for piece in window.split(self.callout_slice, tz=self._settings.tz)
            )
        if emails:
            account_id = validate_account_key(account.id)
            sources.extend(
                cast(
                    AnyListing,
                    self._email_source(piece, account_id, track_id, True, MAX_PAGE_SIZE),
                )
                for piece in window.split(EMAIL_WINDOW, tz=self._settings.tz)
            )
        latest_callouts: dict[Hashable, CalloutHistory] = {}
        unique_emails: dict[Hashable, EmailHistory] = {}
        for record in self._iter_items(sources, track_id):
            if isinstance(record, CalloutHistory):
                if record.belongs_to(account):
                    _keep_latest(latest_callouts, record)
            elif record.account_id in (None, account.id):
                unique_emails.setdefault(record.id or record.natural_key, record)
        return (
            sorted(latest_callouts.values(), key=_callout_order, reverse=True),
            sorted(unique_emails.values(), key=lambda record: record.send_time, reverse=True),
        )

    def get_callout_response(
        self,
        account: Account,
        created_at: datetime,
        event_id: str | None,
        *,
        track_id: str,
    ) -> CalloutHistory | None:
        """One callout of the account with its response content (fetched on demand), or None."""
        track_id = validate_track_id(track_id)
        if created_at.tzinfo is None:
            raise ZuoraInputError("created_at must be timezone-aware")
        moment = created_at.astimezone(UTC).replace(microsecond=0)
        matches = [
            record
            for record in self.iter_callout_history(
                start=moment - timedelta(seconds=1),
                end=moment + timedelta(seconds=2),
                track_id=track_id,
                failed_only=False,
                include_response_content=True,
            )
            if record.belongs_to(account) and (event_id is None or record.event_id == event_id)
        ]
        if not matches:
            return None
        exact = [record for record in matches if record.create_time == moment] or matches
        return max(exact, key=lambda record: record.attempted_num or 0)


def _account_key(what: str, account: Account, window: TimeWindow) -> tuple[Hashable, ...]:
    return (what, account.id, account.number, window.start, window.end)


def _callout_order(record: CalloutHistory) -> tuple[datetime, int]:
    return record.create_time, record.attempted_num or 0


def _keep_latest(latest: dict[Hashable, CalloutHistory], record: CalloutHistory) -> None:
    """Keep one callout per event: the newest attempt (Trap 1: dedupe on <Event.ID>)."""
    key: Hashable = (
        record.event_id
        or record.id
        or (
            record.create_time,
            record.event_category,
            record.notification,
            record.request_url,
            record.attempted_num,
        )
    )
    current = latest.get(key)
    if current is None or _callout_order(record) > _callout_order(current):
        latest[key] = record
