"""Factories and Block Kit helpers shared by the card tests: accounts, windows, failed callouts and emails,
resend outcomes, walks over the JSON, and Slack's limits and token rules as assertions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.actions import ActionId
from bot.failures.results import AccountFailures, ResendOutcome, card_ref_for
from bot.slack.message import (
    MAX_BLOCKS,
    MAX_BLOCKS_JSON_CHARS,
    BlockLimitError,
    SlackMessage,
    blocks_size,
    check_limits,
)
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
