"""Tests for the card builders: snapshots of every state, Slack limits at any size, hostile text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.blocks import (
    MAX_BLOCKS,
    MAX_BLOCKS_JSON_CHARS,
    BlockLimitError,
    SlackMessage,
    account_url,
    blocks_size,
    build_access_denied,
    build_audit_card,
    build_callout_details,
    build_error,
    build_failures_card,
    build_help,
    build_notice,
    build_placeholder,
    build_resend_confirm,
    build_resend_outcome,
    build_resend_progress,
    build_stale_button,
    build_status,
    check_limits,
    page_count,
)
from bot.cards.elements import response_code_text
from bot.failures import AccountFailures, ResendOutcome, card_ref_for
from bot.ids import (
    ActionId,
    CalloutRef,
    CardRef,
    ResendAllRef,
    ResendRef,
    decode_value,
    parse_option_value,
)
from bot.store import ResendAuditEntry
from bot.zuora.models import (
    Account,
    CalloutHistory,
    EmailHistory,
    ResendFailure,
    ResendResult,
    TimeWindow,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
UI_URL = "https://www.zuora.com"
ACCOUNT_ID = "2c92c0f87a3b4e21017a3c5d6e7f0000"
HOSTILE = "<!channel> <@U024BE7LH> <https://evil.example|click> & <!here>"


# --- factories -------------------------------------------------------------------------------------


def make_account(**overrides: Any) -> Account:
    values = {"id": ACCOUNT_ID, "number": "A00000001", "name": "Acme Corp", "status": "Active"}
    return Account(**{**values, **overrides})


def make_window(hours: int = 24, label: str = "24h") -> TimeWindow:
    return TimeWindow.ending_at(NOW, timedelta(hours=hours), label)


def history_id(n: int, prefix: str = "a") -> str:
    return f"{prefix}{n:031x}"


def make_callout(n: int, *, with_id: bool = True, **overrides: Any) -> CalloutHistory:
    values: dict[str, Any] = {
        "id": history_id(n, "c") if with_id else None,
        "attemptedNum": 3,
        "createTime": NOW - timedelta(minutes=7 * n + 1),
        "eventCategory": "1110",
        "eventContext": {
            "<Account.ID>": ACCOUNT_ID,
            "<Event.ID>": f"8a{n:030x}",
        },
        "notification": "Invoice webhook",
        "requestMethod": "POST",
        "requestUrl": f"https://hooks:s3cret@hooks.acme.example.com/zuora/{n}?token=abc123",
        "responseCode": "500",
        "responseContent": '{"error":"internal_error","trace":"NullPointerException"}',
    }
    return CalloutHistory.model_validate({**values, **overrides})


def make_email(n: int, *, with_id: bool = True, **overrides: Any) -> EmailHistory:
    values: dict[str, Any] = {
        "id": history_id(n, "e") if with_id else None,
        "accountId": ACCOUNT_ID,
        "errorMessage": f"550 5.1.1 <billing{n}@acme.example.com>: Recipient address rejected",
        "eventCategory": "1110",
        "notification": "Invoice Posted Email",
        "toEmail": f"billing{n}@acme.example.com",
        "result": "Failed",
        "sendTime": NOW - timedelta(minutes=5 * n + 2),
        "subject": f"Your invoice INV{n:08d} is ready",
    }
    return EmailHistory.model_validate({**values, **overrides})


def make_failures(
    callouts: int = 0,
    emails: int = 0,
    *,
    with_ids: bool = True,
    account: Account | None = None,
    **extra: Any,
) -> AccountFailures:
    return AccountFailures(
        account=account or make_account(),
        window=make_window(),
        callouts=[make_callout(n, with_id=with_ids) for n in range(callouts)],
        emails=[make_email(n, with_id=with_ids) for n in range(emails)],
        **extra,
    )


def make_result(ok: list[str], failed: list[str]) -> ResendResult:
    return ResendResult(
        kind="email",
        requested=tuple(ok + failed),
        succeeded=tuple(ok),
        failed={
            i: ResendFailure(code="INVALID_VALUE", message=f"Email history {i} cannot be resent")
            for i in failed
        },
    )


def make_outcome(ok: int = 0, failed: int = 0, **overrides: Any) -> ResendOutcome:
    ok_ids = [history_id(n, "e") for n in range(ok)]
    failed_ids = [history_id(n + ok, "e") for n in range(failed)]
    values: dict[str, Any] = {
        "kind": "email",
        "requested_by": "U0ALLOWED",
        "at": NOW,
        "ids": tuple(ok_ids + failed_ids),
        "labels": {
            i: f"Invoice Posted Email → billing{n}@acme.example.com"
            for n, i in enumerate(ok_ids + failed_ids)
        },
        "account": make_account(),
        "result": make_result(ok_ids, failed_ids),
        "card": card_ref_for(make_account(), make_window()),
        "track_id": "zops-7f3a9c",
    }
    return ResendOutcome(**{**values, **overrides})


# --- helpers over Block Kit JSON -----------------------------------------------------------------


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in the blocks, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def mrkdwn_texts(message: SlackMessage) -> list[str]:
    return [node["text"] for node in walk(message.blocks) if node.get("type") == "mrkdwn"]


def elements(message: SlackMessage, type_: str) -> list[dict[str, Any]]:
    return [node for node in walk(message.blocks) if node.get("type") == type_]


def buttons(message: SlackMessage, action_id: ActionId) -> list[dict[str, Any]]:
    return [b for b in elements(message, "button") if b.get("action_id") == action_id.value]


OUR_TOKENS = re.compile(
    r"<(?:!date\^\d+\^[^|<>]*\|[^<>]*|@[UW][A-Z0-9]+|https?://[^|<>\s]+\|[^<>]*)>"
)


def assert_no_foreign_tokens(text: str) -> None:
    """Only the tokens we build (dates, user mentions, links) may contain < or >."""
    stripped = OUR_TOKENS.sub("", text)
    assert "<" not in stripped and ">" not in stripped, text
    assert "<!channel>" not in text and "<!here>" not in text
    for url in re.findall(r"<(https?://[^|<>]+)\|", text):
        assert url.startswith(UI_URL), url  # the only links are ours, into Zuora's UI


def assert_within_slack_limits(message: SlackMessage) -> None:
    check_limits(message)
    assert message.text.strip()
    for block in message.blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
        assert len(block.get("block_id", "")) <= 255
    for node in elements(message, "button"):
        assert len(node["text"]["text"]) <= 75
        assert len(node.get("value", "")) <= 2000
        if "confirm" in node:
            assert len(node["confirm"]["title"]["text"]) <= 100
            assert len(node["confirm"]["text"]["text"]) <= 300
            assert len(node["confirm"]["confirm"]["text"]) <= 30
    for node in elements(message, "checkboxes"):
        assert 1 <= len(node["options"]) <= 10
        for option in node["options"]:
            assert len(option["text"]["text"]) <= 75
            assert len(option["value"]) <= 150


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


def test_build_callout_details_snapshot(snapshot):
    message = build_callout_details(make_callout(0), account=make_account())
    assert message.as_payload() == snapshot


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


def test_build_failures_card_row_buttons_carry_typed_values():
    failures = make_failures(2, 3)
    message = build_failures_card(failures, ui_url=UI_URL)
    card = card_ref_for(failures.account, failures.window, 0)

    email_refs = [
        decode_value(b["value"], ResendRef) for b in buttons(message, ActionId.RESEND_EMAIL)
    ]
    assert [r.ids for r in email_refs] == [[history_id(n, "e")] for n in range(3)]
    assert all(r.k == "email" and r.card == card for r in email_refs)
    assert email_refs[0].lb == "Invoice Posted Email → billing0@acme.example.com"

    callout_refs = [
        decode_value(b["value"], ResendRef) for b in buttons(message, ActionId.RESEND_CALLOUT)
    ]
    assert [r.ids for r in callout_refs] == [[history_id(n, "c")] for n in range(2)]
    assert all(r.k == "callout" for r in callout_refs)

    details = [
        decode_value(b["value"], CalloutRef) for b in buttons(message, ActionId.CALLOUT_DETAILS)
    ]
    assert [d.i for d in details] == [history_id(0, "c"), history_id(1, "c")]
    assert details[0].t == int(failures.callouts[0].create_time.timestamp())
    assert details[0].ev == failures.callouts[0].event_id

    (selected,) = buttons(message, ActionId.RESEND_SELECTED)
    assert decode_value(selected["value"], CardRef) == card
    assert selected["style"] == "primary"
    (checkboxes,) = elements(message, "checkboxes")
    assert checkboxes["action_id"] == ActionId.SELECT_EMAILS.value
    assert [parse_option_value(o["value"]) for o in checkboxes["options"]] == [
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
    ids = [
        parse_option_value(o["value"])[1]
        for o in elements(build_failures_card(shuffled, ui_url=UI_URL), "checkboxes")[0]["options"]
    ]
    assert ids == [history_id(n, "e") for n in range(3)]


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
        assert not elements(message, "checkboxes")
        assert buttons(message, ActionId.CALLOUT_DETAILS)  # details still work without an id
        assert buttons(message, ActionId.REFRESH)


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
    assert "https://hooks.acme.example.com/zuora/0" in dumped


def test_build_failures_card_page_out_of_range_shows_the_last_page():
    failures = make_failures(0, 25)
    last = build_failures_card(failures, ui_url=UI_URL, page=99)
    assert last == build_failures_card(failures, ui_url=UI_URL, page=2)
    assert not buttons(last, ActionId.PAGE) == []  # Previous is there
    (previous,) = buttons(last, ActionId.PAGE)
    assert decode_value(previous["value"], CardRef).p == 1


def test_build_failures_card_shows_the_page_once():
    failures = make_failures(7, 14)
    for page in range(page_count(failures)):
        text = "\n".join(mrkdwn_texts(build_failures_card(failures, ui_url=UI_URL, page=page)))
        assert len(re.findall(r"(?i)page \d+ of \d+", text)) == 1, text
        assert f"*Page {page + 1} of 3*" in text
    single = "\n".join(mrkdwn_texts(build_failures_card(make_failures(1, 1), ui_url=UI_URL)))
    assert not re.search(r"(?i)page \d", single)


@pytest.mark.parametrize(
    ("response_code", "shown"),
    [
        ("503", "HTTP 503"),
        ("-1", "no response (code -1)"),
        ("0", "no response (code 0)"),
        (None, "no response"),
        ("no response", "no response"),
        ("<x>", "code &lt;x&gt;"),
    ],
)
def test_response_code_text_tells_http_codes_from_no_response(response_code, shown):
    assert response_code_text(response_code) == shown
    callout = make_callout(0, responseCode=response_code)
    row = "\n".join(
        mrkdwn_texts(
            build_failures_card(
                AccountFailures(
                    account=make_account(), window=make_window(), callouts=[callout], emails=[]
                ),
                ui_url=UI_URL,
            )
        )
    )
    assert f"→ {shown} · 3 attempts" in row
    details = build_callout_details(callout, account=make_account())
    assert f"*Response*\n{shown}" in "\n".join(mrkdwn_texts(details))
    assert details.text.endswith(f": {shown} after 3 attempts")
    assert "HTTP -" not in details.text and "HTTP 0" not in details.text


def test_build_failures_card_paging_buttons_point_to_neighbour_pages():
    failures = make_failures(7, 14)
    middle = build_failures_card(failures, ui_url=UI_URL, page=1)
    pages = sorted(decode_value(b["value"], CardRef).p for b in buttons(middle, ActionId.PAGE))
    assert pages == [0, 2]
    first = build_failures_card(failures, ui_url=UI_URL, page=0)
    assert [decode_value(b["value"], CardRef).p for b in buttons(first, ActionId.PAGE)] == [1]
    # the refresh and resend-selected buttons keep the page the user is on
    (refresh,) = buttons(middle, ActionId.REFRESH)
    assert decode_value(refresh["value"], CardRef).p == 1


# --- limits at any size ---------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [0, 1, 10, 11, 50, 500])
@pytest.mark.parametrize("mix", ["callouts", "emails", "both"])
def test_build_failures_card_stays_within_limits_and_pages_cover_every_row(rows, mix):
    callouts = rows if mix in ("callouts", "both") else 0
    emails = rows if mix in ("emails", "both") else 0
    failures = make_failures(callouts, emails)
    pages = page_count(failures)
    seen_emails: list[str] = []
    seen_callouts: list[str] = []
    for page in range(pages):
        message = build_failures_card(failures, ui_url=UI_URL, page=page)
        assert_within_slack_limits(message)
        assert len(message.blocks) <= MAX_BLOCKS
        assert blocks_size(message.blocks) <= MAX_BLOCKS_JSON_CHARS
        for box in elements(message, "checkboxes"):
            seen_emails += [parse_option_value(o["value"])[1] for o in box["options"]]
        seen_callouts += [
            decode_value(b["value"], CalloutRef).i
            for b in buttons(message, ActionId.CALLOUT_DETAILS)
        ]
        targets = sorted(
            decode_value(b["value"], CardRef).p for b in buttons(message, ActionId.PAGE)
        )
        expected = [p for p in (page - 1, page + 1) if 0 <= p < pages]
        assert targets == expected
    assert seen_emails == [history_id(n, "e") for n in range(emails)]
    assert seen_callouts == [history_id(n, "c") for n in range(callouts)]


@pytest.mark.parametrize("mix", [(6, 0), (0, 10), (3, 6), (5, 10)])
@pytest.mark.parametrize(
    "text",
    ["x" * 5000, "ü" * 5000, "𝔘" * 5000, "<&>" * 2000, '"\\' * 2500, "\n" * 5000],
    ids=["ascii", "latin", "astral", "entities", "json-escapes", "newlines"],
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


def test_build_failures_card_typical_rows_keep_their_resend_buttons():
    """Ordinary data fits with every per-row control; degrading is only for pathological text."""
    for mix in ((0, 50), (50, 0), (50, 50)):
        message = build_failures_card(make_failures(*mix), ui_url=UI_URL)
        rows_with_ids = len(elements(message, "checkboxes")[0]["options"]) if mix[1] else 0
        assert len(buttons(message, ActionId.RESEND_EMAIL)) == rows_with_ids
        assert len(buttons(message, ActionId.RESEND_CALLOUT)) == len(
            buttons(message, ActionId.CALLOUT_DETAILS)
        )


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


def test_build_audit_card_counts_entries_in_words():
    def entry(n: int) -> ResendAuditEntry:
        return ResendAuditEntry(
            id=n,
            requested_at=NOW,
            team_id="T1",
            user_id="U0ALLOWED",
            account_key="A00000001",
            kind="email",
            ids=(history_id(n, "e"),),
            track_id=f"zops-{n}",
            dedup_key=f"d{n}",
            status="succeeded",
            outcome={},
            error=None,
            finished_at=NOW,
            audit_channel=None,
            audit_ts=None,
        )

    def summary(message: SlackMessage) -> str:
        return message.blocks[1]["elements"][0]["text"]

    one = build_audit_card([entry(1)], total=1, offset=0, account=None)
    assert summary(one) == "1 entry · Newest first · kept permanently"
    assert one.text == "Resend audit trail: 1 entry"
    page = build_audit_card([entry(n) for n in range(10)], total=37, offset=10, account=None)
    assert summary(page) == "Entries 11–20 of 37 · Newest first · kept permanently"
    last = build_audit_card([entry(36)], total=37, offset=36, account="A-<!here>")
    assert summary(last) == "Entry 37 of 37 · Newest first · kept permanently"
    assert last.text == "Resend audit trail · A-&lt;!here&gt;: 37 entries"
    empty = build_audit_card([], total=0, offset=0, account="<!channel>")
    assert empty.text == "No resends recorded for &lt;!channel&gt; yet."
    for message in (one, page, last, empty):
        assert_within_slack_limits(message)
        for text in [message.text, *mrkdwn_texts(message)]:
            assert_no_foreign_tokens(text)


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


def test_build_callout_details_truncates_and_escapes_huge_content():
    callout = make_callout(0, responseContent="<html>" + "<b>&</b>" * 5000)
    message = build_callout_details(callout, account=make_account())
    assert_within_slack_limits(message)
    content = message.blocks[-1]["text"]["text"]
    assert content.startswith("*Response content*\n```\n&lt;html&gt;")
    assert content.endswith("…\n```")


def test_build_callout_details_without_content_or_id():
    callout = make_callout(0, with_id=False, responseContent=None, responseCode=None)
    message = build_callout_details(callout, account=make_account())
    assert "Zuora kept no response body" in message.blocks[-1]["text"]["text"]
    assert "no response" in message.text


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


# --- hostile text --------------------------------------------------------------------------------


def hostile_failures() -> AccountFailures:
    account = make_account(name=HOSTILE, number="A-<!channel>")
    callouts = [
        make_callout(
            n,
            eventCategory="custom",
            eventContext={"<Event.Category>": HOSTILE, "<Event.ID>": "e1"},
            requestMethod="<!here>",
            requestUrl=f"https://evil.example/{HOSTILE}?x=<!channel>",
            responseCode="<!channel>",
            responseContent=HOSTILE,
        )
        for n in range(2)
    ]
    emails = [
        make_email(n, notification=HOSTILE, toEmail=HOSTILE, subject=HOSTILE, errorMessage=HOSTILE)
        for n in range(3)
    ]
    return AccountFailures(
        account=account,
        window=make_window(),
        callouts=callouts,
        emails=emails,
        ids_error=HOSTILE,
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


def test_hostile_account_name_is_shown_escaped():
    message = build_failures_card(hostile_failures(), ui_url=UI_URL)
    assert "&lt;!channel&gt; &lt;@U024BE7LH&gt;" in message.text
    header = message.blocks[0]["text"]
    assert header["type"] == "plain_text"  # plain text is never parsed, so no escaping needed


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


def test_slack_message_refuses_an_empty_text():
    with pytest.raises(BlockLimitError):
        SlackMessage(text="  ", blocks=[])


def section_dict(text: str = "x", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


@pytest.mark.parametrize(
    ("blocks", "problem"),
    [
        ([section_dict() for _ in range(51)], "51 blocks"),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
            "field",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "checkboxes",
                            "action_id": "a",
                            "options": [
                                {"text": {"type": "plain_text", "text": str(n)}, "value": str(n)}
                                for n in range(11)
                            ],
                        }
                    ],
                }
            ],
            "checkbox",
        ),
        ([section_dict(block_id="b"), section_dict(block_id="b")], "used twice"),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "p",
                            "text": {"type": "plain_text", "text": "a"},
                        },
                        {
                            "type": "button",
                            "action_id": "p",
                            "text": {"type": "plain_text", "text": "b"},
                        },
                    ],
                }
            ],
            "action_id",
        ),
        ([section_dict("y" * 2900) for _ in range(5)], "budget"),
    ],
)
def test_check_limits_catches_what_slack_sdk_does_not(blocks, problem):
    with pytest.raises(BlockLimitError, match=problem):
        check_limits(SlackMessage(text="t", blocks=blocks))


def test_check_limits_accepts_a_full_legal_message():
    check_limits(SlackMessage(text="t", blocks=[section_dict() for _ in range(50)]))


def test_account_url_quotes_the_id():
    assert account_url("https://x.example/", make_account(id="a/b?c")) == (
        "https://x.example/apps/CustomerAccount.do?method=view&id=a%2Fb%3Fc"
    )
