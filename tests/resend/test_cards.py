"""Tests for the resend cards: progress, confirm and outcome snapshots, both kinds on one outcome, Slack
limits for many ids."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.actions import ActionId, CardRef, ResendRef, decode_value
from bot.failures.results import ResendOutcome, card_ref_for
from bot.resend.cards import (
    build_batch_progress,
    build_resend_confirm,
    build_resend_outcome,
    build_resend_outcomes,
    build_resend_progress,
)
from bot.zuora.models import ResendFailure, ResendResult
from tests.support.cards import (
    assert_within_slack_limits,
    buttons,
    elements,
    history_id,
    make_account,
    make_outcome,
    make_window,
    mrkdwn_texts,
)


def test_build_resend_outcome_all_ok_snapshot(snapshot):
    assert build_resend_outcome(make_outcome(ok=3)).as_payload() == snapshot


def test_build_resend_outcome_partial_snapshot(snapshot):
    assert build_resend_outcome(make_outcome(ok=2, failed=1)).as_payload() == snapshot


def test_build_resend_outcome_all_failed_snapshot(snapshot):
    assert build_resend_outcome(make_outcome(failed=2)).as_payload() == snapshot


def test_build_resend_outcome_error_snapshot(snapshot):
    outcome = make_outcome(
        ok=2,
        result=None,
        error="Zuora did not answer in time (Zuora track id `zops-7f3a9c`). Try again in a minute.",
    )
    assert build_resend_outcome(outcome).as_payload() == snapshot


def test_build_resend_progress_snapshot(snapshot):
    message = build_resend_progress(
        kind="email", count=3, requested_by="U0ALLOWED", account=make_account()
    )
    assert message.as_payload() == snapshot


def test_build_resend_confirm_snapshot(snapshot):
    ids = [history_id(n, "e") for n in range(3)]
    message = build_resend_confirm(kind="email", ids=ids, requested_by="U0ALLOWED")
    assert message.as_payload() == snapshot


@pytest.mark.parametrize("count", [1, 20, 21, 1000])
def test_build_resend_outcome_stays_within_limits_for_many_ids(count):
    for ok in (0, count // 2, count):
        message = build_resend_outcome(make_outcome(ok=ok, failed=count - ok))
        assert_within_slack_limits(message)
        text = "\n".join(mrkdwn_texts(message))
        assert f"{ok} of {count} email" in text
        if count > 20:
            assert f"…and {count - 20} more" in text


def test_build_resend_outcome_lists_failures_first_with_zuoras_reason():
    message = build_resend_outcome(make_outcome(ok=2, failed=1))
    rows = [t for t in mrkdwn_texts(message) if ":x:" in t or ":white_check_mark:" in t]
    body = rows[-1].splitlines()
    # The failed row leads, its long reason on an indented line of its own; then the sent rows.
    assert body[0] == ":x: Invoice Posted Email → billing2@acme.example.com · `…00000002`"
    assert (
        body[1]
        == "    *INVALID_VALUE*: Email history e0000000000000000000000000000002 cannot be resent"
    )
    assert body[2:] == [
        ":white_check_mark: Invoice Posted Email → billing0@acme.example.com · `…00000000` — sent",
        ":white_check_mark: Invoice Posted Email → billing1@acme.example.com · `…00000001` — sent",
    ]
    assert message.text == "2 of 3 emails resent for Acme Corp (A00000001); 1 failed"


def test_build_resend_outcome_rows_lead_with_the_label_without_its_row_number():
    ids = (history_id(0, "e"), history_id(1, "e"), history_id(2, "e"))
    outcome = make_outcome(
        ok=0,
        ids=ids,
        labels={ids[0]: "2. billing@acme.example · Invoice Posted", ids[1]: "12.  a & <b>"},
        result=ResendResult(
            kind="email",
            requested=ids,
            succeeded=(ids[0], ids[1]),
            failed={ids[2]: ResendFailure(code="TemplateNotFound", message="Gone.")},
        ),
    )
    body = [t for t in mrkdwn_texts(build_resend_outcome(outcome)) if ":x:" in t][0].splitlines()
    assert body == [
        f":x: `{ids[2]}` — *TemplateNotFound*: Gone.",  # no label: the whole id, short reason inline
        ":white_check_mark: billing@acme.example · Invoice Posted · `…00000000` — sent",
        ":white_check_mark: a &amp; &lt;b&gt; · `…00000001` — sent",
    ]


def test_build_resend_outcome_error_says_what_to_do_and_offers_refresh():
    outcome = make_outcome(ok=1, result=None, error="Zuora <refused> the request")
    message = build_resend_outcome(outcome)
    first = message.blocks[0]["text"]["text"]
    assert first.startswith(
        ":x: *The resend of 1 email for Acme Corp (A00000001) did not go through.*"
    )
    assert "Zuora &lt;refused&gt; the request" in first
    assert "Press *Refresh*" in first
    assert buttons(message, ActionId.REFRESH)
    no_card = build_resend_outcome(make_outcome(ok=1, result=None, error="x", card=None))
    assert not buttons(no_card, ActionId.REFRESH)
    assert "Notification History in Zuora" in no_card.blocks[0]["text"]["text"]


def test_build_resend_outcome_marks_ids_zuora_did_not_mention():
    outcome = make_outcome(ok=1, failed=0, ids=(history_id(0, "e"), history_id(9, "e")))
    text = "\n".join(mrkdwn_texts(build_resend_outcome(outcome)))
    assert ":grey_question:" in text and "Zuora did not say" in text


def test_build_resend_progress_has_no_buttons():
    message = build_resend_progress(kind="callout", count=1, requested_by="U0ALLOWED", account=None)
    assert not elements(message, "button")
    assert message.text == "Resending 1 callout… requested by <@U0ALLOWED>"


def test_build_resend_confirm_buttons():
    ids = [f"{n:032x}" for n in range(40)]
    message = build_resend_confirm(kind="email", ids=ids, requested_by="U0ALLOWED")
    assert_within_slack_limits(message)
    (confirm,) = buttons(message, ActionId.RESEND_CONFIRM)
    assert confirm["text"]["text"] == "Resend 40 emails"
    assert confirm["style"] == "primary"
    ref = decode_value(confirm["value"], ResendRef)
    assert ref.ids == ids and ref.k == "email" and ref.card is None
    assert buttons(message, ActionId.RESEND_CANCEL)


@pytest.mark.parametrize("count", [0, 41])
def test_build_resend_confirm_refuses_counts_the_command_should_have_refused(count):
    with pytest.raises(ValueError):
        build_resend_confirm(
            kind="email", ids=[f"{n:032x}" for n in range(count)], requested_by="U0ALLOWED"
        )


# --- both kinds in one outcome -------------------------------------------------------------------


def mixed_outcomes(**callout_overrides: Any) -> list[ResendOutcome]:
    emails = make_outcome(ok=2, failed=1)
    ids = (history_id(0, "c"), history_id(1, "c"), history_id(2, "c"))
    values: dict[str, Any] = {
        "kind": "callout",
        "ids": ids,
        "labels": {ids[0]: "Invoice Posted → hooks.acme.example.com"},
        "result": ResendResult(
            kind="callout",
            requested=ids,
            succeeded=(ids[0],),
            failed={},
            in_progress=(ids[1], ids[2]),
        ),
    }
    return [emails, make_outcome(**{**values, **callout_overrides})]


def test_build_resend_outcomes_mixed_snapshot(snapshot):
    assert build_resend_outcomes(mixed_outcomes()).as_payload() == snapshot


def test_build_resend_outcomes_lists_both_kinds_on_one_card():
    message = build_resend_outcomes(mixed_outcomes())
    assert_within_slack_limits(message)
    first = message.blocks[0]["text"]["text"]
    assert first.startswith(":warning: *2 of 3 emails and 1 of 3 callouts resent* for Acme Corp")
    assert "• *Emails*: 2 sent · 1 refused · 0 already in progress" in first
    assert "• *Callouts*: 1 sent · 0 refused · 2 already in progress" in first
    text = "\n".join(mrkdwn_texts(message))
    assert text.count(":hourglass_flowing_sand:") == 2
    assert "already done or in progress at Zuora; not resent twice" in text
    assert "*INVALID_VALUE*" in text
    assert message.text == (
        "2 of 3 emails and 1 of 3 callouts resent for Acme Corp (A00000001); "
        "1 failed; 2 already in progress"
    )
    (refresh,) = buttons(message, ActionId.REFRESH)
    assert decode_value(refresh["value"], CardRef) == card_ref_for(make_account(), make_window())


def test_build_resend_outcomes_says_which_request_failed_and_which_were_duplicates():
    emails, callouts = mixed_outcomes(result=None, error="Zuora <timed out>")
    message = build_resend_outcomes([emails, callouts], duplicates=())
    first = message.blocks[0]["text"]["text"]
    assert "• *Callouts*: not resent: Zuora &lt;timed out&gt;" in first
    assert message.text.endswith("; 1 failed; the callout request failed")
    single = build_resend_outcomes([emails], duplicates=["callout"])
    assert (
        "• *Callouts*: already handled by an earlier click; not resent twice"
        in (single.blocks[0]["text"]["text"])
    )
    assert build_resend_outcomes([emails]) == build_resend_outcome(emails)


@pytest.mark.parametrize("count", [1, 20, 21, 500])
def test_build_resend_outcomes_stays_within_limits_for_many_ids(count):
    emails = make_outcome(ok=count // 2, failed=count - count // 2)
    callouts = make_outcome(ok=count, kind="callout", labels={})
    message = build_resend_outcomes([emails, callouts])
    assert_within_slack_limits(message)
    if count * 2 > 20:
        assert f"…and {count * 2 - 20} more" in "\n".join(mrkdwn_texts(message))


def test_build_batch_progress_names_both_kinds():
    message = build_batch_progress(
        counts=[("email", 2), ("callout", 1)], requested_by="U0ALLOWED", account=make_account()
    )
    assert message.text == (
        "Resending 2 emails and 1 callout for Acme Corp (A00000001)… requested by <@U0ALLOWED>"
    )
    assert not elements(message, "button")


def test_build_resend_outcome_shows_ids_already_in_progress():
    ids = (history_id(0, "e"), history_id(1, "e"))
    outcome = make_outcome(
        ok=0,
        ids=ids,
        result=ResendResult(
            kind="email", requested=ids, succeeded=(ids[0],), failed={}, in_progress=(ids[1],)
        ),
    )
    message = build_resend_outcome(outcome)
    assert "1 already done or in progress at Zuora" in message.blocks[0]["text"]["text"]
    assert message.text.endswith("; 1 already done or in progress at Zuora (not resent twice)")
    assert "Zuora did not say" not in "\n".join(mrkdwn_texts(message))
