"""The ack of `/zuora failures`: a one-line receipt that stays true, because nothing replaces it.

Slack does not let a slash command's response_url replace the message it answered with
(slackapi/bolt-python#1268, slackapi/bolt-js#2287), so the ack is no placeholder card waiting to be
swapped: it says what was asked and that the answer follows as its own message. "The answer", not
"the card": what follows may as well be an error (no such account, Zuora unreachable), and the
receipt has to stay true whatever comes after it.
"""

from __future__ import annotations

from bot.slack.elements import context, finish
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import escape, escape_truncated

# True whether a card or an error comes next (every receipt says the same).
FOLLOWS = "the answer follows below."


def build_lookup_receipt(account: str, label: str) -> SlackMessage:
    """'Asked Zuora for the failures of A00000001 in the last 24h; the answer follows below.'"""
    what = f"the failures of *{escape_truncated(account, 64)}* in the last {escape(label)}"
    line = f"Asked Zuora for {what}; {FOLLOWS}"
    return finish(line.replace("*", ""), [context(f":mag: {line}")])


def build_receipt(doing: str) -> SlackMessage:
    """The ack of a slow command: what the bot is doing, and that the answer follows below.

    `doing` is plain text (escaped here), e.g. "Checking the connection to Zuora".
    """
    line = f"{escape_truncated(doing.rstrip('.…'), 300)}; {FOLLOWS}"
    return finish(line, [context(f":mag: {line}")])
