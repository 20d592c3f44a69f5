"""Tenant-wide failures grouped by cause: the core of `/zuora outages`, replays and spike alerts.

A cause is what many failures share when one thing broke: for a callout the endpoint (host and path,
with ID-like path segments folded so /orders/123 and /orders/456 are one endpoint) and the response
code, or "no response"; for an email the mail server's error with addresses and numbers taken out
(SMTP code kept). `OutageScan` folds a stream of history records into per-cause counters without
keeping the records, so a 100,000-record scan holds only one small group per cause (plus the resend
IDs a replay needs).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from urllib.parse import urlsplit

from bot.core.secrets_mask import looks_like_token, mask_path_segment
from bot.failures.retry_policy import RetryRule, classify
from bot.outages.affected import AccountTally
from bot.zuora.models import CalloutHistory, EmailHistory, NotificationKind

HOUR = timedelta(hours=1)
NO_RESPONSE_CODES = frozenset({"", "-1", "0"})
MAX_SIGNATURE_CHARS = 200
MAX_DOMAINS = 20  # recipient domains an email cause remembers
CAUSE_MEMO_SIZE = 4096  # distinct URLs / error texts whose cause a scan remembers (they repeat)

_ID_SEGMENT = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{16,}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}|[A-Za-z]{1,4}-?\d{4,})$"
)
#: Mail-server texts and callout URLs are cut to these lengths before any pattern reads them: the
#: cause is decided by their start, and a megabyte of error text costs no more than a line.
MAX_MAIL_ERROR_CHARS = 1000
MAX_URL_CHARS = 2048
# The patterns below stay linear on any text: an address's local part is at most 64 characters
# (RFC 5321) and a hex number is checked by a look-ahead, and neither gives back what it read
# (possessive `+`), where the old forms reread a long run from each of its positions, with
# backtracking (8.5 s on 32k characters).
_SMTP_CODE = re.compile(r"\b([245]\d{2})(?:[ -]+([245]\.\d{1,3}\.\d{1,3}))?\b")
_ADDRESS = re.compile(r"<?[\w.+'-]{1,64}+@[\w-]++(?:\.[\w-]++)++>?")
_BRACKETED = re.compile(r"<[^<>]{1,200}>|\[[^\[\]]{1,200}\]")
_NUMBERS = re.compile(r"\b(?=[a-fA-F]*+\d)[\da-fA-F]++\b")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Cause:
    """What a group of failures shares: its kind and a normalised signature, with a short id."""

    kind: NotificationKind
    signature: str

    @cached_property
    def id(self) -> str:
        """A stable 10-character id for buttons and the CLI (`zuora-ops replay <id>`)."""
        digest = hashlib.sha256(f"{self.kind}\n{self.signature}".encode()).digest()
        return base64.b32encode(digest).decode()[:10].lower()


@dataclass
class CauseGroup:
    """Everything one cause broke in the window: counts, accounts, times and resend IDs."""

    cause: Cause
    label: str  # human words for the cause (raw text: escape before mrkdwn)
    count: int = 0
    accounts: set[str] = field(default_factory=set)  # account ids ("" for tenant events)
    affected: AccountTally = field(
        default_factory=AccountTally
    )  # what the cards count (bot.outages.affected)
    first_at: datetime | None = None
    last_at: datetime | None = None
    hourly: Counter[datetime] = field(default_factory=Counter)  # hour start (UTC) -> failures
    ids: list[str] = field(default_factory=list)  # resend IDs Zuora listed, oldest first
    unresolved: int = 0  # failures listed without an ID (a replay resolves them first)
    # (time, account) of every failure, for counts over any sub-window (spike alerts); one small
    # tuple per failure, like `ids`.
    moments: list[tuple[datetime, str]] = field(default_factory=list)
    retrying: int = 0  # callouts Zuora still retried when scanned (bot.failures.retry_policy)
    invalid_body: int = 0  # callouts Zuora never sent: invalid custom body (-2000)
    # Recipient domains of an email cause's failures (at most MAX_DOMAINS kept): where a recovery
    # check looks for a later success (bot.outages.recovery).
    domains: Counter[str] = field(default_factory=Counter)

    def add(
        self,
        at: datetime,
        account: str | None,
        history_id: str | None,
        *,
        account_id: str | None = None,
        account_number: str | None = None,
    ) -> None:
        """Count one failure of `account` (an id, else a number); a callout also passes the id and
        number its eventContext names, so the affected accounts join them (bot.outages.affected)."""
        self.count += 1
        self.accounts.add(account or "")
        if account_id or account_number:
            self.affected.add(account_id, account_number)
        else:
            self.affected.add(account)
        if self.first_at is None or at < self.first_at:
            self.first_at = at
        if self.last_at is None or at > self.last_at:
            self.last_at = at
        self.hourly[hour_of(at)] += 1
        self.moments.append((at, account or ""))
        if history_id:
            self.ids.append(history_id)
        else:
            self.unresolved += 1

    @property
    def account_count(self) -> int:
        """Accounts affected (bot.outages.affected: failures with no account are not an account)."""
        return self.affected.accounts

    def between(self, start: datetime, end: datetime) -> CauseSlice:
        """This cause's failures with start < time <= end (start exclusive: "after what we saw")."""
        picked = [(at, account) for at, account in self.moments if start < at <= end]
        hourly: Counter[datetime] = Counter(hour_of(at) for at, _ in picked)
        return CauseSlice(
            count=len(picked),
            accounts=frozenset(account for _, account in picked),
            first_at=min((at for at, _ in picked), default=None),
            last_at=max((at for at, _ in picked), default=None),
            hourly=hourly,
        )


@dataclass(frozen=True)
class CauseSlice:
    """One cause's failures within a sub-window of the scan: what a spike alert counts."""

    count: int
    accounts: frozenset[str]
    first_at: datetime | None
    last_at: datetime | None
    hourly: Counter[datetime]


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour `moment` falls in."""
    utc = moment.astimezone(UTC)
    return utc.replace(minute=0, second=0, microsecond=0)


def callout_cause(callout: CalloutHistory) -> tuple[Cause, str]:
    """A callout's cause and its label: endpoint host + path, and the code (or no response)."""
    endpoint = endpoint_of(callout.request_url)
    code = (callout.response_code or "").strip()
    answer = "no response" if code in NO_RESPONSE_CODES else f"HTTP {code}"
    signature = f"{endpoint} {answer}"[:MAX_SIGNATURE_CHARS]
    return Cause("callout", signature), f"{endpoint} → {answer}"


def email_cause(email: EmailHistory) -> tuple[Cause, str]:
    """An email's cause and its label: the mail server's error without addresses and numbers."""
    normalised = normalise_mail_error(email.error_message)
    return Cause("email", normalised[:MAX_SIGNATURE_CHARS]), normalised


def endpoint_of(url: str | None) -> str:
    """`host/path` of a callout URL: no scheme, credentials, query or fragment; IDs folded to `*`.

    Token-like segments fold to `*` too, and matrix parameters (`;jsessionid=…`) keep only their
    names (bot.core.secrets_mask), so a label never carries a credential and sessions share one cause.
    """
    if not url:
        return "(no URL)"
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        # Cut the path, never the host: a cut inside user info could show part of it as a host.
        authority_end = url.find("/", url.find("//") + 2)
        if not 0 < authority_end < MAX_URL_CHARS:
            return "(unreadable URL)"
        url = url[:MAX_URL_CHARS]
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable URL)"
    segments = [s for s in parts.path.split("/") if s]
    folded = [
        "*"
        if _ID_SEGMENT.match(s) or looks_like_token(s.partition(";")[0])
        else mask_path_segment(s)
        for s in segments
    ]
    path = "/" + "/".join(folded) if folded else "/"
    return f"{host}{port}{path}" if host else path


def recipient_domains(addresses: str | None) -> set[str]:
    """The lower-cased domains of a comma- or semicolon-separated address list."""
    found: set[str] = set()
    for part in (addresses or "")[:MAX_MAIL_ERROR_CHARS].replace(";", ",").split(","):
        _, at, domain = part.strip().strip("<>").rpartition("@")
        if at and domain.strip():
            found.add(domain.strip().lower())
    return found


def normalise_mail_error(message: str | None) -> str:
    """'550 5.1.1 <a@b.com>: Recipient address rejected' -> '550 5.1.1 recipient address rejected'."""
    text = _SPACES.sub(" ", (message or "")[:MAX_MAIL_ERROR_CHARS].strip())
    if not text:
        return "no error text from the mail server"
    code = _SMTP_CODE.search(text)
    prefix = " ".join(g for g in (code.groups() if code else ()) if g)
    rest = text[code.end() :] if code else text
    rest = _ADDRESS.sub(" ", rest)
    rest = _BRACKETED.sub(" ", rest)
    rest = _NUMBERS.sub("#", rest)
    rest = _SPACES.sub(" ", rest).strip(" :;,.-").lower()
    return f"{prefix} {rest}".strip() if prefix else (rest or "unreadable error text")


class OutageScan:
    """Folds failed callouts and emails into CauseGroups as they stream past (nothing else kept)."""

    def __init__(self, retry: RetryRule | None = None) -> None:
        self._retry = retry  # counts callouts Zuora still retries per group, when given
        self._groups: dict[Cause, CauseGroup] = {}
        # The same URL + code and the same error text come back thousands of times in an outage:
        # their cause is worked out once (bounded, so unique texts cannot grow it without end).
        self._memo: dict[tuple[str, str | None, str | None], tuple[Cause, str]] = {}
        self.callouts = 0
        self.emails = 0

    def add_callout(self, callout: CalloutHistory) -> None:
        """Count one failed callout under its cause."""
        key = ("callout", callout.request_url, callout.response_code)
        cause, label = self._memo.get(key) or self._remember(key, callout_cause(callout))
        group = self._group(cause, label)
        group.add(
            callout.create_time,
            callout.account_id or callout.account_number,
            callout.id,
            account_id=callout.account_id,
            account_number=callout.account_number,
        )
        if self._retry is not None:
            state = classify(callout, self._retry).kind
            group.retrying += state == "retrying"
            group.invalid_body += state == "invalid_body"
        self.callouts += 1

    def add_email(self, email: EmailHistory) -> None:
        """Count one failed email under its cause."""
        key = ("email", email.error_message, None)
        cause, label = self._memo.get(key) or self._remember(key, email_cause(email))
        group = self._group(cause, label)
        group.add(email.send_time, email.account_id, email.id)
        for domain in recipient_domains(email.to_email):
            if domain in group.domains or len(group.domains) < MAX_DOMAINS:
                group.domains[domain] += 1
        self.emails += 1

    def _remember(
        self, key: tuple[str, str | None, str | None], found: tuple[Cause, str]
    ) -> tuple[Cause, str]:
        if len(self._memo) >= CAUSE_MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = found
        return found

    @property
    def cause_count(self) -> int:
        """How many distinct causes the scan has seen."""
        return len(self._groups)

    def add_all(
        self, callouts: Iterable[CalloutHistory] = (), emails: Iterable[EmailHistory] = ()
    ) -> OutageScan:
        """Consume both streams (one after the other) and return self."""
        for callout in callouts:
            self.add_callout(callout)
        for email in emails:
            self.add_email(email)
        return self

    def _group(self, cause: Cause, label: str) -> CauseGroup:
        group = self._groups.get(cause)
        if group is None:
            group = self._groups[cause] = CauseGroup(cause=cause, label=label)
        return group

    def groups(self) -> list[CauseGroup]:
        """Every cause, biggest first, then newest first, then by id (a stable order)."""
        return sorted(
            self._groups.values(),
            key=lambda g: (
                -g.count,
                -(g.last_at.timestamp() if g.last_at else 0.0),
                g.cause.id,
            ),
        )

    def group(self, cause_id: str) -> CauseGroup | None:
        """The group with this cause id, if the scan saw it."""
        return next((g for g in self._groups.values() if g.cause.id == cause_id), None)


def hourly_series(group: CauseGroup, start: datetime, end: datetime) -> list[int]:
    """Failures per hour from the hour of `start` to the hour of `end` (zeros included)."""
    hour, last = hour_of(start), hour_of(end)
    series: list[int] = []
    while hour <= last:
        series.append(group.hourly.get(hour, 0))
        hour += HOUR
    return series


_BARS = "▁▂▃▄▅▆▇█"


def sparkline(series: list[int], *, width: int = 24) -> str:
    """A text sparkline of at most `width` bars (buckets summed when the series is longer)."""
    if not series:
        return ""
    size = max(1, -(-len(series) // width))
    buckets = [sum(series[i : i + size]) for i in range(0, len(series), size)]
    top = max(buckets)
    if top == 0:
        return _BARS[0] * len(buckets)
    return "".join(
        " " if value == 0 else _BARS[min(len(_BARS) - 1, (value * len(_BARS) - 1) // top)]
        for value in buckets
    )


__all__ = [
    "Cause",
    "CauseGroup",
    "CauseSlice",
    "OutageScan",
    "callout_cause",
    "email_cause",
    "endpoint_of",
    "hour_of",
    "hourly_series",
    "normalise_mail_error",
    "recipient_domains",
    "sparkline",
]
