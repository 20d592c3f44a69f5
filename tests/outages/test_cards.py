"""The outages card: within Slack's limits at 0, 1, 10, 11 and 100 causes with hostile text, escaped,
with a confirmed Resend all N per cause that carries an OutageRef, and paging beyond the top causes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.actions import ActionId, OutageRef, decode_value
from bot.outages.cards import OUTAGES_PAGE_SIZE, build_outages_card, outage_page_count
from bot.outages.causes import OutageScan
from bot.slack.message import MAX_BLOCKS, MAX_BLOCKS_JSON_CHARS, blocks_size, check_limits
from bot.zuora.models import CalloutHistory, EmailHistory, TimeWindow

END = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
WINDOW = TimeWindow.ending_at(END, timedelta(hours=24), "24h")
HOSTILE = "<!channel> <@U024BE7LH> <https://evil.example|click> & <!here> `tick` *b*"


def hostile_scan(causes: int, *, per_cause: int = 3) -> OutageScan:
    scan = OutageScan()
    for n in range(causes):
        for i in range(per_cause + (causes - n)):
            at = END - timedelta(minutes=7 * i + n)
            if n % 2:
                scan.add_email(
                    EmailHistory.model_validate(
                        {
                            "sendTime": at,
                            "accountId": f"acct{i % 4}",
                            "errorMessage": f"550 5.1.1 {HOSTILE} kind{chr(97 + n % 26)}"
                            f"{chr(97 + n // 26)} {'é' * 400} <x{i}@evil.example>",
                            "id": f"E{n:04d}{i:05d}",
                        }
                    )
                )
            else:
                scan.add_callout(
                    CalloutHistory.model_validate(
                        {
                            "createTime": at,
                            "requestUrl": f"https://{'h' * 60}.example/{HOSTILE}/p{n}/"
                            + "x&<>" * 300,
                            "responseCode": 503 if i % 2 else -1,
                            "eventContext": {"<Account.ID>": f"acct{i % 5}"},
                        }
                    )
                )
    return scan


def mrkdwn_texts(node: object) -> list[str]:
    """Every mrkdwn string in the blocks (plain_text, e.g. a confirm dialog, is never parsed)."""
    if isinstance(node, list):
        return [t for item in node for t in mrkdwn_texts(item)]
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            return [node["text"]]
        return [t for value in node.values() for t in mrkdwn_texts(value)]
    return []


@pytest.mark.parametrize("causes", [0, 1, 10, 11, 100])
def test_outages_card_stays_within_limits_with_hostile_text(causes: int) -> None:
    scan = hostile_scan(causes)
    groups = scan.groups()
    pages = outage_page_count(len(groups))
    for page in range(pages):
        message = build_outages_card(scan, WINDOW, page=page)
        check_limits(message)
        assert len(message.blocks) <= MAX_BLOCKS
        assert blocks_size(message.blocks) <= MAX_BLOCKS_JSON_CHARS
        dumped = "".join(mrkdwn_texts(message.blocks)) + message.text
        for token in ("<!channel>", "<!here>", "<@U024BE7LH>", "<https://evil"):
            assert token not in dumped
        sections = [b for b in message.blocks if b["type"] == "section"]
        if causes:
            expected = min(OUTAGES_PAGE_SIZE, len(groups) - page * OUTAGES_PAGE_SIZE)
            assert len(sections) == expected
    if causes == 0:
        assert pages == 1
        assert "No failed callouts or emails" in build_outages_card(scan, WINDOW).text
    assert pages == (1 if causes <= OUTAGES_PAGE_SIZE else -(-causes // OUTAGES_PAGE_SIZE))


def test_outages_card_shows_each_cause_with_confirmed_resend_all() -> None:
    scan = OutageScan()
    for i in range(30):
        scan.add_callout(
            CalloutHistory.model_validate(
                {
                    "createTime": END - timedelta(hours=3) + timedelta(minutes=4 * i),
                    "requestUrl": f"https://hooks.down.example/zuora/orders/{1000 + i}?token=s3",
                    "responseCode": 503,
                    "eventContext": {"<Account.ID>": f"acct{i}"},
                    "id": f"C{i:031d}",
                }
            )
        )
    scan.add_email(
        EmailHistory.model_validate(
            {
                "sendTime": END - timedelta(hours=1),
                "accountId": "acct1",
                "errorMessage": "550 5.1.1 <ap@bounce.example>: User unknown",
            }
        )
    )
    message = build_outages_card(scan, WINDOW)
    first, second = (b for b in message.blocks if b["type"] == "section")
    assert "hooks.down.example/zuora/orders/*" in first["text"]["text"]
    assert "token" not in json.dumps(message.blocks)
    assert "30 callouts · 30 accounts" in first["text"]["text"]
    assert "<!date^" in first["text"]["text"]
    button = first["accessory"]
    assert button["action_id"] == ActionId.OUTAGE_REPLAY.value
    assert button["text"]["text"] == "Resend all 30"
    confirm = button["confirm"]["text"]["text"]
    assert "30 failed callouts" in confirm and "30 accounts" in confirm and "HTTP 503" in confirm
    ref = decode_value(button["value"], OutageRef)
    assert ref.c == scan.groups()[0].cause.id and ref.n == 30 and ref.p == 0
    assert (ref.start, ref.end, ref.w) == (WINDOW.start, WINDOW.end, "24h")
    # The email without a REST id still gets its button (the replay resolves ids first).
    assert second["accessory"]["text"]["text"] == "Resend all 1"
    assert not [b for b in message.blocks if b["type"] == "actions"]


def test_outages_card_pages_carry_the_fixed_window() -> None:
    scan = hostile_scan(25, per_cause=1)
    first = build_outages_card(scan, WINDOW, page=0)
    nexts = [b for b in first.blocks if b["type"] == "actions"]
    assert len(nexts) == 1
    ref = decode_value(nexts[0]["elements"][0]["value"], OutageRef)
    assert ref.p == 1 and (ref.s, ref.e) == (
        int(WINDOW.start.timestamp()),
        int(WINDOW.end.timestamp()),
    )
    middle = build_outages_card(scan, WINDOW, page=1)
    labels = [b["elements"][0]["text"]["text"] for b in middle.blocks if b["type"] == "actions"]
    assert labels == ["◀ Previous", "Next ▶"]
    last = build_outages_card(scan, WINDOW, page=99)  # clamped to the last page
    assert "Causes 21–25 of 25" in json.dumps(last.blocks, ensure_ascii=False)
