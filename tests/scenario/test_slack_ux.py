"""What a person sees in Slack, through signed dispatch of the real App (issue 20, "In Slack").

A typed account number in the wrong case gets a checked suggestion, a usage error shows only the
usage of the subcommand it is about, the receipt stays true when an error follows it, and
`/zuora status` says once that Zuora accepts the credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.cli.outages import _outages_json
from bot.core.actions import ActionId
from bot.digest.cards import RESEND_ALL_BUTTONS, build_digest
from bot.digest.summary import DigestSummary, summarize
from bot.failures.account_case import case_variants
from bot.failures.cards import build_failures_card
from bot.failures.results import AccountFailures
from bot.outages.affected import AccountTally, count_account_keys, count_accounts
from bot.outages.cards import build_outages_card
from bot.outages.causes import OutageScan
from bot.sandbox.tenant import build_tenant
from bot.slack.simple_cards import HELP_LINES
from bot.zuora.models import Account, CalloutHistory, EmailHistory, TimeWindow
from tests.support.stack_fixtures import (
    BIG_ACCOUNT,
    Harness,
    all_text,
    buttons,
    dispatch_harness,
    mrkdwn_texts,
)

CHANNEL = "C0001"  # the channel slash_command_body sends from
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
UI_URL = "https://www.zuora.com"


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


# --- 7. checkbox labels tell the rows of a full page apart -------------------------------------


def test_slack_ux_full_page_checkbox_labels_name_subject_and_endpoint(harness: Harness) -> None:
    card = harness.card_for(BIG_ACCOUNT)
    emails = {email.id: email for email in harness.tenant.emails}
    callouts = {callout.id: callout for callout in harness.tenant.callouts}

    email_labels = options_of(card, "zuora.select_emails")
    assert len(email_labels) == 10, "a full page: ten emails to tick"
    assert len({email.to_email for email in (emails[i] for i in email_labels)}) == 1
    for history_id, text in email_labels.items():
        number, _, label = text.partition(". ")
        assert number.isdigit() and len(text) <= 75
        # The subject leads (cut to the card's room): the recipient is the same on every row.
        subject = emails[history_id].subject
        assert label.rstrip("…") and subject.startswith(label.rstrip("…").split(" · ")[0])
    # Rows whose subjects differ get different labels (before: the one recipient, ten times).
    rows = [(emails[i].subject, text.partition(". ")[2]) for i, text in email_labels.items()]
    assert len({subject for subject, _ in rows}) > 5
    for subject, label in rows:
        assert all(label != other for theirs, other in rows if theirs != subject), label

    callout_labels = options_of(card, "zuora.select_callouts")
    assert len(callout_labels) == 10
    for history_id, text in callout_labels.items():
        callout = callouts[history_id]
        path = urlsplit(callout.request_url).path
        code = str(callout.response_code)
        answer = code if int(code) > 0 else "no response"
        assert text.partition(". ")[2].startswith(f"{answer} {path[:10]}"), text
        assert "hooks." not in text and len(text) <= 75


def test_slack_ux_checkbox_labels_from_the_builder_differ_and_stay_one_plain_line() -> None:
    window = TimeWindow.ending_at(NOW, timedelta(hours=24), "24h")
    account = Account(id="8a" * 16, number="A00000001", name="Acme Corp")
    emails = [
        EmailHistory.model_validate(
            {
                "id": f"{n:032x}",
                "sendTime": NOW - timedelta(minutes=n + 1),
                "toEmail": "billing@acme.example",
                "subject": f"Invoice INV{n:05d} <!channel>\nis available",
                "notification": "Invoice Posted",
                "result": "Failed",
                "errorMessage": "550 5.1.1 user unknown",
            }
        )
        for n in range(10)
    ]
    failures = AccountFailures(account=account, window=window, callouts=[], emails=emails)

    card = build_failures_card(failures, ui_url=UI_URL).as_payload()
    labels = list(options_of(card, "zuora.select_emails").values())

    assert labels[0].startswith("1. Invoice INV00000 <!channel> is available")
    assert len({label.partition(". ")[2] for label in labels}) == 10
    assert all("\n" not in label and len(label) <= 75 for label in labels)
    assert all("billing@acme.example" not in label for label in labels)


def options_of(card: dict[str, Any], action_id: str) -> dict[str, str]:
    """{history id: option text} of every checkbox group with this action_id (plain_text only)."""
    found: dict[str, str] = {}
    for element in buttons(card, action_id):
        for option in element["options"]:
            assert option["text"]["type"] == "plain_text"  # never parsed: Zuora's text stays inert
            found[option["value"].split(":", 1)[1]] = option["text"]["text"]
    return found


# --- 6. the digest says how to resend the accounts without a button ----------------------------


def digest_of(accounts: int) -> DigestSummary:
    """`accounts` accounts, each with failed emails, all listed by a top-15 digest."""
    window = TimeWindow.ending_at(NOW, timedelta(hours=24), "24h")
    emails = [
        EmailHistory.model_validate(
            {
                "sendTime": NOW - timedelta(minutes=a * 10 + e + 1),
                "accountId": f"2c92c0f8{a:024x}",
                "notification": "Invoice Posted",
                "errorMessage": "550 5.1.1 user unknown",
                "result": "Failed",
            }
        )
        for a in range(accounts)
        for e in range(accounts - a)
    ]
    return summarize([], emails, window=window)


@pytest.mark.parametrize("accounts", [8, 5, 15])
def test_slack_ux_digest_says_how_to_resend_the_listed_accounts_without_a_button(
    accounts: int,
) -> None:
    message = build_digest(
        digest_of(accounts), None, subscription_label="Digest #1", ui_url=UI_URL, top_n=15
    )
    payload = message.as_payload()

    opened = buttons(payload, ActionId.OPEN_FAILURES.value)
    resend = buttons(payload, ActionId.RESEND_ALL.value)
    listed = len(opened)  # 15 accounts take more room than one digest has: it lists 10
    assert listed == min(accounts, 10), "every listed account has its Open failures"
    assert len(resend) == min(listed, RESEND_ALL_BUTTONS)
    without = listed - len(resend)
    notes = [text for text in mrkdwn_texts(payload) if "press *Open failures*" in text]
    if without:
        (note,) = notes
        assert f"For the other {without} accounts listed with failed emails" in note
        assert "then *Resend all* on its card" in note
    else:
        assert notes == []


# --- 5. one count of accounts everywhere --------------------------------------------------------


def sandbox_failures() -> tuple[list[CalloutHistory], list[EmailHistory], TimeWindow]:
    """The sandbox tenant's failed callouts and emails of the last 24h, outage included."""
    tenant = build_tenant(seed=7, now=NOW, outage=True)
    zone = tenant.zone
    window = TimeWindow.ending_at(NOW, timedelta(hours=24), "24h")
    callouts = [
        CalloutHistory.model_validate(c.to_wire(zone, include_id=True), context={"tz": zone})
        for c in tenant.callouts
        if c.failed
    ]
    emails = [
        EmailHistory.model_validate(e.to_wire(zone, include_id=True), context={"tz": zone})
        for e in tenant.emails
        if e.failed
    ]
    inside = [c for c in callouts if window.start <= c.create_time < window.end]
    return inside, [e for e in emails if window.start <= e.send_time < window.end], window


def test_slack_ux_outages_digest_alerts_and_cli_count_the_same_accounts() -> None:
    callouts, emails, window = sandbox_failures()
    ids = {c.account_id for c in callouts if c.account_id} | {
        e.account_id for e in emails if e.account_id
    }
    no_account = sum(1 for c in callouts if not c.account_id and not c.account_number) + sum(
        1 for e in emails if not e.account_id
    )
    assert no_account > 0 and len(ids) > 20, "the data has tenant events and many accounts"
    said = f"{len(ids)} accounts, plus {no_account} with no account"

    scan = OutageScan().add_all(callouts, emails)
    outages = all_text(build_outages_card(scan, window).as_payload())
    digest = build_digest(
        summarize(callouts, emails, window=window),
        None,
        subscription_label="Digest #1",
        ui_url=UI_URL,
        top_n=15,
    )

    assert said in outages
    assert f"across {said}" in all_text(digest.as_payload())
    assert count_accounts(callouts, emails).describe() == said
    groups = scan.groups()
    cli = _outages_json(scan, window)["causes"]
    for group, row in zip(groups, cli, strict=True):
        tenant_only = group.affected.without_account
        assert row["accounts"] == group.account_count == count_account_keys(group.accounts)
        assert row["without_account"] == tenant_only
        spike = group.between(window.start - timedelta(seconds=1), window.end)
        assert count_account_keys(spike.accounts) == group.account_count


def test_slack_ux_account_tally_joins_id_and_number_and_ignores_case() -> None:
    tally = AccountTally()
    tally.add("8a01", None)  # an email: id only
    tally.add(None, "A00000001")  # a callout naming only the number
    tally.add("8A01", "a00000001")  # a callout naming both joins them
    tally.add(None, None)  # a tenant-level event
    other = AccountTally()
    other.add(None, "A00000002")
    tally.update(other)

    assert (tally.accounts, tally.without_account) == (2, 1)
    assert tally.describe() == "2 accounts, plus 1 with no account"
