"""Is the cause over? `/zuora outages` through signed requests against the sandbox outage: its
endpoint is back (a success after its last failure), its mail domain still bounces; the replay of
the bouncing cause warns first and still works after "Replay anyway", once; and Zuora not
answering the recovery read leaves the card working with "recovery unknown"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.sandbox.tenant import BOUNCE_DOMAIN, build_tenant
from tests.support.stack_fixtures import Harness, all_text, buttons, dispatch_harness

REPLAY = "zuora.outage_replay"
ANYWAY = "zuora.outage_replay_anyway"
HISTORY = "/v1/notification-history/"
ENDPOINT = "hooks.ledgerlink.example"
BOUNCE = "550 5.1.1 user unknown"


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[Harness]:
    tenant = build_tenant(seed=7, now=datetime.now(UTC), outage=True)
    with dispatch_harness(tmp_path, tenant=tenant) as started:
        yield started


def cause_block(card: dict, needle: str) -> dict:
    (block,) = [b for b in card["blocks"] if b["type"] == "section" and needle in b["text"]["text"]]
    return block


def outages_card(harness: Harness) -> dict:
    reply = harness.command("outages")
    (card,) = harness.wait_posts(reply.response_url, 1)
    return card


def test_recovered_endpoint_says_when_and_that_a_replay_is_safe(outage: Harness) -> None:
    card = outages_card(outage)

    block = cause_block(card, ENDPOINT)
    tenant = outage.tenant
    back = min(c.create_time for c in tenant.callouts if ENDPOINT in c.request_url and not c.failed)
    text = block["text"]["text"]
    assert f"Recovered at <!date^{int(back.timestamp())}^{{time}}|{back:%H:%M} UTC>" in text
    assert "safe to replay" in text
    assert block["accessory"]["action_id"] == REPLAY
    reads = [r for r in outage.zuora.requests(HISTORY) if r.query.get("failedOnly") == ["false"]]
    assert reads, "the recovery read asked for successes too"
    assert all(r.query["pageSize"] == ["40"] and "page" in r.query for r in reads)
    assert all("accountId" in r.query for r in reads if r.path.startswith(HISTORY + "email"))


def test_still_failing_domain_warns_then_replays_anyway_once(outage: Harness) -> None:
    card = outages_card(outage)
    block = cause_block(card, BOUNCE)
    text = block["text"]["text"]
    assert re.search(
        r"\*Still failing, last failure [23] min ago: a replay now will probably fail again\*",
        text,
    ), text
    anyway = block["accessory"]
    assert anyway["action_id"] == ANYWAY and anyway["text"]["text"].startswith("Replay anyway")
    assert anyway["confirm"]["title"]["text"].startswith("Still failing")
    assert anyway["confirm"]["text"]["text"].startswith("Last failure")
    assert anyway["confirm"]["confirm"]["text"] == "Replay anyway"
    bounced = {
        e.id for e in outage.tenant.emails if e.failed and e.to_email.endswith("@" + BOUNCE_DOMAIN)
    }

    click = outage.click(anyway)

    summary = outage.wait_posts(click.response_url, 2)[-1]
    assert "resent" in all_text(summary)
    sent = {i for kind, ids in outage.resends() if kind == "email" for i in ids}
    assert sent and sent <= bounced
    calls = len(outage.resends())
    again = outage.click(anyway)
    assert "Nothing was sent twice" in all_text(outage.wait_posts(again.response_url, 1)[-1])
    assert len(outage.resends()) == calls, "the once-per-notification claims still hold"


@pytest.mark.parametrize(("status", "headers"), [(503, {}), (429, {"Retry-After": "0"})])
def test_zuora_silent_during_the_recovery_read_leaves_the_card_working(
    tmp_path: Path, status: int, headers: dict[str, str]
) -> None:
    tenant = build_tenant(seed=7, now=datetime.now(UTC), outage=True)
    overrides = {"retry_max_delay": 0.05, "max_retries": 1}
    with dispatch_harness(tmp_path, tenant=tenant, zuora_overrides=overrides) as harness:
        harness.zuora.fail_next(
            HISTORY, status=status, headers=headers, times=100, query={"failedOnly": "false"}
        )

        card = outages_card(harness)

        text = all_text(card)
        assert "Traceback" not in text and "None" not in text
        block = cause_block(card, ENDPOINT)
        assert "Recovery unknown (Zuora didn't answer)" in block["text"]["text"]
        assert block["accessory"]["action_id"] == REPLAY
        assert "Recovery unknown" in cause_block(card, BOUNCE)["text"]["text"]
        assert buttons(card, REPLAY) and not buttons(card, ANYWAY)
        assert not [
            r
            for r in harness.zuora.requests(HISTORY)
            if r.status != 200 and r.query.get("failedOnly") != ["false"]
        ], "only the recovery read failed"
