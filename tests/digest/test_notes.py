"""DigestNotes: edits of one digest build on the last accepted write, and only on that."""

from __future__ import annotations

from typing import Any

from bot.digest.notes import DigestNotes
from bot.slack.message import SlackMessage

CLICKED = [{"type": "divider"}]


def add(text: str) -> Any:
    def build(blocks: list[dict[str, Any]]) -> SlackMessage:
        return SlackMessage("digest", [*blocks, {"type": "context", "text": text}])

    return build


def test_digest_notes_build_on_the_last_accepted_write_until_it_expires() -> None:
    now = [0.0]
    notes = DigestNotes(ttl=60, timer=lambda: now[0])
    written: list[SlackMessage] = []

    def accept(message: SlackMessage) -> bool:
        written.append(message)
        return True

    assert notes.edit("C1", "1.1", CLICKED, add("first"), accept)
    assert notes.edit("C1", "1.1", CLICKED, add("second"), accept)
    assert [len(m.blocks) for m in written] == [2, 3], "the second edit kept the first note"
    assert not notes.edit("C1", "1.1", CLICKED, add("refused"), lambda message: False)
    assert notes.edit("C1", "1.1", CLICKED, add("third"), accept)
    assert len(written[-1].blocks) == 4, "a refused write is not remembered"
    now[0] = 61
    assert notes.edit("C1", "1.1", CLICKED, add("late"), accept)
    assert written[-1].blocks == [*CLICKED, {"type": "context", "text": "late"}]
