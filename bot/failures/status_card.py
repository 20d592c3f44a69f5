"""`/zuora status`: whether Zuora accepts the credentials, the resend-ID source and the settings.

It lives with the failures feature because it shows that feature's resend-ID lookup state.
"""

from __future__ import annotations

from typing import Any

from bot.failures.id_matching import IdSourceStatus, TableStatus
from bot.failures.retry_limits import LimitCheck
from bot.failures.retry_policy import GUESSES
from bot.slack.elements import context, fields_section, finish, fit, section
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import code, escape, escape_truncated

_CONFIG_FIELDS = 20
_CONFIG_ROOMS = (300, 100, 40)  # characters per setting value, tried in order


def build_status(
    *,
    zuora_ok: bool,
    detail: str,
    token_expires_in: float | None,
    config: list[tuple[str, str]],
    id_source: IdSourceStatus | None = None,
    retry: LimitCheck | None = None,
    outcome_rule: str | None = None,
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
    if retry is not None:
        top.append(retry_block(retry))
    if outcome_rule:  # the "did it work?" guess (bot.resend.outcomes.RULE), checkable here
        top.append(section(f"*Did it work?* {escape_truncated(outcome_rule, 1500)}"))
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


def retry_block(check: LimitCheck) -> dict[str, Any]:
    """Zuora's own callout retries as the bot judges them: the limit's source and the guesses."""
    limits = check.limits
    minutes = int(limits.interval.total_seconds() // 60)
    source = escape(limits.source)
    why = f" ({escape_truncated(check.problem, 300)})" if check.problem else ""
    return section(
        f"*Zuora's own retries:* attempt limit {limits.attempt_limit} (from {source}){why}; "
        f"interval {minutes} min (from settings).\n"
        f"Retry schedule guess: {escape('; '.join(GUESSES))}."
    )


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
