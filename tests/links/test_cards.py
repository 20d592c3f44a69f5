"""The unfurl and shortcut cards: Zuora text never forms a Slack token, Slack's limits hold."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.links.cards import (
    MAX_CHOICES,
    build_account_choice,
    build_account_unfurl,
    build_no_account_found,
    build_unknown_account_unfurl,
)
from bot.slack.message import SlackMessage
from tests.support.cards import (
    HOSTILE,
    UI_URL,
    assert_no_foreign_tokens,
    assert_within_slack_limits,
    hostile_failures,
    make_failures,
    mrkdwn_texts,
)


def as_message(unfurl: dict[str, object]) -> SlackMessage:
    blocks = unfurl["blocks"]
    assert isinstance(blocks, list)
    return SlackMessage(text="unfurl", blocks=blocks)


@pytest.mark.parametrize(
    "message",
    [
        as_message(build_account_unfurl(hostile_failures(), ui_url=UI_URL)),
        as_message(build_unknown_account_unfurl(HOSTILE)),
        build_account_choice([HOSTILE, "A00000001"]),
    ],
)
def test_link_cards_never_let_zuora_or_user_text_form_slack_tokens(message: SlackMessage) -> None:
    assert_within_slack_limits(message)
    for text in [message.text, *mrkdwn_texts(message)]:
        assert_no_foreign_tokens(text)


def test_account_unfurl_without_failures_has_no_button_and_says_so() -> None:
    unfurl = build_account_unfurl(make_failures(0, 0), ui_url=UI_URL)

    text = str(unfurl)
    assert "No failed callouts or emails in the last 24h" in text
    assert "zuora.open_failures" not in text


def test_account_unfurl_names_the_newest_failure_of_either_kind() -> None:
    failures = make_failures(2, 3)
    newest = max(
        [c.create_time for c in failures.callouts] + [e.send_time for e in failures.emails]
    )
    callout_last = replace(
        failures,
        callouts=[
            failures.callouts[0].model_copy(update={"create_time": newest.replace(year=2099)})
        ],
    )
    email_last = replace(
        failures,
        emails=[failures.emails[0].model_copy(update={"send_time": newest.replace(year=2099)})],
    )

    assert "Newest: callout" in str(build_account_unfurl(callout_last, ui_url=UI_URL))
    assert "Newest: email" in str(build_account_unfurl(email_last, ui_url=UI_URL))


def test_account_unfurl_never_shows_a_callout_url() -> None:
    failures = make_failures(2, 0)
    secret = "https://hooks.acme.example/cb?token=whsec_123"
    failures = replace(
        failures, callouts=[c.model_copy(update={"request_url": secret}) for c in failures.callouts]
    )

    unfurl = build_account_unfurl(failures, ui_url=UI_URL)

    assert "hooks.acme.example" not in str(unfurl) and "whsec_123" not in str(unfurl)
    assert "Newest: callout" in str(unfurl)


def test_account_choice_offers_at_most_slacks_options_and_says_how_many() -> None:
    keys = [f"A{n:08d}" for n in range(MAX_CHOICES + 5)]

    choice = build_account_choice(keys)

    (select,) = [b["accessory"] for b in choice.blocks if "accessory" in b]
    assert len(select["options"]) == MAX_CHOICES
    assert f"names {len(keys)} accounts" in choice.text


def test_no_account_found_says_what_it_looks_for() -> None:
    assert "A00000001" in str(build_no_account_found().blocks)
