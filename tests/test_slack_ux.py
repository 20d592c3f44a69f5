"""What a person sees in Slack, through signed dispatch of the real App (issue 20, "In Slack").

A typed account number in the wrong case gets a checked suggestion, a usage error shows only the
usage of the subcommand it is about, the receipt stays true when an error follows it, and
`/zuora status` says once that Zuora accepts the credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stack_fixtures import BIG_ACCOUNT, Harness, all_text, dispatch_harness

from bot.account_case import case_variants
from bot.cards.simple import HELP_LINES

CHANNEL = "C0001"  # the channel slash_command_body sends from


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path) as started:
        started.slack.set_channel(CHANNEL, name="billing-ops", is_member=True)
        yield started


def history_requests(harness: Harness) -> list[object]:
    """Requests that read notification history (a failures scan), as opposed to account lookups."""
    return [r for r in harness.zuora.requests() if "/notification-history/" in r.path]


# --- 1. an account number typed in another case -----------------------------------------------


def test_slack_ux_lowercase_account_number_gets_a_checked_did_you_mean(harness: Harness) -> None:
    typed = BIG_ACCOUNT.lower()

    reply = harness.command(f"failures {typed} 7d")

    (answer,) = harness.posts(reply.response_url)
    shown = all_text(answer)
    assert f"Zuora has no account `{typed}`, but it has `{BIG_ACCOUNT}`" in shown
    assert f"Did you mean `/zuora failures {BIG_ACCOUNT} 7d`?" in shown
    assert harness.account_name() in shown
    # A suggestion, not a silent rewrite: the typed key went to Zuora first, and no scan ran.
    looked_up = [r.path for r in harness.zuora.requests() if r.path.startswith("/v1/accounts/")]
    assert looked_up[0] == f"/v1/accounts/{typed}"
    assert f"/v1/accounts/{BIG_ACCOUNT}" in looked_up
    assert history_requests(harness) == []


def test_slack_ux_unknown_account_in_any_case_gets_no_suggestion(harness: Harness) -> None:
    reply = harness.command("failures a99999999")

    (answer,) = harness.posts(reply.response_url)
    assert "Zuora has no account `a99999999`." in answer["text"]
    assert "Did you mean" not in all_text(answer)


def test_slack_ux_digest_subscribe_suggests_the_account_in_its_case(harness: Harness) -> None:
    typed = BIG_ACCOUNT.lower()

    reply = harness.command(f"digest subscribe account {typed}")

    (answer,) = harness.posts(reply.response_url)
    assert f"Zuora has no account `{typed}`; Did you mean `{BIG_ACCOUNT}`?" in all_text(answer)
    assert harness.deps.store.list_subscriptions(team_id="T0001", channel_id=CHANNEL) == []


def test_slack_ux_case_variants_are_the_other_cases_only() -> None:
    assert case_variants("a00000001") == ["A00000001"]
    assert case_variants("Acme-01") == ["ACME-01", "acme-01"]
    assert case_variants("12345") == []


# --- 2. a usage error shows the usage line of its subcommand ----------------------------------


def usage_of(prefix: str) -> list[str]:
    return [example for example, _ in HELP_LINES if example.startswith(prefix)]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("failures", usage_of("failures")),
        ("failures A00000001 90d", usage_of("failures")),
        ("outages 9d", usage_of("outages")),
        ("resend nope", usage_of("resend")),
        ("status now", usage_of("status")),
        ("audit a b", usage_of("audit")),
        ("digest subscribe at 25:00", usage_of("digest subscribe")),
        ("digest unsubscribe x", usage_of("digest unsubscribe")),
        ("digest", usage_of("digest")),
        ("alerts subscribe threshold x", usage_of("alerts subscribe")),
        ("alert unsubscribe", usage_of("alerts unsubscribe")),
        ("fialures A00000001", []),
    ],
)
def test_slack_ux_usage_error_shows_only_that_subcommands_usage(
    harness: Harness, text: str, shown: list[str]
) -> None:
    reply = harness.command(text)

    ack = all_text(reply.ack)
    assert ":warning:" in ack
    for example, _ in HELP_LINES:
        assert (f"• `/zuora {example}` — " in ack) == (example in shown), example
    assert "`/zuora help` lists every command" in ack
    assert "/zuora commands" not in ack, "the whole help card came back"
    assert harness.zuora.requests() == []


def test_slack_ux_unknown_command_still_offers_its_did_you_mean(harness: Harness) -> None:
    reply = harness.command("fialures A00000001")

    assert "Did you mean `/zuora failures A00000001`?" in all_text(reply.ack)


# --- 3. the receipt stays true whatever follows ------------------------------------------------


@pytest.mark.parametrize("account", ["A99999999", BIG_ACCOUNT])
def test_slack_ux_receipt_is_true_whether_a_card_or_an_error_follows(
    harness: Harness, account: str
) -> None:
    reply = harness.command(f"failures {account}")

    receipt = all_text(reply.ack)
    assert "the answer follows below" in receipt
    assert "card" not in receipt.lower()
    (answer,) = harness.posts(reply.response_url)
    is_error = account == "A99999999"
    assert (":warning:" in all_text(answer)) == is_error


# --- 4. /zuora status says it once --------------------------------------------------------------


def test_slack_ux_status_says_once_that_the_credentials_are_accepted(harness: Harness) -> None:
    reply = harness.command("status")

    (answer,) = harness.posts(reply.response_url)
    shown = all_text(answer)
    assert ":white_check_mark: *Zuora accepts the bot's credentials.*" in shown
    assert shown.lower().count("accept") == 1, shown
    assert answer["text"] == "Zuora: OK."
