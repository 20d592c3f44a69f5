"""Tests for the failures card: snapshots of its states, row controls and their compact values, notes,
escaped names."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from bot.core.actions import (
    ActionId,
    CardRef,
    ResendAllRef,
    RowAction,
    decode_row_action,
    decode_row_block_id,
    decode_value,
    parse_option_value,
)
from bot.failures.cards import account_url, build_failures_card, page_count
from bot.failures.results import AccountFailures, card_ref_for
from tests.support.card_rows import details_controls, resend_controls, row_controls
from tests.support.cards import (
    ACCOUNT_ID,
    UI_URL,
    assert_no_foreign_tokens,
    buttons,
    elements,
    history_id,
    hostile_failures,
    make_account,
    make_failures,
    make_window,
    mrkdwn_texts,
)

# --- snapshots of every card state ---------------------------------------------------------------


def test_build_failures_card_with_callouts_and_emails_snapshot(snapshot):
    message = build_failures_card(make_failures(2, 3), ui_url=UI_URL)
    assert message.as_payload() == snapshot


def test_build_failures_card_emails_only_snapshot(snapshot):
    message = build_failures_card(make_failures(0, 3), ui_url=UI_URL)
    assert message.as_payload() == snapshot


def test_build_failures_card_empty_snapshot(snapshot):
    message = build_failures_card(make_failures(0, 0), ui_url=UI_URL)
    assert message.as_payload() == snapshot


def test_build_failures_card_ids_pending_snapshot(snapshot):
    failures = make_failures(1, 2, with_ids=False, ids_pending=True)
    assert build_failures_card(failures, ui_url=UI_URL).as_payload() == snapshot


def test_build_failures_card_ids_error_snapshot(snapshot):
    failures = make_failures(1, 2, with_ids=False, ids_error="Data Query timed out after 60 s")
    assert build_failures_card(failures, ui_url=UI_URL).as_payload() == snapshot


def test_build_failures_card_paged_page_2_snapshot(snapshot):
    failures = make_failures(7, 14)
    message = build_failures_card(failures, ui_url=UI_URL, page=1)
    assert message.as_payload() == snapshot


def test_build_failures_card_with_notice_snapshot(snapshot):
    notice = (
        "Resent by <@U0ALLOWED> <!date^1714564800^{date_short_pretty} {time}|2024-05-01 12:00 UTC>"
    )
    message = build_failures_card(make_failures(0, 2), ui_url=UI_URL, notice=notice)
    assert message.as_payload() == snapshot


# --- behaviour of the failures card --------------------------------------------------------------


def test_build_failures_card_empty_text_is_exact():
    message = build_failures_card(make_failures(0, 0), ui_url=UI_URL)
    assert message.text == "No failed notifications for A00000001 in the last 24h"
    refresh = buttons(message, ActionId.REFRESH)
    assert len(refresh) == 1
    assert decode_value(refresh[0]["value"], CardRef) == card_ref_for(make_account(), make_window())


def test_build_failures_card_text_counts_both_kinds():
    message = build_failures_card(make_failures(3, 12), ui_url=UI_URL)
    assert (
        message.text == "Acme Corp (A00000001): 3 failed callouts, 12 failed emails in the last 24h"
    )
    one = build_failures_card(make_failures(1, 1), ui_url=UI_URL)
    assert one.text == "Acme Corp (A00000001): 1 failed callout, 1 failed email in the last 24h"


def test_build_failures_card_header_and_zuora_link():
    message = build_failures_card(make_failures(1, 1), ui_url=UI_URL)
    assert message.blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Failed notifications · Acme Corp (A00000001)"},
    }
    links = buttons(message, ActionId.OPEN_LINK)
    assert [b["url"] for b in links] == [
        f"{UI_URL}/apps/CustomerAccount.do?method=view&id={ACCOUNT_ID}"
    ]
    assert links[0]["text"]["text"] == "Open in Zuora"


def row_target(element: dict[str, Any], block_id: str) -> tuple[RowAction, CardRef]:
    """What a row control does, and the card its block carries (as the handler decodes them)."""
    return decode_row_action(element["value"]), decode_row_block_id(block_id)


def test_build_failures_card_row_controls_carry_compact_values_and_the_card():
    failures = make_failures(2, 3)
    message = build_failures_card(failures, ui_url=UI_URL)
    card = card_ref_for(failures.account, failures.window, 0)
    rows = row_controls(message)
    assert len(rows) == 5, "one block per row, its actions in the accessory"

    email_rows = [(b, e) for b, e in rows if e.get("action_id") == ActionId.RESEND_EMAIL.value]
    assert [e["text"]["text"] for _, e in email_rows] == ["Resend"] * 3
    targets = [row_target(e, b) for b, e in email_rows]
    assert [t.history_id for t, _ in targets] == [history_id(n, "e") for n in range(3)]
    assert all(t.verb == "resend" and t.kind == "email" for t, _ in targets)
    # The card comes back whole, except the account number (the handler reads the account by id).
    assert all(c == card.model_copy(update={"n": ""}) for _, c in targets)
    assert targets[0][0].label == "billing0@acme.example.com"

    menus = [(b, e) for b, e in rows if e["type"] == "overflow"]
    assert len(menus) == 2 and all(e["action_id"] == ActionId.ROW_MENU.value for _, e in menus)
    for n, (block_id, menu) in enumerate(menus):
        assert [o["text"]["text"] for o in menu["options"]] == ["Resend", "Details"]
        resend, details = (decode_row_action(o["value"]) for o in menu["options"])
        assert (resend.verb, resend.kind, resend.history_id) == (
            "resend",
            "callout",
            history_id(n, "c"),
        )
        assert details.verb == "details"
        assert details.created == int(failures.callouts[n].create_time.timestamp())
        assert details.event_id == failures.callouts[n].event_id
        assert decode_row_block_id(block_id).a == ACCOUNT_ID

    (selected,) = buttons(message, ActionId.RESEND_SELECTED)
    assert decode_value(selected["value"], CardRef) == card
    assert selected["style"] == "primary"
    callout_box, email_box = elements(message, "checkboxes")
    assert callout_box["action_id"] == ActionId.SELECT_CALLOUTS.value
    assert [parse_option_value(o["value"]) for o in callout_box["options"]] == [
        ("callout", history_id(n, "c")) for n in range(2)
    ]
    assert email_box["action_id"] == ActionId.SELECT_EMAILS.value
    assert [parse_option_value(o["value"]) for o in email_box["options"]] == [
        ("email", history_id(n, "e")) for n in range(3)
    ]


def test_build_failures_card_resend_all_is_confirmed_danger_with_count_and_account():
    message = build_failures_card(make_failures(0, 12), ui_url=UI_URL)
    (resend_all,) = buttons(message, ActionId.RESEND_ALL)
    assert resend_all["text"]["text"] == "Resend all 12 failed emails"
    assert resend_all["style"] == "danger"
    confirm = resend_all["confirm"]
    assert confirm["style"] == "danger"
    assert "12" in confirm["title"]["text"]
    assert confirm["text"]["text"].startswith(
        "Resend all 12 failed emails for Acme Corp (A00000001)?"
    )
    assert confirm["confirm"]["text"] == "Resend 12"
    assert confirm["deny"]["text"] == "Cancel"
    ref = decode_value(resend_all["value"], ResendAllRef)
    assert ref.count == 12 and ref.card.a == ACCOUNT_ID


def test_build_failures_card_rows_are_newest_first_whatever_the_input_order():
    failures = make_failures(3, 3)
    shuffled = AccountFailures(
        account=failures.account,
        window=failures.window,
        callouts=list(reversed(failures.callouts)),
        emails=[failures.emails[1], failures.emails[2], failures.emails[0]],
    )
    callout_box, email_box = elements(build_failures_card(shuffled, ui_url=UI_URL), "checkboxes")
    assert [parse_option_value(o["value"])[1] for o in email_box["options"]] == [
        history_id(n, "e") for n in range(3)
    ]
    assert [parse_option_value(o["value"])[1] for o in callout_box["options"]] == [
        history_id(n, "c") for n in range(3)
    ]


def test_build_failures_card_without_ids_has_no_resend_controls():
    for extra in ({"ids_pending": True}, {"ids_error": "boom"}, {}):
        message = build_failures_card(make_failures(2, 3, with_ids=False, **extra), ui_url=UI_URL)
        for action_id in (
            ActionId.RESEND_EMAIL,
            ActionId.RESEND_CALLOUT,
            ActionId.RESEND_SELECTED,
            ActionId.RESEND_ALL,
        ):
            assert not buttons(message, action_id), (extra, action_id)
        assert not resend_controls(message)
        assert not elements(message, "checkboxes")
        assert len(details_controls(message)) == 2  # details still work without an id
        assert buttons(message, ActionId.REFRESH)
        # Rows that can't be resent here point to Zuora, unless their ids are still loading.
        opens = [
            o
            for menu in elements(message, "overflow")
            for o in menu["options"]
            if o["text"]["text"] == "Open in Zuora"
        ]
        row_links = [b for b in buttons(message, ActionId.OPEN_LINK) if b is not None]
        if extra.get("ids_pending"):
            assert not opens and len(row_links) == 1  # the summary's link only
        else:
            assert len(opens) == 2 and len(row_links) == 1 + 3
            assert all(o["url"].startswith(f"{UI_URL}/apps/CustomerAccount.do") for o in opens)


def test_build_failures_card_shows_why_a_row_has_no_resend_id():
    failures = make_failures(1, 2)
    problem = "2 rows match <!channel> & *this* one"
    emails = [failures.emails[0].model_copy(update={"id": None, "id_problem": problem})]
    callouts = [failures.callouts[0].model_copy(update={"id": None, "id_problem": problem})]
    message = build_failures_card(
        replace(failures, emails=[*emails, failures.emails[1]], callouts=callouts), ui_url=UI_URL
    )
    shown = [t for t in mrkdwn_texts(message) if "No resend ID" in t]
    assert len(shown) == 2
    for text in shown:
        assert (
            ":information_source: No resend ID: 2 rows match &lt;!channel&gt; &amp; *this* one"
            in text
        )
        assert_no_foreign_tokens(text)
    assert [a.history_id for a in resend_controls(message)] == [history_id(1, "e")]


def test_build_failures_card_ids_notes_say_what_to_do():
    pending = build_failures_card(
        make_failures(0, 2, with_ids=False, ids_pending=True), ui_url=UI_URL
    )
    assert any(
        "Resend IDs are still loading… press *Refresh* in a moment" in t
        for t in mrkdwn_texts(pending)
    )
    failed = build_failures_card(
        make_failures(0, 2, with_ids=False, ids_error="Data Query <failed> & stopped"),
        ui_url=UI_URL,
    )
    (note,) = [t for t in mrkdwn_texts(failed) if "Couldn't load resend IDs" in t]
    assert "(Data Query &lt;failed&gt; &amp; stopped)" in note
    assert f"<{UI_URL}/apps/CustomerAccount.do?method=view&amp;id={ACCOUNT_ID}|Zuora>" in note


def test_build_failures_card_ids_pending_hides_resend_all_even_with_some_ids():
    failures = make_failures(0, 3, ids_pending=True)
    message = build_failures_card(failures, ui_url=UI_URL)
    assert not buttons(message, ActionId.RESEND_ALL)
    assert buttons(message, ActionId.RESEND_EMAIL)
    assert any("Resend IDs are still loading" in t for t in mrkdwn_texts(message))


def test_build_failures_card_notice_is_the_first_context():
    message = build_failures_card(make_failures(1, 1), ui_url=UI_URL, notice="Refreshed")
    assert message.blocks[1]["type"] == "context"
    assert message.blocks[1]["elements"][0]["text"] == "Refreshed"


def test_build_failures_card_redacts_callout_urls():
    message = build_failures_card(make_failures(1, 0), ui_url=UI_URL)
    dumped = json.dumps(message.blocks)
    assert "s3cret" not in dumped and "token=abc123" not in dumped
    assert "https://***@hooks.acme.example.com/zuora/0?token=***" in dumped


def test_build_failures_card_page_out_of_range_shows_the_last_page():
    failures = make_failures(0, 45)
    last = build_failures_card(failures, ui_url=UI_URL, page=99)
    assert last == build_failures_card(failures, ui_url=UI_URL, page=2)
    (previous,) = buttons(last, ActionId.PAGE)
    assert decode_value(previous["value"], CardRef).p == 1
    assert last.blocks[0]["text"]["text"].endswith(" · 41–45 of 45")


def test_build_failures_card_shows_the_page_once():
    failures = make_failures(20, 25)
    for page in range(page_count(failures)):
        text = "\n".join(mrkdwn_texts(build_failures_card(failures, ui_url=UI_URL, page=page)))
        assert len(re.findall(r"(?i)page \d+ of \d+", text)) == 1, text
        assert f"*Page {page + 1} of 3*" in text
    single = "\n".join(mrkdwn_texts(build_failures_card(make_failures(5, 15), ui_url=UI_URL)))
    assert not re.search(r"(?i)page \d", single)


def test_hostile_account_name_is_shown_escaped():
    message = build_failures_card(hostile_failures(), ui_url=UI_URL)
    assert "&lt;!channel&gt; &lt;@U024BE7LH&gt;" in message.text
    header = message.blocks[0]["text"]
    assert header["type"] == "plain_text"  # plain text is never parsed, so no escaping needed


def test_account_url_quotes_the_id():
    assert account_url("https://x.example/", make_account(id="a/b?c")) == (
        "https://x.example/apps/CustomerAccount.do?method=view&id=a%2Fb%3Fc"
    )
