"""Test doubles for in-process crash tests: a process death, and a Slack client that dies around a post."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient


class Crash(BaseException):
    """The process dies here (not an Exception, so nothing in the bot catches it)."""


class CrashingSlack:
    """The real WebClient, except that chat.postMessage can crash before or after Slack takes it.

    `crash`: None, "before" (nothing posted), "after" (posted, the answer lost with the process) or
    "no-answer" (posted, then the connection resets before Slack's answer arrives).
    """

    def __init__(self, client: WebClient, crash: str | None = None) -> None:
        self._client = client
        self.crash = crash

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def chat_postMessage(self, **kwargs: Any) -> Any:  # noqa: N802 - WebClient's name
        if self.crash == "before":
            raise Crash("killed before the post left")
        response = self._client.chat_postMessage(**kwargs)
        if self.crash == "after":
            raise Crash("killed after Slack took the post")
        if self.crash == "no-answer":
            raise ConnectionResetError("connection reset before the answer")
        return response
