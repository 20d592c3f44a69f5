"""Tests for the card builders: snapshots of every state, Slack limits at any size, hostile text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.audit.cards import build_audit_card
from bot.core.actions import (
    ActionId,
    CardRef,
    InvalidValueError,
    ResendAllRef,
    ResendRef,
    RowAction,
    decode_row_action,
    decode_row_block_id,
    decode_value,
    parse_option_value,
    row_block_id,
)
from bot.failures.callout_card import build_callout_details
from bot.failures.cards import account_url, build_failures_card, page_count, page_slice
from bot.failures.results import AccountFailures, ResendOutcome, card_ref_for
from bot.resend.cards import (
    build_batch_progress,
    build_resend_confirm,
    build_resend_outcome,
    build_resend_outcomes,
    build_resend_progress,
)
from bot.slack.elements import response_code_text
from bot.slack.message import (
    MAX_BLOCKS,
    MAX_BLOCKS_JSON_CHARS,
    BlockLimitError,
    SlackMessage,
    blocks_size,
    check_limits,
)
from bot.slack.simple_cards import (
    build_access_denied,
    build_error,
    build_help,
    build_notice,
    build_placeholder,
    build_stale_button,
    build_status,
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


def slack_limit_problems(message: SlackMessage) -> list[str]:
    """Every Slack limit a built message breaks (slack-platform.md §5), checked on its JSON."""
    problems: list[str] = []

    def over(what: str, size: int, limit: int) -> None:
        if size > limit:
            problems.append(f"{what}: {size} > {limit}")

    if not message.text.strip():
        problems.append("empty text fallback")
    over("text fallback", len(message.text), 40_000)
    over("blocks", len(message.blocks), MAX_BLOCKS)
    over("blocks JSON", blocks_size(message.blocks), MAX_BLOCKS_JSON_CHARS)
    block_ids = [b["block_id"] for b in message.blocks if "block_id" in b]
    if len(block_ids) != len(set(block_ids)):
        problems.append("a block_id is used twice")
    for index, block in enumerate(message.blocks):
        where = f"block {index} ({block['type']})"
        over(f"{where} block_id", len(block.get("block_id", "")), 255)
        if block["type"] == "header":
            over(f"{where} text", len(block["text"]["text"]), 150)
        if block["type"] == "section":
            if "text" in block:
                over(f"{where} text", len(block["text"]["text"]), 3000)
            over(f"{where} fields", len(block.get("fields", [])), 10)
            for field in block.get("fields", []):
                over(f"{where} field", len(field["text"]), 2000)
        if block["type"] == "context":
            over(f"{where} elements", len(block["elements"]), 10)
        if block["type"] == "actions":
            over(f"{where} elements", len(block["elements"]), 25)
            if not block["elements"]:
                problems.append(f"{where} has no elements")
        elements_here = [block["accessory"]] if "accessory" in block else []
        elements_here += block.get("elements", []) if block["type"] == "actions" else []
        action_ids = [e["action_id"] for e in elements_here if "action_id" in e]
        if len(action_ids) != len(set(action_ids)):
            problems.append(f"{where}: an action_id is used twice")
        for action_id in action_ids:
            over(f"{where} action_id", len(action_id), 255)
        for element in elements_here:
            kind = element.get("type")
            if kind == "button":
                over(f"{where} button text", len(element["text"]["text"]), 75)
                over(f"{where} button value", len(element.get("value", "")), 2000)
                over(f"{where} button url", len(element.get("url", "")), 3000)
                if "confirm" in element:
                    confirm = element["confirm"]
                    over(f"{where} confirm title", len(confirm["title"]["text"]), 100)
                    over(f"{where} confirm text", len(confirm["text"]["text"]), 300)
                    over(f"{where} confirm button", len(confirm["confirm"]["text"]), 30)
                    over(f"{where} deny button", len(confirm["deny"]["text"]), 30)
            elif kind in ("checkboxes", "overflow", "static_select"):
                low, high = {"checkboxes": (1, 10), "overflow": (2, 5)}.get(kind, (1, 100))
                if kind == "static_select":
                    over(f"{where} placeholder", len(element["placeholder"]["text"]), 150)
                if not low <= len(element["options"]) <= high:
                    problems.append(f"{where}: {len(element['options'])} {kind} options")
                values = [o["value"] for o in element["options"]]
                if len(values) != len(set(values)):
                    problems.append(f"{where}: an option value is used twice")
                for option in element["options"]:
                    over(f"{where} option text", len(option["text"]["text"]), 75)
                    over(f"{where} option value", len(option["value"]), 150)
                    over(f"{where} option url", len(option.get("url", "")), 3000)
            elif kind is not None and kind != "image":
                problems.append(f"{where}: unexpected element {kind}")
    try:
        check_limits(message)
    except BlockLimitError as exc:
        problems.append(f"check_limits: {exc}")
    return problems


def assert_within_slack_limits(message: SlackMessage) -> None:
    """No Slack limit broken anywhere in the message."""
    assert slack_limit_problems(message) == []


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


# --- compact row values -------------------------------------------------------------------------


UUID = "123e4567-e89b-12d3-a456-426614174000"


@pytest.mark.parametrize(
    "action",
    [
        RowAction(verb="resend", kind="email", history_id=history_id(1, "e"), label="a.b → c"),
        RowAction(verb="resend", kind="callout", history_id="Z" * 64, label="𝔘" * 200),
        RowAction(verb="resend", kind="email", history_id=UUID),
        RowAction(verb="details", created=1714564800, event_id="8a" * 32),
        RowAction(verb="details", created=0),
        RowAction(verb="open"),
    ],
)
def test_row_action_round_trips_within_150_characters(action):
    raw = action.encode()
    assert len(raw) <= 150 and raw.startswith("z1.")
    decoded = decode_row_action(raw)
    assert replace(decoded, label=None) == replace(action, label=None)
    if action.label:
        assert decoded.label and action.label.startswith(decoded.label)


def test_row_action_leaves_out_an_event_id_it_cannot_carry():
    long = RowAction(verb="details", created=5, event_id="e" * 65).encode()
    odd = RowAction(verb="details", created=5, event_id="a.b|c").encode()
    assert decode_row_action(long).event_id is None and decode_row_action(odd).event_id is None


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        '{"v":1,"k":"email","ids":["e1"]}',
        "z0.r.e.e1",  # an unknown version
        "z2.r.e.e1",
        "z1.x.e.e1",  # an unknown verb
        "z1.r.q.e1",  # an unknown kind
        "z1.r.e.../../v1/accounts",
        "z1.r.e.",
        "z1.d.NOPE",
        "z1.d.abc.<!channel>",
        "z1.o.extra",
        "z1.r.e." + "a" * 200,
    ],
)
def test_decode_row_action_refuses_stale_or_forged_values(raw):
    with pytest.raises(InvalidValueError):
        decode_row_action(raw)


@pytest.mark.parametrize(
    "card",
    [
        card_ref_for(make_account(), make_window()),
        CardRef(a="B" * 64, n="N" * 64, s=0, e=2**40, w="720h", p=1000),
        CardRef(a=UUID, n="A-1.2", s=1714478400, e=1714564800, w="7d.x", p=3),
    ],
)
def test_row_block_id_carries_the_card_within_255_characters(card):
    for kind, row in (("email", 1), ("callout", 99999)):
        block_id = row_block_id(card, kind, row)
        assert len(block_id) <= 255
        assert decode_row_block_id(block_id) == card.model_copy(update={"n": ""})
    assert row_block_id(card, "email", 1) != row_block_id(card, "callout", 1)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "b",
        "card_actions",
        "emails_0_0_abcdef12",
        "z1.e1.../x.1.2.0.24h",
        "z1.e1.2c92c0f87a3b4e21017a3c5d6e7f0000.NOPE!.2.0.24h",
        "z1.e1.2c92c0f87a3b4e21017a3c5d6e7f0000.1.2.1001.24h",  # page out of range
        "z1.e1.2c92c0f87a3b4e21017a3c5d6e7f0000.1.2.0.%FF",  # not UTF-8
        "z1.e1.2c92c0f87a3b4e21017a3c5d6e7f0000.1.2.0.123456789",  # label too long
        "z2.e1.2c92c0f87a3b4e21017a3c5d6e7f0000.1.2.0.24h",
    ],
)
def test_decode_row_block_id_refuses_stale_or_forged_ids(raw):
    with pytest.raises(InvalidValueError):
        decode_row_block_id(raw)


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
        (
            [
                section_dict(
                    accessory={
                        "type": "overflow",
                        "action_id": "m",
                        "options": [
                            {"text": {"type": "plain_text", "text": "a"}, "value": "a"},
                        ],
                    }
                )
            ],
            "overflow",
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
