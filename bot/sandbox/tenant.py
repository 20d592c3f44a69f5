"""Data model and deterministic generators for a fake Zuora tenant (accounts, callouts, emails).

Records keep their times as aware UTC datetimes; the wire helpers render them in the tenant's zone the
way Zuora does (``yyyy-MM-ddTHH:mm:ss``, no zone). Per-record memory is kept small (slotted dataclasses,
shared strings, event context rendered on demand) so a benchmark tenant can hold 100,000+ records.
"""

from __future__ import annotations

import json
import logging
import random
import re
from bisect import insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "America/Los_Angeles"
WIRE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

#: Event category codes and names from zuora-api.md ("Event category codes").
EVENT_CATEGORIES: dict[int, str] = {
    1110: "Invoice Posted",
    1140: "Invoice Due",
    1210: "Subscription Created",
    1220: "Upcoming Renewal",
    1310: "Amendment Processed",
    1410: "Bill Run Completion",
    2110: "Payment Declined",
    2120: "Payment Processed",
    2210: "Payment Method Expiration",
    2410: "Payment Refund Processed",
}
#: A custom event category (``namespace:Name``) some callouts use instead of a numeric code.
CUSTOM_EVENT_CATEGORY = "user.notification:UsageThresholdReached"
#: The tenant-level event: its callouts carry no account merge fields.
TENANT_EVENT_CATEGORY = 1410

_NOTIFICATION_NAMES: dict[int | str, str] = {
    1110: "Invoice Posted",
    1140: "Invoice Due Reminder",
    1210: "New Subscription Created",
    1220: "Upcoming Renewal Notice",
    1310: "Amendment Processed",
    1410: "Bill Run Completed",
    2110: "Payment Declined",
    2120: "Payment Receipt",
    2210: "Payment Method Expiring",
    2410: "Refund Processed",
    CUSTOM_EVENT_CATEGORY: "Usage Threshold Alert",
}
_URL_PATHS: dict[int | str, str] = {
    1110: "invoice",
    1140: "invoice-due",
    1210: "sub",
    1220: "renewal",
    1310: "amendment",
    1410: "billrun",
    2110: "payment-declined",
    2120: "payment",
    2210: "payment-method",
    2410: "refund",
    CUSTOM_EVENT_CATEGORY: "usage",
}
# Categories an account-level callout or email is drawn from, with rough real-world weights.
_ACCOUNT_CATEGORIES: tuple[int, ...] = (1110, 1140, 1210, 1220, 1310, 2110, 2120, 2210, 2410)
_ACCOUNT_CATEGORY_CUM: tuple[int, ...] = tuple(accumulate((30, 10, 12, 6, 5, 14, 12, 6, 5)))

_COMPANY_STEMS: tuple[str, ...] = (
    "Acme",
    "Globex",
    "Initech",
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Wingtip",
    "Litware",
    "Adatum",
    "Proseware",
    "Lucerne",
    "Blue Yonder",
    "Coho Vineyard",
    "Woodgrove",
    "Humongous",
    "Alpine Ski",
    "Fourth Coffee",
    "Wide World",
    "Trey Research",
    "Relecloud",
    "Munson's Pickles",
    "Southridge",
    "Margie's Travel",
)
_COMPANY_SUFFIXES: tuple[str, ...] = (
    "Corp",
    "Inc.",
    "LLC",
    "Ltd",
    "GmbH",
    "Holdings",
    "Labs",
    "Group",
    "Systems",
    "Partners",
)
#: Account names that try to break Slack mrkdwn; build_tenant puts them on accounts 3, 4, 5 and 6.
HOSTILE_ACCOUNT_NAMES: tuple[str, ...] = (
    "<!channel> Urgent Billing Co",
    "Click <https://evil.example|here> Ltd",
    "Smith & Sons <Holdings> *Inc*",
    "_Ünïcödé_ ~Trading~ `GmbH` <@U024BE7LH>",
)

# Interned response bodies, one per failure kind, so records share them.
_RESPONSE_CONTENT: dict[int, str] = {
    400: '{"error":"bad_request","message":"Missing required field accountNumber"}',
    404: "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>",
    405: '{"message":"Method Not Allowed"}',
    500: '{"error":"internal_error","trace":"java.lang.NullPointerException at Hook.handle"}',
    502: "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>",
    503: "upstream connect error or disconnect/reset before headers. reset reason: overflow",
    -1: "java.net.SocketTimeoutException: Read timed out",
    200: '{"status":"error","message":"invalid payload: unknown event"}',
}
_SUCCESS_CONTENT = '{"ok":true}'
_FAILED_CODES: tuple[int, ...] = (400, 404, 405, 500, 502, 503, -1, 200)
_FAILED_CODE_CUM: tuple[int, ...] = tuple(accumulate((12, 14, 10, 22, 14, 16, 10, 2)))

_EMAIL_ERRORS: tuple[str, ...] = (
    "550 5.1.1 <{to}>: Recipient address rejected: User unknown in virtual mailbox table",
    "452 4.2.2 <{to}>: Mailbox full",
    "554 5.7.1 Message rejected as spam",
    "421 4.4.2 mx.{domain}: Connection timed out",
    "550 5.7.26 Unauthenticated email from vendor.example is not accepted due to DMARC policy",
    "553 5.1.3 Invalid recipient address <{to}>",
)
_EMAIL_ERROR_CUM: tuple[int, ...] = tuple(accumulate((35, 20, 15, 10, 10, 10)))
_EMAIL_ERROR_KINDS: tuple[int, ...] = tuple(range(len(_EMAIL_ERRORS)))

FROM_EMAIL = "no-reply@vendor.example"
REPLY_TO = "support@vendor.example"
_SLUG_RE = re.compile(r"[^a-z0-9]+")


class ContextStyle(IntEnum):
    """How a callout's eventContext is shaped on the wire."""

    ACCOUNT = 0  # object with <Account.ID>, <Account.Number>, <Account.Name>
    ACCOUNT_ID_CASE = 1  # object with <Account.Id> (odd casing some tenants use)
    BILLING_ACCOUNT = 2  # object with <BillingAccount.ID>, <BillingAccount.Name>
    JSON_STRING = 3  # like ACCOUNT but serialised as a JSON string
    NO_ACCOUNT = 4  # tenant-level event: no account keys at all


@dataclass(frozen=True, slots=True)
class ResendFailure:
    """The per-id entry Zuora puts in a resend response map for an id it did not resend."""

    code: str
    message: str

    def to_wire(self) -> dict[str, str]:
        """The ``{"code", "message"}`` object of the resend response map."""
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class FailAgain:
    """How a resent notification fails again when it is delivered anew (bot.sandbox.redelivery).

    ``message`` is an email's bounce (``{to}`` is replaced by the address) or a callout's response
    body; ``response_code`` a callout's response (None: the email kind, or no response, -1).
    """

    message: str
    response_code: int | None = None


EMAIL_NOT_FOUND = ResendFailure("ObjectNotFound", "Email history does not exist.")
CALLOUT_NOT_FOUND = ResendFailure("ObjectNotFound", "Callout history does not exist.")


@dataclass(slots=True)
class FakeAccount:
    """A customer account as GET /v1/accounts/{key} describes it."""

    id: str
    number: str
    name: str
    status: str = "Active"
    currency: str = "USD"
    bill_to_email: str = ""
    slug: str = "customer"
    bill_cycle_day: int = 1
    history_id: str = ""

    def to_wire(self) -> dict[str, Any]:
        """The account response body (basicInfo, billingAndPayment, metrics, billToContact)."""
        return {
            "basicInfo": {
                "id": self.id,
                "name": self.name,
                "accountNumber": self.number,
                "notes": None,
                "status": self.status,
                "crmId": None,
                "batch": "Batch1",
                "invoiceTemplateId": None,
                "communicationProfileId": None,
                "salesRep": None,
                "tags": None,
                "Region__c": "NA",
            },
            "billingAndPayment": {
                "billCycleDay": self.bill_cycle_day,
                "currency": self.currency,
                "paymentTerm": "Net 30",
                "paymentGateway": "Default Gateway",
                "invoiceDeliveryPrefsPrint": False,
                "invoiceDeliveryPrefsEmail": True,
                "additionalEmailAddresses": [],
            },
            "metrics": {"balance": 0, "totalInvoiceBalance": 0, "creditBalance": 0},
            "billToContact": {"workEmail": self.bill_to_email, "country": "United States"},
            "success": True,
        }


@dataclass(slots=True)
class FakeCallout:
    """One callout notification history record plus its hidden Data Query fields.

    The wire eventContext is rendered from ``account``, ``event_id``, ``object_id`` and
    ``context_style`` so a record costs a few hundred bytes; ``context_override`` replaces it
    entirely for hand-made records.
    """

    id: str
    create_time: datetime
    event_category: int | str
    notification: str
    request_url: str
    response_code: int | str
    attempted_num: int | str
    response_content: str
    event_id: str
    object_id: str
    account: FakeAccount | None = None
    context_style: ContextStyle = ContextStyle.ACCOUNT
    request_method: str = "POST"
    failed: bool = True
    context_override: dict[str, Any] | str | None = None

    @property
    def account_id(self) -> str | None:
        """The owning account's 32-hex id, or None for tenant-level events."""
        if self.account is None or self.context_style is ContextStyle.NO_ACCOUNT:
            return None
        return self.account.id

    def event_context(self, zone: ZoneInfo) -> dict[str, Any] | str:
        """The eventContext merge fields as Zuora sends them (object, or JSON string)."""
        if self.context_override is not None:
            return self.context_override
        event_time = self.create_time - timedelta(milliseconds=int(self.id[-3:], 16) % 4000 + 40)
        ctx: dict[str, Any] = {}
        acct = self.account
        style = self.context_style
        if acct is not None and style is not ContextStyle.NO_ACCOUNT:
            if style is ContextStyle.BILLING_ACCOUNT:
                ctx["<BillingAccount.ID>"] = acct.id
                ctx["<BillingAccount.Name>"] = acct.name
            elif style is ContextStyle.ACCOUNT_ID_CASE:
                ctx["<Account.Id>"] = acct.id
                ctx["<Account.Number>"] = acct.number
                ctx["<Account.Name>"] = acct.name
            else:
                ctx["<Account.ID>"] = acct.id
                ctx["<Account.Number>"] = acct.number
                ctx["<Account.Name>"] = acct.name
        category_name = _category_name(self.event_category)
        ctx["<Event.Category>"] = category_name.replace(" ", "")
        ctx["<Event.ID>"] = self.event_id
        ctx["<Event.Timestamp>"] = format_event_timestamp(event_time, zone)
        ctx["<Object.ID>"] = self.object_id
        if self.event_category == TENANT_EVENT_CATEGORY:
            ctx["<BillRun.Number>"] = f"BR-{int(self.object_id[-5:], 16) % 100000:08d}"
        if self.id[-1] == "0":
            ctx["<Notification>"] = {"Name": self.notification, "Id": self.object_id[::-1]}
        if style is ContextStyle.JSON_STRING:
            return json.dumps(ctx, ensure_ascii=False)
        return ctx

    def to_wire(
        self, zone: ZoneInfo, *, include_response_content: bool = False, include_id: bool = False
    ) -> dict[str, Any]:
        """The record as GET /v1/notification-history/callout lists it."""
        out: dict[str, Any] = {}
        if include_id:
            out["id"] = self.id
        out["attemptedNum"] = self.attempted_num
        out["createTime"] = format_wire_time(self.create_time, zone)
        out["eventCategory"] = self.event_category
        out["eventContext"] = self.event_context(zone)
        out["notification"] = self.notification
        out["requestMethod"] = self.request_method
        out["requestUrl"] = self.request_url
        out["responseCode"] = self.response_code
        if include_response_content:
            out["responseContent"] = self.response_content
        return out


@dataclass(slots=True)
class FakeEmail:
    """One email notification history record plus its hidden id."""

    id: str
    send_time: datetime
    account_id: str
    event_category: int | str
    notification: str
    to_email: str
    subject: str
    error_message: str | None
    result: str = "Failed"
    cc: str | None = None
    bcc: str | None = None
    from_email: str = FROM_EMAIL
    reply_to: str = REPLY_TO
    object_id: str = ""

    @property
    def failed(self) -> bool:
        """True unless the mail server accepted the message."""
        return self.result != "OK"

    def to_wire(self, zone: ZoneInfo, *, include_id: bool = False) -> dict[str, Any]:
        """The record as GET /v1/notification-history/email lists it."""
        out: dict[str, Any] = {}
        if include_id:
            out["id"] = self.id
        out["accountId"] = self.account_id
        out["bcc"] = self.bcc
        out["cc"] = self.cc
        out["errorMessage"] = self.error_message
        out["eventCategory"] = self.event_category
        out["fromEmail"] = self.from_email
        out["notification"] = self.notification
        out["replyTo"] = self.reply_to
        out["result"] = self.result
        out["sendTime"] = format_wire_time(self.send_time, zone)
        out["subject"] = self.subject
        out["toEmail"] = self.to_email
        return out


def _callout_time(record: FakeCallout) -> datetime:
    return record.create_time


def _email_time(record: FakeEmail) -> datetime:
    return record.send_time


@dataclass
class Tenant:
    """A whole fake tenant: accounts and callout/email histories sorted by time (oldest first)."""

    now: datetime
    accounts: list[FakeAccount] = field(default_factory=list)
    callouts: list[FakeCallout] = field(default_factory=list)
    emails: list[FakeEmail] = field(default_factory=list)
    timezone: str = DEFAULT_TIMEZONE
    rest_ids: bool = True
    resend_failures: dict[str, ResendFailure] = field(default_factory=dict)
    big_account_id: str | None = None
    #: Sandbox time between an accepted resend and its new history record (bot.sandbox.redelivery).
    redelivery_delay: timedelta = timedelta(seconds=5)
    #: Who fails again when resent: an address, "@domain" or URL prefix -> how (else delivered).
    fails_again: dict[str, FailAgain] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("Tenant.now must be timezone-aware")
        self.now = self.now.astimezone(UTC)
        ZoneInfo(self.timezone)  # fail fast on an unknown zone name
        self.sort()

    def fails_again_for(self, target: str | None) -> FailAgain | None:
        """How a resend to this address or URL fails again, or None when it is delivered."""
        if not target:
            return None
        for key, again in self.fails_again.items():
            if target == key or (key.startswith("@") and target.endswith(key)):
                return again
            if "://" in key and target.startswith(key):
                return again
        return None

    @property
    def zone(self) -> ZoneInfo:
        """The tenant's time zone (zone-less wire times are in it)."""
        return ZoneInfo(self.timezone)

    def sort(self) -> None:
        """Restore the oldest-first order after records were appended by hand."""
        self.callouts.sort(key=_callout_time)
        self.emails.sort(key=_email_time)

    def add_callout(self, record: FakeCallout) -> None:
        """Insert one callout keeping time order (a FakeZuora needs reindex() afterwards)."""
        insort(self.callouts, record, key=_callout_time)

    def add_email(self, record: FakeEmail) -> None:
        """Insert one email keeping time order (a FakeZuora needs reindex() afterwards)."""
        insort(self.emails, record, key=_email_time)

    def account(self, key: str) -> FakeAccount | None:
        """The account whose number or 32-hex id is ``key``."""
        for acct in self.accounts:
            if key in (acct.number, acct.id):
                return acct
        return None

    @property
    def big_account(self) -> FakeAccount | None:
        """The account generated with more failed emails than fit in a few pages."""
        return self.account(self.big_account_id) if self.big_account_id else None

    def callouts_for(self, account_id: str) -> list[FakeCallout]:
        """Callouts whose context names this account (oldest first)."""
        return [c for c in self.callouts if c.account_id == account_id]

    def emails_for(self, account_id: str) -> list[FakeEmail]:
        """Emails sent for this account (oldest first)."""
        return [e for e in self.emails if e.account_id == account_id]

    def to_local(self, moment: datetime) -> str:
        """Render an aware datetime as a tenant-local wire time."""
        return format_wire_time(moment, self.zone)

    def from_local(self, text: str) -> datetime:
        """Parse a tenant-local wire time into an aware UTC datetime."""
        return parse_wire_time(text, self.zone)


def format_wire_time(moment: datetime, zone: ZoneInfo) -> str:
    """``yyyy-MM-ddTHH:mm:ss`` in ``zone``, no offset or fraction, like Zuora's history lists."""
    return moment.astimezone(zone).strftime(WIRE_TIME_FORMAT)


def parse_wire_time(text: str, zone: ZoneInfo) -> datetime:
    """Parse ``yyyy-MM-ddTHH:mm:ss`` as a time in ``zone`` and return it as aware UTC.

    Raises ValueError for anything else (no offsets, no fractions: Zuora rejects them too).
    """
    naive = datetime.strptime(text, WIRE_TIME_FORMAT)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def format_event_timestamp(moment: datetime, zone: ZoneInfo) -> str:
    """``<Event.Timestamp>`` style: tenant-local, milliseconds and a ``-0700`` offset."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond // 1000:03d}{local:%z}"


def _category_name(category: int | str) -> str:
    if isinstance(category, int):
        return EVENT_CATEGORIES.get(category, str(category))
    if category.isdigit():
        return EVENT_CATEGORIES.get(int(category), category)
    return category.rsplit(":", 1)[-1]


def _hex_id(rng: random.Random, *, as_uuid: bool = False) -> str:
    """A Zuora-looking 32-hex id, or the 36-character UUID form tenants can opt into."""
    text = f"8a{rng.getrandbits(120):030x}"
    if as_uuid:
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text


class _Generator:
    """Deterministic record factory shared by build_tenant and build_bulk_tenant."""

    def __init__(
        self, rng: random.Random, now: datetime, days: int, *, uuid_ids: bool = False
    ) -> None:
        self.rng = rng
        self.uuid_ids = uuid_ids
        self.now = now.astimezone(UTC).replace(microsecond=0)
        self.days = days
        self.start = self.now - timedelta(days=days)
        self.span = max(1, int((self.now - self.start).total_seconds()))
        self._urls: dict[tuple[str, int | str, bool], str] = {}
        self._errors: dict[tuple[str, int], str] = {}
        self._secrets: dict[str, str] = {}
        self._names: set[str] = set()

    def times(self, count: int) -> list[datetime]:
        """``count`` whole-second UTC times in [now - days, now), sorted."""
        rng, start = self.rng, self.start
        offsets = sorted(rng.randrange(self.span) for _ in range(count))
        return [start + timedelta(seconds=o) for o in offsets]

    def account(self, index: int, name: str | None = None) -> FakeAccount:
        """The account numbered A{index+1:08d}."""
        rng = self.rng
        stem = _COMPANY_STEMS[rng.randrange(len(_COMPANY_STEMS))]
        for _ in range(8):  # prefer unique names while the stem x suffix space lasts
            suffix = _COMPANY_SUFFIXES[rng.randrange(len(_COMPANY_SUFFIXES))]
            if f"{stem} {suffix}" not in self._names:
                break
            stem = _COMPANY_STEMS[rng.randrange(len(_COMPANY_STEMS))]
        if index == 0:
            stem, suffix = "Acme", "Corp"
        if name is None:
            name = f"{stem} {suffix}"
        self._names.add(name)
        slug = _SLUG_RE.sub("", stem.lower()) + (str(index) if index >= len(_COMPANY_STEMS) else "")
        status = "Active"
        roll = rng.random()
        if roll < 0.06:
            status = "Canceled"
        elif roll < 0.09:
            status = "Draft"
        return FakeAccount(
            id=_hex_id(rng, as_uuid=self.uuid_ids),
            number=f"A{index + 1:08d}",
            name=name,
            status=status,
            currency=("USD", "USD", "USD", "EUR", "GBP")[rng.randrange(5)],
            bill_to_email=f"billing@{slug}.example",
            slug=slug,
            bill_cycle_day=rng.randrange(1, 29),
            history_id=_hex_id(rng, as_uuid=self.uuid_ids),
        )

    def _url(self, account: FakeAccount | None, category: int | str, secret: bool) -> str:
        slug = account.slug if account is not None else "vendor"
        key = (slug, category, secret)
        url = self._urls.get(key)
        if url is None:
            url = f"https://hooks.{slug}.example/zuora/{_URL_PATHS.get(category, 'event')}"
            if secret:
                token = self._secrets.get(slug)
                if token is None:
                    token = self._secrets[slug] = f"whsec_{self.rng.getrandbits(96):024x}"
                url += f"?token={token}"
            self._urls[key] = url
        return url

    def callout(
        self, at: datetime, account: FakeAccount | None, *, failed: bool = True
    ) -> FakeCallout:
        """One callout history record for ``account`` (None: a tenant-level event)."""
        rng = self.rng
        category: int | str
        if account is None:
            category = TENANT_EVENT_CATEGORY
            style = ContextStyle.NO_ACCOUNT
        else:
            roll = rng.random()
            if roll < 0.02:
                category = CUSTOM_EVENT_CATEGORY
            else:
                category = rng.choices(_ACCOUNT_CATEGORIES, cum_weights=_ACCOUNT_CATEGORY_CUM)[0]
            roll = rng.random()
            if roll < 0.10:
                style = ContextStyle.JSON_STRING
            elif roll < 0.18:
                style = ContextStyle.BILLING_ACCOUNT
            elif roll < 0.21:
                style = ContextStyle.ACCOUNT_ID_CASE
            else:
                style = ContextStyle.ACCOUNT
        code: int | str
        attempted: int | str
        if failed:
            code = rng.choices(_FAILED_CODES, cum_weights=_FAILED_CODE_CUM)[0]
            content = _RESPONSE_CONTENT[code]
            attempted = (3, 3, 3, 3, 5, 1)[rng.randrange(6)]
        else:
            code = (200, 200, 201, 204)[rng.randrange(4)]
            content = _SUCCESS_CONTENT
            attempted = 1
        if rng.random() < 0.15:
            code = str(code)
        if rng.random() < 0.15:
            attempted = str(attempted)
        return FakeCallout(
            id=_hex_id(rng, as_uuid=self.uuid_ids),
            create_time=at,
            event_category=category,
            notification=_NOTIFICATION_NAMES[category],
            request_url=self._url(account, category, rng.random() < 0.05),
            response_code=code,
            attempted_num=attempted,
            response_content=content,
            event_id=_hex_id(rng, as_uuid=self.uuid_ids),
            object_id=_hex_id(rng, as_uuid=self.uuid_ids),
            account=account,
            context_style=style,
            request_method="PUT" if rng.random() < 0.08 else "POST",
            failed=failed,
        )

    def _error(self, account: FakeAccount, kind: int) -> str:
        key = (account.id, kind)
        text = self._errors.get(key)
        if text is None:
            domain = f"{account.slug}.example"
            text = _EMAIL_ERRORS[kind].format(to=account.bill_to_email, domain=domain)
            self._errors[key] = text
        return text

    def email(self, at: datetime, account: FakeAccount, *, failed: bool = True) -> FakeEmail:
        """One email history record for ``account``."""
        rng = self.rng
        category = rng.choices(_ACCOUNT_CATEGORIES, cum_weights=_ACCOUNT_CATEGORY_CUM)[0]
        serial = rng.randrange(1, 99_999_999)
        subject = _subject(category, serial, account, rng)
        error: str | None = None
        if failed:
            kind = rng.choices(_EMAIL_ERROR_KINDS, cum_weights=_EMAIL_ERROR_CUM)[0]
            error = self._error(account, kind)
        roll = rng.random()
        cc = f"ar@{account.slug}.example,finance@{account.slug}.example" if roll < 0.2 else None
        bcc = "audit@vendor.example" if roll > 0.95 else None
        return FakeEmail(
            id=_hex_id(rng, as_uuid=self.uuid_ids),
            send_time=at,
            account_id=account.id,
            event_category=category,
            notification=_NOTIFICATION_NAMES[category],
            to_email=account.bill_to_email,
            subject=subject,
            error_message=error,
            result="Failed" if failed else "OK",
            cc=cc,
            bcc=bcc,
            object_id=_hex_id(rng, as_uuid=self.uuid_ids),
        )


def _subject(category: int, serial: int, account: FakeAccount, rng: random.Random) -> str:
    if category == 1110:
        return f"Invoice INV{serial:08d} is available"
    if category == 1140:
        return f"Reminder: invoice INV{serial:08d} is due"
    if category == 1210:
        return f"Welcome {account.name}! Subscription A-S{serial:08d} is active"
    if category == 1220:
        return f"Your subscription A-S{serial:08d} renews in 30 days"
    if category == 1310:
        return f"Subscription A-S{serial:08d} has been updated"
    if category == 2110:
        return f"Payment of ${rng.randrange(100, 999_999) / 100:.2f} was declined"
    if category == 2120:
        return f"Receipt for payment P-{serial:08d}"
    if category == 2210:
        return "Your payment method is about to expire"
    return f"Refund R-{serial:08d} has been processed"


def _pick_resend_failures(
    rng: random.Random, ids: list[str], failures: Iterable[ResendFailure]
) -> dict[str, ResendFailure]:
    chosen = rng.sample(ids, min(len(ids), 3)) if ids else []
    return dict(zip(chosen, failures, strict=False))


def build_tenant(
    *,
    seed: int,
    now: datetime,
    accounts: int = 20,
    days: int = 7,
    callouts_per_day: int = 60,
    emails_per_day: int = 40,
    big_account_emails: int = 120,
    rest_ids: bool = True,
    timezone: str = DEFAULT_TIMEZONE,
    uuid_ids: bool = False,
    outage: bool = False,
) -> Tenant:
    """A believable, deterministic tenant (same arguments -> same data) for tests and the demo.

    With ``outage`` the tenant also has a realistic outage (`add_outage`), added after every other
    record so the rest of the data is exactly what it is without it.

    Features tests rely on: A00000001 is the big account with more than ``big_account_emails`` failed
    emails; accounts A00000003..A00000006 carry HOSTILE_ACCOUNT_NAMES; about 5% of callouts are
    tenant events without account keys; about 10% carry eventContext as a JSON string; a few
    successful records exist (so failedOnly=false differs); three callout and three email ids are
    configured to fail on resend (``Tenant.resend_failures``). ``uuid_ids`` gives every object
    the 36-character UUID form of its id (a Zuora tenant option).
    """
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rng = random.Random(seed)
    gen = _Generator(rng, now, days, uuid_ids=uuid_ids)
    accts: list[FakeAccount] = []
    for i in range(accounts):
        hostile_index = i - 2
        name = None
        if 0 <= hostile_index < len(HOSTILE_ACCOUNT_NAMES):
            name = HOSTILE_ACCOUNT_NAMES[hostile_index]
        acct = gen.account(i, name)
        if i == 0:
            acct.status = "Active"
        accts.append(acct)
    big = accts[0]

    n_callouts = callouts_per_day * days
    callouts: list[FakeCallout] = []
    for k, at in enumerate(gen.times(n_callouts + max(2, n_callouts // 10))):
        failed = k % 11 != 5  # about one in eleven is a success
        roll = rng.random()
        owner: FakeAccount | None
        if roll < 0.05:
            owner = None
        elif roll < 0.2:
            owner = big
        else:
            owner = accts[rng.randrange(len(accts))]
        callouts.append(gen.callout(at, owner, failed=failed))
    # Guarantee the features tests look for, whatever the sizes.
    if callouts:
        callouts[0].account = None
        callouts[0].context_style = ContextStyle.NO_ACCOUNT
        callouts[0].event_category = TENANT_EVENT_CATEGORY
        callouts[0].notification = _NOTIFICATION_NAMES[TENANT_EVENT_CATEGORY]
        callouts[-1].context_style = ContextStyle.JSON_STRING
        callouts[-1].account = callouts[-1].account or big
        failed_callouts = [c for c in callouts if c.failed]
        if failed_callouts:
            failed_callouts[len(failed_callouts) // 2].response_content = (
                "<html><body>" + "x" * 61_400 + "</body></html>"
            )[: 60 * 1024]

    n_emails = emails_per_day * days
    emails: list[FakeEmail] = []
    for k, at in enumerate(gen.times(n_emails + max(2, n_emails // 10))):
        owner_e = accts[rng.randrange(len(accts))] if len(accts) > 1 else big
        if owner_e is big and len(accts) > 1:
            owner_e = accts[1 + rng.randrange(len(accts) - 1)]
        emails.append(gen.email(at, owner_e, failed=k % 11 != 5))
    for at in gen.times(big_account_emails + 8):
        emails.append(gen.email(at, big, failed=True))
    emails.sort(key=_email_time)

    failures: dict[str, ResendFailure] = {}
    failures.update(
        _pick_resend_failures(
            rng,
            [c.id for c in callouts if c.failed],
            (
                CALLOUT_NOT_FOUND,
                ResendFailure("InvalidValue", "The notification definition is inactive."),
                ResendFailure("ResendLimitExceeded", "This callout was already resent 10 times."),
            ),
        )
    )
    failures.update(
        _pick_resend_failures(
            rng,
            [e.id for e in emails if e.failed],
            (
                EMAIL_NOT_FOUND,
                ResendFailure("InvalidValue", "The notification definition is inactive."),
                ResendFailure("TemplateNotFound", "The email template no longer exists."),
            ),
        )
    )
    tenant = Tenant(
        now=gen.now,
        accounts=accts,
        callouts=callouts,
        emails=emails,
        timezone=timezone,
        rest_ids=rest_ids,
        resend_failures=failures,
        big_account_id=big.id,
    )
    if outage:
        add_outage(tenant, gen)
    return tenant


OUTAGE_ACCOUNTS = 30
OUTAGE_ENDPOINT = "https://hooks.ledgerlink.example/zuora/v2/accounts/{number}/events"
OUTAGE_CONTENT = "connect ECONNREFUSED 203.0.113.40:443"
OUTAGE_HOURS = (7, 5)  # the endpoint is down from 7 h to 5 h before the tenant's now
BOUNCE_DOMAIN = "northwind-billing.example"
BOUNCE_ERROR = (
    "550 5.1.1 <{to}>... User unknown"  # sendmail's words; the card shows "550 5.1.1 user unknown"
)
BOUNCE_ACCOUNTS = 6
BOUNCE_HOURS = 20  # every mail to the domain bounces since 20 h before now
BOUNCE_LAST_AGO = timedelta(minutes=2)  # ...and still does: its last bounce is this recent
RECOVERED_AFTER = timedelta(minutes=12)  # the endpoint's first success after it came back up
RECOVERED_DELIVERIES = 4  # successes to the endpoint since, 40 minutes apart


def add_outage(tenant: Tenant, gen: _Generator) -> None:
    """One webhook endpoint down for two hours across 30 accounts, and one bouncing mail domain.

    The endpoint is a shared integration (one URL per account number, which the outages card folds
    into one endpoint); it refuses connections (no response) for every callout of the two hours.
    The mail domain answers 550 5.1.1 user unknown for every address at it, for six accounts.
    Accounts are the tenant's own (not the big account) and, when it has fewer than 30, new ones.
    """
    rng = gen.rng
    accounts = [a for a in tenant.accounts if a.id != tenant.big_account_id]
    while len(accounts) < OUTAGE_ACCOUNTS:
        extra = gen.account(len(tenant.accounts))
        tenant.accounts.append(extra)
        accounts.append(extra)
    down_from = gen.now - timedelta(hours=OUTAGE_HOURS[0])
    down_for = int(timedelta(hours=OUTAGE_HOURS[0] - OUTAGE_HOURS[1]).total_seconds())
    for account in accounts[:OUTAGE_ACCOUNTS]:
        url = OUTAGE_ENDPOINT.format(number=account.number)
        for _ in range(3 + rng.randrange(6)):
            record = gen.callout(down_from + timedelta(seconds=rng.randrange(down_for)), account)
            record.request_url = url
            record.response_code = -1
            record.response_content = OUTAGE_CONTENT
            record.context_style = ContextStyle.ACCOUNT
            tenant.callouts.append(record)
    bounce_from = gen.now - timedelta(hours=BOUNCE_HOURS)
    bounce_for = int(timedelta(hours=BOUNCE_HOURS).total_seconds())
    for account in accounts[-BOUNCE_ACCOUNTS:]:
        to = f"ap.{account.slug}@{BOUNCE_DOMAIN}"
        for _ in range(2 + rng.randrange(5)):
            email = gen.email(bounce_from + timedelta(seconds=rng.randrange(bounce_for)), account)
            email.to_email = to
            email.cc = None
            email.error_message = BOUNCE_ERROR.format(to=to)
            tenant.emails.append(email)
    add_outage_recovery(tenant, gen, accounts)
    # The domain still bounces: a resend of its mail fails again (bot.sandbox.redelivery).
    tenant.fails_again[f"@{BOUNCE_DOMAIN}"] = FailAgain(BOUNCE_ERROR)
    tenant.sort()


def add_outage_recovery(tenant: Tenant, gen: _Generator, accounts: list[FakeAccount]) -> None:
    """The endpoint is back (deliveries to it succeed from RECOVERED_AFTER after it came back up);
    the mail domain still bounces (one more bounce BOUNCE_LAST_AGO before now).

    Added after every other outage record, so those stay as they were.
    """
    back = gen.now - timedelta(hours=OUTAGE_HOURS[1]) + RECOVERED_AFTER
    for n, account in enumerate(accounts[:RECOVERED_DELIVERIES]):
        record = gen.callout(back + n * timedelta(minutes=40), account, failed=False)
        record.request_url = OUTAGE_ENDPOINT.format(number=account.number)
        record.context_style = ContextStyle.ACCOUNT
        tenant.callouts.append(record)
    account = accounts[-1]
    to = f"ap.{account.slug}@{BOUNCE_DOMAIN}"
    email = gen.email(gen.now - BOUNCE_LAST_AGO, account)
    email.to_email = to
    email.cc = None
    email.error_message = BOUNCE_ERROR.format(to=to)
    tenant.emails.append(email)


def build_bulk_tenant(
    *,
    seed: int,
    now: datetime,
    callouts: int,
    emails: int,
    accounts: int,
    days: int,
    rest_ids: bool = True,
    timezone: str = DEFAULT_TIMEZONE,
) -> Tenant:
    """A large deterministic tenant for benchmarks (100,000+ records in a few seconds).

    Every record is failed except about 1 in 20; 5% of callouts are tenant events; no resend
    failures are configured, so every known id resends.
    """
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rng = random.Random(seed)
    gen = _Generator(rng, now, days)
    accts = [gen.account(i) for i in range(accounts)]
    n_accts = len(accts)
    out_callouts = [
        gen.callout(
            at,
            None if rng.random() < 0.05 else accts[rng.randrange(n_accts)],
            failed=k % 20 != 7,
        )
        for k, at in enumerate(gen.times(callouts))
    ]
    out_emails = [
        gen.email(at, accts[rng.randrange(n_accts)], failed=k % 20 != 7)
        for k, at in enumerate(gen.times(emails))
    ]
    logger.debug("bulk tenant: %d callouts, %d emails", len(out_callouts), len(out_emails))
    return Tenant(
        now=gen.now,
        accounts=accts,
        callouts=out_callouts,
        emails=out_emails,
        timezone=timezone,
        rest_ids=rest_ids,
        big_account_id=accts[0].id,
    )
