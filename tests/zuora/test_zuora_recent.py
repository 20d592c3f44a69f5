"""The recovery read: a few pages of recent history, successes included, over real loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import Tenant
from bot.zuora.client import ZuoraClient
from bot.zuora.client.history import MAX_RECENT_PAGES, wire_time
from bot.zuora.errors import ZuoraInputError
from bot.zuora.track import new_track_id
from tests.support.zuora_fakes import settings_for

NOW = datetime(2026, 5, 11, 17, 0, tzinfo=UTC)
CALLOUTS = "/v1/notification-history/callout"
EMAILS = "/v1/notification-history/email"
TRACK = new_track_id("zops", "T0001", "U0002")


@pytest.fixture
def client(fake: FakeZuora) -> Iterator[ZuoraClient]:
    with ZuoraClient.from_settings(settings_for(fake)) as zuora:
        yield zuora


def test_recent_callouts_ask_for_successes_in_the_window_one_page_at_a_time(
    client: ZuoraClient, fake: FakeZuora, tenant: Tenant
) -> None:
    start, end = NOW - timedelta(hours=12), NOW
    fake.reset_log()

    recent = client.recent_callouts(start=start, end=end, track_id=TRACK, max_pages=5)

    expected = [c for c in tenant.callouts if start <= c.create_time < end]
    assert any(not c.failed for c in expected), "the window holds successes to find"
    assert recent.complete
    assert sorted(r.create_time for r in recent.items) == sorted(c.create_time for c in expected)
    assert {r.response_code for r in recent.items} & {"200", "201", "204"}
    requests = fake.requests(CALLOUTS)
    assert len(requests) == -(-len(expected) // 40)
    zone = ZoneInfo(tenant.timezone)
    for number, request in enumerate(requests, start=1):
        assert request.query["failedOnly"] == ["false"]
        assert request.query["page"] == [str(number)]
        assert request.query["pageSize"] == ["40"]
        # Zone-less times in the tenant's zone (not UTC): Zuora reads them that way.
        assert request.query["startTime"] == [wire_time(start, zone)]
        assert request.query["endTime"] == [wire_time(end, zone)]


def test_recent_callouts_stop_at_their_page_cap_and_say_so(
    client: ZuoraClient, fake: FakeZuora
) -> None:
    fake.reset_log()

    recent = client.recent_callouts(
        start=NOW - timedelta(days=7), end=NOW, track_id=TRACK, max_pages=2
    )
    assert not recent.complete and len(recent.items) == 80
    assert [r.query["page"] for r in fake.requests(CALLOUTS)] == [["1"], ["2"]]

    fake.reset_log()
    capped = client.recent_callouts(
        start=NOW - timedelta(days=7), end=NOW, track_id=TRACK, max_pages=1000
    )
    assert not capped.complete
    assert len(fake.requests(CALLOUTS)) == MAX_RECENT_PAGES


def test_recent_emails_are_one_accounts_with_successes_within_three_days(
    client: ZuoraClient, fake: FakeZuora, tenant: Tenant
) -> None:
    account = tenant.accounts[1]
    start = NOW - timedelta(days=3)
    fake.reset_log()

    recent = client.recent_emails(
        account_id=account.id, start=start, end=NOW, track_id=TRACK, max_pages=1
    )

    (request,) = fake.requests(EMAILS)
    assert request.query["accountId"] == [account.id]
    assert request.query["failedOnly"] == ["false"]
    assert request.query["page"] == ["1"] and request.query["pageSize"] == ["40"]
    assert {r.account_id for r in recent.items} <= {account.id}
    expected = [e for e in tenant.emails_for(account.id) if start <= e.send_time < NOW]
    assert len(recent.items) == min(40, len(expected))
    with pytest.raises(ZuoraInputError, match="3 days"):
        client.recent_emails(
            account_id=account.id,
            start=NOW - timedelta(days=4),
            end=NOW,
            track_id=TRACK,
            max_pages=1,
        )
    assert len(fake.requests(EMAILS)) == 1, "a too-long window is refused before any request"
