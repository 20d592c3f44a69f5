"""Small cards: help, errors, placeholders, notices, stale buttons and access denied."""

from __future__ import annotations

import re
from typing import Any

from bot.slack.elements import context, finish, header, section
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import code, escape, escape_truncated, truncate_mrkdwn

_MENTION = re.compile(
    r"^<(?:#[CG][A-Z0-9]{2,30}|@[UW][A-Z0-9]{2,30}|!subteam\^S[A-Z0-9]{2,30})(?:\|[^<>]*)?>$"
)

HELP_LINES = (
    (
        "failures A00000001 7d",
        "Failed callouts and emails of an account (number or 32-character ID) "
        "in the last `90m`, `24h` (the default) … `30d`, with resend buttons.",
    ),
    (
        "outages 24h",
        "The whole tenant's failures grouped by cause (endpoint and response code, or mail "
        "error), with counts, accounts and an hourly trend; `90m` … `7d`, default `24h`.",
    ),
    (
        "resend 2c92c0f87a3b4e21017a3c5d6e7f8091 …",
        "Confirm, then resend up to 40 email history IDs "
        "pasted from Zuora (`resend callout <id> …` for callouts).",
    ),
    ("status", "Whether Zuora accepts the bot's credentials, and its non-secret settings."),
    ("audit A00000001", "Who resent what, newest first; leave out the account to see them all."),
    (
        "digest subscribe #billing-ops at 09:00 tz Europe/Paris kind emails",
        "A daily summary in a channel; also `account <account> …` and `quiet` (skip empty days).",
    ),
    ("digest list", "This workspace's digest subscriptions, with their IDs."),
    ("digest unsubscribe 3", "Stop subscription 3."),
    ("digest preview", "Show today's digest to you only."),
    (
        "alerts subscribe #billing-ops threshold 10 per 15 minutes kind callouts",
        "Post one alert per cause when it fails that often, updated as it grows and marked "
        "recovered when quiet; with Resend all.",
    ),
    ("alerts list", "This workspace's spike alerts, with their IDs."),
    ("alerts unsubscribe 2", "Stop spike alert 2."),
    (
        "alerts updates 2 edit",
        "Spike alert 2 edits its message only (`thread`: replies under it too).",
    ),
    ("watch A00000001", "DM me (at most hourly) when this account gets a new failure."),
    ("watch list", "The accounts you watch."),
    ("unwatch A00000001", "Stop watching this account."),
    ("help", "This list."),
)


def build_help(*, did_you_mean: str | None = None, error: str | None = None) -> SlackMessage:
    """Every subcommand with an example; after a usage error, the error and a suggestion first."""
    blocks: list[dict[str, Any]] = []
    lead = ""
    if error:
        lead = escape_truncated(error, 1000)
        blocks.append(section(f":warning: {lead}"))
    if did_you_mean:
        blocks.append(section(f"Did you mean {code('/zuora ' + did_you_mean, 150)}?"))
    blocks.append(header("/zuora commands"))
    lines = [
        f"• {code('/zuora ' + example)} — {escape(explanation)}"
        for example, explanation in HELP_LINES
    ]
    blocks.append(section("\n".join(lines)))
    blocks.append(
        context(
            escape(
                "Windows: `<n>m` (at least 5), `<n>h`, `<n>d`; at most 30 days. "
                "Resend all asks for confirmation first."
            )
        )
    )
    text = lead or "/zuora commands: failures, outages, resend, status, audit, digest, alerts, help"
    return finish(text, blocks)


def usage_lines(usage: str | None) -> list[tuple[str, str]]:
    """The help lines of one subcommand (`failures`, `digest subscribe`; `digest`: all of digest's)."""
    if not usage:
        return []
    return [line for line in HELP_LINES if line[0] == usage or line[0].startswith(usage + " ")]


def build_usage_error(
    error: str, *, did_you_mean: str | None = None, usage: str | None = None
) -> SlackMessage:
    """A usage error: what is wrong, the suggestion, the usage line of that subcommand alone,
    and where the full list is (`/zuora help`), rather than every command again."""
    lead = escape_truncated(error, 1000)
    blocks: list[dict[str, Any]] = [section(f":warning: {lead}")]
    if did_you_mean:
        blocks.append(section(f"Did you mean {code('/zuora ' + did_you_mean, 150)}?"))
    lines = [
        f"• {code('/zuora ' + example)} — {escape(explanation)}"
        for example, explanation in usage_lines(usage)
    ]
    if lines:
        blocks.append(section("*Usage*\n" + "\n".join(lines)))
    blocks.append(context(escape("`/zuora help` lists every command with an example.")))
    return finish(lead, blocks)


def build_error(
    message: str, *, hint: str | None = None, incident_id: str | None = None
) -> SlackMessage:
    """A clear error: what went wrong, what to do next, and the incident id to quote if any."""
    shown = escape_truncated(message, 1500)
    lines = [f":warning: {shown}"]
    if hint:
        lines.append(escape_truncated(hint, 1000))
    blocks = [section("\n".join(lines))]
    if incident_id:
        blocks.append(context(f"Quote incident {code(incident_id, 40)} when you report this."))
    text = shown + (f" (incident {escape_truncated(incident_id, 40)})" if incident_id else "")
    return finish(text, blocks)


def build_placeholder(text: str) -> SlackMessage:
    """The instant reply while the real answer is prepared, e.g. "Looking up failures for A00000001…"."""
    shown = escape_truncated(text, 500)
    return finish(shown, [section(f":hourglass_flowing_sand: {shown}")])


def build_notice(text: str) -> SlackMessage:
    """A one-line reply in mrkdwn the caller built and escaped (e.g. "Cancelled by <@U…>")."""
    shown = truncate_mrkdwn(text, 2000)
    return finish(shown, [section(shown)])


def build_stale_button() -> SlackMessage:
    """A polite reply to a button from an older card (its value no longer validates)."""
    text = escape(
        "This button is from an older card, so nothing was changed. "
        "Run `/zuora failures <account>` again for a fresh card."
    )
    return finish(text, [section(f":information_source: {text}")])


def build_access_denied(*, contact: str) -> SlackMessage:
    """Why a resend was refused and whom to ask; says plainly that nothing was resent."""
    who = contact.strip() if _MENTION.match(contact.strip()) else escape_truncated(contact, 200)
    text = (
        f"You are not on the resend allow-list; ask {who} to add your Slack user ID "
        "(RESEND_ALLOWED_USERS). Nothing was resent."
    )
    return finish(text, [section(f":no_entry: {text}")])
