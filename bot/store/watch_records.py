"""Value types of outcome watches ("did it work?" after a resend), free of any database code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from bot.store.records import ResendKind

#: One resent id's outcome so far: no new record yet, a delivered one, or one that failed again.
ItemState = Literal["pending", "delivered", "failed"]
ITEM_STATES: Final[tuple[ItemState, ...]] = ("pending", "delivered", "failed")
#: A watch's final verdict: every id delivered, every id failed again, some of each, or (after the
#: last check) at least one id with no new record yet.
WatchOutcome = Literal["delivered", "failed", "mixed", "none"]
WATCH_OUTCOMES: Final[tuple[WatchOutcome, ...]] = ("delivered", "failed", "mixed", "none")


@dataclass(frozen=True)
class WatchItem:
    """One resent history id under watch: how to recognise its new record, and what it said."""

    history_id: str
    label: str = ""  # what was resent, in words ("Invoice Posted · Invoice 12 → ap@x.example")
    match: Mapping[str, str] | None = None  # the original's match fields (None: not found yet)
    state: ItemState = "pending"
    at: datetime | None = None  # the new record's send/create time
    detail: str | None = None  # why it failed again (a bounce, a response code)


@dataclass(frozen=True)
class WatchTarget:
    """Where the outcome is shown again: a response_url, a message (chat.update), a thread."""

    reply_url: str | None = None
    replace: bool = True  # whether a response_url post replaces the clicked message
    channel: str | None = None
    ts: str | None = None  # a bot message to chat.update with the outcome
    thread_ts: str | None = None  # a thread to reply in (a digest's)


@dataclass(frozen=True)
class NewWatch:
    """A watch to open after Zuora accepted a resend (one per audit row, or per replay cause)."""

    watch_key: str
    kind: ResendKind
    team_id: str
    user_id: str
    resent_at: datetime
    first_check_at: datetime
    items: tuple[WatchItem, ...]
    audit_id: int | None = None
    replay_id: int | None = None
    cause_id: str | None = None
    account_id: str | None = None
    source: Mapping[str, object] = field(default_factory=dict)  # where match fields come from
    target: WatchTarget = field(default_factory=WatchTarget)


@dataclass(frozen=True)
class OutcomeWatch:
    """An outcome watch as stored."""

    id: int
    watch_key: str
    kind: ResendKind
    team_id: str
    user_id: str
    audit_id: int | None
    replay_id: int | None
    cause_id: str | None
    account_id: str | None
    source: Mapping[str, object]
    target: WatchTarget
    items: tuple[WatchItem, ...]
    resent_at: datetime
    next_check_at: datetime | None
    checks_done: int
    outcome: WatchOutcome | None
    outcome_at: datetime | None
    outcome_detail: str | None
    lease_owner: str | None
    lease_until: datetime | None

    @property
    def final(self) -> bool:
        """Whether the watch has ended (its outcome is for good)."""
        return self.outcome is not None
