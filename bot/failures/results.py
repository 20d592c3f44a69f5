"""Domain results the service hands to the card builders: an account's failures and a resend outcome."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.actions import CardRef
from bot.failures.retry_policy import RetryRule
from bot.zuora.models import (
    Account,
    CalloutHistory,
    EmailHistory,
    NotificationKind,
    ResendResult,
    TimeWindow,
)


@dataclass(frozen=True)
class AccountFailures:
    """An account's failed callouts and emails in one window, newest first."""

    account: Account
    window: TimeWindow
    callouts: list[CalloutHistory]
    emails: list[EmailHistory]
    ids_pending: bool = False  # resend ids are still being resolved (Data Query running)
    ids_error: str | None = None  # resend ids could not be resolved; the card says so
    retry: RetryRule | None = None  # judges which callouts Zuora still retries (None: not judged)
    # history id -> mrkdwn note of an earlier resend ("resent by @u 10:02 · delivered 10:03")
    remembered: Mapping[str, str] = field(default_factory=dict)

    @property
    def card_ref(self) -> CardRef:
        """The compact reference buttons carry to find this card's data again."""
        return card_ref_for(self.account, self.window)


def card_ref_for(account: Account, window: TimeWindow, page: int = 0) -> CardRef:
    """A CardRef for an account and a fixed window."""
    return CardRef(
        a=account.id,
        n=account.number[:64],
        # Rounded up like the client's wire times, so the card and its buttons cover the same records.
        s=math.ceil(window.start.timestamp()),
        e=math.ceil(window.end.timestamp()),
        w=window.label[:8],
        p=page,
    )


@dataclass(frozen=True)
class ResendOutcome:
    """What happened to one resend click: who, what, and Zuora's answer (or why it failed)."""

    kind: NotificationKind
    requested_by: str  # Slack user id
    at: datetime
    ids: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)  # id -> short human label
    account: Account | None = None
    result: ResendResult | None = None
    error: str | None = None  # set when Zuora could not be asked or refused the whole request
    card: CardRef | None = None  # where "Refresh" goes
    track_id: str | None = None
    # Zuora's answer is unknown (timeout, dropped connection, 5xx): not a failure; the bot asks
    # again with the same Idempotency-Key until Zuora answers. `error` says what happened.
    waiting: bool = False
