"""The daily digest's runs: post the due digests once a day, and preview one.

`run_due_digests` is what the clock calls every minute (and `zuora-ops digest --dry-run` once): it claims
each due subscription for its local day in the store (so a digest is posted once per day whatever the
number of clocks), scans Zuora once for all of them, builds each message (bot.digest.cards) from the
counts (bot.digest.summary), and posts paced through bot.digest.posting, which keeps a crash from posting
twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfoNotFoundError

from slack_sdk import WebClient

from bot.core.lease import LeaseKeeper, Wait
from bot.digest.cards import build_all_clear, build_digest
from bot.digest.posting import DigestMemory, DigestPoster, DigestRunResult, RunKey
from bot.digest.schedule import is_due, local_date_for
from bot.digest.settings import DigestSettings
from bot.digest.subscriptions import digest_label
from bot.digest.summary import DigestDelta, DigestSummary, compare, restrict, summarize
from bot.outages.muted import muted_cause_lines
from bot.slack.io import ChannelPacer
from bot.slack.message import BlockLimitError, SlackMessage
from bot.store import DigestKind, StoreError, Subscription
from bot.store.database import Store
from bot.zuora.errors import ZuoraError
from bot.zuora.guard import is_object_id
from bot.zuora.models import Account, CalloutHistory, EmailHistory, TimeWindow
from bot.zuora.settings import ZuoraSettings
from bot.zuora.track import new_track_id

logger = logging.getLogger(__name__)

DIGEST_LENGTH = timedelta(hours=24)
DIGEST_LABEL = "24h"
# A run's lease is renewed this many times per lease length while the digest is built and posted.
LEASE_RENEWALS = 4


class DigestSource(Protocol):
    """Tenant-wide failure scans and account look-ups (NotificationService passes them to the client)."""

    def iter_failed_callouts(
        self, window: TimeWindow, *, track_id: str
    ) -> Iterator[CalloutHistory]: ...

    def iter_failed_emails(
        self, window: TimeWindow, *, track_id: str
    ) -> Iterator[EmailHistory]: ...

    def get_account(self, key: str, *, track_id: str) -> Account: ...


class DigestConfig(Protocol):
    """The settings a digest run reads: the digest area's, and Zuora's (its UI address, for links)."""

    @property
    def digest(self) -> DigestSettings: ...

    @property
    def zuora(self) -> ZuoraSettings: ...


class DigestDeps(Protocol):
    """The collaborators a digest run uses: its settings, the failure source, the store and Slack."""

    @property
    def settings(self) -> DigestConfig: ...

    @property
    def service(self) -> DigestSource: ...

    @property
    def store(self) -> Store: ...

    @property
    def slack(self) -> WebClient: ...


Filter = tuple[frozenset[str], DigestKind]


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
    `clock` gives the time for lease renewals and post records (default: the wall clock); `beat_wait` is
    the lease keeper's wait between renewals (tests inject it).
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
        dry = DigestPoster(deps.store, deps.slack, "", clock, None)
        return _run_claimed(deps, due, now, dry, sleep=sleep)
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
    keeper = _keeper(deps.store, owner, lease, clock, beat_wait)
    keeper.hold((sub.id, local_date_for(sub, now)) for sub in todo)
    posting = DigestPoster(deps.store, deps.slack, owner, clock, keeper)
    with keeper:
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


def _keeper(
    store: Store,
    owner: str,
    lease: timedelta,
    clock: Callable[[], datetime],
    wait: Wait | None,
) -> LeaseKeeper[RunKey]:
    """Keeps `owner`'s digest runs leased while they are built and posted; a store hiccup is retried."""

    def renew(runs: frozenset[RunKey]) -> set[RunKey]:
        return store.renew_digest_runs(runs, owner=owner, now=clock())

    return LeaseKeeper(
        renew, every=lease / LEASE_RENEWALS, what="digest runs", errors=(StoreError,), wait=wait
    )


def _run_claimed(
    deps: DigestDeps,
    todo: Sequence[Subscription],
    now: datetime,
    posting: DigestPoster,
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
    posting: DigestPoster,
) -> DigestRunResult:
    """Build one subscription's message and post it (unless quiet and empty, or a dry run)."""
    local_date = local_date_for(sub, now)
    summary = digest.summary
    if summary.is_empty and sub.quiet:
        return DigestRunResult(sub, local_date, "skipped")
    try:
        if summary.is_empty:
            message = build_all_clear(digest_label(sub), summary.window)
        else:
            message = build_digest(
                summary,
                digest.delta,
                subscription_label=digest_label(sub),
                ui_url=deps.settings.zuora.ui_url,
                top_n=deps.settings.digest.top_accounts,
                muted=muted_cause_lines(deps.store, sub.team_id, now),
            )
    except BlockLimitError as exc:  # a builder bug; never post a message Slack would refuse
        logger.exception("digest #%d could not be built", sub.id)
        return DigestRunResult(sub, local_date, "failed", error=f"message too large: {exc}")
    return posting.post(sub, local_date, message, pacer)


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


# --- the dry run as text -----------------------------------------------------------------------


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
