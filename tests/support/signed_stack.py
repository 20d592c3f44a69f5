"""Talking to a running SandboxStack as Slack does: signed commands and clicks over HTTP, and reading
what the bot posted to the fake Slack's response_urls."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from bot.sandbox.slack_requests import block_actions_body, sign, slash_command_body
from bot.sandbox.stack import SandboxStack

JsonDict = dict[str, Any]


def deliver(stack: SandboxStack, body: bytes) -> None:
    """POST a signed Slack request to the bot; Slack needs the ack within 3 seconds."""
    headers = sign(stack.signing_secret, body, int(time.time()))
    reply = httpx.post(stack.bot_url, content=body, headers=headers, timeout=3.0)
    assert reply.status_code == 200, reply.text


def command(stack: SandboxStack, text: str) -> str:
    """Send `/zuora <text>`; the command's response_url (a slash-command one, as Slack gives)."""
    url = stack.slack.response_url("cmd", kind="command")
    deliver(stack, slash_command_body(text=text, response_url=url))
    return url


def click(stack: SandboxStack, element: JsonDict) -> str:
    """Click a control found by `elements` (a menu pick carries its selected_option); its URL."""
    url = stack.slack.response_url("click")
    body = block_actions_body(
        action_id=str(element["action_id"]),
        block_id=str(element["block_id"]),
        value=element.get("value"),
        selected_option=element.get("selected_option"),
        response_url=url,
    )
    deliver(stack, body)
    return url


def wait_posts(stack: SandboxStack, url: str, count: int, timeout: float = 15.0) -> list[JsonDict]:
    """The posts to `url` once there are at least `count` of them (fails the test otherwise)."""
    reached = stack.slack.wait_for(lambda: len(stack.slack.responses(url)) >= count, timeout)
    posts = stack.slack.responses(url)
    assert reached, f"expected {count} posts, got {len(posts)}: {json.dumps(posts)[:800]}"
    return posts


def elements(message: JsonDict, action_id: str) -> list[JsonDict]:
    """Every control with this action_id (accessories and actions blocks), with its block_id."""
    found = []
    for block in message.get("blocks") or []:
        for element in [block.get("accessory"), *(block.get("elements") or [])]:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                found.append({**element, "block_id": block.get("block_id", "b")})
    return found
