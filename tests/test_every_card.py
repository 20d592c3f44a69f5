"""Every card builder at once: Zuora text never forms a Slack token, and every message has a text
fallback."""

from __future__ import annotations

import pytest

from bot.failures.callout_card import build_callout_details
from bot.failures.cards import build_failures_card
from bot.failures.results import AccountFailures
from bot.failures.status_card import build_status
from bot.resend.cards import build_resend_confirm, build_resend_outcome, build_resend_progress
from bot.slack.message import SlackMessage
from bot.slack.simple_cards import (
    build_access_denied,
    build_error,
    build_help,
    build_notice,
    build_placeholder,
    build_stale_button,
)
from bot.zuora.models import ResendFailure, ResendResult
from tests.support.cards import (
    HOSTILE,
    UI_URL,
    assert_no_foreign_tokens,
    assert_within_slack_limits,
    history_id,
    hostile_failures,
    make_account,
    make_callout,
    make_failures,
    make_outcome,
    mrkdwn_texts,
)


def hostile_messages() -> list[SlackMessage]:
    failures = hostile_failures()
    account = failures.account
    outcome = make_outcome(
        ok=1,
        failed=1,
        account=account,
        labels={history_id(0, "e"): HOSTILE, history_id(1, "e"): HOSTILE},
        result=ResendResult(
            kind="email",
            requested=(history_id(0, "e"), history_id(1, "e")),
            succeeded=(history_id(0, "e"),),
            failed={history_id(1, "e"): ResendFailure(code=HOSTILE, message=HOSTILE)},
        ),
        track_id=HOSTILE,
    )
    return [
        build_failures_card(failures, ui_url=UI_URL),
        build_failures_card(
            AccountFailures(account=account, window=failures.window, callouts=[], emails=[]),
            ui_url=UI_URL,
        ),
        build_resend_outcome(outcome),
        build_resend_outcome(make_outcome(ok=1, account=account, result=None, error=HOSTILE)),
        build_resend_progress(kind="email", count=2, requested_by="U0ALLOWED", account=account),
        build_callout_details(failures.callouts[0], account=account),
        build_error(HOSTILE, hint=HOSTILE, incident_id=HOSTILE),
        build_help(error=HOSTILE, did_you_mean=HOSTILE),
        build_placeholder(HOSTILE),
        build_status(
            zuora_ok=False, detail=HOSTILE, token_expires_in=None, config=[(HOSTILE, HOSTILE)]
        ),
        build_access_denied(contact=HOSTILE),
        build_resend_progress(kind="email", count=2, requested_by=HOSTILE, account=account),
    ]


@pytest.mark.parametrize("index", range(len(hostile_messages())))
def test_builders_never_let_zuora_text_form_slack_tokens(index):
    message = hostile_messages()[index]
    assert_within_slack_limits(message)
    for text in [message.text, *mrkdwn_texts(message)]:
        assert_no_foreign_tokens(text)


# --- fallback text and the limit checker ---------------------------------------------------------


def all_builder_messages() -> list[SlackMessage]:
    return [
        build_failures_card(make_failures(2, 3), ui_url=UI_URL),
        build_failures_card(make_failures(0, 0), ui_url=UI_URL),
        build_resend_progress(kind="email", count=1, requested_by="U0ALLOWED", account=None),
        build_resend_outcome(make_outcome(ok=1)),
        build_resend_outcome(make_outcome(ok=1, result=None, error="")),
        build_resend_confirm(kind="callout", ids=[history_id(1)], requested_by="U0ALLOWED"),
        build_callout_details(make_callout(1), account=make_account()),
        build_help(),
        build_error("x"),
        build_placeholder("Checking…"),
        build_notice("Done."),
        build_status(zuora_ok=True, detail="", token_expires_in=None, config=[]),
        build_stale_button(),
        build_access_denied(contact="x"),
    ]


@pytest.mark.parametrize("index", range(len(all_builder_messages())))
def test_every_builder_has_a_text_fallback(index):
    message = all_builder_messages()[index]
    payload = message.as_payload(replace_original=True)
    assert payload["text"].strip()
    assert payload["replace_original"] is True
    assert payload["blocks"] == message.blocks and payload["blocks"] is not message.blocks
