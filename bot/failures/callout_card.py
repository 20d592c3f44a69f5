"""The callout details card: request, response code, attempts and the response body Zuora kept."""

from __future__ import annotations

from typing import Any

from bot.core.secrets_mask import mask_url
from bot.slack.elements import (
    fields_section,
    finish,
    fit,
    header,
    plural,
    response_code_text,
    section,
)
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import code, code_block, date_token, escape_truncated
from bot.zuora.models import Account, CalloutHistory

# Response-body budgets tried in order until the card fits the JSON budget.
_CONTENT_ROOMS = (2800, 1400, 600, 200)


def build_callout_details(callout: CalloutHistory, *, account: Account) -> SlackMessage:
    """Details of one callout, with the response content in a code block (escaped, cut to fit)."""
    blocks = fit(lambda room: _blocks(callout, account, content_chars=room), _CONTENT_ROOMS)
    attempts = (
        f" after {plural(callout.attempted_num, 'attempt')}"
        if callout.attempted_num is not None
        else ""
    )
    text = (
        f"Callout {escape_truncated(callout.event_name, 80)} for "
        f"{escape_truncated(account.name, 80)} ({escape_truncated(account.number, 64)}): "
        f"{response_code_text(callout.response_code, 20)}{attempts}"
    )
    return finish(text, blocks)


def _blocks(
    callout: CalloutHistory, account: Account, *, content_chars: int
) -> list[dict[str, Any]]:
    target = mask_url(callout.request_url) if callout.request_url else "(no URL)"
    fields = [
        f"*Account*\n{escape_truncated(account.name, 80)} ({escape_truncated(account.number, 64)})",
        f"*Time*\n{date_token(callout.create_time)}",
        f"*Request*\n{code(callout.request_method or 'POST', 8)} {code(target, 300)}",
        f"*Response*\n{response_code_text(callout.response_code, 20)}",
        f"*Attempts*\n{callout.attempted_num if callout.attempted_num is not None else 'unknown'}",
    ]
    if callout.event_id:
        fields.append(f"*Event ID*\n{code(callout.event_id, 80)}")
    if callout.id:
        fields.append(f"*History ID*\n{code(callout.id, 80)}")
    content = callout.response_content
    body = code_block(content, content_chars) if content else "_Zuora kept no response body._"
    return [
        header(f"Callout · {callout.event_name}"),
        fields_section(fields),
        section(f"*Response content*\n{body}"),
    ]
