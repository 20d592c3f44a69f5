"""`/zuora outages` through signed requests against the sandbox Zuora and fake Slack: the receipt ack,
one card posted as its own message, the sandbox outage on it, paging over the same fixed window,
usage errors, an empty window, and Zuora down or rate limited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.actions import OutageRef, decode_value
from bot.outages.cards import OUTAGES_PAGE_SIZE
from bot.sandbox.tenant import BOUNCE_DOMAIN, OUTAGE_ACCOUNTS, build_tenant
from tests.support.stack_fixtures import Harness, all_text, buttons, dispatch_harness, mrkdwn_texts

REPLAY = "zuora.outage_replay"
PAGE = "zuora.outage_page"
HISTORY = "/v1/notification-history/"


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[Harness]:
    tenant = build_tenant(seed=7, now=datetime.now(UTC), outage=True)
    with dispatch_harness(tmp_path, tenant=tenant) as started:
        yield started


def scan_requests(harness: Harness) -> list:
    """The failures-only history reads (the scan's; recovery reads ask for successes too)."""
    return [r for r in harness.zuora.requests(HISTORY) if r.query.get("failedOnly") != ["false"]]


def sections(card: dict) -> list[dict]:
    return [b for b in card["blocks"] if b["type"] == "section"]


def test_outages_command_acks_a_receipt_then_posts_one_card_with_the_outage(
    outage: Harness,
) -> None:
    reply = outage.command("outages")

    assert reply.status == 200
    assert "the answer follows below" in all_text(reply.ack)
    (card,) = outage.wait_posts(reply.response_url, 1)
    assert card["replace_original"] is False
    assert card["blocks"][0]["text"]["text"] == "Outages in the last 24h"
    top = sections(card)[0]["text"]["text"]
    # The down endpoint (one URL per account number, folded) is the biggest cause.
    assert "hooks.ledgerlink.example/zuora/v2/accounts/*/events → no response" in top
    assert f"{OUTAGE_ACCOUNTS} accounts" in top
    expected = sum(
        1
        for c in outage.tenant.callouts
        if c.failed
        and "ledgerlink" in c.request_url
        and c.create_time > outage.tenant.now - timedelta(hours=24)
    )
    assert f"{expected} callouts" in top
    bounce = [s for s in sections(card) if "`550 5.1.1 user unknown`" in s["text"]["text"]]
    assert bounce, "the bouncing mail domain is its own cause"
    assert BOUNCE_DOMAIN not in json.dumps(card), "addresses are taken out of the cause"
    replay = buttons(card, REPLAY)
    assert replay and all("confirm" in b for b in replay)
    ref = decode_value(replay[0]["value"], OutageRef)
    assert ref.n == expected and ref.w == "24h" and ref.e - ref.s == 24 * 3600
    paths = {r.path.split("?")[0] for r in outage.zuora.requests() if r.path.startswith(HISTORY)}
    assert paths == {HISTORY + "callout", HISTORY + "email"}


def test_outages_card_pages_over_the_same_window_and_replaces_the_card(outage: Harness) -> None:
    reply = outage.command("outages 7d")
    (card,) = outage.wait_posts(reply.response_url, 1)
    groups = int(card["text"].split(" causes")[0].rsplit(" ", 1)[-1])
    assert groups > OUTAGES_PAGE_SIZE, card["text"]
    (nxt,) = buttons(card, PAGE)
    scanned = len(scan_requests(outage))

    click = outage.click(nxt)

    (second,) = outage.posts(click.response_url)
    assert second["replace_original"] is True
    assert f"Causes {OUTAGES_PAGE_SIZE + 1}–" in all_text(second)
    assert len(scan_requests(outage)) == scanned, "the page reused the scan of that window"
    first_labels = {s["text"]["text"] for s in sections(card)}
    assert not first_labels & {s["text"]["text"] for s in sections(second)}
    previous = [b for b in buttons(second, PAGE) if "Previous" in b["text"]["text"]]
    back = outage.click(previous[0])
    (again,) = outage.posts(back.response_url)
    assert [s["text"]["text"] for s in sections(again)] == [
        s["text"]["text"] for s in sections(card)
    ]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("outages 8d", "maximum is 7 days"),
        ("outages soon", "is not a time window"),
        ("outages 24h extra", "Too many words after `outages`"),
        ("outages 2m", "minimum is 5 minutes"),
    ],
)
def test_outages_usage_errors_are_clear_and_ask_zuora_nothing(
    outage: Harness, text: str, said: str
) -> None:
    reply = outage.command(text)

    assert said in all_text(reply.ack)
    assert outage.posts(reply.response_url) == []
    assert not [r for r in outage.zuora.requests() if r.path.startswith(HISTORY)]


def test_outages_empty_window_gets_a_friendly_card(tmp_path: Path) -> None:
    # Every record of this tenant is more than 30 days old: the last 24h hold no failure.
    old = build_tenant(seed=7, now=datetime.now(UTC) - timedelta(days=30), outage=True)
    with dispatch_harness(tmp_path, tenant=old) as harness:
        reply = harness.command("outages")

        (card,) = harness.wait_posts(reply.response_url, 1)
        assert "No failed callouts or emails in the last 24h" in all_text(card)
        assert not buttons(card, REPLAY) and not buttons(card, PAGE)
        assert [r for r in harness.zuora.requests() if r.path.startswith(HISTORY)]


def test_outages_zuora_down_is_explained(tmp_path: Path) -> None:
    with dispatch_harness(tmp_path, zuora_overrides={"retry_max_delay": 0.05}) as harness:
        harness.zuora.set_down(True)
        reply = harness.command("outages")

        (post,) = harness.wait_posts(reply.response_url, 1)
        text = all_text(post)
        assert "The bot could not reach Zuora." in text
        assert "Traceback" not in text


def test_outages_zuora_rate_limit_is_explained(tmp_path: Path) -> None:
    overrides = {"retry_max_delay": 0.05, "max_retries": 1}
    with dispatch_harness(tmp_path, zuora_overrides=overrides) as harness:
        harness.zuora.fail_next(HISTORY, status=429, headers={"Retry-After": "0"}, times=50)
        reply = harness.command("outages 6h")

        (post,) = harness.wait_posts(reply.response_url, 1)
        text = " ".join(mrkdwn_texts(post))
        assert "Zuora" in text and ("limit" in text or "busy" in text), text
