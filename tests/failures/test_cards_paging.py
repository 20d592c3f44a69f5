"""Tests for the failures card at every size: paging, Slack's limits for worst-case and hostile rows."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.core.actions import (
    ActionId,
    CardRef,
    decode_row_block_id,
    decode_value,
    parse_option_value,
)
from bot.failures.cards import build_failures_card, page_count, page_slice
from bot.failures.results import AccountFailures
from bot.slack.message import SlackMessage
from tests.support.card_rows import details_controls, resend_controls, row_controls
from tests.support.cards import (
    ACCOUNT_ID,
    HOSTILE,
    UI_URL,
    assert_no_foreign_tokens,
    assert_within_slack_limits,
    buttons,
    elements,
    history_id,
    make_account,
    make_callout,
    make_email,
    make_failures,
    make_window,
    mrkdwn_texts,
)

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
