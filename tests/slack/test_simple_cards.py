"""Tests for the simple cards: help, error, status, access denied, stale button, placeholder and notice."""

from __future__ import annotations

import pytest

from bot.failures.status_card import build_status
from bot.slack.simple_cards import (
    build_access_denied,
    build_error,
    build_help,
    build_notice,
    build_placeholder,
    build_stale_button,
)
from tests.support.cards import assert_within_slack_limits, mrkdwn_texts


def test_build_help_snapshot(snapshot):
    assert build_help().as_payload() == snapshot


def test_build_help_after_usage_error_snapshot(snapshot):
    message = build_help(
        error="`/zuora` has no `failure` command.", did_you_mean="failures A00000001 7d"
    )
    assert message.as_payload() == snapshot


def test_build_error_with_incident_snapshot(snapshot):
    message = build_error(
        "Something went wrong inside the bot.",
        hint="An admin can find the details in the logs.",
        incident_id="ab12cd",
    )
    assert message.as_payload() == snapshot


def test_build_status_snapshot(snapshot):
    message = build_status(
        zuora_ok=True,
        detail="OAuth token issued for client 4c1a…6f70.",
        token_expires_in=3125.0,
        config=[
            ("ZUORA_BASE_URL", "https://rest.apisandbox.zuora.com"),
            ("ZUORA_TENANT_TIMEZONE", "America/Los_Angeles"),
            ("RESEND_ALLOWED_USERS", "U0ALLOWED"),
        ],
    )
    assert message.as_payload() == snapshot


def test_build_status_failing_snapshot(snapshot):
    message = build_status(
        zuora_ok=False,
        detail="Zuora rejected the bot's credentials.",
        token_expires_in=None,
        config=[],
    )
    assert message.as_payload() == snapshot


def test_build_access_denied_snapshot(snapshot):
    assert build_access_denied(contact="#billing-ops").as_payload() == snapshot


def test_build_stale_button_snapshot(snapshot):
    assert build_stale_button().as_payload() == snapshot


def test_build_placeholder_snapshot(snapshot):
    message = build_placeholder("Looking up failures for A00000001, last 24h…")
    assert message.as_payload() == snapshot


def test_build_notice_snapshot(snapshot):
    assert build_notice("Cancelled by <@U0ALLOWED>. Nothing was resent.").as_payload() == snapshot


def test_build_help_lists_every_subcommand_with_an_example():
    text = "\n".join(mrkdwn_texts(build_help()))
    for example in (
        "/zuora help",
        "/zuora failures A00000001 7d",
        "/zuora resend ",
        "/zuora status",
        "/zuora audit",
        "/zuora digest subscribe",
        "/zuora digest list",
        "/zuora digest unsubscribe",
        "/zuora digest preview",
    ):
        assert example in text


def test_build_help_escapes_the_error_and_the_suggestion():
    message = build_help(error="bad <!channel>", did_you_mean="failures <!here>")
    texts = "\n".join(mrkdwn_texts(message))
    assert "<!channel>" not in texts and "<!here>" not in texts
    assert "`/zuora failures &lt;!here&gt;`" in texts
    assert message.text == "bad &lt;!channel&gt;"


def test_build_error_quotes_the_incident():
    message = build_error("Boom & <bust>", incident_id="ab12cd")
    assert message.blocks[0]["text"]["text"] == ":warning: Boom &amp; &lt;bust&gt;"
    assert (
        message.blocks[1]["elements"][0]["text"] == "Quote incident `ab12cd` when you report this."
    )
    without = build_error("Boom")
    assert len(without.blocks) == 1


def test_build_status_splits_many_settings_into_field_sections():
    config = [(f"SETTING_{n}", "v" * 3000) for n in range(45)]
    message = build_status(zuora_ok=True, detail="ok", token_expires_in=30.0, config=config)
    assert_within_slack_limits(message)
    assert all(len(b.get("fields", [])) <= 10 for b in message.blocks)
    assert "…and 25 more settings" in "\n".join(mrkdwn_texts(message))


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (None, "No OAuth token"),
        (-1.0, "has expired"),
        (42.0, "42 s"),
        (600.0, "10 min"),
        (3725.0, "1 h 2 min"),
    ],
)
def test_build_status_describes_the_token(seconds, words):
    message = build_status(zuora_ok=True, detail="ok", token_expires_in=seconds, config=[])
    assert words in message.blocks[1]["elements"][0]["text"]


def test_build_access_denied_names_the_contact_and_says_nothing_was_resent():
    message = build_access_denied(contact="#billing-ops")
    assert message.text.startswith("You are not on the resend allow-list; ask #billing-ops")
    assert message.text.endswith("Nothing was resent.")
    mention = build_access_denied(contact="<#C0123ABCD|billing-ops>")
    assert "ask <#C0123ABCD|billing-ops> to add" in mention.text
    hostile = build_access_denied(contact="<!channel>")
    assert "<!channel>" not in hostile.text


def test_build_stale_button_says_to_run_the_command_again():
    text = build_stale_button().text
    assert "older card" in text and "/zuora failures" in text
