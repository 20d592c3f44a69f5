"""Tests for the failures card: snapshots of every state, row controls and their compact values, paging,
Slack limits at any size, hostile text."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest

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
from bot.failures.cards import account_url, build_failures_card, page_count, page_slice
from bot.failures.results import AccountFailures, card_ref_for
from bot.slack.message import SlackMessage
from tests.support.cards import (
    ACCOUNT_ID,
    HOSTILE,
    UI_URL,
    assert_no_foreign_tokens,
    assert_within_slack_limits,
    buttons,
    elements,
    history_id,
    hostile_failures,
    make_account,
    make_callout,
    make_email,
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


def row_controls(message: SlackMessage) -> list[tuple[str, dict[str, Any]]]:
    """(block_id, accessory) of every row section that has a control."""
    return [
        (block.get("block_id", ""), block["accessory"])
        for block in message.blocks
        if block["type"] == "section" and str(block.get("block_id", "")).startswith("z1.")
    ]


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


def details_controls(message: SlackMessage) -> list[RowAction]:
    """Every callout Details control: a button, or a pick in a row menu or the card's menu."""
    found = [decode_row_action(b["value"]) for b in buttons(message, ActionId.CALLOUT_DETAILS)]
    for menu in [*elements(message, "overflow"), *elements(message, "static_select")]:
        found += [decode_row_action(o["value"]) for o in menu["options"]]
    return [action for action in found if action.verb == "details"]


def resend_controls(message: SlackMessage) -> list[RowAction]:
    """Every row Resend: email buttons and callout menu picks."""
    found = [decode_row_action(b["value"]) for b in buttons(message, ActionId.RESEND_EMAIL)]
    for menu in elements(message, "overflow"):
        found += [decode_row_action(o["value"]) for o in menu["options"]]
    return [action for action in found if action.verb == "resend"]


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


SIZES = [0, 1, 13, 20, 21, 50, 500]


def split(rows: int, mix: str) -> tuple[int, int]:
    """(callouts, emails) for `rows` rows: one kind, or both about 5 : 8 like the issue's account."""
    if mix == "callouts":
        return rows, 0
    if mix == "emails":
        return 0, rows
    callouts = rows * 5 // 13
    return callouts, rows - callouts


def test_build_failures_card_paging_buttons_point_to_neighbour_pages():
    failures = make_failures(20, 25)
    middle = build_failures_card(failures, ui_url=UI_URL, page=1)
    pages = sorted(decode_value(b["value"], CardRef).p for b in buttons(middle, ActionId.PAGE))
    assert pages == [0, 2]
    first = build_failures_card(failures, ui_url=UI_URL, page=0)
    assert [decode_value(b["value"], CardRef).p for b in buttons(first, ActionId.PAGE)] == [1]
    # the refresh and resend-selected buttons keep the page the user is on
    (refresh,) = buttons(middle, ActionId.REFRESH)
    assert decode_value(refresh["value"], CardRef).p == 1
    assert all(c.p == 1 for c in (decode_row_block_id(b) for b, _ in row_controls(middle)))


@pytest.mark.parametrize("rows", SIZES)
@pytest.mark.parametrize("mix", ["callouts", "emails", "both"])
def test_build_failures_card_stays_within_limits_and_pages_cover_every_row(rows, mix):
    callouts, emails = split(rows, mix)
    failures = make_failures(callouts, emails)
    pages = page_count(failures)
    assert pages == max(1, -(-rows // 20))
    seen: dict[str, list[str]] = {"email": [], "callout": []}
    for page in range(pages):
        message = build_failures_card(failures, ui_url=UI_URL, page=page)
        assert_within_slack_limits(message)
        on_page = min(20, rows - 20 * page)
        row_sections = [
            b
            for b in message.blocks
            if b["type"] == "section" and re.match(r"\d+\. \*", b["text"]["text"])
        ]
        assert len(row_sections) == on_page, "one block per row"
        for box in elements(message, "checkboxes"):
            for option in box["options"]:
                kind, history = parse_option_value(option["value"])
                seen[kind].append(history)
        targets = sorted(
            decode_value(b["value"], CardRef).p for b in buttons(message, ActionId.PAGE)
        )
        assert targets == [p for p in (page - 1, page + 1) if 0 <= p < pages]
        header = message.blocks[0]["text"]["text"]
        if pages > 1:
            first = 20 * page + 1
            shown = "20" if page == 0 else f"{first}–{first + on_page - 1}"
            assert header.endswith(f" · {shown} of {rows}"), header
        else:
            assert " of " not in header
    assert seen["email"] == [history_id(n, "e") for n in range(emails)]
    assert seen["callout"] == [history_id(n, "c") for n in range(callouts)]


@pytest.mark.parametrize(
    ("callouts", "emails", "page", "expected"),
    [
        (5, 8, 0, (0, 5, 0, 8)),  # the account: everything on one page
        (0, 21, 1, (0, 0, 20, 1)),
        (200, 12, 0, (0, 10, 0, 10)),  # both kinds show on the first page
        (200, 12, 1, (10, 18, 10, 2)),  # the emails run out: callouts fill the page
        (200, 12, 2, (28, 20, 12, 0)),
        (3, 30, 0, (0, 3, 0, 17)),
    ],
)
def test_page_slice_shares_20_rows_between_the_kinds(callouts, emails, page, expected):
    plan = page_slice(callouts, emails, page)
    assert (plan.callout_start, plan.callout_count, plan.email_start, plan.email_count) == expected


def test_page_slice_puts_every_row_on_exactly_one_page():
    for callouts, emails in [(0, 0), (1, 0), (7, 14), (13, 250), (250, 13), (500, 500)]:
        total = callouts + emails
        plans = [page_slice(callouts, emails, p) for p in range(max(1, -(-total // 20)))]
        assert sum(p.rows for p in plans) == total
        assert all(p.rows == 20 for p in plans[:-1])
        for before, after in zip(plans, plans[1:], strict=False):
            assert after.callout_start == before.callout_start + before.callout_count
            assert after.email_start == before.email_start + before.email_count


@pytest.mark.parametrize("mix", [(6, 0), (0, 10), (3, 6), (5, 10), (20, 0), (0, 20), (10, 11)])
@pytest.mark.parametrize(
    "text",
    ["x" * 5000, "ü" * 5000, "𝔘" * 5000, "<&>" * 2000, '"\\' * 2500, "\n" * 5000, HOSTILE * 80],
    ids=["ascii", "latin", "astral", "entities", "json-escapes", "newlines", "hostile"],
)
def test_build_failures_card_fits_worst_case_data(mix, text):
    """64-character ids and numbers and 5,000-character texts everywhere still fit, never over."""
    long_id = "Z" * 64
    account = make_account(id="B" * 64, number="N" * 64, name=text)
    callouts = [
        make_callout(
            n,
            id=f"{n:064d}",
            eventCategory=text,
            eventContext={"<Event.Category>": text, "<Event.ID>": long_id},
            requestMethod=text,
            requestUrl="https://" + text,
            responseCode=text,
            attemptedNum=10**9,
        )
        for n in range(mix[0])
    ]
    emails = [
        make_email(
            n,
            id=f"{n:064d}",
            notification=text,
            toEmail=text,
            subject=text,
            errorMessage=text,
        )
        for n in range(mix[1])
    ]
    failures = AccountFailures(
        account=account,
        window=make_window(720, "720h"),
        callouts=callouts,
        emails=emails,
        ids_error=text,
    )
    for page in range(page_count(failures)):
        message = build_failures_card(failures, ui_url=UI_URL, page=page, notice=text)
        assert_within_slack_limits(message)


@pytest.mark.parametrize("mix", [(0, 13), (13, 0), (5, 8), (6, 9), (1, 1)])
def test_build_failures_card_ordinary_pages_keep_every_row_control(mix):
    """Up to 15 ordinary rows: each keeps its Resend (and a callout its Details), plus the ticks."""
    message = build_failures_card(make_failures(*mix), ui_url=UI_URL)
    assert_within_slack_limits(message)
    assert len(resend_controls(message)) == sum(mix)
    assert len(details_controls(message)) == mix[0]
    ticks = sum(len(box["options"]) for box in elements(message, "checkboxes"))
    assert ticks == sum(mix)


@pytest.mark.parametrize("mix", [(0, 20), (20, 0), (8, 12), (10, 10), (50, 50), (7, 10)])
def test_build_failures_card_full_pages_keep_text_ticks_and_details(mix):
    """A 20-row page can't also afford a control per row: rows keep text, ticks and Details."""
    message = build_failures_card(make_failures(*mix), ui_url=UI_URL)
    assert_within_slack_limits(message)
    on_page = page_slice(*mix, 0)
    assert sum(len(box["options"]) for box in elements(message, "checkboxes")) == on_page.rows
    assert len(details_controls(message)) == on_page.callout_count
    assert buttons(message, ActionId.RESEND_SELECTED)
    assert bool(buttons(message, ActionId.RESEND_ALL)) == bool(mix[1])
    assert not buttons(message, ActionId.RESEND_EMAIL) and not elements(message, "overflow")
    if mix[1]:
        assert any("Recipient address rejected" in t for t in mrkdwn_texts(message))
    if mix[0]:
        (menu,) = elements(message, "static_select")
        assert menu["action_id"] == ActionId.ROW_MENU.value
        (block,) = [b for b in message.blocks if b.get("elements") == [menu]]
        assert decode_row_block_id(block["block_id"]).a == ACCOUNT_ID


def test_build_failures_card_a_5000_char_subject_fits():
    failures = make_failures(0, 10)
    emails = [e.model_copy(update={"subject": "S" * 5000}) for e in failures.emails]
    message = build_failures_card(
        AccountFailures(
            account=failures.account, window=failures.window, callouts=[], emails=emails
        ),
        ui_url=UI_URL,
    )
    assert_within_slack_limits(message)
    assert any("SSSS" in t for t in mrkdwn_texts(message))


# --- every size, with hostile text ------------------------------------------------------------


def hostile_rows(rows: int) -> AccountFailures:
    """`rows` failures (about 5 callouts to 8 emails) whose every text tries to break mrkdwn."""
    callouts, emails = split(rows, "both")
    subject = "*bold* _it_ ~s~ `c` <!channel> <@U024BE7LH> & ünï 𝔘 " * 200
    account = make_account(name=HOSTILE + " *Acme* _Ltd_ ~x~", number="A-<!channel>")
    return AccountFailures(
        account=account,
        window=make_window(168, "7d"),
        callouts=[
            make_callout(
                n,
                eventCategory="custom",
                eventContext={"<Event.Category>": f"{HOSTILE} *{n}*", "<Event.ID>": f"ev{n}"},
                requestUrl=f"https://evil.example/{HOSTILE}?x=<!channel>",
                responseCode="<!here>",
            )
            for n in range(callouts)
        ],
        emails=[
            make_email(
                n,
                notification=f"_{HOSTILE}_",
                toEmail=f"<!channel>{n}@evil.example",
                subject=subject,
                errorMessage=subject,
            )
            for n in range(emails)
        ],
    )


@pytest.mark.parametrize("rows", SIZES)
def test_build_failures_card_with_hostile_text_at_every_size(rows):
    failures = hostile_rows(rows)
    for page in range(page_count(failures)):
        message = build_failures_card(failures, ui_url=UI_URL, page=page)
        assert_within_slack_limits(message)
        for text in [message.text, *mrkdwn_texts(message)]:
            assert_no_foreign_tokens(text)
        if rows:
            assert len(row_sections_of(message)) == min(20, rows - 20 * page)


@pytest.mark.parametrize("rows", SIZES)
def test_build_failures_card_first_page_snapshot(rows, snapshot):
    """The first page a user sees at each size, hostile text and all."""
    assert build_failures_card(hostile_rows(rows), ui_url=UI_URL).as_payload() == snapshot


def row_sections_of(message: SlackMessage) -> list[dict[str, Any]]:
    return [
        b
        for b in message.blocks
        if b["type"] == "section" and re.match(r"\d+\. \*", b["text"]["text"])
    ]


def test_hostile_account_name_is_shown_escaped():
    message = build_failures_card(hostile_failures(), ui_url=UI_URL)
    assert "&lt;!channel&gt; &lt;@U024BE7LH&gt;" in message.text
    header = message.blocks[0]["text"]
    assert header["type"] == "plain_text"  # plain text is never parsed, so no escaping needed


def test_account_url_quotes_the_id():
    assert account_url("https://x.example/", make_account(id="a/b?c")) == (
        "https://x.example/apps/CustomerAccount.do?method=view&id=a%2Fb%3Fc"
    )
