"""Stable action ids and the small, versioned values our buttons carry.

Old messages keep their buttons forever, so action ids never change meaning and every value carries a
version. A value that does not validate when it comes back is stale or forged: the click changes nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal, Protocol, TypeVar
from urllib.parse import quote, unquote

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bot.core.patterns import HISTORY_ID_PATTERN

VALUE_VERSION: Literal[1] = 1
MAX_IDS_PER_VALUE = 40
MAX_VALUE_CHARS = 2000  # Slack's limit on a button value (slack-platform.md)
MAX_OPTION_VALUE_CHARS = 150  # Slack's limit on an option value

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
    ROW_MENU = "zuora.row_menu"
    REFRESH = "zuora.refresh"
    PAGE = "zuora.page"
    OPEN_LINK = "zuora.open_link"
    OPEN_FAILURES = "zuora.open_failures"
    AUDIT_PAGE = "zuora.audit_page"
    OUTAGE_REPLAY = "zuora.outage_replay"
    OUTAGE_REPLAY_ANYWAY = "zuora.outage_replay_anyway"  # the same replay, of a cause still failing
    OUTAGE_PAGE = "zuora.outage_page"
    RESEND_AGAIN = "zuora.resend_again"
    ALERT_MUTE = "zuora.alert_mute"
    ALERT_UNMUTE = "zuora.alert_unmute"
    WATCH_ACCOUNT = "zuora.watch_account"
    HOME_OPEN_FAILURES = "zuora.home_open_failures"
    HOME_OPEN_ALERT = "zuora.home_open_alert"
    SHORTCUT_PICK = "zuora.shortcut_pick"


class InvalidValueError(Exception):
    """A button value that is stale (older version) or forged (does not validate)."""


class ButtonValue(BaseModel):
    """Base of button values: compact JSON with a version field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = VALUE_VERSION

    def encode(self) -> str:
        """Compact JSON for a Block Kit `value` (at most 2,000 characters)."""
        text = self.model_dump_json(exclude_defaults=False)
        if len(text) > MAX_VALUE_CHARS:
            raise ValueError(f"button value too long ({len(text)} chars)")
        return text


class _Epochs(Protocol):
    @property
    def s(self) -> int: ...

    @property
    def e(self) -> int: ...


class EpochWindow:
    """Window start and end as aware UTC, for button values carrying them as epoch seconds `s`, `e`."""

    @property
    def start(self: _Epochs) -> datetime:
        """Window start as aware UTC."""
        return datetime.fromtimestamp(self.s, UTC)

    @property
    def end(self: _Epochs) -> datetime:
        """Window end as aware UTC."""
        return datetime.fromtimestamp(self.e, UTC)


class CardRef(EpochWindow, ButtonValue):
    """Identifies a failures card: account, fixed window (epoch seconds), page and kind filter."""

    a: AccountId  # account id (32 hex)
    n: str = Field(max_length=64)  # account number, for messages
    s: int  # window start, epoch seconds UTC
    e: int  # window end, epoch seconds UTC
    w: str = Field(max_length=8)  # window label as typed, e.g. "24h"
    p: int = Field(default=0, ge=0, le=1000)  # page


class ResendRef(ButtonValue):
    """Names the history ids one button resends, and the card they came from."""

    k: Literal["email", "callout"]
    ids: list[HistoryId] = Field(min_length=1, max_length=MAX_IDS_PER_VALUE)
    card: CardRef | None = None
    lb: str | None = Field(default=None, max_length=120)  # label of a single id, for the outcome


class ResendAgainRef(ButtonValue):
    """ "Resend again" on an "already resent" notice: the ids, and the newest claim it was shown.

    `t` (epoch microseconds) lets the deliberate attempt take over only claims made at or before
    what the clicker saw: two people pressing it on two notices resend once.
    """

    k: Literal["email", "callout"]
    ids: list[HistoryId] = Field(min_length=1, max_length=MAX_IDS_PER_VALUE)
    t: int = Field(ge=0)

    @property
    def shown_until(self) -> datetime:
        """The newest claim time the notice showed, as aware UTC (exact to the microsecond)."""
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=self.t)

    @staticmethod
    def micros(moment: datetime) -> int:
        """An aware datetime as epoch microseconds (exact)."""
        return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


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


class OutageRef(EpochWindow, ButtonValue):
    """One cause on an outages card (or alert): its id, the scan's fixed window, the count shown."""

    c: str = Field(pattern=r"^[a-z2-7]{10}$")  # Cause.id (bot.outages.causes)
    s: int  # window start, epoch seconds UTC
    e: int  # window end, epoch seconds UTC
    w: str = Field(max_length=8)  # window label as typed, e.g. "24h"
    n: int = Field(default=0, ge=0)  # failures the card showed for this cause
    p: int = Field(default=0, ge=0, le=1000)  # page of the outages card


class MuteRef(ButtonValue):
    """A spike alert's mute choice (or Unmute): its incident, cause and for how long."""

    i: int = Field(ge=1)  # the alert incident's id (bot.store.AlertIncident)
    c: str = Field(pattern=r"^[a-z2-7]{10}$")  # Cause.id (bot.outages.causes)
    d: Literal["1h", "24h", "rec", "off"]  # 1 hour, 24 hours, until recovered, or unmute


class AuditPageRef(ButtonValue):
    """A page of the audit card, optionally for one account."""

    account: str | None = Field(default=None, max_length=64)
    offset: int = Field(ge=0)


V = TypeVar("V", bound=ButtonValue)


def decode_value(raw: str | None, model: type[V]) -> V:
    """Parse a button value back into its model, or raise InvalidValueError."""
    if not raw:
        raise InvalidValueError("empty value")
    if len(raw) > MAX_VALUE_CHARS:  # Slack's own limit on a button value: refuse it unread
        raise InvalidValueError(f"value too long ({len(raw)} chars)")
    if model is CardRef and raw.startswith(f"{ROW_FORMAT}."):
        card: V = decode_card_value(raw)  # type: ignore[assignment]
        return card
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


# `e:`/`c:` since the 20-row card (every character counts); older cards send `email:`/`callout:`.
_OPTION = re.compile(rf"^(email|callout|e|c):({HISTORY_ID_PATTERN})$")


def option_value(kind: Literal["email", "callout"], history_id: str) -> str:
    """A checkbox option's value: `e:<id>` for an email, `c:<id>` for a callout."""
    return f"{kind[0]}:{history_id}"


def parse_option_value(raw: str) -> tuple[Literal["email", "callout"], str]:
    """Split a checkbox option value (either spelling), or raise InvalidValueError."""
    match = _OPTION.match(raw) if len(raw) <= MAX_OPTION_VALUE_CHARS else None
    if not match:
        raise InvalidValueError("bad option value")
    kind: Literal["email", "callout"] = "email" if match.group(1)[0] == "e" else "callout"
    return kind, match.group(2)


# --- compact row references ---------------------------------------------------------------------
#
# A failures card has up to 20 rows, each with its own action, inside Slack's ~12,000-character
# budget, and an overflow option's value may hold only 150 characters. So a row's action carries a
# short dotted value, and the card it belongs to rides once in the row section's block_id (which
# Slack sends back with every click on the row, up to 255 characters):
#
#   value    z1.r.<e|c>.<history id>[.<label>]   resend one email / callout (label: for the outcome)
#            z1.d.<createTime base36>[.<event id>] a callout's details
#            z1.o                                  "Open in Zuora" (a link; the click is only acked)
#   block_id z1.<e|c><row>.<account id>.<start base36>.<end base36>.<page>.<label%>[.<number%>]
#   value    z1.k.<account id>.<start base36>.<end base36>.<page>.<label%>.<number%>
#            (a card's own buttons: Refresh, Resend selected, paging; `decode_value` reads it
#            as a CardRef, like the JSON older cards carry)
#
# `z1` is the format version: a later format gets `z2` and this one stays readable. Ids never hold a
# dot; the window label and account number are percent-encoded (dots too). Today's cards leave the
# number out (the account is read by id). Anything that does not parse is stale or forged.

ROW_FORMAT = "z1"
MAX_ROW_VALUE_CHARS = 150
MAX_BLOCK_ID_CHARS = 255
ROW_LABEL_CHARS = 60
RowVerb = Literal["resend", "details", "open"]
_KIND_CODES: dict[str, Literal["email", "callout"]] = {"e": "email", "c": "callout"}
_ID = re.compile(rf"^{HISTORY_ID_PATTERN}$")
_EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BASE36 = re.compile(r"^[0-9a-z]{1,10}$")
_CARD = (
    r"(?P<a>[^.]+)\.(?P<s>[^.]+)\.(?P<e>[^.]+)\.(?P<p>[0-9]{1,4})\.(?P<w>[^.]*)(?:\.(?P<n>[^.]*))?"
)
_ROW_BLOCK = re.compile(rf"^{ROW_FORMAT}\.(?P<kind>[ec])(?P<row>[0-9]{{1,5}})\.{_CARD}$")
_CARD_VALUE = re.compile(rf"^{ROW_FORMAT}\.k\.{_CARD}$")


@dataclass(frozen=True)
class RowAction:
    """What one row control asks for: resend one id, show a callout's details, or open Zuora."""

    verb: RowVerb
    kind: Literal["email", "callout"] = "callout"
    history_id: str | None = None  # resend: the id
    label: str | None = None  # resend: a short human label for the outcome (raw text)
    created: int | None = None  # details: the callout's createTime, epoch seconds
    event_id: str | None = None  # details: <Event.ID>, when short and plain

    def encode(self) -> str:
        """The compact value (at most 150 characters; the label is cut to make room)."""
        if self.verb == "open":
            return f"{ROW_FORMAT}.o"
        if self.verb == "details":
            if self.created is None or self.created < 0:
                raise ValueError("details need the callout's createTime")
            event = f".{self.event_id}" if self.event_id and _EVENT_ID.match(self.event_id) else ""
            return f"{ROW_FORMAT}.d.{_to_base36(self.created)}{event}"
        if self.history_id is None or not _ID.match(self.history_id):
            raise ValueError("resend needs a valid history id")
        head = f"{ROW_FORMAT}.r.{self.kind[0]}.{self.history_id}"
        label = " ".join((self.label or "").split())[:ROW_LABEL_CHARS]
        room = MAX_ROW_VALUE_CHARS - len(head) - 1
        return f"{head}.{label[:room]}" if label and room > 0 else head


def decode_row_action(raw: object) -> RowAction:
    """Parse a row control's compact value, or raise InvalidValueError."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_ROW_VALUE_CHARS:
        raise InvalidValueError("not a row value")
    version, _, rest = raw.partition(".")
    if version != ROW_FORMAT:
        raise InvalidValueError(f"unsupported row value version {version[:8]!r}")
    verb, _, rest = rest.partition(".")
    if verb == "o" and not rest:
        return RowAction(verb="open")
    if verb == "d":
        created, _, event_id = rest.partition(".")
        if not _BASE36.match(created) or (event_id and not _EVENT_ID.match(event_id)):
            raise InvalidValueError("bad details value")
        return RowAction(verb="details", created=int(created, 36), event_id=event_id or None)
    if verb == "r":
        code, _, rest = rest.partition(".")
        history_id, _, label = rest.partition(".")
        if code not in _KIND_CODES or not _ID.match(history_id):
            raise InvalidValueError("bad resend value")
        return RowAction(
            verb="resend", kind=_KIND_CODES[code], history_id=history_id, label=label or None
        )
    raise InvalidValueError("unknown row verb")


def row_block_id(card: CardRef, kind: Literal["email", "callout"], row: int) -> str:
    """The block_id of row `row` (1-based) of a card: unique on the card, and it carries the card."""
    # The account number is left out: the handler reads the account by id (the number only named
    # it when Zuora could not be asked), and 20 rows would spend ~200 characters on it.
    return f"{ROW_FORMAT}.{kind[0]}{row}.{_card_fields(card, number=False)}"


def decode_row_block_id(raw: object) -> CardRef:
    """The card a row's block_id carries, or raise InvalidValueError."""
    if not isinstance(raw, str) or len(raw) > MAX_BLOCK_ID_CHARS:
        raise InvalidValueError("not a row block id")
    return _card_from(_ROW_BLOCK.match(raw))


def card_value(card: CardRef) -> str:
    """A card's reference as a compact button value (about half its JSON)."""
    return f"{ROW_FORMAT}.k.{_card_fields(card, number=True)}"


def decode_card_value(raw: str) -> CardRef:
    """The card a compact card value names, or raise InvalidValueError."""
    return _card_from(_CARD_VALUE.match(raw) if len(raw) <= MAX_VALUE_CHARS else None)


def _card_fields(card: CardRef, *, number: bool) -> str:
    fields = f"{card.a}.{_to_base36(card.s)}.{_to_base36(card.e)}.{card.p}.{_quoted(card.w)}"
    return f"{fields}.{_quoted(card.n)}" if number else fields


def _card_from(match: re.Match[str] | None) -> CardRef:
    if match is None or not (_BASE36.match(match["s"]) and _BASE36.match(match["e"])):
        raise InvalidValueError("bad card reference")
    try:
        return CardRef(
            a=match["a"],
            n=unquote(match["n"] or "", errors="strict"),
            s=int(match["s"], 36),
            e=int(match["e"], 36),
            w=unquote(match["w"], errors="strict"),
            p=int(match["p"]),
        )
    except (ValidationError, UnicodeDecodeError) as exc:
        raise InvalidValueError("invalid card reference") from exc


def _to_base36(number: int) -> str:
    if number < 0:
        raise ValueError("epoch seconds before 1970 are not expected")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text


def _quoted(text: str) -> str:
    return quote(text, safe="").replace(".", "%2E")
