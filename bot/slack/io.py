"""Talking back to Slack: a retrying WebClient, response_url delivery, and paced channel posts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.webhook import WebhookClient

from bot.core.url_rules import HostRule, allowed_url, host_of
from bot.slack.message import SlackMessage
from bot.slack.settings import SlackSettings

logger = logging.getLogger(__name__)

SLACK_TIMEOUT_SECONDS = 10


def retry_handlers() -> list[RetryHandler]:
    """Retry connection errors and 429s (sleeping Retry-After); WebClient retries neither alone."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=3),
    ]


def build_web_client(settings: SlackSettings) -> WebClient:
    """The bot's WebClient: our base URL, explicit timeout, retry on connection errors and 429."""
    return WebClient(
        token=settings.bot_token.get_secret_value(),
        base_url=settings.api_url,
        timeout=SLACK_TIMEOUT_SECONDS,
        retry_handlers=retry_handlers(),
    )


class Responder:
    """Posts to a response_url with retries (Bolt's respond() does not retry a 429).

    Only to a response_url on an allowed host (SLACK_RESPONSE_URL_HOSTS, Slack's by default): a
    request body names its response_url, so any other host is refused and logged, never contacted.
    """

    def __init__(
        self, *, hosts: tuple[HostRule, ...], timeout: int = SLACK_TIMEOUT_SECONDS
    ) -> None:
        self._hosts = hosts
        self._timeout = timeout

    def allows(self, response_url: str) -> bool:
        """Whether `response_url` is on a host this responder may post to."""
        return allowed_url(response_url, self._hosts)

    def send(
        self,
        response_url: str,
        message: SlackMessage,
        *,
        replace_original: bool,
        response_type: Literal["ephemeral", "in_channel"] = "ephemeral",
    ) -> bool:
        """Deliver `message`; replace_original is always explicit. False when Slack refused it."""
        if not self.allows(response_url):
            logger.warning(
                "refused to post to a response_url on %s: not an allowed Slack host "
                "(SLACK_RESPONSE_URL_HOSTS)",
                host_of(response_url),
            )
            return False
        client = WebhookClient(response_url, timeout=self._timeout, retry_handlers=retry_handlers())
        payload: dict[str, Any] = {
            **message.as_payload(),
            "response_type": response_type,
            "replace_original": replace_original,
        }
        if not replace_original:
            payload["delete_original"] = False
        try:
            response = client.send_dict(payload)
        except Exception:  # network failure after retries: log, the caller decides what to tell
            logger.warning("response_url delivery failed", exc_info=True)
            return False
        if response.status_code != 200:
            logger.warning(
                "response_url refused the message: status=%s body=%s",
                response.status_code,
                (response.body or "")[:200],
            )
            return False
        return True


def post_in_thread(
    client: WebClient, channel: str, thread_ts: str, message: SlackMessage
) -> str | None:
    """Reply to `thread_ts` in `channel` (chat.postMessage); the reply's ts, or None when refused."""
    try:
        response = client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=message.text, blocks=message.blocks
        )
    except SlackApiError as exc:
        logger.warning("thread reply in %s refused: %s", channel, exc.response.get("error"))
        return None
    except (SlackClientError, OSError) as exc:  # connection trouble after the client's retries
        logger.warning("thread reply in %s not sent: %s", channel, type(exc).__name__)
        return None
    ts = response.get("ts")
    return str(ts) if ts else None


def update_message(client: WebClient, channel: str, ts: str, message: SlackMessage) -> bool:
    """Edit the bot's own channel message `ts` (chat.update); False when Slack refused it."""
    try:
        client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)
    except SlackApiError as exc:
        logger.warning(
            "chat.update of %s in %s refused: %s", ts, channel, exc.response.get("error")
        )
        return False
    except (SlackClientError, OSError) as exc:  # connection trouble after the client's retries
        logger.warning("chat.update of %s in %s failed: %s", ts, channel, type(exc).__name__)
        return False
    return True


class ChannelPacer:
    """Spaces posts to one channel by `interval` seconds (Slack allows about one per second)."""

    def __init__(
        self,
        interval: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._sleep = sleep
        self._timer = timer
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait_turn(self, channel: str) -> None:
        """Block until `channel` may receive another post, then book the slot."""
        with self._lock:
            now = self._timer()
            slot = max(now, self._last.get(channel, now - self._interval) + self._interval)
            self._last[channel] = slot
        if slot > now:
            self._sleep(slot - now)
