"""The answer that settles a signed slash command: the ack, or the post that replaced the placeholder."""

from __future__ import annotations

from typing import Any

from tests.support.stack_fixtures import Harness

CHANNEL = "C0001"  # the channel slash_command_body sends from


def settled(harness: Harness, text: str, *, user_id: str = "U0ALLOWED") -> dict[str, Any]:
    """The message that settles a command: the ack, or the post that replaced the placeholder."""
    reply = harness.command(text, user_id=user_id)
    assert reply.status == 200
    posts = harness.posts(reply.response_url)
    return posts[-1] if posts else reply.ack
