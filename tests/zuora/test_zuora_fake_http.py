"""ZuoraClient against the fake Zuora over real loopback HTTP: the whole path, bytes on the wire."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import Tenant
from bot.zuora.client import ZuoraClient
from bot.zuora.errors import (
    ZuoraAuthError,
    ZuoraConnectionError,
    ZuoraNotFoundError,
    ZuoraTimeoutError,
)
from bot.zuora.models import TimeWindow
from bot.zuora.track import new_track_id
from tests.support.zuora_fakes import settings_for

NOW = datetime(2026, 5, 11, 17, 0, tzinfo=UTC)
WEEK = TimeWindow.ending_at(NOW, timedelta(days=7), "7d")
CALLOUTS = "/v1/notification-history/callout"
EMAILS = "/v1/notification-history/email"


@pytest.fixture
def client(fake: FakeZuora) -> Iterator[ZuoraClient]:
    with ZuoraClient.from_settings(settings_for(fake)) as zuora:
        yield zuora


def test_account_failures_match_the_tenant(
    client: ZuoraClient, fake: FakeZuora, tenant: Tenant
) -> None:
    track = new_track_id("zops", "T0001", "U0002")
    account = client.get_account("A00000001", track_id=track)
    callouts, emails = client.failures_for(account, WEEK, track_id=track)

    expected_callouts = {
        c.event_id
        for c in tenant.callouts_for(account.id)
        if c.failed and WEEK.start <= c.create_time < WEEK.end
    }
    expected_emails = {
        e.id for e in tenant.emails_for(account.id) if e.failed and WEEK.start <= e.send_time
    }
    assert len(expected_emails) > 120  # the big account spans several pages and all 3 slices
    assert {c.event_id for c in callouts} == expected_callouts
    assert {e.id for e in emails} == expected_emails
    assert [e.send_time for e in emails] == sorted((e.send_time for e in emails), reverse=True)

    requests = fake.requests("/v1/")
    assert requests, "the fake saw the calls"
    assert all(r.headers["zuora-track-id"] == track for r in requests)
    assert all("gzip" in r.headers["accept-encoding"] for r in requests)
    listed = [r for r in requests if r.path in (CALLOUTS, EMAILS)]
    assert all(r.query["pageSize"] == ["40"] and "page" in r.query for r in listed)


def test_separate_calls_agree_with_combined_scan(client: ZuoraClient) -> None:
    account = client.get_account("A00000001", track_id="zops-t")
    both = client.failures_for(account, WEEK, track_id="zops-t")
    assert client.failed_callouts_for(account, WEEK, track_id="zops-t") == both[0]
    assert client.failed_emails_for(account, WEEK, track_id="zops-t") == both[1]


def test_unknown_account_is_not_found(client: ZuoraClient) -> None:
    with pytest.raises(ZuoraNotFoundError) as caught:
        client.get_account("A99999999", track_id="zops-t")
    assert caught.value.key == "A99999999"


def test_tenant_wide_iteration_counts_every_failed_callout(
    client: ZuoraClient, tenant: Tenant
) -> None:
    expected = sum(1 for c in tenant.callouts if c.failed and WEEK.start <= c.create_time)
    assert sum(1 for _ in client.iter_failed_callouts(WEEK, track_id="zops-t")) == expected
    expected_emails = sum(1 for e in tenant.emails if e.failed and WEEK.start <= e.send_time)
    assert sum(1 for _ in client.iter_failed_emails(WEEK, track_id="zops-t")) == expected_emails


def test_callout_response_content_on_demand(client: ZuoraClient, tenant: Tenant) -> None:
    record = next(c for c in tenant.callouts if c.failed and len(c.response_content) > 50_000)
    assert record.account is not None
    account = client.get_account(record.account.number, track_id="zops-t")
    found = client.get_callout_response(
        account, record.create_time, record.event_id, track_id="zops-t"
    )
    assert found is not None
    assert found.response_content == record.response_content


def test_expired_token_is_refreshed_once(client: ZuoraClient, fake: FakeZuora) -> None:
    client.get_account("A00000001", track_id="zops-t")
    fake.expire_tokens()
    client.get_account("A00000002", track_id="zops-t")
    assert fake.token_requests == 2
    statuses = [r.status for r in fake.requests("/v1/accounts/A00000002")]
    assert len(statuses) == 2  # the 401 and the replay


def test_wrong_secret_is_auth_error(fake: FakeZuora) -> None:
    settings = settings_for(fake, client_secret="definitely-wrong-secret")
    with ZuoraClient.from_settings(settings) as zuora, pytest.raises(ZuoraAuthError) as caught:
        zuora.check_credentials("zops-t")
    assert "ZUORA_CLIENT_SECRET" in str(caught.value)
    assert fake.token_requests == 1


def test_gateway_errors_are_retried(client: ZuoraClient, fake: FakeZuora) -> None:
    fake.fail_next("/v1/accounts", status=503, body="<html>bad gateway</html>")
    fake.fail_next("/v1/accounts", status=429, headers={"Retry-After": "0"})
    assert client.get_account("A00000001", track_id="zops-t").number == "A00000001"
    assert len(fake.requests("/v1/accounts")) == 3


def test_slow_answer_is_timeout_error(fake: FakeZuora) -> None:
    settings = settings_for(fake, read_timeout=0.2, max_retries=0)
    with ZuoraClient.from_settings(settings) as zuora:
        zuora.check_credentials("zops-t")
        fake.fail_next("/v1/accounts", status=200, body={"success": True}, delay=0.6)
        with pytest.raises(ZuoraTimeoutError):
            zuora.get_account("A00000001", track_id="zops-t")


def test_down_server_is_connection_error(fake: FakeZuora) -> None:
    with ZuoraClient.from_settings(settings_for(fake, max_retries=1)) as zuora:
        zuora.check_credentials("zops-t")
        fake.set_down(True)
        with pytest.raises(ZuoraConnectionError):
            zuora.get_account("A00000001", track_id="zops-t")


def test_resend_over_http_partial_and_chunked(
    client: ZuoraClient, fake: FakeZuora, tenant: Tenant
) -> None:
    bad = next(i for i in tenant.resend_failures if i in {e.id for e in tenant.emails})
    good = [e.id for e in tenant.emails if e.failed and e.id not in tenant.resend_failures]
    unknown = [f"{n:032x}" for n in range(1, 1001 - len(good))]  # fill the first chunk
    ids = good + unknown + [bad, "0" * 32]
    result = client.resend_emails(ids, idempotency_key="click-1", track_id="zops-t")
    assert set(result.failed) == {*unknown, bad, "0" * 32}
    assert result.failed["0" * 32].code == "ObjectNotFound"
    assert result.succeeded == tuple(good)
    calls = fake.resend_calls("email")
    assert [len(c.ids) for c in calls] == [1000, 2]
    assert calls[0].idempotency_key != calls[1].idempotency_key
    assert calls[1].status == 400  # the second chunk failed entirely: still a result, not an error

    again = client.resend_emails(ids, idempotency_key="click-1", track_id="zops-t")
    assert again == result
    assert all(c.replayed for c in fake.resend_calls("email")[2:])
    assert fake.resent(good[0]) == 1  # the replay did not resend


def test_concurrent_scans_respect_the_in_flight_limit(fake: FakeZuora) -> None:
    fake.set_latency(0.01)
    with ZuoraClient.from_settings(settings_for(fake, max_concurrency=3)) as zuora:
        zuora.check_credentials("zops-t")
        fake.reset_log()
        threads = [
            threading.Thread(
                target=lambda: sum(1 for _ in zuora.iter_failed_callouts(WEEK, track_id="zops-t"))
            )
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert 2 <= fake.max_in_flight <= 3


def test_account_scan_runs_pages_in_parallel(fake: FakeZuora) -> None:
    latency = 0.03
    with ZuoraClient.from_settings(settings_for(fake, max_concurrency=8)) as zuora:
        account = zuora.get_account("A00000001", track_id="zops-t")
        fake.set_latency(latency)
        fake.reset_log()
        started = time.perf_counter()
        zuora.failures_for(account, WEEK, track_id="zops-t")
        elapsed = time.perf_counter() - started
    pages = len(fake.requests("/v1/notification-history/"))
    assert pages >= 15
    assert 2 <= fake.max_in_flight <= 8
    # Sequential paging would take pages x latency; the scan is bounded by its few page chains.
    assert elapsed < 0.5 * pages * latency


def test_tenant_wide_history_scans_both_kinds_at_once_in_6h_listings(
    client: ZuoraClient, fake: FakeZuora, tenant: Tenant
) -> None:
    day = TimeWindow.ending_at(NOW, timedelta(hours=24), "24h")
    fake.reset_log()
    records = list(client.iter_failed_history(day, track_id="zops-t"))

    kinds = [type(r).__name__ for r in records]
    callouts = kinds.count("CalloutHistory")
    assert kinds == ["CalloutHistory"] * callouts + ["EmailHistory"] * (len(kinds) - callouts)
    assert callouts == sum(1 for c in tenant.callouts if c.failed and day.start <= c.create_time)
    assert len(kinds) - callouts == sum(
        1 for e in tenant.emails if e.failed and day.start <= e.send_time
    )
    listed = [r for r in fake.requests() if r.path in (CALLOUTS, EMAILS)]
    windows = {(r.path, r.query["startTime"][0]) for r in listed}
    assert len({w for w in windows if w[0] == CALLOUTS}) == 4  # four 6-hour listings each
    assert len({w for w in windows if w[0] == EMAILS}) == 4
    # The emails' first pages were asked for before the callouts' scan was over.
    first_email = next(i for i, r in enumerate(listed) if r.path == EMAILS)
    last_callout = max(i for i, r in enumerate(listed) if r.path == CALLOUTS)
    assert first_email < last_callout


def test_tenant_wide_history_never_has_more_on_the_wire_than_the_limit(tenant: Tenant) -> None:
    with FakeZuora(tenant, clock=lambda: NOW, latency=0.01) as server:
        with ZuoraClient.from_settings(settings_for(server, max_concurrency=4)) as zuora:
            found = sum(1 for _ in zuora.iter_failed_history(WEEK, track_id="zops-t"))
        assert found > 0
        assert server.max_in_flight <= 4
