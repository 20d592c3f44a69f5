"""`/zuora alerts updates <id> thread|edit`: parsed, or a usage error that says what to type."""

from __future__ import annotations

import pytest

from bot.core.command_text import AlertUpdatesCommand, UsageError, parse_zuora_command


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("alerts updates 3 edit", AlertUpdatesCommand(subscription_id=3, updates="edit")),
        ("alerts updates #12 THREAD", AlertUpdatesCommand(subscription_id=12, updates="thread")),
        ("alert updates 1 thread", AlertUpdatesCommand(subscription_id=1, updates="thread")),
    ],
)
def test_alerts_updates_parses(text: str, parsed: AlertUpdatesCommand) -> None:
    assert parse_zuora_command(text) == parsed


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("alerts updates", "Which alert, and thread or edit?"),
        ("alerts updates 3", "Which alert, and thread or edit?"),
        ("alerts updates x edit", "is not an alert id"),
        ("alerts updates 0 edit", "is not an alert id"),
        ("alerts updates 3 loud", "not `loud`"),
        ("alerts updates 3 edit now", "Which alert, and thread or edit?"),
    ],
)
def test_alerts_updates_usage_errors(text: str, says: str) -> None:
    with pytest.raises(UsageError) as error:
        parse_zuora_command(text)
    assert says in str(error.value)
    assert "/zuora alerts updates <id> thread|edit" in str(error.value)


def test_a_misspelt_updates_is_suggested() -> None:
    with pytest.raises(UsageError) as error:
        parse_zuora_command("alerts updatse 3 edit")
    assert error.value.did_you_mean == "alerts updates 3 edit"
