"""SlackMessage (text fallback + blocks) and the limit check for what slack_sdk does not verify."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MAX_BLOCKS = 50
MAX_FIELD_CHARS = 2000
MAX_CHECKBOX_OPTIONS = 10
MIN_OVERFLOW_OPTIONS = 2
MAX_OVERFLOW_OPTIONS = 5
MAX_BLOCKS_JSON_CHARS = 12_000  # measured by blocks_size()
MAX_TEXT_CHARS = 40_000


class BlockLimitError(ValueError):
    """A message breaks a Slack limit that slack_sdk does not check (slack-platform.md §5)."""


@dataclass(frozen=True)
class SlackMessage:
    """What we send: a non-empty `text` fallback (notifications, screen readers) and Block Kit blocks."""

    text: str
    blocks: list[dict[str, Any]]

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise BlockLimitError("a message needs a non-empty text fallback")

    def as_payload(self, **flags: Any) -> dict[str, Any]:
        """`text` and a copy of `blocks`, plus flags such as replace_original, for chat/respond calls."""
        return {"text": self.text, "blocks": copy.deepcopy(self.blocks), **flags}


def blocks_size(blocks: list[dict[str, Any]]) -> int:
    """UTF-8 bytes of the blocks as compact JSON: never fewer than the characters Slack counts."""
    return len(json.dumps(blocks, separators=(",", ":"), ensure_ascii=False).encode())


def check_limits(message: SlackMessage) -> None:
    """Raise BlockLimitError if the message breaks a limit slack_sdk leaves to us."""
    if not message.text.strip():
        raise BlockLimitError("empty text fallback")
    if len(message.text) > MAX_TEXT_CHARS:
        raise BlockLimitError(f"text fallback has {len(message.text)} chars (max {MAX_TEXT_CHARS})")
    blocks = message.blocks
    if len(blocks) > MAX_BLOCKS:
        raise BlockLimitError(f"{len(blocks)} blocks (max {MAX_BLOCKS})")
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in block_ids:
                raise BlockLimitError(f"block_id {block_id!r} is used twice")
            block_ids.add(block_id)
        for field in block.get("fields") or []:
            if len(field.get("text", "")) > MAX_FIELD_CHARS:
                raise BlockLimitError(f"block {index}: a field is over {MAX_FIELD_CHARS} chars")
        action_ids: set[str] = set()
        for element in _interactive_elements(block):
            action_id = element.get("action_id")
            if action_id is not None:
                if action_id in action_ids:
                    raise BlockLimitError(f"block {index}: action_id {action_id!r} is used twice")
                action_ids.add(action_id)
            if element.get("type") == "checkboxes":
                count = len(element.get("options") or [])
                if not 1 <= count <= MAX_CHECKBOX_OPTIONS:
                    raise BlockLimitError(
                        f"block {index}: {count} checkbox options (1 to {MAX_CHECKBOX_OPTIONS})"
                    )
            if element.get("type") == "overflow":
                # slack_sdk allows one option; Slack wants at least two in an overflow menu.
                count = len(element.get("options") or [])
                if not MIN_OVERFLOW_OPTIONS <= count <= MAX_OVERFLOW_OPTIONS:
                    raise BlockLimitError(
                        f"block {index}: {count} overflow options "
                        f"({MIN_OVERFLOW_OPTIONS} to {MAX_OVERFLOW_OPTIONS})"
                    )
    size = blocks_size(blocks)
    if size > MAX_BLOCKS_JSON_CHARS:
        raise BlockLimitError(f"blocks are {size} chars of JSON (budget {MAX_BLOCKS_JSON_CHARS})")


def _interactive_elements(block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if block.get("type") == "actions":
        yield from block.get("elements") or []
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict):
            yield block[key]
