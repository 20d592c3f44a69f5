"""Tests for SlackMessage and the limit checker: an empty text is refused, and the checker catches what
slack_sdk does not."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.message import BlockLimitError, SlackMessage, check_limits


def test_slack_message_refuses_an_empty_text():
    with pytest.raises(BlockLimitError):
        SlackMessage(text="  ", blocks=[])


def section_dict(text: str = "x", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


@pytest.mark.parametrize(
    ("blocks", "problem"),
    [
        ([section_dict() for _ in range(51)], "51 blocks"),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
            "field",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "checkboxes",
                            "action_id": "a",
                            "options": [
                                {"text": {"type": "plain_text", "text": str(n)}, "value": str(n)}
                                for n in range(11)
                            ],
                        }
                    ],
                }
            ],
            "checkbox",
        ),
        (
            [
                section_dict(
                    accessory={
                        "type": "overflow",
                        "action_id": "m",
                        "options": [
                            {"text": {"type": "plain_text", "text": "a"}, "value": "a"},
                        ],
                    }
                )
            ],
            "overflow",
        ),
        ([section_dict(block_id="b"), section_dict(block_id="b")], "used twice"),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "p",
                            "text": {"type": "plain_text", "text": "a"},
                        },
                        {
                            "type": "button",
                            "action_id": "p",
                            "text": {"type": "plain_text", "text": "b"},
                        },
                    ],
                }
            ],
            "action_id",
        ),
        ([section_dict("y" * 2900) for _ in range(5)], "budget"),
    ],
)
def test_check_limits_catches_what_slack_sdk_does_not(blocks, problem):
    with pytest.raises(BlockLimitError, match=problem):
        check_limits(SlackMessage(text="t", blocks=blocks))


def test_check_limits_accepts_a_full_legal_message():
    check_limits(SlackMessage(text="t", blocks=[section_dict() for _ in range(50)]))
