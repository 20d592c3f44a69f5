"""Typed views of Zuora's notification-history, account and resend payloads.

Models are tolerant: unknown fields are ignored, numbers may arrive as strings (and the reverse), and
`eventContext` may be an object or a JSON string. Zone-less timestamps are read in the tenant's time zone,
passed as validation context ``{"tenant_tz": ZoneInfo}`` (UTC when absent), and stored as aware UTC.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from bot.core.kinds import NotificationKind as NotificationKind

# eventContext keys that carry the account, in the order we trust them.
ACCOUNT_ID_KEYS = ("<Account.ID>", "<Account.Id>", "<BillingAccount.ID>", "<BillingAccount.Id>")
ACCOUNT_NUMBER_KEYS = ("<Account.Number>", "<BillingAccount.Number>")

EVENT_CATEGORY_NAMES: Mapping[str, str] = {
    "1110": "Invoice Posted",
    "1140": "Invoice Due",
    "1210": "Subscription Created",
    "1220": "Upcoming Renewal",
    "1310": "Amendment Processed",
    "1410": "Bill Run Completion",
    "2110": "Payment Declined",
    "2120": "Payment Processed",
    "2210": "Payment Method Expiration",
    "2410": "Payment Refund Processed",
}


def _loose_text(value: object) -> object:
    """Accept ints and floats where Zuora documents strings (and vice versa), normalised with str()."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, str):
        return value.strip()
    return value


def _loose_int(value: object) -> object:
    """Accept "3" as well as 3; empty text reads as missing."""
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.lstrip("-").isdigit() else None
    return value


def _event_context(value: object) -> object:
    """eventContext arrives as an object, a JSON string, or nothing."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return value


LooseText = Annotated[str | None, BeforeValidator(_loose_text)]
LooseInt = Annotated[int | None, BeforeValidator(_loose_int)]
EventContext = Annotated[dict[str, Any], BeforeValidator(_event_context)]


def to_utc(value: datetime, tenant_tz: tzinfo) -> datetime:
    """Read a zone-less Zuora timestamp in the tenant's zone and return it in UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=tenant_tz)
    return value.astimezone(UTC)


def _tenant_tz(info: ValidationInfo) -> tzinfo:
    context = info.context if isinstance(info.context, Mapping) else {}
    tz = context.get("tenant_tz")
    return tz if isinstance(tz, tzinfo) else UTC


class ZuoraModel(BaseModel):
    """Base for payload models: camelCase aliases, unknown fields ignored, immutable."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Account(ZuoraModel):
    """The part of an account the bot shows: id (32 hex), number, name and status."""

    id: str
    number: str
    name: str
    status: str | None = None


class CalloutHistory(ZuoraModel):
    """One failed (or successful) callout attempt from the callout notification history."""

    id: LooseText = None
    attempted_num: LooseInt = Field(default=None, alias="attemptedNum")
    create_time: datetime = Field(alias="createTime")
    event_category: LooseText = Field(default=None, alias="eventCategory")
    event_context: EventContext = Field(default_factory=dict, alias="eventContext")
    notification: LooseText = None
    request_method: LooseText = Field(default=None, alias="requestMethod")
    request_url: LooseText = Field(default=None, alias="requestUrl")
    response_code: LooseText = Field(default=None, alias="responseCode")
    response_content: str | None = Field(default=None, alias="responseContent")
    # Set by the bot, never by Zuora: why this row has no resend ID (e.g. an ambiguous match).
    id_problem: str | None = Field(default=None, exclude=True)

    @field_validator("create_time", mode="after")
    @classmethod
    def _in_utc(cls, value: datetime, info: ValidationInfo) -> datetime:
        return to_utc(value, _tenant_tz(info))

    @property
    def account_id(self) -> str | None:
        """The account ID from eventContext, if the event belongs to an account."""
        return _first_text(self.event_context, ACCOUNT_ID_KEYS)

    @property
    def account_number(self) -> str | None:
        """The account number from eventContext, if present."""
        return _first_text(self.event_context, ACCOUNT_NUMBER_KEYS)

    @property
    def account_name(self) -> str | None:
        """The account name from eventContext, if present."""
        return _first_text(self.event_context, ("<Account.Name>", "<BillingAccount.Name>"))

    @property
    def event_id(self) -> str | None:
        """Zuora's event id: the natural key of a callout (one per event, whatever the attempts)."""
        return _first_text(self.event_context, ("<Event.ID>", "<Event.Id>"))

    @property
    def object_id(self) -> str | None:
        """The object the event is about (`<Object.ID>`): Data Query's ObjectId for this row."""
        return _first_text(self.event_context, ("<Object.ID>", "<Object.Id>"))

    @property
    def event_name(self) -> str:
        """A readable event name: the category's name when known, else the raw category."""
        return event_name(self.event_category, self.event_context.get("<Event.Category>"))

    @property
    def resendable(self) -> bool:
        """Whether Zuora gave us the history id the resend API needs."""
        return bool(self.id)

    def belongs_to(self, account: Account) -> bool:
        """Whether this callout was raised for the given account (eventContext match)."""
        return self.account_id == account.id or (
            self.account_number is not None and self.account_number == account.number
        )


class EmailHistory(ZuoraModel):
    """One email notification from the email notification history."""

    id: LooseText = None
    account_id: LooseText = Field(default=None, alias="accountId")
    bcc: LooseText = None
    cc: LooseText = None
    error_message: LooseText = Field(default=None, alias="errorMessage")
    event_category: LooseText = Field(default=None, alias="eventCategory")
    notification: LooseText = None
    from_email: LooseText = Field(default=None, alias="fromEmail")
    reply_to: LooseText = Field(default=None, alias="replyTo")
    to_email: LooseText = Field(default=None, alias="toEmail")
    result: LooseText = None
    send_time: datetime = Field(alias="sendTime")
    subject: LooseText = None
    # Set by the bot, never by Zuora: why this row has no resend ID (e.g. an ambiguous match).
    id_problem: str | None = Field(default=None, exclude=True)

    @field_validator("send_time", mode="after")
    @classmethod
    def _in_utc(cls, value: datetime, info: ValidationInfo) -> datetime:
        return to_utc(value, _tenant_tz(info))

    @property
    def event_name(self) -> str:
        """A readable event name: the notification name, else the category's name."""
        return self.notification or event_name(self.event_category, None)

    @property
    def resendable(self) -> bool:
        """Whether Zuora gave us the history id the resend API needs."""
        return bool(self.id)

    @property
    def natural_key(self) -> tuple[str | None, ...]:
        """What identifies an email when Zuora sends no id (see zuora-api.md, Traps 1)."""
        return (
            self.account_id,
            self.send_time.isoformat(),
            self.event_category,
            self.notification,
            self.to_email,
            self.subject,
        )


def event_name(category: str | None, fallback: object) -> str:
    """Name an event category: known codes get their name, custom events keep theirs."""
    if category and category in EVENT_CATEGORY_NAMES:
        return EVENT_CATEGORY_NAMES[category]
    if isinstance(fallback, str) and fallback:
        return fallback
    return category or "Unknown event"


def _first_text(context: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = context.get(key)
        if value not in (None, ""):
            return str(value)
    return None


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list call and whether Zuora says there is another."""

    model_config = ConfigDict(frozen=True)

    items: list[T]
    page: int
    has_more: bool


class ResendFailure(ZuoraModel):
    """Why Zuora refused to resend one history id."""

    code: str
    message: str


class ResendResult(ZuoraModel):
    """The outcome of a resend request, merged over every 1,000-id chunk."""

    kind: NotificationKind
    requested: tuple[str, ...]
    succeeded: tuple[str, ...]
    failed: dict[str, ResendFailure]
    # Ids of chunks Zuora answered 409 for: that Idempotency-Key's resend is already done or still
    # running, so these were not resent twice (neither a success we saw nor a failure).
    in_progress: tuple[str, ...] = ()

    @property
    def all_succeeded(self) -> bool:
        """Every requested id was accepted (none refused, none left to a 409)."""
        return not self.failed and not self.in_progress

    @property
    def all_failed(self) -> bool:
        """No requested id was accepted or already in hand at Zuora."""
        return not self.succeeded and not self.in_progress and bool(self.requested)


class TimeWindow(BaseModel):
    """A half-open [start, end) interval in aware UTC, with the label the user typed."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    label: str

    @classmethod
    def ending_at(cls, end: datetime, length: timedelta, label: str) -> TimeWindow:
        """The window of `length` that ends at `end` (aware)."""
        end = end.astimezone(UTC)
        return cls(start=end - length, end=end, label=label)

    def split(self, max_length: timedelta, tz: tzinfo | None = None) -> list[TimeWindow]:
        """Consecutive slices of at most `max_length`, oldest first (Zuora's 3-day email rule).

        With `tz` (the tenant's zone) each slice is also at most `max_length` on the tenant's wall
        clock, the zone-less times Zuora compares: a slice across the spring-forward gap is one hour
        shorter in real time, and no slice is ever longer than `max_length` in real time either.
        """
        slices: list[TimeWindow] = []
        cursor = self.start
        while cursor < self.end:
            upper = min(cursor + max_length, self.end)
            if tz is not None:
                upper = _within_local_length(cursor, upper, max_length, tz)
            slices.append(TimeWindow(start=cursor, end=upper, label=self.label))
            cursor = upper
        return slices


def _local_clock(moment: datetime, tz: tzinfo) -> datetime:
    """The zone-less wall-clock reading of `moment` in `tz` (what Zuora's wire times show)."""
    return moment.astimezone(tz).replace(tzinfo=None)


def _within_local_length(
    start: datetime, end: datetime, max_length: timedelta, tz: tzinfo
) -> datetime:
    """`end`, pulled back until [start, end) spans at most `max_length` of wall-clock time in `tz`."""
    upper = end
    for _ in range(4):  # each step removes one transition's excess; a slice crosses few
        excess = (_local_clock(upper, tz) - _local_clock(start, tz)) - max_length
        if excess <= timedelta(0):
            break
        upper -= excess
        if upper <= start:  # a slice shorter than the jump itself cannot get any shorter
            return end
    return upper
