"""The daily digest: summarise a tenant's failures in one streaming pass, and post due digests once a day.

`summarize` folds failed callouts and emails into per-account counts without keeping records: memory grows
with accounts times distinct (event, code) pairs, and every counter is capped. `run_due_digests` is what the
clock calls every minute: it claims each due subscription for its local day in the store (so a digest is
posted once per day whatever the number of clocks), scans Zuora once for all of them, and posts paced.
`python -m bot.digest.service [--force] [--dry-run]` runs one tick by hand.

Crash safety, per run (subscription, local day) in the store: 'claimed' while the digest is built, with a
lease a heartbeat renews; 'posting' written just before chat.postMessage (the message carries the run's key
in its metadata); then 'posted' with the message ts. A clock that dies while 'claimed' posted nothing: the
run is taken over once its lease lapses and posted then (the same day, while still due). One that dies
while 'posting' may have posted: whoever takes over first looks for the key in the channel's history, and
records the message it finds instead of posting again; if Slack cannot be asked (no history scope, or the
bot is not in the channel), the run ends 'unconfirmed' rather than risk a duplicate.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, Protocol, Self
from zoneinfo import ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.core.lease import Heartbeat, Wait
from bot.digest.cards import build_all_clear, build_digest
from bot.digest.schedule import is_due, local_date_for
from bot.digest.subscriptions import label
from bot.outages.affected import AccountTally
from bot.settings import Settings
from bot.slack.io import ChannelPacer
from bot.slack.message import BlockLimitError, SlackMessage
from bot.slack.post_once import (
    PostCheck,
    digest_key,
    digest_metadata,
    find_posted_digest,
    without_connection_retries,
)
from bot.store import DigestKind, DigestRun, Subscription
from bot.store.database import Store
from bot.zuora.errors import ZuoraError
from bot.zuora.guard import is_object_id
from bot.zuora.models import Account, CalloutHistory, EmailHistory, TimeWindow
from bot.zuora.track import new_track_id

logger = logging.getLogger(__name__)

DIGEST_LENGTH = timedelta(hours=24)
DIGEST_LABEL = "24h"
# Each counter keeps at most this many distinct keys; the rest are counted under OTHER_KEY, so a tenant
# with a million distinct error texts still costs a few kilobytes per account.
MAX_KEYS_PER_COUNTER = 20
MAX_KEY_CHARS = 80
OTHER_KEY = "(other)"
NO_RESPONSE = "no response"
NO_ERROR_MESSAGE = "no error message"

# 'unconfirmed': an interrupted post Slack could not be checked for (final); 'deferred': Slack could not be
# checked this time (left in 'posting' for a later try); 'lost': another clock took the run over.
RunStatus = Literal["posted", "skipped", "failed", "dry_run", "unconfirmed", "deferred", "lost"]
Counts = tuple[tuple[str, int], ...]

_SMTP_REPLY = re.compile(r"^\s*([245]\d\d)(?:[\s-]+([245]\.\d{1,3}\.\d{1,3}))?\b")
_ENHANCED_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_ERROR_HEAD = re.compile(r"[:;(\[\n]")


# --- the summary -------------------------------------------------------------------------------


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


# --- the runner --------------------------------------------------------------------------------


class DigestSource(Protocol):
    """Tenant-wide failure scans and account look-ups (NotificationService passes them to the client)."""

    def iter_failed_callouts(
        self, window: TimeWindow, *, track_id: str
    ) -> Iterator[CalloutHistory]: ...

    def iter_failed_emails(
        self, window: TimeWindow, *, track_id: str
    ) -> Iterator[EmailHistory]: ...

    def get_account(self, key: str, *, track_id: str) -> Account: ...


class DigestDeps(Protocol):
    """The part of bot.deps.Deps the digest uses."""

    @property
    def settings(self) -> Settings: ...

    @property
    def service(self) -> DigestSource: ...

    @property
    def store(self) -> Store: ...

    @property
    def slack(self) -> WebClient: ...


@dataclass(frozen=True)
class DigestRunResult:
    """What one tick did with one subscription's digest."""

    subscription: Subscription
    local_date: date
    status: RunStatus
    message: SlackMessage | None = None  # what was (or, in a dry run, would be) posted
    message_ts: str | None = None
    error: str | None = None


Filter = tuple[frozenset[str], DigestKind]


class DigestMemory:
    """What one clock process remembers between ticks, so it does not re-ask the store or Zuora in vain.

    Runs this process finished ('posted', 'skipped') are not claimed again; a run that failed is retried
    after a growing pause (2, 4, 8 … 60 minutes) instead of rescanning Zuora every minute.
    """

    def __init__(
        self,
        *,
        first_retry: timedelta = timedelta(minutes=2),
        max_retry: timedelta = timedelta(hours=1),
    ) -> None:
        self._first_retry = first_retry
        self._max_retry = max_retry
        self._lock = threading.Lock()
        self._done: set[tuple[int, date]] = set()
        self._failed: dict[tuple[int, date], tuple[int, datetime]] = {}

    def should_try(self, subscription_id: int, local_date: date, now: datetime) -> bool:
        """False for a run finished here, or a failed one still pausing."""
        key = (subscription_id, local_date)
        with self._lock:
            if key in self._done:
                return False
            failed = self._failed.get(key)
            return failed is None or failed[1] <= now

    def record(
        self, subscription_id: int, local_date: date, status: RunStatus, now: datetime
    ) -> None:
        """Remember how a run ended."""
        key = (subscription_id, local_date)
        with self._lock:
            if status in ("posted", "skipped", "unconfirmed"):
                self._done.add(key)
                self._failed.pop(key, None)
            elif status in ("failed", "deferred"):
                attempts = self._failed.get(key, (0, now))[0] + 1
                pause = min(self._first_retry * 2 ** (attempts - 1), self._max_retry)
                self._failed[key] = (attempts, now + pause)
            # Local dates span about a day around UTC; anything two days old can never be due again.
            horizon = now.date() - timedelta(days=2)
            self._done = {k for k in self._done if k[1] >= horizon}
            self._failed = {k: v for k, v in self._failed.items() if k[1] >= horizon}


def run_due_digests(
    deps: DigestDeps,
    now: datetime,
    *,
    force: bool = False,
    dry_run: bool = False,
    owner: str,
    memory: DigestMemory | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] | None = None,
    beat_wait: Wait | None = None,
) -> list[DigestRunResult]:
    """Post every digest that is due and not yet posted today (local); safe to call every minute.

    Each due subscription is claimed for its local date first, so it posts at most once a day across
    threads and processes; Zuora is scanned only when something was claimed, once for all of them.
    `force` treats every subscription as due now (the claim still allows one a day); `dry_run` claims
    and posts nothing and returns the messages. Results list only the subscriptions handled.
    `clock` gives the time for heartbeats and post records (default: the wall clock); `beat_wait` is the
    heartbeat's wait between renewals (tests inject it).
    """
    now = now.astimezone(UTC)
    clock = clock or _utc_now
    subs = deps.store.list_subscriptions()
    due = [sub for sub in subs if sub.active and _due(sub, now, force=force)]
    if memory is not None and not dry_run:
        due = [sub for sub in due if memory.should_try(sub.id, local_date_for(sub, now), now)]
    if dry_run:
        if not due:
            return []
        logger.info("digest tick: %d subscription(s) to handle (dry run)", len(due))
        return _run_claimed(deps, due, now, _Posting(deps, "", clock, None), sleep=sleep)
    lease = timedelta(seconds=deps.settings.digest.claim_lease)
    todo = [
        sub
        for sub in due
        if deps.store.claim_digest_run(
            sub.id, local_date_for(sub, now), owner=owner, now=now, lease=lease
        )
    ]
    if not todo:
        return []
    logger.info("digest tick: %d subscription(s) to handle", len(todo))
    heartbeat = Heartbeat(deps.store, owner=owner, lease=lease, now=clock, wait=beat_wait)
    heartbeat.hold((sub.id, local_date_for(sub, now)) for sub in todo)
    posting = _Posting(deps, owner, clock, heartbeat)
    with heartbeat:
        results: list[DigestRunResult] = []
        fresh: list[Subscription] = []
        for sub in todo:
            recovered = posting.recover(sub, local_date_for(sub, now))
            if recovered is None:
                fresh.append(sub)
            else:
                posting.finish(recovered, now, memory)
                results.append(recovered)
        if fresh:
            results += _run_claimed(deps, fresh, now, posting, sleep=sleep, memory=memory)
    return results


def _run_claimed(
    deps: DigestDeps,
    todo: Sequence[Subscription],
    now: datetime,
    posting: _Posting,
    *,
    sleep: Callable[[float], None],
    memory: DigestMemory | None = None,
) -> list[DigestRunResult]:
    """Scan Zuora once for these claimed subscriptions, then build and post each (paced per channel)."""
    try:
        digests = _summaries(deps, now, {_filter(sub) for sub in todo})
    except ZuoraError as exc:
        logger.warning("digest scan failed; %d digest(s) will be retried: %s", len(todo), exc)
        detail = f"Zuora scan failed: {exc.message}"[:500]
        results = [
            DigestRunResult(sub, local_date_for(sub, now), "failed", error=detail) for sub in todo
        ]
        for result in results:
            posting.finish(result, now, memory)
        return results

    pacer = ChannelPacer(deps.settings.digest.post_interval, sleep=sleep)
    results = []
    for sub in _interleave_channels(todo):
        result = _handle(deps, sub, now, digests[_filter(sub)], pacer=pacer, posting=posting)
        posting.finish(result, now, memory)
        results.append(result)
    return results


def preview_digest(
    deps: DigestDeps,
    now: datetime,
    *,
    accounts: Sequence[str] = (),
    kind: DigestKind = "all",
    label: str = "Preview",
) -> SlackMessage:
    """The digest a subscription with these filters would receive now; claims and posts nothing."""
    wanted: Filter = (frozenset(accounts), kind)
    digest = _summaries(deps, now, {wanted})[wanted]
    return build_digest(
        digest.summary,
        digest.delta,
        subscription_label=label,
        ui_url=deps.settings.zuora.ui_url,
        top_n=deps.settings.digest.top_accounts,
    )


def _due(sub: Subscription, now: datetime, *, force: bool) -> bool:
    try:
        local_date_for(sub, now)  # reads the zone, so a bad one fails here, forced or not
        return force or is_due(sub, now)
    except (ZoneInfoNotFoundError, ValueError):  # one bad row must not stop every digest
        logger.warning("digest #%d has an unusable time zone %r; skipped", sub.id, sub.timezone)
        return False


@dataclass(frozen=True)
class _Digest:
    summary: DigestSummary
    delta: DigestDelta | None


def _filter(sub: Subscription) -> Filter:
    return frozenset(sub.accounts), sub.kind


def _summaries(deps: DigestDeps, now: datetime, filters: set[Filter]) -> dict[Filter, _Digest]:
    """One tenant-wide scan per window (and kind needed), cut into one summary per filter."""
    end = now.replace(second=0, microsecond=0)
    today_window = TimeWindow.ending_at(end, DIGEST_LENGTH, DIGEST_LABEL)
    kinds = {kind for _, kind in filters}
    scan_kind: DigestKind = kinds.pop() if len(kinds) == 1 else "all"
    accounts = _resolve_accounts(deps, filters)
    today = _scan(deps, today_window, scan_kind)
    todays = {f: restrict(today, accounts=accounts[f], kind=f[1]) for f in filters}
    if all(summary.is_empty for summary in todays.values()):
        return {f: _Digest(summary, None) for f, summary in todays.items()}
    before_window = TimeWindow(
        start=today_window.start - DIGEST_LENGTH, end=today_window.start, label=DIGEST_LABEL
    )
    try:
        before = _scan(deps, before_window, scan_kind)
    except ZuoraError as exc:
        # The comparison is a nicety: post today's counts without it rather than nothing.
        logger.warning(
            "digest scan of the day before failed; posting without a comparison: %s", exc
        )
        return {f: _Digest(summary, None) for f, summary in todays.items()}
    return {
        f: _Digest(summary, compare(summary, restrict(before, accounts=accounts[f], kind=f[1])))
        for f, summary in todays.items()
    }


def _resolve_accounts(deps: DigestDeps, filters: set[Filter]) -> dict[Filter, frozenset[str]]:
    """Each filter's accounts plus the ids of those named by number.

    Emails carry only the account id, so a subscription to "A00000001" would miss its emails unless a
    callout in the same scan happened to pair the number with the id; asking Zuora once per tick settles it.
    """
    numbers = sorted({key for keys, _ in filters for key in keys if not is_object_id(key)})
    ids: dict[str, str] = {}
    if numbers:
        track_id = new_track_id("zops", "digest", "accounts")
        for key in numbers:
            try:
                ids[key] = deps.service.get_account(key, track_id=track_id).id
            except ZuoraError as exc:
                logger.warning(
                    "digest: account %r not looked up (%s); matching it by number only", key, exc
                )
    return {f: f[0] | {ids[key] for key in f[0] if key in ids} for f in filters}


def _scan(deps: DigestDeps, window: TimeWindow, kind: DigestKind) -> DigestSummary:
    track_id = new_track_id("zops", "digest")
    started = time.monotonic()
    service = deps.service
    callouts: Iterable[CalloutHistory] = (
        service.iter_failed_callouts(window, track_id=track_id) if kind != "emails" else ()
    )
    emails: Iterable[EmailHistory] = (
        service.iter_failed_emails(window, track_id=track_id) if kind != "callouts" else ()
    )
    summary = summarize(callouts, emails, window=window, kind=kind)
    logger.info(
        "digest scan %s (%s, %s – %s): %d callouts, %d emails, %d accounts in %.1fs",
        track_id,
        kind,
        window.start.isoformat(),
        window.end.isoformat(),
        summary.total_callouts,
        summary.total_emails,
        len(summary.accounts),
        time.monotonic() - started,
    )
    return summary


def _handle(
    deps: DigestDeps,
    sub: Subscription,
    now: datetime,
    digest: _Digest,
    *,
    pacer: ChannelPacer,
    posting: _Posting,
) -> DigestRunResult:
    """Build one subscription's message and post it (unless quiet and empty, or a dry run)."""
    local_date = local_date_for(sub, now)
    summary = digest.summary
    if summary.is_empty and sub.quiet:
        return DigestRunResult(sub, local_date, "skipped")
    try:
        if summary.is_empty:
            message = build_all_clear(label(sub), summary.window)
        else:
            message = build_digest(
                summary,
                digest.delta,
                subscription_label=label(sub),
                ui_url=deps.settings.zuora.ui_url,
                top_n=deps.settings.digest.top_accounts,
            )
    except BlockLimitError as exc:  # a builder bug; never post a message Slack would refuse
        logger.exception("digest #%d could not be built", sub.id)
        return DigestRunResult(sub, local_date, "failed", error=f"message too large: {exc}")
    return posting.post(sub, local_date, message, pacer)


@dataclass
class _Posting:
    """Posts and records one tick's digests for `owner`: the 'posting' mark, the post, the Slack check.

    With no heartbeat (a dry run) nothing is marked or posted: `post` returns the message.
    """

    deps: DigestDeps
    owner: str
    clock: Callable[[], datetime]
    heartbeat: Heartbeat | None
    poster: WebClient | None = None

    def post(
        self, sub: Subscription, local_date: date, message: SlackMessage, pacer: ChannelPacer
    ) -> DigestRunResult:
        """Mark the run 'posting', post with its key in the metadata, and report how it went."""
        if self.heartbeat is None:
            return DigestRunResult(sub, local_date, "dry_run", message=message)
        pacer.wait_turn(sub.channel_id)
        started = self.clock()
        if self.heartbeat.lost((sub.id, local_date)) or not self.deps.store.mark_digest_posting(
            sub.id, local_date, owner=self.owner, now=started
        ):
            return DigestRunResult(sub, local_date, "lost", message=message)
        if self.poster is None:
            self.poster = without_connection_retries(self.deps.slack)
        try:
            response = self.poster.chat_postMessage(
                channel=sub.channel_id,
                text=message.text,
                blocks=message.blocks,
                metadata=digest_metadata(sub.id, local_date),
            )
        except SlackApiError as exc:  # Slack answered and refused: nothing was posted
            reason = str(exc.response.get("error") or "slack_error")
            logger.warning(
                "digest #%d not posted to channel %s: %s", sub.id, sub.channel_id, reason
            )
            return DigestRunResult(sub, local_date, "failed", message=message, error=reason)
        except (SlackClientError, OSError) as exc:  # no answer: the post may have gone through
            logger.warning(
                "digest #%d: no answer from Slack posting to %s (%s); checking the channel",
                sub.id,
                sub.channel_id,
                type(exc).__name__,
            )
            check = self._check(sub, local_date, since=started)
            if check.outcome == "absent":
                return DigestRunResult(
                    sub, local_date, "failed", message=message, error=type(exc).__name__
                )
            return self._from_check(sub, local_date, check, message=message)
        ts = response.get("ts")
        logger.info("digest #%d posted to channel %s (ts %s)", sub.id, sub.channel_id, ts)
        return DigestRunResult(
            sub, local_date, "posted", message=message, message_ts=str(ts) if ts else None
        )

    def recover(self, sub: Subscription, local_date: date) -> DigestRunResult | None:
        """For a run taken over in 'posting': what Slack shows; None when it must (still) be posted."""
        run = self.deps.store.get_digest_run(sub.id, local_date)
        if run is None or run.status != "posting":
            return None
        check = self._check(sub, local_date, since=_posting_since(run))
        if check.outcome == "absent":
            logger.info(
                "digest #%d for %s: interrupted post never reached Slack; posting it now",
                sub.id,
                local_date.isoformat(),
            )
            return None
        return self._from_check(sub, local_date, check)

    def finish(self, result: DigestRunResult, now: datetime, memory: DigestMemory | None) -> None:
        """Record a final outcome in the store (fenced by owner) and in the clock's memory."""
        if self.heartbeat is None:  # a dry run records nothing
            return
        self.heartbeat.release((result.subscription.id, result.local_date))
        if result.status in ("posted", "skipped", "failed", "unconfirmed"):
            self.deps.store.finish_digest_run(
                result.subscription.id,
                result.local_date,
                status=result.status,
                now=now,
                message_ts=result.message_ts,
                detail=result.error,
                owner=self.owner,
            )
        if memory is not None:
            memory.record(result.subscription.id, result.local_date, result.status, now)

    def _check(self, sub: Subscription, local_date: date, *, since: datetime) -> PostCheck:
        return find_posted_digest(
            self.deps.slack,
            sub.channel_id,
            digest_key(sub.id, local_date),
            since=since,
            now=self.clock(),
        )

    def _from_check(
        self,
        sub: Subscription,
        local_date: date,
        check: PostCheck,
        *,
        message: SlackMessage | None = None,
    ) -> DigestRunResult:
        if check.outcome == "found":
            logger.info(
                "digest #%d for %s was already in Slack (ts %s); not posting it again",
                sub.id,
                local_date.isoformat(),
                check.ts,
            )
            return DigestRunResult(
                sub,
                local_date,
                "posted",
                message=message,
                message_ts=check.ts,
                error="found in the channel after an interrupted post",
            )
        if check.transient:
            return DigestRunResult(
                sub,
                local_date,
                "deferred",
                message=message,
                error=f"could not check Slack for an interrupted post: {check.reason}",
            )
        logger.warning(
            "digest #%d for %s: post interrupted and Slack cannot be checked (%s); "
            "not posting again to avoid a duplicate",
            sub.id,
            local_date.isoformat(),
            check.reason,
        )
        return DigestRunResult(
            sub,
            local_date,
            "unconfirmed",
            message=message,
            error=(
                f"post interrupted; Slack could not be checked ({check.reason}), "
                "so it was not posted again"
            ),
        )


def _posting_since(run: DigestRun) -> datetime:
    return run.posting_at or run.claimed_at


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _interleave_channels(subs: Sequence[Subscription]) -> list[Subscription]:
    """Round-robin over channels, so the per-channel pause overlaps posts to other channels."""
    queues: dict[str, list[Subscription]] = {}
    for sub in subs:
        queues.setdefault(sub.channel_id, []).append(sub)
    ordered: list[Subscription] = []
    while queues:
        for channel in list(queues):
            ordered.append(queues[channel].pop(0))
            if not queues[channel]:
                del queues[channel]
    return ordered


# --- command line ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bot.digest.service [--force] [--dry-run]`: one tick by hand; 1 if any channel failed."""
    from bot.deps import build_deps
    from bot.log_config import configure_logging
    from bot.settings import SettingsError

    parser = argparse.ArgumentParser(
        prog="python -m bot.digest.service",
        description="Post the daily Zuora failure digests that are due.",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="treat every subscription as due now (still once a day)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the messages; claim and post nothing"
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.load()
    except SettingsError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    configure_logging(settings.runtime.log_level)
    deps = build_deps(settings)
    try:
        results = run_due_digests(
            deps,
            deps.now(),
            force=args.force,
            dry_run=args.dry_run,
            owner=f"cli:{socket.gethostname()}:{os.getpid()}",
        )
    finally:
        deps.close()
    if args.dry_run:
        sys.stdout.write(render_results(results))  # CLI output, not logging
    problems = ("failed", "unconfirmed", "deferred")
    return 1 if any(result.status in problems for result in results) else 0


def render_results(results: Sequence[DigestRunResult]) -> str:
    """Dry-run results as readable text: one heading per subscription, then its message's lines."""
    if not results:
        return "No digest is due.\n"
    lines: list[str] = []
    for result in results:
        sub = result.subscription
        lines.append(
            f"=== Digest #{sub.id} → {sub.channel_id} ({result.local_date.isoformat()}): "
            f"{result.status}{f' ({result.error})' if result.error else ''}"
        )
        if result.message is not None:
            lines.extend(message_lines(result.message))
        elif result.status == "skipped":
            lines.append("(quiet and nothing failed: nothing would be posted)")
        lines.append("")
    return "\n".join(lines) + "\n"


def message_lines(message: SlackMessage) -> list[str]:
    """The visible text of a message's blocks, one line per line, buttons as [Label]."""
    lines: list[str] = []
    for block in message.blocks:
        kind = block.get("type")
        if kind == "divider":
            lines.append("-" * 40)
            continue
        texts = [block.get("text"), *(block.get("fields") or []), *(block.get("elements") or [])]
        accessory = block.get("accessory")
        for item in texts:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                lines.extend(item["text"].splitlines())
            elif isinstance(item, dict) and item.get("type") == "button":
                lines.append(f"[{item['text']['text']}]")
        if isinstance(accessory, dict) and accessory.get("type") == "button":
            lines.append(f"[{accessory['text']['text']}]")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
