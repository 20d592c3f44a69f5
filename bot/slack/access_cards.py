"""Refusals by rule: the read rule (who may read what) and the allow-list (who may change what)."""

from __future__ import annotations

from typing import Literal

from bot.slack.elements import finish, section
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import code, escape, mention_or_text

ReadTarget = Literal["details", "audit", "status"]

_WHAT: dict[ReadTarget, str] = {
    "details": "Callout details (the request and the response body Zuora kept, which can hold "
    "customers' data) are",
    "audit": "The resend audit trail is",
    "status": "`/zuora status` (the bot's configuration and who may resend) is",
}


def build_read_denied(target: ReadTarget, *, contact: str, user_id: str) -> SlackMessage:
    """Sorry, you may not read this: who can (the read list), how to ask, and that nothing was fetched."""
    who = mention_or_text(contact, 200)
    your_id = f" (yours is {code(user_id, 40)})" if user_id else ""
    text = (
        f"Sorry, {_WHAT[target]} shown only to people on the bot's read list: the resend "
        "allow-list (`RESEND_ALLOWED_USERS`) and `READ_ALLOWED_USERS`. To be added, ask "
        f"{who} and give them your Slack user ID{your_id}. Nothing was fetched."
    )
    return finish(text, [section(f":lock: {text}")])


def build_allow_list_denied(*, changes: str, contact: str, outcome: str) -> SlackMessage:
    """Why a change to `changes` was refused (the resend allow-list decides), whom to ask, what did not happen."""
    text = (
        f"You are not on the resend allow-list, which also decides who may change {changes}; "
        f"ask {mention_or_text(contact)} to add your Slack user ID (RESEND_ALLOWED_USERS). "
        f"{escape(outcome)}"
    )
    return finish(text, [section(f":no_entry: {text}")])
