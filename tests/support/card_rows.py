"""The row controls of a failures card, decoded: what each row offers to resend or to show."""

from __future__ import annotations

from typing import Any

from bot.core.actions import ActionId, RowAction, decode_row_action
from bot.slack.message import SlackMessage
from tests.support.cards import buttons, elements


def row_controls(message: SlackMessage) -> list[tuple[str, dict[str, Any]]]:
    """(block_id, accessory) of every row section that has a control."""
    return [
        (block.get("block_id", ""), block["accessory"])
        for block in message.blocks
        if block["type"] == "section" and str(block.get("block_id", "")).startswith("z1.")
    ]


def details_controls(message: SlackMessage) -> list[RowAction]:
    """Every callout Details control: a button, or a pick in a row menu or the card's menu."""
    found = [decode_row_action(b["value"]) for b in buttons(message, ActionId.CALLOUT_DETAILS)]
    for menu in [*elements(message, "overflow"), *elements(message, "static_select")]:
        found += [decode_row_action(o["value"]) for o in menu["options"]]
    return [action for action in found if action.verb == "details"]


def resend_controls(message: SlackMessage) -> list[RowAction]:
    """Every row Resend: email buttons and callout menu picks."""
    found = [decode_row_action(b["value"]) for b in buttons(message, ActionId.RESEND_EMAIL)]
    for menu in elements(message, "overflow"):
        found += [decode_row_action(o["value"]) for o in menu["options"]]
    return [action for action in found if action.verb == "resend"]
