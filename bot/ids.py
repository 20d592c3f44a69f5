"""Stable action ids and the small, versioned values our buttons carry.

Old messages keep their buttons forever, so action ids never change meaning and every value carries a
version. A value that does not validate when it comes back is stale or forged: the click changes nothing.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bot.zuora.guard import HISTORY_ID_PATTERN

VALUE_VERSION: Literal[1] = 1
MAX_IDS_PER_VALUE = 40

HistoryId = Annotated[str, StringConstraints(pattern=rf"^{HISTORY_ID_PATTERN}$")]
AccountId = Annotated[str, StringConstraints(pattern=rf"^{HISTORY_ID_PATTERN}$")]


class ActionId(StrEnum):
    """Every interactive element's action_id; a stable public API of our messages."""

    RESEND_EMAIL = "zuora.resend_email"
    RESEND_CALLOUT = "zuora.resend_callout"
    RESEND_SELECTED = "zuora.resend_selected"
    RESEND_ALL = "zuora.resend_all"
    RESEND_CONFIRM = "zuora.resend_confirm"
    RESEND_CANCEL = "zuora.resend_cancel"
    SELECT_EMAILS = "zuora.select_emails"
    SELECT_CALLOUTS = "zuora.select_callouts"
    CALLOUT_DETAILS = "zuora.callout_details"
    REFRESH = "zuora.refresh"
    PAGE = "zuora.page"
    OPEN_LINK = "zuora.open_link"
    OPEN_FAILURES = "zuora.open_failures"
    AUDIT_PAGE = "zuora.audit_page"


class InvalidValueError(Exception):
    """A button value that is stale (older version) or forged (does not validate)."""


class ButtonValue(BaseModel):
    """Base of button values: compact JSON with a version field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = VALUE_VERSION

    def encode(self) -> str:
        """Compact JSON for a Block Kit `value` (at most 2,000 characters)."""
        text = self.model_dump_json(exclude_defaults=False)
        if len(text) > 2000:
            raise ValueError(f"button value too long ({len(text)} chars)")
        return text


class CardRef(ButtonValue):
    """Identifies a failures card: account, fixed window (epoch seconds), page and kind filter."""

    a: AccountId  # account id (32 hex)
    n: str = Field(max_length=64)  # account number, for messages
    s: int  # window start, epoch seconds UTC
    e: int  # window end, epoch seconds UTC
    w: str = Field(max_length=8)  # window label as typed, e.g. "24h"
    p: int = Field(default=0, ge=0, le=1000)  # page

    @property
    def start(self) -> datetime:
        """Window start as aware UTC."""
        return datetime.fromtimestamp(self.s, UTC)

    @property
    def end(self) -> datetime:
        """Window end as aware UTC."""
        return datetime.fromtimestamp(self.e, UTC)


class ResendRef(ButtonValue):
    """Names the history ids one button resends, and the card they came from."""

    k: Literal["email", "callout"]
    ids: list[HistoryId] = Field(min_length=1, max_length=MAX_IDS_PER_VALUE)
    card: CardRef | None = None
    lb: str | None = Field(default=None, max_length=120)  # label of a single id, for the outcome


class ResendAllRef(ButtonValue):
    """'Resend all N': the card's fixed window, re-read at click time, and the count shown."""

    card: CardRef
    count: int = Field(ge=0)


class CalloutRef(ButtonValue):
    """One callout row: enough to find it again for details or resend."""

    card: CardRef
    i: HistoryId | None = None  # history id, when known
    t: int  # createTime, epoch seconds
    ev: str | None = Field(default=None, max_length=64)  # <Event.ID>


class AuditPageRef(ButtonValue):
    """A page of the audit card, optionally for one account."""

    account: str | None = Field(default=None, max_length=64)
    offset: int = Field(ge=0)


V = TypeVar("V", bound=ButtonValue)


def decode_value(raw: str | None, model: type[V]) -> V:
    """Parse a button value back into its model, or raise InvalidValueError."""
    if not raw:
        raise InvalidValueError("empty value")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidValueError("not JSON") from exc
    if not isinstance(data, dict):
        raise InvalidValueError("not an object")
    if data.get("v") != VALUE_VERSION:
        raise InvalidValueError(f"unsupported version {data.get('v')!r}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidValueError(f"invalid {model.__name__}") from exc


_OPTION = re.compile(rf"^(email|callout):({HISTORY_ID_PATTERN})$")


def option_value(kind: Literal["email", "callout"], history_id: str) -> str:
    """A checkbox option's value: `email:<id>` or `callout:<id>`."""
    return f"{kind}:{history_id}"


def parse_option_value(raw: str) -> tuple[Literal["email", "callout"], str]:
    """Split a checkbox option value, or raise InvalidValueError."""
    match = _OPTION.match(raw)
    if not match:
        raise InvalidValueError("bad option value")
    kind: Literal["email", "callout"] = "email" if match.group(1) == "email" else "callout"
    return kind, match.group(2)
