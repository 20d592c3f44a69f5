"""Small constructors over slack_sdk's block models, so slack_sdk checks each limit on `to_dict()`."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from slack_sdk.models.blocks import (
    ActionsBlock,
    BlockElement,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InteractiveElement,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.core.actions import ActionId, ButtonValue
from bot.slack.message import MAX_BLOCKS_JSON_CHARS, SlackMessage, blocks_size, check_limits
from bot.slack.mrkdwn import escape_truncated, truncate, truncate_mrkdwn, user

R = TypeVar("R")

HEADER_CHARS = 150
SECTION_CHARS = 3000
CONTEXT_CHARS = 2000
BUTTON_CHARS = 75
RESPONSE_CODE_CHARS = 12

# Zuora records a callout that got no HTTP answer (timeout, refused connection) with a code <= 0.
_NUMERIC_CODE = re.compile(r"^[+-]?\d{1,9}$")


def mrkdwn(text: str) -> MarkdownTextObject:
    """A mrkdwn text object; verbatim, so Slack auto-parses nothing we did not mark up ourselves."""
    return MarkdownTextObject(text=text, verbatim=True)


def plain(text: str) -> PlainTextObject:
    """A plain_text object (no `emoji` flag: it is the default and costs bytes)."""
    return PlainTextObject(text=text)


def header(text: str) -> dict[str, Any]:
    """A header block, its plain text cut to Slack's 150 characters."""
    return HeaderBlock(text=plain(truncate(text, HEADER_CHARS))).to_dict()


def section(
    text: str,
    *,
    accessory: BlockElement | None = None,
    block_id: str | None = None,
) -> dict[str, Any]:
    """A section of mrkdwn (already escaped by the caller) with an optional accessory."""
    return SectionBlock(
        text=mrkdwn(truncate_mrkdwn(text, SECTION_CHARS)), accessory=accessory, block_id=block_id
    ).to_dict()


def fields_section(fields: Sequence[str]) -> dict[str, Any]:
    """A section of up to 10 mrkdwn fields (each already escaped and within 2,000 characters)."""
    return SectionBlock(fields=[mrkdwn(field) for field in fields]).to_dict()


def context(*texts: str, block_id: str | None = None) -> dict[str, Any]:
    """A context block of mrkdwn lines (already escaped by the caller)."""
    return ContextBlock(
        elements=[mrkdwn(truncate_mrkdwn(text, CONTEXT_CHARS)) for text in texts],
        block_id=block_id,
    ).to_dict()


def divider() -> dict[str, Any]:
    """A divider block."""
    return DividerBlock().to_dict()


def actions(
    elements: Sequence[InteractiveElement], *, block_id: str | None = None
) -> dict[str, Any]:
    """An actions block."""
    return ActionsBlock(elements=list(elements), block_id=block_id).to_dict()


def button(
    text: str,
    action_id: ActionId,
    *,
    value: ButtonValue | str | None = None,
    url: str | None = None,
    style: str | None = None,
    confirm: ConfirmObject | None = None,
) -> ButtonElement:
    """A button carrying a typed value (compact JSON, or an already encoded row value) or a URL."""
    return ButtonElement(
        text=plain(truncate(text, BUTTON_CHARS)),
        action_id=action_id.value,
        value=value.encode() if isinstance(value, ButtonValue) else value,
        url=url,
        style=style,
        confirm=confirm,
    )


def confirm_dialog(*, title: str, text: str, confirm: str, deny: str = "Cancel") -> ConfirmObject:
    """A danger-styled confirm dialog in plain text, cut to Slack's limits."""
    return ConfirmObject(
        title=plain(truncate(title, 100)),
        text=plain(truncate(text, 300)),
        confirm=plain(truncate(confirm, 30)),
        deny=plain(truncate(deny, 30)),
        style="danger",
    )


def mention(user_id: str) -> str:
    """`<@U123>` for a valid Slack user id; anything else shown as escaped text (never a token)."""
    try:
        return user(user_id)
    except ValueError:
        return escape_truncated(user_id, 40) if user_id.strip() else "someone"


def response_code_text(response_code: str | None, limit: int = RESPONSE_CODE_CHARS) -> str:
    """A response code as escaped text: `HTTP 503`, or `no response (code -1)` when none came back."""
    text = (response_code or "").strip()
    if not text or text.lower() == "no response":
        return "no response"
    shown = escape_truncated(text, limit)
    if _NUMERIC_CODE.match(text):
        return f"HTTP {shown}" if int(text) > 0 else f"no response (code {shown})"
    return f"code {shown}"


def plural(count: int, noun: str) -> str:
    """`1 email`, `3 emails`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def fit(build: Callable[[R], list[dict[str, Any]]], rooms: Sequence[R]) -> list[dict[str, Any]]:
    """Blocks from the first room (text budget) whose JSON fits; the last room's if none does."""
    blocks: list[dict[str, Any]] = []
    for room in rooms:
        blocks = build(room)
        if blocks_size(blocks) <= MAX_BLOCKS_JSON_CHARS:
            break
    return blocks


def finish(text: str, blocks: list[dict[str, Any]]) -> SlackMessage:
    """Wrap and check a message; every builder returns through here."""
    message = SlackMessage(text=text, blocks=blocks)
    check_limits(message)
    return message
