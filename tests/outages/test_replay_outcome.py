"""Did a replay work? One outcome watch per replay (its cause): each check is ONE history listing
however many ids, the summary gains the outcome and keeps its way back to the outages list, and
`/zuora audit` names the cause."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.actions import ActionId
from bot.sandbox.replay_tenant import build_outage_tenant
from bot.sandbox.tenant import FailAgain
from tests.support.outcome_watch import check_at
from tests.support.replay import replay_button, window_now
from tests.support.stack_fixtures import Harness, all_text, button, dispatch_harness

CALLOUTS = "/v1/notification-history/callout"
IDS = 1200


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    tenant = build_outage_tenant(failed=IDS, now=datetime.now(UTC))
    with dispatch_harness(tmp_path, tenant=tenant) as started:
        yield started


def listings(harness: Harness, *, failed_only: str) -> Counter[tuple[str, str]]:
    """Callout history pages read (failed only, or every record), per listing start and page."""
    pages: Counter[tuple[str, str]] = Counter()
    for request in harness.zuora.requests(CALLOUTS):
        q = request.query
        if q["failedOnly"][0] == failed_only:
            pages[(q["startTime"][0], q["page"][0])] += 1
    return pages


def test_replay_watch_is_one_listing_per_check_and_shows_on_the_summary(harness: Harness) -> None:
    reply = harness.click(replay_button(window_now()))
    assert "1,200 of 1,200 callouts resent" in all_text(harness.posts(reply.response_url)[-1])
    harness.zuora.advance(6)
    harness.zuora.reset_log()

    assert check_at(harness.deps, 31) == 1

    # The first check finds the originals in the replay's window once (failed records), then
    # reads what came since the resend as ONE listing of every record: 1,200 new ones / 40 a page.
    originals, since = listings(harness, failed_only="true"), listings(harness, failed_only="false")
    assert set(originals.values()) == {1} and set(since.values()) == {1}, "no page read twice"
    assert len({start for start, _ in since}) == 1
    # 30 pages hold them; the client's concurrent read-ahead may ask for a few empty ones past the end.
    assert IDS // 40 <= len(since) <= IDS // 40 + 4
    summary = harness.posts(reply.response_url)[-1]
    text = all_text(summary)
    assert "Did it work?" in text and "1200 delivered" in text
    back = button(summary, ActionId.OUTAGE_PAGE.value)
    assert back["text"]["text"] == "Back to outages"


def test_replay_failing_again_is_named_and_audit_names_the_cause(harness: Harness) -> None:
    harness.tenant.fails_again["https://outage.example/"] = FailAgain("still down", 503)
    reply = harness.click(replay_button(window_now()))
    harness.zuora.advance(6)

    assert check_at(harness.deps, 31) == 1

    assert "1200 failed again: HTTP 503" in all_text(harness.posts(reply.response_url)[-1])
    audit = harness.command("audit")
    text = all_text(harness.wait_posts(audit.response_url, 1)[-1])
    assert "replay of the cause outage.example/zuora/orders" in text
    assert "failed again: HTTP 503" in text
