"""The digest's counts: fold a tenant's failed callouts and emails into per-account counts in one pass.

`summarize` keeps no records: memory grows with accounts times distinct (event, code) pairs, and every
counter is capped. `restrict` cuts one tenant-wide summary into the part a subscription sees, and
`compare` sets it against the day before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Self

from bot.outages.affected import AccountTally
from bot.store import DigestKind
from bot.zuora.models import CalloutHistory, EmailHistory, TimeWindow

# Each counter keeps at most this many distinct keys; the rest are counted under OTHER_KEY, so a tenant
# with a million distinct error texts still costs a few kilobytes per account.
MAX_KEYS_PER_COUNTER = 20
MAX_KEY_CHARS = 80
OTHER_KEY = "(other)"
NO_RESPONSE = "no response"
NO_ERROR_MESSAGE = "no error message"

Counts = tuple[tuple[str, int], ...]

_SMTP_REPLY = re.compile(r"^\s*([245]\d\d)(?:[\s-]+([245]\.\d{1,3}\.\d{1,3}))?\b")
_ENHANCED_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_ERROR_HEAD = re.compile(r"[:;(\[\n]")


@dataclass(frozen=True, kw_only=True)
class FailureCounts:
    """Failed callouts and emails of one account (or of no account), broken down for the digest."""

    callouts: int = 0
    emails: int = 0
    callout_events: Counts = ()  # event name -> failed callouts, most first
    email_events: Counts = ()  # event name -> failed emails, most first
    response_codes: Counts = ()  # callout response code -> count
    email_errors: Counts = ()  # mail error class such as "550 5.1.1" -> count
    last_callout_at: datetime | None = None
    last_email_at: datetime | None = None

    @property
    def failures(self) -> int:
        """Callouts plus emails."""
        return self.callouts + self.emails

    @property
    def events(self) -> Counts:
        """Failures by event name over both kinds, most first."""
        merged: dict[str, int] = {}
        for name, count in (*self.callout_events, *self.email_events):
            merged[name] = merged.get(name, 0) + count
        return _ranked(merged)

    @property
    def last_failure_at(self) -> datetime | None:
        """The newest failure of either kind."""
        times = [t for t in (self.last_callout_at, self.last_email_at) if t is not None]
        return max(times) if times else None

    def only(self, kind: DigestKind) -> Self:
        """The same counts with the other kind removed ('all' keeps both)."""
        if kind == "callouts":
            return replace(self, emails=0, email_events=(), email_errors=(), last_email_at=None)
        if kind == "emails":
            return replace(
                self, callouts=0, callout_events=(), response_codes=(), last_callout_at=None
            )
        return self


@dataclass(frozen=True, kw_only=True)
class AccountDigest(FailureCounts):
    """One account's failures; id or number may be unknown (callouts carry either, emails the id)."""

    account_id: str | None = None
    account_number: str | None = None
    account_name: str | None = None

    @property
    def key(self) -> str:
        """The best identifier we have: the id, else the number."""
        return self.account_id or self.account_number or "?"

    def matches(self, accounts: frozenset[str]) -> bool:
        """Whether this account is one of `accounts` (ids or numbers, case-insensitive)."""
        keys = {_fold(account) for account in accounts}
        return any(
            value is not None and _fold(value) in keys
            for value in (self.account_id, self.account_number)
        )


@dataclass(frozen=True)
class DigestSummary:
    """A window's failures: totals, accounts most-failing first, and events that belong to no account."""

    window: TimeWindow
    kind: DigestKind
    account_filter: frozenset[str]
    total_callouts: int
    total_emails: int
    accounts: tuple[AccountDigest, ...]
    tenant: FailureCounts = field(default_factory=FailureCounts)
    outside_window: int = 0  # records the scan returned outside the window (ignored)

    @property
    def total(self) -> int:
        """Every failure counted."""
        return self.total_callouts + self.total_emails

    @property
    def is_empty(self) -> bool:
        """Nothing failed."""
        return self.total == 0

    @property
    def affected(self) -> AccountTally:
        """The accounts these failures touched, counted as every card counts them (bot.outages.affected).

        Each entry of `accounts` is one account already (its id and number joined the same way);
        the failures with no account are the tenant's.
        """
        tally = AccountTally()
        for account in self.accounts:
            tally.add(account.account_id, account.account_number)
        tally.without_account = self.tenant.failures
        return tally


@dataclass(frozen=True)
class DigestDelta:
    """Today's totals against the window before: the earlier counts and the change (+ up, - down)."""

    callouts_before: int
    emails_before: int
    callouts_change: int
    emails_change: int

    @property
    def total_change(self) -> int:
        """Change in all failures."""
        return self.callouts_change + self.emails_change


def summarize(
    callouts: Iterable[CalloutHistory],
    emails: Iterable[EmailHistory],
    *,
    window: TimeWindow,
    accounts: frozenset[str] = frozenset(),
    kind: DigestKind = "all",
) -> DigestSummary:
    """Fold failures into a DigestSummary in one pass; a kind not asked for is not read at all."""
    tally = _Tally(window)
    if kind in ("callouts", "all"):
        for callout in callouts:
            tally.add_callout(callout)
    if kind in ("emails", "all"):
        for email in emails:
            tally.add_email(email)
    return restrict(tally.summary(kind), accounts=accounts, kind=kind)


def restrict(
    summary: DigestSummary, *, accounts: frozenset[str] = frozenset(), kind: DigestKind = "all"
) -> DigestSummary:
    """The part of a summary one subscription sees: its kind, and its accounts (none: every account)."""
    if kind != summary.kind and summary.kind != "all":
        raise ValueError(f"a {summary.kind} summary has no {kind}")
    if summary.account_filter and accounts != summary.account_filter:
        raise ValueError("restrict an unfiltered summary")
    kept = [
        account.only(kind)
        for account in summary.accounts
        if not accounts or account.matches(accounts)
    ]
    kept_accounts = tuple(sorted((account for account in kept if account.failures), key=_rank))
    tenant = FailureCounts() if accounts else summary.tenant.only(kind)
    return DigestSummary(
        window=summary.window,
        kind=kind,
        account_filter=accounts,
        total_callouts=sum(a.callouts for a in kept_accounts) + tenant.callouts,
        total_emails=sum(a.emails for a in kept_accounts) + tenant.emails,
        accounts=kept_accounts,
        tenant=tenant,
        outside_window=summary.outside_window,
    )


def compare(today: DigestSummary, yesterday: DigestSummary) -> DigestDelta:
    """How today's totals changed against the day before (same kind and accounts)."""
    if (today.kind, today.account_filter) != (yesterday.kind, yesterday.account_filter):
        raise ValueError("compare summaries of the same kind and accounts")
    return DigestDelta(
        callouts_before=yesterday.total_callouts,
        emails_before=yesterday.total_emails,
        callouts_change=today.total_callouts - yesterday.total_callouts,
        emails_change=today.total_emails - yesterday.total_emails,
    )


def error_class(message: str | None) -> str:
    """A mail error's class: its SMTP reply ("550 5.1.1"), else its status code, else its first words."""
    text = (message or "").strip()
    if not text:
        return NO_ERROR_MESSAGE
    reply = _SMTP_REPLY.match(text)
    if reply:
        return f"{reply.group(1)} {reply.group(2)}" if reply.group(2) else reply.group(1)
    status = _ENHANCED_STATUS.search(text)
    if status:
        return status.group(1)
    # The words before any detail (addresses, ids) usually name the failure: "Invalid email address".
    head = _ERROR_HEAD.split(text, maxsplit=1)[0]
    words = [word for word in head.split() if word.isalpha()][:5]
    return " ".join(words)[:MAX_KEY_CHARS] if words else OTHER_KEY


class _Counter:
    """Counts by key, keeping at most MAX_KEYS_PER_COUNTER distinct keys (the rest under OTHER_KEY)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, key: str, count: int = 1) -> None:
        key = key[:MAX_KEY_CHARS]
        if key not in self.counts and len(self.counts) >= MAX_KEYS_PER_COUNTER:
            key = OTHER_KEY
        self.counts[key] = self.counts.get(key, 0) + count

    def merge(self, other: _Counter) -> None:
        for key, count in other.counts.items():
            self.add(key, count)


class _Stats:
    """The mutable counts of one account while the scan runs."""

    __slots__ = (
        "account_id",
        "account_number",
        "account_name",
        "callouts",
        "emails",
        "callout_events",
        "email_events",
        "response_codes",
        "email_errors",
        "last_callout_at",
        "last_email_at",
    )

    def __init__(self, account_id: str | None = None, account_number: str | None = None) -> None:
        self.account_id = account_id
        self.account_number = account_number
        self.account_name: str | None = None
        self.callouts = 0
        self.emails = 0
        self.callout_events = _Counter()
        self.email_events = _Counter()
        self.response_codes = _Counter()
        self.email_errors = _Counter()
        self.last_callout_at: datetime | None = None
        self.last_email_at: datetime | None = None

    def add_callout(self, callout: CalloutHistory) -> None:
        self.callouts += 1
        self.callout_events.add(callout.event_name)
        self.response_codes.add(callout.response_code or NO_RESPONSE)
        self.last_callout_at = _later(self.last_callout_at, callout.create_time)
        name = callout.account_name
        if name:
            self.account_name = name[: MAX_KEY_CHARS * 4]

    def add_email(self, email: EmailHistory) -> None:
        self.emails += 1
        self.email_events.add(email.event_name)
        self.email_errors.add(error_class(email.error_message))
        self.last_email_at = _later(self.last_email_at, email.send_time)

    def absorb(self, other: _Stats) -> None:
        """Add another entry's counts (a number-only entry whose id turned up later)."""
        self.account_number = self.account_number or other.account_number
        self.account_name = self.account_name or other.account_name
        self.callouts += other.callouts
        self.emails += other.emails
        self.callout_events.merge(other.callout_events)
        self.email_events.merge(other.email_events)
        self.response_codes.merge(other.response_codes)
        self.email_errors.merge(other.email_errors)
        self.last_callout_at = _later(self.last_callout_at, other.last_callout_at)
        self.last_email_at = _later(self.last_email_at, other.last_email_at)

    def counts(self) -> dict[str, Any]:
        return {
            "callouts": self.callouts,
            "emails": self.emails,
            "callout_events": _ranked(self.callout_events.counts),
            "email_events": _ranked(self.email_events.counts),
            "response_codes": _ranked(self.response_codes.counts),
            "email_errors": _ranked(self.email_errors.counts),
            "last_callout_at": self.last_callout_at,
            "last_email_at": self.last_email_at,
        }


class _Tally:
    """Streams records into per-account stats, joining an account's id and number when both appear."""

    def __init__(self, window: TimeWindow) -> None:
        self.window = window
        self.by_id: dict[str, _Stats] = {}
        self.by_number: dict[str, _Stats] = {}  # accounts seen only by number so far
        self.id_of_number: dict[str, str] = {}
        self.tenant = _Stats()
        self.outside = 0

    def add_callout(self, callout: CalloutHistory) -> None:
        if not self._inside(callout.create_time):
            return
        self._stats(callout.account_id, callout.account_number).add_callout(callout)

    def add_email(self, email: EmailHistory) -> None:
        if not self._inside(email.send_time):
            return
        self._stats(email.account_id, None).add_email(email)

    def _inside(self, at: datetime) -> bool:
        if self.window.start <= at < self.window.end:
            return True
        self.outside += 1
        return False

    def _stats(self, account_id: str | None, number: str | None) -> _Stats:
        if account_id:
            key = _fold(account_id)
            stats = self.by_id.get(key)
            if stats is None:
                stats = self.by_id[key] = _Stats(account_id=account_id)
            if number:
                self._learn(_fold(number), number, key, stats)
            return stats
        if number:
            folded = _fold(number)
            known = self.id_of_number.get(folded)
            if known is not None:
                return self.by_id[known]
            stats = self.by_number.get(folded)
            if stats is None:
                stats = self.by_number[folded] = _Stats(account_number=number)
            return stats
        return self.tenant

    def _learn(self, folded: str, number: str, id_key: str, stats: _Stats) -> None:
        if folded in self.id_of_number:
            return
        self.id_of_number[folded] = id_key
        stats.account_number = stats.account_number or number
        orphan = self.by_number.pop(folded, None)
        if orphan is not None:
            stats.absorb(orphan)

    def summary(self, kind: DigestKind) -> DigestSummary:
        accounts = tuple(
            sorted(
                (
                    AccountDigest(
                        account_id=stats.account_id,
                        account_number=stats.account_number,
                        account_name=stats.account_name,
                        **stats.counts(),
                    )
                    for stats in (*self.by_id.values(), *self.by_number.values())
                ),
                key=_rank,
            )
        )
        tenant = FailureCounts(**self.tenant.counts())
        return DigestSummary(
            window=self.window,
            kind=kind,
            account_filter=frozenset(),
            total_callouts=sum(a.callouts for a in accounts) + tenant.callouts,
            total_emails=sum(a.emails for a in accounts) + tenant.emails,
            accounts=accounts,
            tenant=tenant,
            outside_window=self.outside,
        )


def _rank(account: AccountDigest) -> tuple[int, float, str]:
    last = account.last_failure_at
    return (-account.failures, -(last.timestamp() if last else 0.0), _fold(account.key))


def _ranked(counts: dict[str, int]) -> Counts:
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _fold(value: str) -> str:
    return value.strip().casefold()
