"""The unfurl of a Zuora account link (a compact summary) and the shortcut's own small cards.

An unfurl is seen by everyone in the channel: it shows counts, the newest failure's event, time and
response code, never a callout URL or body; its button opens the full failures card (digest's
"Open failures", handlers.digest) to the clicker alone.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Option, StaticSelectElement

from bot.core.actions import ActionId
from bot.failures.cards import account_url
from bot.failures.results import AccountFailures
from bot.slack.elements import (
    actions,
    button,
    context,
    finish,
    plain,
    plural,
    response_code_text,
    section,
)
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import code, date_token, escape_truncated, link, truncate
from bot.zuora.models import CalloutHistory, EmailHistory

#: Slack's most options in a static_select.
MAX_CHOICES = 25
NAME_CHARS = 80
EVENT_CHARS = 80


def build_account_unfurl(failures: AccountFailures, *, ui_url: str) -> dict[str, Any]:
    """The unfurl of one account link: name, 24 h counts, the newest failure, Open failures.

    An unfurl is `{"blocks": [...]}` alone, as chat.unfurl's documented example has it: an
    attachment's `text` beside blocks is not shown, so none is sent.
    """
    account = failures.account
    name = link(account_url(ui_url, account), truncate(account.name or account.number, NAME_CHARS))
    callouts, emails = len(failures.callouts), len(failures.emails)
    if callouts or emails:
        counts = (
            f"{plural(callouts, 'failed callout')} and {plural(emails, 'failed email')} "
            f"in the last {escape_truncated(failures.window.label, 8)}"
        )
    else:
        counts = (
            f"No failed callouts or emails in the last {escape_truncated(failures.window.label, 8)}"
        )
    blocks: list[dict[str, Any]] = [section(f"*{name}* {code(account.number, 64)}\n{counts}")]
    newest = _newest(failures)
    if newest is not None:
        blocks.append(context(f"Newest: {newest}"))
    if callouts or emails:
        open_button = button("Open failures", ActionId.OPEN_FAILURES, value=failures.card_ref)
        blocks.append(actions([open_button]))
    return _unfurl(blocks)


def build_unknown_account_unfurl(key: str) -> dict[str, Any]:
    """The one-line unfurl of a link to an account Zuora does not have."""
    text = f"Zuora has no account {code(key, 64)}: the link may be from another tenant or mistyped."
    return _unfurl([context(text)])


def build_no_account_found() -> SlackMessage:
    """The shortcut on a message that names no account."""
    text = (
        "That message names no Zuora account: look for an account number like `A00000001`, a "
        "32-character account ID, or a link to an account page in Zuora."
    )
    return finish("That message names no Zuora account.", [section(text)])


def build_account_choice(keys: list[str]) -> SlackMessage:
    """The shortcut on a message naming several accounts: pick one to open its failures card."""
    shown = keys[:MAX_CHOICES]
    select = StaticSelectElement(
        action_id=ActionId.SHORTCUT_PICK.value,
        placeholder=plain("Choose an account"),
        options=[Option(text=plain(key), value=key) for key in shown],
    )
    more = len(keys) - len(shown)
    lead = f"That message names {len(keys)} accounts. Which one's failures (last 24h)?"
    if more:
        lead += f" The first {len(shown)} are listed."
    return finish(lead, [section(escape_truncated(lead, 300), accessory=select)])


def _unfurl(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """An unfurl of `blocks`, checked against Slack's limits like every message."""
    return {"blocks": finish("Zuora account", blocks).blocks}


def _newest(failures: AccountFailures) -> str | None:
    """The newest failed callout or email, in escaped mrkdwn; None when there is none."""
    callout = max(failures.callouts, key=lambda c: c.create_time, default=None)
    email = max(failures.emails, key=lambda e: e.send_time, default=None)
    if callout is not None and (email is None or callout.create_time >= email.send_time):
        return _callout_line(callout)
    if email is not None:
        return _email_line(email)
    return None


def _callout_line(callout: CalloutHistory) -> str:
    event = escape_truncated(callout.event_name, EVENT_CHARS)
    when = date_token(callout.create_time)
    return f"callout *{event}*, {response_code_text(callout.response_code)}, {when}"


def _email_line(email: EmailHistory) -> str:
    event = escape_truncated(email.event_name, EVENT_CHARS)
    why = escape_truncated(email.error_message or email.result or "failed", EVENT_CHARS)
    return f"email *{event}*, {why}, {date_token(email.send_time)}"
