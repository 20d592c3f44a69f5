"""`alerts subscribe` says how often the clock checks in words that fit any interval (the demo's 10 s)."""

from __future__ import annotations

import pytest

from bot.alerts.cards import every


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (300.0, "every 5 minutes"),
        (60.0, "every minute"),
        (10.0, "every 10 seconds"),
        (1.0, "every second"),
        (90.0, "every 90 seconds"),
        (3600.0, "every 60 minutes"),
    ],
)
def test_every_says_the_interval(seconds: float, words: str) -> None:
    assert every(seconds) == words
