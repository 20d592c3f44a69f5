"""Parsing `/zuora outages [window]`: 24h by default, at most 7 days, clear usage errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.command_text import OutagesCommand, UsageError, parse_zuora_command


@pytest.mark.parametrize(
    ("text", "window", "label"),
    [
        ("outages", timedelta(hours=24), "24h"),
        ("OUTAGES 6H", timedelta(hours=6), "6h"),
        ("outages 90m", timedelta(minutes=90), "90m"),
        ("outages 7d", timedelta(days=7), "7d"),
        ("outages 168h", timedelta(days=7), "168h"),
        ("outage 2d", timedelta(days=2), "2d"),
    ],
)
def test_outages_command_reads_the_window(text: str, window: timedelta, label: str) -> None:
    assert parse_zuora_command(text) == OutagesCommand(window=window, label=label)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("outages 8d", "the maximum is 7 days"),
        ("outages 169h", "the maximum is 7 days"),
        ("outages 999999d", "the maximum is 7 days"),
        ("outages 4m", "the minimum is 5 minutes"),
        ("outages <!channel>", "is not a time window"),
        ("outages 24h A00000001", "Too many words after `outages`"),
    ],
)
def test_outages_command_usage_errors_say_how(text: str, said: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_zuora_command(text)
    assert said in caught.value.message
    assert "<!channel>" not in caught.value.message


def test_outages_typo_suggests_the_command() -> None:
    with pytest.raises(UsageError) as caught:
        parse_zuora_command("outagez 6h")
    assert caught.value.did_you_mean == "outages 6h"
