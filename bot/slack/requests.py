"""Typed views of the bodies Bolt hands a listener: a slash command (`Command`) and a click (`Click`).

Listeners read what Slack sent through these properties instead of digging into the raw dicts, so
the shape of Slack's payloads is known in one place. Missing fields read as "" (or None where the
caller must tell absent from empty); nothing here raises on a body Slack did not fill in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


def _dict(value: object) -> Mapping[str, Any]:
    """`value` when it is a mapping, else an empty one (a field Slack left out or sent as null)."""
    return value if isinstance(value, Mapping) else {}


class SlackRequest:
    """What every request carries: who asked, from which workspace, and where to answer."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body

    @property
    def user_id(self) -> str:
        """The Slack user who clicked or typed ("" if Slack did not say)."""
        return str(_dict(self.body.get("user")).get("id") or self.body.get("user_id") or "")

    @property
    def team_id(self) -> str:
        """The Slack workspace (team) of the request."""
        return str(_dict(self.body.get("team")).get("id") or self.body.get("team_id") or "")

    @property
    def response_url(self) -> str | None:
        """Where to answer the request (None if the body has none)."""
        url = self.body.get("response_url")
        return url if isinstance(url, str) and url else None


class Command(SlackRequest):
    """A slash command's body (`/zuora ...`)."""

    @property
    def command(self) -> str:
        """The command itself, e.g. "/zuora"."""
        return str(self.body.get("command") or "")

    @property
    def text(self) -> str:
        """What was typed after the command."""
        return str(self.body.get("text") or "")

    @property
    def channel_id(self) -> str:
        """The channel the command was typed in."""
        return str(self.body.get("channel_id") or "")

    @property
    def trigger_id(self) -> str:
        """The trigger id Slack gives for opening a modal."""
        return str(self.body.get("trigger_id") or "")


@dataclass(frozen=True)
class Picked:
    """One ticked option of a checkbox group in the clicked message's state."""

    action_id: str
    value: str
    text: str


class Click(SlackRequest):
    """A block_actions body and the one action in it that the listener handles."""

    def __init__(self, body: Mapping[str, Any], action: Mapping[str, Any]) -> None:
        super().__init__(body)
        self.action = action

    @property
    def action_id(self) -> str:
        """The clicked element's action id."""
        return str(self.action.get("action_id"))

    @property
    def value(self) -> Any:
        """The clicked button's value as sent (a string from Slack; decoded by the caller)."""
        return self.action.get("value")

    @property
    def selected_value(self) -> Any:
        """The value of the option picked in an overflow menu or select."""
        return _dict(self.action.get("selected_option")).get("value")

    @property
    def block_id(self) -> Any:
        """The block_id of the block holding the clicked element."""
        return self.action.get("block_id")

    @property
    def container(self) -> Mapping[str, Any]:
        """Where the click happened (message, view...), as Slack describes it."""
        return _dict(self.body.get("container"))

    @property
    def is_ephemeral(self) -> bool:
        """Whether the clicked message is one only the clicker sees."""
        return bool(self.container.get("is_ephemeral"))

    @property
    def channel_id(self) -> str:
        """The channel of the clicked message."""
        return str(self.container.get("channel_id") or _dict(self.body.get("channel")).get("id"))

    @property
    def message(self) -> Mapping[str, Any]:
        """The clicked message as Slack sent it back (empty for an ephemeral one it leaves out)."""
        return _dict(self.body.get("message"))

    @property
    def message_ts(self) -> str | None:
        """The clicked message's ts (None when Slack gives none)."""
        ts = self.message.get("ts")
        return str(ts) if ts else None

    @property
    def message_text(self) -> str:
        """The clicked message's fallback text."""
        return str(self.message.get("text") or "")

    @property
    def message_blocks(self) -> list[dict[str, Any]]:
        """The clicked message's blocks."""
        return list(self.message.get("blocks") or [])

    @property
    def message_metadata(self) -> Mapping[str, Any]:
        """The clicked message's metadata (event_type, event_payload), if it has any."""
        return _dict(self.message.get("metadata"))

    def ticked(self, action_ids: tuple[str, ...]) -> Iterator[Picked]:
        """The options ticked in the message's checkbox groups whose action id is in `action_ids`."""
        for block in _dict(_dict(self.body.get("state")).get("values")).values():
            for action_id, element in _dict(block).items():
                if action_id in action_ids:
                    for option in _dict(element).get("selected_options") or []:
                        yield Picked(
                            action_id=action_id,
                            value=str(option.get("value")),
                            text=str(_dict(option.get("text")).get("text", "")),
                        )
