"""Small cards: help, errors, placeholders, status, notices, stale buttons and access denied."""

from __future__ import annotations

import re
from typing import Any

from bot.failures.history_ids import IdSourceStatus, TableStatus
from bot.slack.elements import context, fields_section, finish, fit, header, section
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import code, escape, escape_truncated, truncate_mrkdwn

_MENTION = re.compile(
    r"^<(?:#[CG][A-Z0-9]{2,30}|@[UW][A-Z0-9]{2,30}|!subteam\^S[A-Z0-9]{2,30})(?:\|[^<>]*)?>$"
)
_CONFIG_FIELDS = 20
_CONFIG_ROOMS = (300, 100, 40)  # characters per setting value, tried in order

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


def build_status(
    *,
    zuora_ok: bool,
    detail: str,
    token_expires_in: float | None,
    config: list[tuple[str, str]],
    id_source: IdSourceStatus | None = None,
) -> SlackMessage:
    """`/zuora status`: Zuora's answer to our credentials, the token's life left, the resend-ID
    source with the Data Query columns it found, and the non-secret settings."""
    detail_text = f" {escape_truncated(detail, 1000)}" if detail.strip() else ""
    if zuora_ok:
        headline = f":white_check_mark: *Zuora accepts the bot's credentials.*{detail_text}"
        text = f"Zuora: OK.{detail_text}"
    else:
        headline = f":x: *Zuora check failed.*{detail_text}"
        text = f"Zuora: failing.{detail_text}"
    top = [section(headline), context(_token_line(token_expires_in))]
    if id_source is not None:
        top.extend(id_source_blocks(id_source))
    return finish(text, top + fit(lambda room: _config_blocks(config, room), _CONFIG_ROOMS))


_MODE_WORDS = {
    "auto": "REST ids when Zuora lists them, else Data Query",
    "rest": "REST ids only (Data Query is off)",
    "data-query": "Data Query for every row",
}


def id_source_blocks(status: IdSourceStatus) -> list[dict[str, Any]]:
    """Which resend-ID source this tenant uses, and each Data Query table's learned columns."""
    if status.rest_ids_seen is None:
        seen = "No failures card yet, so it is not known whether Zuora lists ids on this tenant."
    elif status.rest_ids_seen:
        seen = "The last card's REST records carried ids: resends need no Data Query."
    else:
        seen = "The last card's REST records carried no ids: resend buttons come from Data Query."
    lines = [
        f"*Resend IDs:* {escape(_MODE_WORDS[status.mode])} (`ZUORA_HISTORY_IDS={status.mode}`). {escape(seen)}"
    ]
    for kind, stats in status.stats.items():
        lines.append(
            f"Last lookup ({kind}s): {stats.matched} matched, {stats.ambiguous} ambiguous, "
            f"{stats.unmatched} without a Data Query record."
        )
    blocks = [section("\n".join(lines))]
    blocks.extend(section(_table_line(table)) for table in status.tables)
    return blocks


def _table_line(table: TableStatus) -> str:
    name = code(table.table, 60)
    if table.error is not None:
        return f":x: {name}: could not read its columns: {escape_truncated(table.error, 500)}"
    columns = ", ".join(table.columns)
    found = f"{len(table.columns)} columns (from {escape(table.source or 'Data Query')}): {code(columns, 1500)}"
    if table.missing:
        lacking = ", ".join(table.missing)
        return f":x: {name} lacks {code(lacking, 200)}, so its rows get no resend ID. {found}"
    return f":white_check_mark: {name} works: {found}"


def _config_blocks(config: list[tuple[str, str]], value_chars: int) -> list[dict[str, Any]]:
    fields = [
        f"*{escape_truncated(name, 100)}*\n{code(value, value_chars)}"
        for name, value in config[:_CONFIG_FIELDS]
    ]
    blocks = [fields_section(fields[start : start + 10]) for start in range(0, len(fields), 10)]
    if len(config) > _CONFIG_FIELDS:
        blocks.append(context(f"…and {len(config) - _CONFIG_FIELDS} more settings"))
    return blocks


def _token_line(expires_in: float | None) -> str:
    if expires_in is None:
        return "No OAuth token is cached yet; the next request fetches one."
    if expires_in <= 0:
        return "The cached OAuth token has expired; the next request fetches a new one."
    seconds = int(expires_in)
    if seconds < 60:
        left = f"{seconds} s"
    elif seconds < 3600:
        left = f"{seconds // 60} min"
    else:
        left = f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"The cached OAuth token is valid for another {left}."


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
