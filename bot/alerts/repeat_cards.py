"""Answers to a state-changing command that changes nothing because it was already done.

A signed Slack request can be delivered again (a replay within its five minutes, a retry, a double
press of Enter): the second subscribe names the existing subscription, the second unsubscribe says it
is already gone, and neither adds or removes anything.
"""

from __future__ import annotations

from typing import Literal

from bot.alerts.cards import describe_alert
from bot.slack.elements import context, finish, section
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import escape
from bot.store import AlertSubscription

Feature = Literal["digest", "alerts"]
_NOUN: dict[Feature, str] = {"digest": "Digest", "alerts": "Spike alert"}


def build_alert_already_subscribed(sub: AlertSubscription) -> SlackMessage:
    """An identical spike alert exists: name it, add nothing."""
    text = f"Already subscribed (id {sub.id}): spike alert #{sub.id} is unchanged."
    return finish(
        text,
        [
            section(
                f":information_source: Already subscribed (id {sub.id}): spike alert "
                f"{escape(describe_alert(sub))} already posts here; nothing was added."
            ),
            context(escape(f"Stop it with `/zuora alerts unsubscribe {sub.id}`.")),
        ],
    )


def build_already_unsubscribed(feature: Feature, subscription_id: int) -> SlackMessage:
    """The subscription was removed before (this command is a repeat): nothing changes."""
    text = f"{_NOUN[feature]} #{subscription_id} was already unsubscribed; nothing changed."
    return finish(text, [section(f":information_source: {escape(text)}")])
