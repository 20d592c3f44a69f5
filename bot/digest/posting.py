"""Posting a day's digest once: the run's result, the 'posting' mark, the post, and the check in Slack.

Crash safety, per run (subscription, local day) in the store: 'claimed' while the digest is built, with a
lease the keeper renews; 'posting' written just before chat.postMessage (the message carries the run's key
in its metadata); then 'posted' with the message ts. A clock that dies while 'claimed' posted nothing: the
run is taken over once its lease lapses and posted then (the same day, while still due). One that dies
while 'posting' may have posted: whoever takes over first looks for the key in the channel's history, and
records the message it finds instead of posting again; if Slack cannot be asked (no history scope, or the
bot is not in the channel), the run ends 'unconfirmed' rather than risk a duplicate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.core.lease import LeaseKeeper
from bot.slack.io import ChannelPacer
from bot.slack.message import SlackMessage
from bot.slack.post_once import PostCheck, find_posted, without_connection_retries
from bot.store import DigestRun, Subscription
from bot.store.database import Store

logger = logging.getLogger(__name__)

DIGEST_EVENT_TYPE: Final = "zuora_ops_digest"
DIGEST_KEY_FIELD: Final = "digest_key"


# 'unconfirmed': an interrupted post Slack could not be checked for (final); 'deferred': Slack could not be
# checked this time (left in 'posting' for a later try); 'lost': another clock took the run over.
RunStatus = Literal["posted", "skipped", "failed", "dry_run", "unconfirmed", "deferred", "lost"]

RunKey = tuple[int, date]  # (subscription id, local date): one digest run


def digest_key(subscription_id: int, local_date: date) -> str:
    """The key of one subscription's digest for one local day (at most one such message exists)."""
    return f"{subscription_id}:{local_date.isoformat()}"


def digest_metadata(subscription_id: int, local_date: date) -> dict[str, Any]:
    """chat.postMessage `metadata` for this digest: our event type and its key."""
    return {
        "event_type": DIGEST_EVENT_TYPE,
        "event_payload": {
            DIGEST_KEY_FIELD: digest_key(subscription_id, local_date),
            "subscription_id": subscription_id,
            "local_date": local_date.isoformat(),
        },
    }


@dataclass(frozen=True)
class DigestRunResult:
    """What one tick did with one subscription's digest."""

    subscription: Subscription
    local_date: date
    status: RunStatus
    message: SlackMessage | None = None  # what was (or, in a dry run, would be) posted
    message_ts: str | None = None
    error: str | None = None


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


@dataclass
class DigestPoster:
    """Posts and records one tick's digests for `owner`: the 'posting' mark, the post, the Slack check.

    With no lease keeper (a dry run) nothing is marked or posted: `post` returns the message.
    """

    store: Store
    slack: WebClient
    owner: str
    clock: Callable[[], datetime]
    keeper: LeaseKeeper[RunKey] | None
    poster: WebClient | None = None

    def post(
        self, sub: Subscription, local_date: date, message: SlackMessage, pacer: ChannelPacer
    ) -> DigestRunResult:
        """Mark the run 'posting', post with its key in the metadata, and report how it went."""
        if self.keeper is None:
            return DigestRunResult(sub, local_date, "dry_run", message=message)
        pacer.wait_turn(sub.channel_id)
        started = self.clock()
        if self.keeper.lost((sub.id, local_date)) or not self.store.mark_digest_posting(
            sub.id, local_date, owner=self.owner, now=started
        ):
            return DigestRunResult(sub, local_date, "lost", message=message)
        if self.poster is None:
            self.poster = without_connection_retries(self.slack)
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
        run = self.store.get_digest_run(sub.id, local_date)
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
        if self.keeper is None:  # a dry run records nothing
            return
        self.keeper.release((result.subscription.id, result.local_date))
        if result.status in ("posted", "skipped", "failed", "unconfirmed"):
            self.store.finish_digest_run(
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
        return find_posted(
            self.slack,
            sub.channel_id,
            digest_key(sub.id, local_date),
            since=since,
            now=self.clock(),
            event_type=DIGEST_EVENT_TYPE,
            key_field=DIGEST_KEY_FIELD,
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
