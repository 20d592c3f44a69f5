"""Build signed slash-command and block_actions requests shaped exactly like the ones Slack sends."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Final
from urllib.parse import urlencode

FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"
DEFAULT_TRIGGER_ID: Final = "1700000000001.1000000001.0123456789abcdef0123456789abcdef"
DEFAULT_ACTION_TS: Final = "1700000000.000001"
DEFAULT_EPHEMERAL_TS: Final = "1700000000.000002"
# The deprecated verification token Slack still puts in every payload; never used for auth.
VERIFICATION_TOKEN: Final = "fake-verification-token"

JsonDict = dict[str, Any]


def sign(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Headers Slack sends: timestamp, `v0=` HMAC-SHA256 of `v0:{ts}:{body}`, and the form content type."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": FORM_CONTENT_TYPE,
    }


def slash_command_body(
    *,
    text: str,
    response_url: str,
    user_id: str = "U0001",
    team_id: str = "T0001",
    channel_id: str = "C0001",
    command: str = "/zuora",
    trigger_id: str = DEFAULT_TRIGGER_ID,
    user_name: str = "alice",
    team_domain: str = "fake-team",
    channel_name: str = "general",
    api_app_id: str = "A0001",
    enterprise_id: str | None = None,
) -> bytes:
    """Form-encoded body of a slash command invocation, with every field Slack sends."""
    fields: dict[str, str] = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": team_domain,
    }
    if enterprise_id is not None:
        fields["enterprise_id"] = enterprise_id
        fields["enterprise_name"] = "Fake Org"
    fields.update(
        {
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )
    return urlencode(fields).encode()


def block_actions_body(
    *,
    action_id: str,
    block_id: str,
    response_url: str,
    value: str | None = None,
    user_id: str = "U0001",
    team_id: str = "T0001",
    channel_id: str = "C0001",
    message: JsonDict | None = None,
    state_values: JsonDict | None = None,
    action_type: str = "button",
    action_text: str = "Button",
    action_ts: str = DEFAULT_ACTION_TS,
    trigger_id: str = DEFAULT_TRIGGER_ID,
    message_ts: str | None = None,
    selected_option: JsonDict | None = None,
) -> bytes:
    """Form body (`payload=` JSON) of a block_actions click; `message=None` means an ephemeral card.

    With `selected_option`, the click is a pick from an overflow menu: Slack then sends the option
    (text and value) instead of a button's text and value.
    """
    action: JsonDict = {
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": action_text, "emoji": True},
        "type": action_type,
        "action_ts": action_ts,
    }
    if selected_option is not None:
        action = {
            "type": "overflow",
            "action_id": action_id,
            "block_id": block_id,
            "selected_option": {
                "text": dict(selected_option.get("text") or {}),
                "value": selected_option.get("value"),
            },
            "action_ts": action_ts,
        }
    elif value is not None:
        action["value"] = value
    return _interaction_body(
        action,
        response_url=response_url,
        user_id=user_id,
        team_id=team_id,
        channel_id=channel_id,
        message=message,
        state_values=state_values,
        trigger_id=trigger_id,
        message_ts=message_ts,
    )


def checkbox_option(value: str, text: str | None = None) -> JsonDict:
    """One checkbox option as Slack echoes it back in `selected_options`."""
    return {"text": {"type": "mrkdwn", "text": text if text is not None else value}, "value": value}


def checkboxes_state(block_id: str, action_id: str, selected_options: list[JsonDict]) -> JsonDict:
    """`state.values` fragment for a checkboxes element, for a later button click to carry."""
    return {
        block_id: {
            action_id: {"type": "checkboxes", "selected_options": list(selected_options)},
        }
    }


def checkbox_action_body(
    *,
    action_id: str,
    block_id: str,
    response_url: str,
    selected_options: list[JsonDict],
    user_id: str = "U0001",
    team_id: str = "T0001",
    channel_id: str = "C0001",
    message: JsonDict | None = None,
    state_values: JsonDict | None = None,
    action_ts: str = DEFAULT_ACTION_TS,
    trigger_id: str = DEFAULT_TRIGGER_ID,
    message_ts: str | None = None,
) -> bytes:
    """Form body of the block_actions payload Slack sends on every checkbox tick or untick."""
    action: JsonDict = {
        "type": "checkboxes",
        "block_id": block_id,
        "action_id": action_id,
        "selected_options": list(selected_options),
        "action_ts": action_ts,
    }
    # Slack reports the element's new selection in state.values too.
    state = {**(state_values or {})}
    state[block_id] = {
        **state.get(block_id, {}),
        **checkboxes_state(block_id, action_id, selected_options)[block_id],
    }
    return _interaction_body(
        action,
        response_url=response_url,
        user_id=user_id,
        team_id=team_id,
        channel_id=channel_id,
        message=message,
        state_values=state,
        trigger_id=trigger_id,
        message_ts=message_ts,
    )


def _interaction_body(
    action: JsonDict,
    *,
    response_url: str,
    user_id: str,
    team_id: str,
    channel_id: str,
    message: JsonDict | None,
    state_values: JsonDict | None,
    trigger_id: str,
    message_ts: str | None,
) -> bytes:
    if message is not None and "ts" not in message:
        raise ValueError("message must carry its 'ts'")
    container: JsonDict = {
        "type": "message",
        "message_ts": message_ts or (message["ts"] if message else DEFAULT_EPHEMERAL_TS),
        "channel_id": channel_id,
        "is_ephemeral": message is None,
    }
    payload: JsonDict = {
        "type": "block_actions",
        "user": {"id": user_id, "username": "alice", "name": "alice", "team_id": team_id},
        "api_app_id": "A0001",
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": "fake-team"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "general"},
    }
    if message is not None:
        payload["message"] = message
    payload["state"] = {"values": state_values or {}}
    payload["response_url"] = response_url
    payload["actions"] = [action]
    return urlencode({"payload": json.dumps(payload)}).encode()
