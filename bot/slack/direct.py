"""Direct messages from the bot: open the user's DM with conversations.open, then post in it."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.slack.message import SlackMessage, check_limits


def post_direct_message(client: WebClient, user_id: str, message: SlackMessage) -> str:
    """DM `user_id` and return the message ts; raises SlackApiError as Slack refuses.

    conversations.open (scope im:write) returns the DM channel, existing or new, so the post goes
    to a channel id rather than relying on chat.postMessage's user-id shortcut.
    """
    check_limits(message)
    opened = client.conversations_open(users=user_id)
    channel = str(opened["channel"]["id"])
    posted = client.chat_postMessage(channel=channel, **message.as_payload())
    return str(posted["ts"])
