"""Opening an outcome watch once Zuora accepted a resend: which ids to look for, and where to show it.

The clock checks it later (bot.resend.outcome_check): first after RESEND_WATCH_FIRST_SECONDS, then
backing off. A resend gets a watch only when the bot can find the original records again (a card's
window, or the account of a digest): `/zuora resend <id>` and "Resend again" name bare ids.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.actions import CardRef
from bot.resend.settings import ResendSettings
from bot.store.database import Store
from bot.store.watch_records import NewWatch, WatchItem, WatchTarget
from bot.zuora.models import Account, NotificationKind, ResendResult

logger = logging.getLogger(__name__)

#: How far back a watch without a card looks for the original records (the digest's window).
ORIGINALS_LOOKBACK = timedelta(days=3)


class WatchSettings(Protocol):
    """The settings a watch reads (bot.settings.Settings is one)."""

    @property
    def resend(self) -> ResendSettings: ...


def check_delay(settings: ResendSettings, checks_done: int) -> timedelta:
    """How long after the previous look the next one comes: the first delay, doubled each time."""
    return timedelta(seconds=settings.resend_watch_first_seconds * (2**checks_done))


def audit_watch_key(audit_id: int) -> str:
    """The one watch of one audit row (a click's request of one kind)."""
    return f"audit:{audit_id}"


def replay_watch_key(replay_id: int) -> str:
    """The one watch of one outage replay (all its ids, one cause)."""
    return f"replay:{replay_id}"


def open_resend_watch(
    store: Store,
    settings: ResendSettings,
    *,
    audit_id: int,
    team_id: str,
    user_id: str,
    kind: NotificationKind,
    sent: tuple[str, ...],
    labels: Mapping[str, str],
    account: Account | None,
    card: CardRef | None,
    resent_at: datetime,
    now: datetime,
    target: WatchTarget,
) -> bool:
    """Watch the ids Zuora accepted from one audit row; False when there is nothing to watch."""
    if not sent or settings.resend_watch_checks < 1:
        return False
    if card is not None:
        source: dict[str, object] = {"card": card.model_dump(mode="json")}
        account_id: str | None = card.a
    elif account is not None:
        start = resent_at - ORIGINALS_LOOKBACK
        source = {
            "card": CardRef(
                a=account.id,
                n=account.number[:64],
                s=int(start.timestamp()),
                e=int(resent_at.timestamp()) + 1,
                w="3d",
            ).model_dump(mode="json")
        }
        account_id = account.id
    else:
        logger.info("audit %d: no card or account to find the originals; not watched", audit_id)
        return False
    items = tuple(WatchItem(history_id=i, label=labels.get(i, "")) for i in sent)
    return store.open_watch(
        NewWatch(
            watch_key=audit_watch_key(audit_id),
            kind=kind,
            team_id=team_id,
            user_id=user_id,
            resent_at=resent_at,
            first_check_at=now + check_delay(settings, 0),
            items=items,
            audit_id=audit_id,
            account_id=account_id,
            source=source,
            target=target,
        )
    )


class WatchedClick(Protocol):
    """The part of a resend click a watch reads (bot.resend.service.ResendClick is one)."""

    @property
    def team_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def kind(self) -> NotificationKind: ...

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def account(self) -> Account | None: ...

    @property
    def card(self) -> CardRef | None: ...


def watch_resend(
    store: Store,
    settings: ResendSettings,
    click: WatchedClick,
    result: ResendResult | None,
    *,
    audit_id: int,
    requested_at: datetime,
    now: datetime,
    target: WatchTarget,
) -> bool:
    """Open the watch of one answered resend request: the ids Zuora accepted, if any."""
    if result is None or not result.succeeded:
        return False
    try:
        return open_resend_watch(
            store,
            settings,
            audit_id=audit_id,
            team_id=click.team_id,
            user_id=click.user_id,
            kind=click.kind,
            sent=tuple(result.succeeded),
            labels=click.labels,
            account=click.account,
            card=click.card,
            resent_at=requested_at,
            now=now,
            target=target,
        )
    except Exception:  # the resend itself is done and shown; only "did it work?" is lost
        logger.exception("audit %d: could not open its outcome watch", audit_id)
        return False


def open_replay_watch(
    store: Store,
    settings: ResendSettings,
    *,
    replay_id: int,
    replay_key: str,
    cause_id: str,
    team_id: str,
    user_id: str,
    kind: NotificationKind,
    sent: tuple[str, ...],
    window: tuple[datetime, datetime],
    resent_at: datetime,
    now: datetime,
    target: WatchTarget,
) -> bool:
    """Watch a finished replay's accepted ids as ONE watch for its cause (one read per check)."""
    if not sent or settings.resend_watch_checks < 1:
        return False
    return store.open_watch(
        NewWatch(
            watch_key=replay_watch_key(replay_id),
            kind=kind,
            team_id=team_id,
            user_id=user_id,
            resent_at=resent_at,
            first_check_at=now + check_delay(settings, 0),
            items=tuple(WatchItem(history_id=i) for i in sent),
            replay_id=replay_id,
            cause_id=cause_id,
            source={
                "window": [window[0].isoformat(), window[1].isoformat()],
                "replay_key": replay_key,
            },
            target=target,
        )
    )
