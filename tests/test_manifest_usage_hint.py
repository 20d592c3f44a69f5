"""The /zuora usage hint in manifest.json names every subcommand, and each example in it parses."""

from __future__ import annotations

import json
from pathlib import Path

from bot.core.command_text import SUBCOMMANDS, UsageError, parse_zuora_command

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.json"


def _hint() -> str:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    (command,) = manifest["features"]["slash_commands"]
    hint: str = command["usage_hint"]
    return hint


def test_usage_hint_names_every_subcommand() -> None:
    named = {part.split()[0] for part in _hint().split("|")}
    assert set(SUBCOMMANDS) <= named, sorted(set(SUBCOMMANDS) - named)


def test_usage_hint_examples_parse() -> None:
    for part in _hint().split("|"):
        example = part.strip().replace("<id>", "8a8082c45f3e4c2b9d0e1f2a3b4c5d6e")
        try:
            parse_zuora_command(example)
        except UsageError as exc:  # pragma: no cover - the message says which example broke
            raise AssertionError(f"usage hint example {example!r} does not parse: {exc}") from exc
