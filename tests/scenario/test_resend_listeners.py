"""The resend listeners called directly: ack comes before slow work, and odd clicks change nothing.

The listeners get a `Mock(spec=Ack)` whose side effect records what Zuora and the store had seen at
the moment of the ack, and the real Deps wired to the sandbox Zuora and the fake Slack.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import pytest
from slack_bolt import Ack

from handlers.resend import handle_resend_button, handle_resend_selected, handle_row_menu
from tests.support.listeners import click_body, recording_ack
from tests.support.stack_fixtures import (
    ORDINARY_ACCOUNT,
    Harness,
    button,
    dispatch_harness,
    ids_of,
    menu_option,
)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path, allowed_users="U0001,S0BILLING") as started:
        yield started


def test_listeners_resend_button_acks_before_the_audit_row_and_the_resend(
    harness: Harness,
) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)
    row = button(card, "zuora.resend_email")
    harness.zuora.reset_log()
    seen: list[tuple[int, int]] = []
    ack = recording_ack(harness, seen)
    body = click_body(harness, row)

    handle_resend_button(harness.deps, ack, body, body["actions"][0])

    ack.assert_called_once_with()
    assert seen == [(0, 0)]
    assert harness.resends() == [("email", tuple(ids_of(row)))]
    assert [e.status for e in harness.deps.store.list_resends()] == ["succeeded"]


def test_listeners_row_menu_resend_acks_before_the_audit_row_and_the_resend(
    harness: Harness,
) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)
    pick = menu_option(card, "Resend")
    harness.zuora.reset_log()
    seen: list[tuple[int, int]] = []
    ack = recording_ack(harness, seen)
    body = click_body(harness, pick)

    handle_row_menu(harness.deps, ack, body, body["actions"][0])

    ack.assert_called_once_with()
    assert seen == [(0, 0)]
    assert harness.resends() == [("callout", tuple(ids_of(pick)))]
    assert [e.status for e in harness.deps.store.list_resends()] == ["succeeded"]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        pytest.param([], "Tick at least one email or callout first", id="nothing-ticked"),
        pytest.param(
            [{"text": {"type": "mrkdwn", "text": "x"}, "value": "email:../../v1/x"}],
            "This button is from an older card",
            id="forged-option",
        ),
    ],
)
def test_listeners_resend_selected_without_valid_ticks_resends_nothing(
    harness: Harness, options: list[dict[str, Any]], said: str
) -> None:
    card = harness.card_for()
    box = button(card, "zuora.select_emails")
    state = {
        box["block_id"]: {box["action_id"]: {"type": "checkboxes", "selected_options": options}}
    }
    body = click_body(harness, button(card, "zuora.resend_selected"), state_values=state)
    ack = Mock(spec=Ack)

    handle_resend_selected(harness.deps, ack, body, body["actions"][0])

    ack.assert_called_once_with()
    (post,) = harness.posts(body["response_url"])
    assert said in post["text"] and post["replace_original"] is False
    assert harness.resends() == []
    assert harness.deps.store.list_resends() == []


def test_listeners_group_check_failure_says_so_and_resends_nothing(harness: Harness) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)
    body = click_body(harness, button(card, "zuora.resend_email"), user_id="U0OTHER")
    harness.slack.fail_next(
        "usergroups.users.list", status=200, retry_after=None, error="fatal_error"
    )
    ack = Mock(spec=Ack)

    handle_resend_button(harness.deps, ack, body, body["actions"][0])

    ack.assert_called_once_with()
    (post,) = harness.posts(body["response_url"])
    assert "Slack could not confirm your user-group membership" in post["text"]
    assert post["replace_original"] is False
    assert harness.resends() == []
    assert harness.deps.store.list_resends() == []
