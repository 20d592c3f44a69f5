"""Can the bot post in a channel? Asked before a digest subscription is accepted."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

logger = logging.getLogger(__name__)


def posting_problem(slack: WebClient, channel_id: str) -> str | None:
    """None when the bot can post in `channel_id`; otherwise what is wrong and how to fix it."""
    invite = (
        f"Invite the bot first: type `/invite @Zuora Ops` in <#{channel_id}>, then subscribe again."
    )
    try:
        info = slack.conversations_info(channel=channel_id)
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        if error in ("channel_not_found", "not_in_channel"):
            return "The bot can't see that channel (private channels need an invite). " + invite
        if error == "missing_scope":
            return (
                "The bot lacks the `channels:read`/`groups:read` scope to check that channel; "
                "reinstall the app from manifest.json."
            )
        raise
    channel = info.get("channel") or {}
    if channel.get("is_archived"):
        return "That channel is archived; pick another one."
    if channel.get("is_member"):
        return None
    if channel.get("is_private") or channel.get("is_im") or channel.get("is_mpim"):
        return invite
    # Public channel without membership: chat:write.public (in manifest.json) lets the bot post.
    logger.info(
        "bot is not a member of public channel %s; posting via chat:write.public", channel_id
    )
    return None
