"""NotificationService: the bot's one entry into Zuora for cards, resends and digests."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.explain import explain
from bot.failures import AccountFailures
from bot.ids import CardRef
from bot.zuora.client import ZuoraClient
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
    """Reads an account's failures, resends history ids, and checks Zuora's credentials."""

    def __init__(self, client: ZuoraClient, *, now: Callable[[], datetime] = utc_now) -> None:
        self._client = client
        self._now = now

    def close(self) -> None:
        """Close the Zuora client."""
        self._client.close()

    def failures_for(
        self, account_key: str, length: timedelta, label: str, *, track_id: str
    ) -> AccountFailures:
        """An account's failures in the window of `length` ending now."""
        account = self._client.get_account(account_key, track_id=track_id)
        window = TimeWindow.ending_at(self._now(), length, label)
        return self._collect(account, window, track_id=track_id, fresh=False)

    def failures_on_card(self, card: CardRef, *, track_id: str, fresh: bool) -> AccountFailures:
        """The failures behind a card (its fixed window); `fresh` skips the short read cache."""
        account = self._client.get_account(card.a, track_id=track_id)
        window = TimeWindow(start=card.start, end=card.end, label=card.w)
        return self._collect(account, window, track_id=track_id, fresh=fresh)

    def _collect(
        self, account: Account, window: TimeWindow, *, track_id: str, fresh: bool
    ) -> AccountFailures:
        if fresh:
            self._client.forget(account, window)
        callouts, emails = self._client.failures_for(account, window, track_id=track_id)
        return AccountFailures(account=account, window=window, callouts=callouts, emails=emails)

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
    ) -> ResendResult:
        """Resend history ids through Zuora; the key makes a repeated request a no-op."""
        if kind == "email":
            return self._client.resend_emails(
                list(ids), idempotency_key=idempotency_key, track_id=track_id
            )
        return self._client.resend_callouts(
            list(ids), idempotency_key=idempotency_key, track_id=track_id
        )

    def check_zuora(self, *, track_id: str) -> ZuoraHealth:
        """Fetch (or reuse) an OAuth token to prove the credentials work."""
        try:
            status = self._client.check_credentials(track_id=track_id)
        except ZuoraError as exc:
            explanation = explain(exc)
            return ZuoraHealth(
                False, f"{explanation.message} {explanation.hint or ''}".strip(), None
            )
        return ZuoraHealth(True, "Zuora accepted the OAuth credentials.", status.expires_in)
