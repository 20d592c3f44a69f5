"""bot.slack.requests: the typed views read what the sandbox's Slack bodies carry, and tolerate gaps."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from bot.sandbox.slack_requests import (
    block_actions_body,
    checkbox_option,
    checkboxes_state,
    slash_command_body,
)
from bot.slack.requests import Click, Command, Picked, SlackRequest

URL = "https://hooks.slack.com/actions/T0001/1/abc"


def as_bolt(body: bytes) -> dict[str, Any]:
    """The dict Bolt hands a listener, from a form-encoded body."""
    fields = {key: values[0] for key, values in parse_qs(body.decode()).items()}
    if "payload" in fields:
        payload: dict[str, Any] = json.loads(fields["payload"])
        return payload
    return fields


def test_requests_command_reads_the_slash_command_fields() -> None:
    body = as_bolt(
        slash_command_body(
            text="failures A00001", response_url=URL, user_id="U9", team_id="T9", channel_id="C9"
        )
    )

    command = Command(body)

    assert (command.user_id, command.team_id, command.channel_id) == ("U9", "T9", "C9")
    assert (command.command, command.text, command.response_url) == (
        "/zuora",
        "failures A00001",
        URL,
    )
    assert command.trigger_id == body["trigger_id"]


def test_requests_click_reads_the_action_and_the_message() -> None:
    message = {"ts": "1700000000.000100", "text": "digest", "blocks": [{"type": "divider"}]}
    body = as_bolt(
        block_actions_body(
            action_id="zuora.resend_all",
            block_id="b1",
            response_url=URL,
            value="v1",
            user_id="U7",
            team_id="T7",
            channel_id="C7",
            message=message,
        )
    )

    click = Click(body, body["actions"][0])

    assert (click.user_id, click.team_id, click.channel_id) == ("U7", "T7", "C7")
    assert (click.action_id, click.value, click.block_id) == ("zuora.resend_all", "v1", "b1")
    assert click.response_url == URL
    assert click.message_ts == "1700000000.000100"
    assert (click.message_text, click.message_blocks) == ("digest", [{"type": "divider"}])


def test_requests_click_reads_an_overflow_pick_and_ticked_options() -> None:
    state = checkboxes_state(
        "rows",
        "zuora.select_emails",
        [checkbox_option("e:1", "Invoice → a@x"), checkbox_option("e:2")],
    )
    body = as_bolt(
        block_actions_body(
            action_id="zuora.row_menu",
            block_id="b2",
            response_url=URL,
            state_values=state,
            selected_option={"text": {"type": "plain_text", "text": "Resend"}, "value": "r1"},
        )
    )

    click = Click(body, body["actions"][0])

    assert click.selected_value == "r1"
    assert list(click.ticked(("zuora.select_emails",))) == [
        Picked("zuora.select_emails", "e:1", "Invoice → a@x"),
        Picked("zuora.select_emails", "e:2", "e:2"),
    ]
    assert list(click.ticked(("zuora.select_callouts",))) == []


def test_requests_missing_fields_read_as_empty_not_errors() -> None:
    click = Click({"user": None, "container": None, "message": None}, {})

    assert (click.user_id, click.team_id, click.response_url) == ("", "", None)
    assert (click.message_ts, click.message_text, click.message_blocks) == (None, "", [])
    assert click.is_ephemeral is False and click.message_metadata == {}
    assert list(click.ticked(("zuora.select_emails",))) == []
    assert SlackRequest({"response_url": 5}).response_url is None
