"""Helpers of the link tests: a user shares a Zuora link (signed link_shared over HTTP), a user runs
the message shortcut (signed message_action over HTTP), and what came back."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.failures.cards import account_url
from bot.sandbox.fake_slack_links import (
    SharedMessage,
    link_shared_body,
    message_action_body,
    sign_json,
    user_message,
)
from bot.sandbox.stack import SandboxStack
from bot.zuora.models import Account
from handlers.shortcuts import FAILURES_FOR_MESSAGE
from tests.support.signed_stack import deliver

JsonDict = dict[str, Any]


def ui_url(stack: SandboxStack) -> str:
    """The sandbox's ZUORA_UI_URL."""
    return stack.settings().zuora.ui_url


def account_link(stack: SandboxStack, number: str) -> str:
    """The link the bot's own cards give for an account of the sandbox tenant."""
    assert stack.tenant is not None
    fake = stack.tenant.account(number)
    assert fake is not None, number
    return account_url(ui_url(stack), Account(id=fake.id, number=fake.number, name=fake.name))


def share(
    stack: SandboxStack, typed: str, *, source: str = "conversations_history"
) -> SharedMessage:
    """A user posts `typed`; Slack sends the bot a signed link_shared for its Zuora links."""
    host = urlsplit(ui_url(stack)).hostname or ""
    shared = stack.slack.links.share(typed, domains=(host,), source=source)
    body = link_shared_body(shared)
    headers = sign_json(stack.signing_secret, body, int(time.time()))
    reply = httpx.post(stack.bot_url, content=body, headers=headers, timeout=3.0)
    assert reply.status_code == 200, reply.text
    return shared


def wait_unfurls(stack: SandboxStack, shared: SharedMessage, count: int) -> dict[str, JsonDict]:
    """The unfurls attached to `shared` once chat.unfurl gave it `count` of them."""
    reached = stack.slack.wait_for(lambda: len(stack.slack.links.unfurls(shared)) >= count, 15.0)
    found = stack.slack.links.unfurls(shared)
    assert reached, f"expected {count} unfurls, got {found}"
    return found


def run_shortcut(stack: SandboxStack, message: JsonDict, *, user_id: str = "U0001") -> str:
    """Run "Zuora account failures" on `message`; the shortcut's response_url."""
    url = stack.slack.response_url("shortcut")
    body = message_action_body(
        message, callback_id=FAILURES_FOR_MESSAGE, response_url=url, user_id=user_id
    )
    deliver(stack, body)
    return url


def shortcut_on(stack: SandboxStack, typed: str) -> str:
    """A user posts `typed` and runs the shortcut on it; the shortcut's response_url."""
    shared = stack.slack.links.share(typed, domains=())
    return run_shortcut(stack, user_message(shared))
