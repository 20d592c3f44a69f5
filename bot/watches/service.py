"""Watching accounts: the commands' work, and the clock's bounded check that DMs watchers of new failures.

A watch remembers the newest failure its user heard of (`last_seen_failure_at`, at first the newest one
when they started watching). Every WATCH_CHECK_INTERVAL the clock scans up to WATCH_ACCOUNTS_PER_CHECK
watched accounts (least recently checked first; one history scan of the last 24 h each, no Data Query)
and DMs each watcher whose account failed after that, at most once an hour: the store's compare-and-set
(`claim_watch_notice`) lets exactly one clock send it. A DM Slack refuses is not retried (the claim
stands); the next new failure after the hour brings the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.core.command_text import UnwatchCommand, WatchCommand, WatchListCommand
from bot.failures.results import AccountFailures
from bot.slack.direct import post_direct_message
from bot.slack.message import SlackMessage
from bot.store.database import Store
from bot.store.watches import AccountWatch
from bot.watches.cards import (
    build_unwatched,
    build_watch_added,
    build_watch_dm,
    build_watch_limit,
    build_watch_list,
)
from bot.watches.settings import WatchSettings
from bot.zuora.errors import ZuoraError
from bot.zuora.track import new_track_id

logger = logging.getLogger(__name__)

WATCH_WINDOW: Final = timedelta(hours=24)
WATCH_LABEL: Final = "24h"
NOTIFY_GAP: Final = timedelta(hours=1)

WatchRequest = WatchCommand | WatchListCommand | UnwatchCommand


class WatchConfig(Protocol):
    """The settings watches read."""

    @property
    def watch(self) -> WatchSettings: ...


class WatchSource(Protocol):
    """The Zuora scan a watch uses (bot.failures.service.NotificationService is one)."""

    def failures_without_ids(
        self, account_key: str, length: timedelta, label: str, *, track_id: str, fresh: bool = False
    ) -> AccountFailures: ...


class WatchDeps(Protocol):
    """The collaborators watches use (bot.deps.Deps is one)."""

    @property
    def settings(self) -> WatchConfig: ...

    @property
    def store(self) -> Store: ...

    @property
    def slack(self) -> WebClient: ...

    @property
    def service(self) -> WatchSource: ...

    @property
    def now(self) -> Callable[[], datetime]: ...


@dataclass(frozen=True)
class WatchNotice:
    """One DM the check sent (or tried to): to whom, about which account and failure."""

    watch_id: int
    user_id: str
    account_number: str
    failure_at: datetime
    delivered: bool


def failure_times(failures: AccountFailures) -> list[datetime]:
    """When each failure of the scan happened."""
    return [c.create_time for c in failures.callouts] + [e.send_time for e in failures.emails]


def answer_watch_command(
    deps: WatchDeps, parsed: WatchRequest, *, team_id: str, user_id: str, track_id: str
) -> SlackMessage:
    """The one message that settles `/zuora watch|watch list|unwatch`."""
    if isinstance(parsed, WatchListCommand):
        return build_watch_list(deps.store.list_watches(team_id=team_id, user_id=user_id))
    if isinstance(parsed, UnwatchCommand):
        removed = deps.store.remove_watch(
            team_id=team_id, user_id=user_id, account_key=parsed.account
        )
        return build_unwatched(removed, parsed.account)
    return watch_account(deps, parsed.account, team_id=team_id, user_id=user_id, track_id=track_id)


def watch_account(
    deps: WatchDeps, account_key: str, *, team_id: str, user_id: str, track_id: str
) -> SlackMessage:
    """Start watching (Zuora confirms the account and gives its last 24 h); refuse past the cap."""
    failures = deps.service.failures_without_ids(
        account_key, WATCH_WINDOW, WATCH_LABEL, track_id=track_id
    )
    account = failures.account
    mine = deps.store.list_watches(team_id=team_id, user_id=user_id)
    limit = deps.settings.watch.max_per_user
    if all(w.account_id != account.id for w in mine) and len(mine) >= limit:
        return build_watch_limit(limit)
    times = failure_times(failures)
    watch, created = deps.store.add_watch(
        team_id=team_id,
        user_id=user_id,
        account_id=account.id,
        account_number=account.number,
        account_name=account.name,
        now=deps.now(),
        last_failure_at=max(times, default=None),
        recent_failures=len(times),
    )
    minutes = max(1, round(deps.settings.watch.check_interval / 60))
    return build_watch_added(watch, created=created, check_minutes=minutes)


def run_watch_checks(deps: WatchDeps, now: datetime) -> list[WatchNotice]:
    """Scan the watched accounts due (bounded) and DM the watchers of new failures; the DMs sent."""
    notices: list[WatchNotice | None] = []
    limit = deps.settings.watch.accounts_per_check
    for account_id in deps.store.watched_accounts_due(limit):
        track_id = new_track_id("zops-watch", "clock", account_id[:12])
        try:
            failures = deps.service.failures_without_ids(
                account_id, WATCH_WINDOW, WATCH_LABEL, track_id=track_id, fresh=True
            )
        except ZuoraError as exc:  # one account's failure must not stop the others
            logger.warning("watch check of %s failed: %s", account_id, type(exc).__name__)
            continue
        times = failure_times(failures)
        deps.store.record_watch_check(account_id, now=now, recent_failures=len(times))
        if times:
            watches = deps.store.list_watches(account_ids=[account_id])
            notices.extend(_notify(deps, w, failures, times, now) for w in watches)
    return [n for n in notices if n is not None]


def _notify(
    deps: WatchDeps,
    watch: AccountWatch,
    failures: AccountFailures,
    times: list[datetime],
    now: datetime,
) -> WatchNotice | None:
    """DM one watcher if a failure is newer than the last they heard of and the hour has passed."""
    seen = watch.last_seen_failure_at
    new = [t for t in times if seen is None or t > seen]
    if not new:
        return None
    latest = max(new)
    if not deps.store.claim_watch_notice(watch.id, failure_at=latest, now=now, gap=NOTIFY_GAP):
        return None
    message = build_watch_dm(
        watch, new_failures=len(new), last_failure_at=latest, card=failures.card_ref
    )
    try:
        post_direct_message(deps.slack, watch.user_id, message)
        delivered = True
    except (SlackApiError, SlackClientError) as exc:
        logger.warning("watch DM to %s failed: %s", watch.user_id, exc)
        delivered = False
    return WatchNotice(watch.id, watch.user_id, watch.account_number, latest, delivered)
