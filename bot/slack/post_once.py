"""Posting a message so that a crash cannot post it twice: a key in the message, and a check in Slack.

The caller (daily digests, spike alerts) posts with message metadata carrying its own event type and a
key. A post left in 'posting' by a process that died during chat.postMessage may or may not have reached
Slack; before posting again, whoever takes it over reads the channel's history since the post began
(conversations.history with include_all_metadata, which needs channels:history / groups:history) for a
message from this bot with that key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

logger = logging.getLogger(__name__)

# conversations.history allows 15 messages a page to apps outside the Marketplace; ask no more.
HISTORY_PAGE: Final = 15
HISTORY_MAX_PAGES: Final = 20
# Slack's clock and ours may differ a little; look back a bit further than the post began.
CLOCK_MARGIN: Final = timedelta(minutes=2)
# Slack errors that a later try may not repeat; any other refusal is taken as final.
_TRANSIENT_ERRORS: Final = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)

CheckOutcome = Literal["found", "absent", "unknown"]


@dataclass(frozen=True)
class PostCheck:
    """What Slack's history says about one keyed post: found (with its ts), absent, or unknown (and why)."""

    outcome: CheckOutcome
    ts: str | None = None
    reason: str | None = None
    transient: bool = False


def without_connection_retries(slack: WebClient) -> WebClient:
    """A twin of `slack` that does not resend a request after a connection error.

    A chat.postMessage whose answer was lost (connection reset, server hung up) may have been posted, and
    resending it blindly could post twice; a post-once caller posts through this twin and checks the channel
    instead. Rate-limit retries stay: a 429 was refused, not posted. Anything but a plain WebClient (a
    test double) is returned as it is.
    """
    if type(slack) is not WebClient:
        return slack
    kept = [h for h in slack.retry_handlers if not isinstance(h, ConnectionErrorRetryHandler)]
    if len(kept) == len(slack.retry_handlers):
        return slack
    return WebClient(
        token=slack.token,
        base_url=slack.base_url,
        timeout=slack.timeout,
        ssl=slack.ssl,
        proxy=slack.proxy,
        headers=dict(slack.headers),
        retry_handlers=kept,
    )


def carries_key(
    message: dict[str, Any],
    key: str,
    bot_id: str | None,
    *,
    event_type: str,
    key_field: str,
) -> bool:
    """Whether a history message is ours (this bot, when known) and carries `key` in its metadata."""
    if bot_id is not None and message.get("bot_id") != bot_id:
        return False
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return metadata.get("event_type") == event_type and payload.get(key_field) == key


def find_posted(
    slack: WebClient,
    channel: str,
    key: str,
    *,
    since: datetime,
    now: datetime,
    event_type: str,
    key_field: str,
    thread_ts: str | None = None,
) -> PostCheck:
    """Look in `channel` (or, with `thread_ts`, in that thread: conversations.replies) for this bot's
    message of `event_type` whose `key_field` is `key`, posted since `since` (minus a margin)."""
    try:
        bot_id = slack.auth_test().get("bot_id")
        cursor: str | None = None
        for _ in range(HISTORY_MAX_PAGES):
            window: dict[str, Any] = {
                "channel": channel,
                "oldest": f"{(since - CLOCK_MARGIN).timestamp():.6f}",
                "latest": f"{(now + CLOCK_MARGIN).timestamp():.6f}",
                "inclusive": True,
                "include_all_metadata": True,
                "limit": HISTORY_PAGE,
                "cursor": cursor,
            }
            page = (
                slack.conversations_replies(ts=thread_ts, **window)
                if thread_ts is not None
                else slack.conversations_history(**window)
            )
            for message in page.get("messages") or []:
                if carries_key(message, key, bot_id, event_type=event_type, key_field=key_field):
                    return PostCheck("found", ts=str(message["ts"]))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or not cursor:
                return PostCheck("absent")
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "slack_error")
        status = getattr(exc.response, "status_code", 200)
        transient = error in _TRANSIENT_ERRORS or status == 429 or status >= 500
        logger.warning("could not read channel %s history for post %s: %s", channel, key, error)
        return PostCheck("unknown", reason=error, transient=transient)
    except (SlackClientError, OSError) as exc:
        logger.warning(
            "could not read channel %s history for post %s: %s", channel, key, type(exc).__name__
        )
        return PostCheck("unknown", reason=type(exc).__name__, transient=True)
    return PostCheck("unknown", reason="history too long to search", transient=False)
