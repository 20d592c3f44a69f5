"""The store's value types: what features and cards read and write, free of any database code.

Card and feature modules import these without loading SQLAlchemy; ``bot.store.database.Store`` turns
them into rows and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ResendKind = Literal["email", "callout"]
# 'waiting': Zuora's answer is unknown (timeout, dropped connection, 5xx); asked again with the same key.
ResendStatus = Literal["requested", "waiting", "succeeded", "partial", "failed", "error"]
ResendJobState = Literal["claimed", "answered", "done"]
ReplayState = Literal["running", "stopped", "done"]
DigestKind = Literal["callouts", "emails", "all"]
DigestRunStatus = Literal["claimed", "posting", "posted", "skipped", "failed", "unconfirmed"]
DigestFinishStatus = Literal["posted", "skipped", "failed", "unconfirmed"]

RESEND_KINDS: Final[tuple[ResendKind, ...]] = ("email", "callout")
RESEND_STATUSES: Final[tuple[ResendStatus, ...]] = (
    "requested",
    "waiting",
    "succeeded",
    "partial",
    "failed",
    "error",
)
RESEND_JOB_STATES: Final[tuple[ResendJobState, ...]] = ("claimed", "answered", "done")
REPLAY_STATES: Final[tuple[ReplayState, ...]] = ("running", "stopped", "done")
#: Audit statuses after which the same click is handled for good; after 'failed' or 'error' a click
#: may try again as a new attempt with a new Idempotency-Key (Zuora replays a stored failure 24 h).
HANDLED_STATUSES: Final = frozenset({"succeeded", "partial"})
DIGEST_KINDS: Final[tuple[DigestKind, ...]] = ("callouts", "emails", "all")
DIGEST_RUN_STATUSES: Final[tuple[DigestRunStatus, ...]] = (
    "claimed",
    "posting",
    "posted",
    "skipped",
    "failed",
    "unconfirmed",
)
DIGEST_FINISH_STATUSES: Final[tuple[DigestFinishStatus, ...]] = (
    "posted",
    "skipped",
    "failed",
    "unconfirmed",
)
AlertState = Literal["claimed", "posting", "open", "recovered", "failed", "unconfirmed"]
AlertPostOutcome = Literal["open", "failed", "unconfirmed"]
ALERT_STATES: Final[tuple[AlertState, ...]] = (
    "claimed",
    "posting",
    "open",
    "recovered",
    "failed",
    "unconfirmed",
)
ALERT_POST_OUTCOMES: Final[tuple[AlertPostOutcome, ...]] = ("open", "failed", "unconfirmed")
# Accounts an incident remembers by id (its count of accounts stops growing past this).
MAX_ALERT_ACCOUNTS: Final = 500
MAX_ALERT_HOURS: Final = 72

UNAVAILABLE_MESSAGE: Final = (
    "The bot's database is unavailable right now; nothing was changed. Try again in a minute."
)

_L = TypeVar("_L", bound=str)


class StoreError(Exception):
    """The database could not be reached or failed; the message is safe to show to a Slack user."""

    def __init__(self, message: str = UNAVAILABLE_MESSAGE) -> None:
        super().__init__(message)


def check_literal(value: str, allowed: tuple[_L, ...], what: str) -> _L:
    """Return ``value`` typed as one of ``allowed``, or raise ValueError naming ``what``."""
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def require_aware(value: datetime, what: str) -> datetime:
    """Return ``value`` in UTC; naive datetimes are refused because their zone is a guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class ResendRequest:
    """A resend about to be sent to Zuora; recorded before the call so a crash still leaves a trace."""

    requested_at: datetime
    team_id: str
    user_id: str
    account_key: str | None
    kind: ResendKind
    ids: tuple[str, ...]
    track_id: str
    dedup_key: str
    audit_channel: str | None = None


@dataclass(frozen=True)
class IdOutcome:
    """What Zuora said about one resent id."""

    ok: bool
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class ResendAuditEntry:
    """One row of the resend audit trail."""

    id: int
    requested_at: datetime
    team_id: str
    user_id: str
    account_key: str | None
    kind: ResendKind
    ids: tuple[str, ...]
    track_id: str
    dedup_key: str
    status: ResendStatus
    outcome: Mapping[str, IdOutcome]
    error: str | None
    finished_at: datetime | None
    audit_channel: str | None
    audit_ts: str | None


@dataclass(frozen=True)
class ResendJob:
    """One resend attempt as durable work, with the audit row it completes."""

    id: int
    dedup_key: str
    attempt: int
    state: ResendJobState
    lease_owner: str | None
    lease_until: datetime | None
    reply_url: str | None
    context: str  # JSON the caller needs to redraw the card (labels, account, card reference)
    audit: ResendAuditEntry


@dataclass(frozen=True)
class OnceRule:
    """How a resend claims its notifications: in which tenant scope, for how long, and whether a
    deliberate "Resend again" may take over claims made at or before `again_before`."""

    scope: str
    window: timedelta
    again_before: datetime | None = None

    def __post_init__(self) -> None:
        """Refuse a rule that could not hold anything."""
        if not self.scope or len(self.scope) > 64:
            raise ValueError("scope must be 1-64 characters")
        if self.window <= timedelta(0):
            raise ValueError("the once window must be positive")


@dataclass(frozen=True)
class NotificationClaim:
    """Who holds one notification's resend in the window, and what became of it so far."""

    kind: ResendKind
    history_id: str
    holder: str
    team_id: str
    user_id: str
    claimed_at: datetime
    expires_at: datetime
    again: bool
    previous_user_id: str | None
    audit_status: ResendStatus | None  # the resend_audit row resending it (None: not sent yet)
    id_outcome: IdOutcome | None  # Zuora's answer for this id, once recorded
    replay_state: ReplayState | None  # when a replay holds it


@dataclass(frozen=True)
class ResendClaim:
    """The answer to a resend click: a new attempt to run (`won`), or the attempt already there.

    `elsewhere` are the click's ids another resend holds in the once window (left out of the
    attempt); `job` is None when every id is held elsewhere and this click has no attempt of its own.
    """

    won: bool
    job: ResendJob | None
    elsewhere: tuple[NotificationClaim, ...] = ()


@dataclass(frozen=True)
class ReplayRequest:
    """An outage replay about to start: the cause, its fixed window and the ids frozen for it."""

    replay_key: str
    cause_id: str
    kind: ResendKind
    label: str
    window_start: datetime
    window_end: datetime
    window_label: str
    team_id: str
    user_id: str
    requested_at: datetime
    track_id: str
    ids: tuple[str, ...]
    accounts: int
    chunk_size: int = 1000


@dataclass(frozen=True)
class Replay:
    """One outage replay as stored: its frozen ids, how far it got and what Zuora said so far."""

    id: int
    replay_key: str
    cause_id: str
    kind: ResendKind
    label: str
    window_start: datetime
    window_end: datetime
    window_label: str
    team_id: str
    user_id: str
    requested_at: datetime
    track_id: str
    ids: tuple[str, ...]
    accounts: int
    chunk_size: int
    chunks_done: int
    chunk_attempt: int
    sent: int
    in_progress: int
    not_sent: int
    refused: Mapping[str, int]  # "code\tmessage" -> ids Zuora refused for that reason
    state: ReplayState
    error: str | None
    lease_owner: str | None
    lease_until: datetime | None
    reply_url: str | None
    updated_at: datetime
    finished_at: datetime | None

    @property
    def total(self) -> int:
        """How many ids the replay resends."""
        return len(self.ids)

    @property
    def chunk_count(self) -> int:
        """How many requests of at most chunk_size ids the replay needs."""
        return -(-len(self.ids) // self.chunk_size)

    @property
    def handled(self) -> int:
        """Ids whose chunk has an outcome (sent, refused, in progress or not sent)."""
        return min(len(self.ids), self.chunks_done * self.chunk_size)

    @property
    def waiting(self) -> bool:
        """Whether the replay waits for Zuora's answer to its next chunk (the clock asks again)."""
        return self.state == "running" and self.lease_owner is None and self.error is not None

    def chunk(self, index: int) -> tuple[str, ...]:
        """The ids of chunk `index` (the same cut on every worker)."""
        return self.ids[index * self.chunk_size : (index + 1) * self.chunk_size]


@dataclass(frozen=True)
class ReplayClaim:
    """The answer to a replay click: this caller drives it (`won`), or someone else has it."""

    won: bool
    replay: Replay | None
    resumed: bool = False
    joined: bool = False  # a replay of this cause (another window, perhaps) was running: joined it
    elsewhere: tuple[NotificationClaim, ...] = ()  # ids held by other resends (the first few)
    left_out: int = 0  # how many ids were left out in all


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk added to a replay's counters."""

    sent: int = 0
    in_progress: int = 0
    not_sent: int = 0
    refused: Mapping[str, int] | None = None


@dataclass(frozen=True)
class NewSubscription:
    """A digest subscription to add: post at hour:minute in ``timezone`` every day to ``channel_id``."""

    team_id: str
    channel_id: str
    created_by: str
    created_at: datetime
    hour: int
    minute: int
    timezone: str
    accounts: tuple[str, ...] = ()
    kind: DigestKind = "all"
    quiet: bool = False

    def __post_init__(self) -> None:
        """Refuse values the scheduler could not use."""
        if not 0 <= self.hour <= 23:
            raise ValueError(f"hour must be 0-23; got {self.hour}")
        if not 0 <= self.minute <= 59:
            raise ValueError(f"minute must be 0-59; got {self.minute}")
        check_literal(self.kind, DIGEST_KINDS, "kind")
        require_aware(self.created_at, "created_at")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {self.timezone!r}") from exc


@dataclass(frozen=True)
class Subscription:
    """A stored digest subscription; an empty ``accounts`` means every account."""

    id: int
    team_id: str
    channel_id: str
    created_by: str
    created_at: datetime
    hour: int
    minute: int
    timezone: str
    accounts: tuple[str, ...]
    kind: DigestKind
    quiet: bool
    active: bool = True


@dataclass(frozen=True)
class DigestRun:
    """One day's digest for one subscription: who claimed it, and how it ended."""

    subscription_id: int
    local_date: date
    status: DigestRunStatus
    claimed_at: datetime
    claimed_by: str
    finished_at: datetime | None
    message_ts: str | None
    detail: str | None
    heartbeat_at: datetime | None = None
    posting_at: datetime | None = None

    def lease_expires_at(self, lease: timedelta) -> datetime:
        """When a holder that stopped beating loses this run (only meaningful while it is held)."""
        return (self.heartbeat_at or self.claimed_at) + lease


@dataclass(frozen=True)
class NewAlertSubscription:
    """A spike-alert subscription to add: alert ``channel_id`` when a cause fails ``threshold`` times
    within ``minutes``."""

    team_id: str
    channel_id: str
    created_by: str
    created_at: datetime
    threshold: int
    minutes: int
    kind: DigestKind = "all"

    def __post_init__(self) -> None:
        """Refuse values the alert check could not use."""
        if self.threshold < 1:
            raise ValueError(f"threshold must be at least 1; got {self.threshold}")
        if self.minutes < 1:
            raise ValueError(f"minutes must be at least 1; got {self.minutes}")
        check_literal(self.kind, DIGEST_KINDS, "kind")
        require_aware(self.created_at, "created_at")


@dataclass(frozen=True)
class AlertSubscription:
    """A stored spike-alert subscription."""

    id: int
    team_id: str
    channel_id: str
    created_by: str
    created_at: datetime
    threshold: int
    minutes: int
    kind: DigestKind
    active: bool = True


@dataclass(frozen=True)
class AlertSpike:
    """What a check saw of one cause: the failures to add to an incident (or to open it with)."""

    count: int
    accounts: frozenset[str]
    first_at: datetime
    last_at: datetime
    hourly: Mapping[datetime, int]


@dataclass(frozen=True)
class AlertIncident:
    """One alert: a cause's spike for one subscription, its message and its state."""

    id: int
    subscription_id: int
    cause_id: str
    seq: int
    cause_kind: str
    label: str
    state: AlertState
    count: int
    accounts: tuple[str, ...]
    hourly: Mapping[datetime, int]
    first_at: datetime
    last_at: datetime
    opened_at: datetime
    recovered_at: datetime | None
    claimed_by: str
    heartbeat_at: datetime
    posting_at: datetime | None
    checked_at: datetime | None
    message_ts: str | None
    shown_state: str | None
    shown_count: int | None
    detail: str | None

    @property
    def key(self) -> str:
        """The key this incident's message carries in its metadata (one message per key)."""
        return f"{self.subscription_id}:{self.cause_id}:{self.seq}"
