"""Helpers of the listener tests: Bolt's parsed `body`, an Ack that records what had happened when it
was called, and the body of a click."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import Mock
from urllib.parse import parse_qs

from slack_bolt import Ack

from bot.sandbox.slack_requests import block_actions_body
from tests.support.stack_fixtures import Harness


def parsed(body: bytes) -> dict[str, Any]:
    """The dict Bolt hands a listener as `body`, from a form-encoded request body."""
    fields = {key: values[0] for key, values in parse_qs(body.decode()).items()}
    if "payload" in fields:
        payload: dict[str, Any] = json.loads(fields["payload"])
        return payload
    return fields


def recording_ack(harness: Harness, seen: list[tuple[int, int]]) -> Mock:
    """An Ack that notes (Zuora requests, audit rows) at the moment it is called."""
    ack = Mock(spec=Ack)
    ack.side_effect = lambda *a, **k: seen.append(
        (len(harness.zuora.requests()), len(harness.deps.store.list_resends()))
    )
    return ack


def click_body(harness: Harness, element: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The parsed body of a click on `element` (or a menu pick) in an ephemeral card."""
    url = harness.slack.response_url("click")
    return parsed(
        block_actions_body(
            action_id=element["action_id"],
            block_id=element.get("block_id", "b"),
            value=element.get("value"),
            selected_option=element.get("selected_option"),
            response_url=url,
            **extra,
        )
    )
