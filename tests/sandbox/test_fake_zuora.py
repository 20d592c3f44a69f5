"""Tests of the fake Zuora over real loopback HTTP with plain httpx, and of its tenant generators."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.sandbox.fake_dataquery import callout_create_time, email_created_on
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import (
    FakeAccount,
    FakeCallout,
    FakeEmail,
    Tenant,
    build_bulk_tenant,
    build_tenant,
)

NOW = datetime(2026, 5, 11, 17, 0, 0, tzinfo=UTC)
LA = ZoneInfo("America/Los_Angeles")
CALLOUTS = "/v1/notification-history/callout"
EMAILS = "/v1/notification-history/email"
RESEND_EMAILS = "/notifications/email-histories/resend"
RESEND_CALLOUTS = "/notifications/callout-histories/resend"
REPO = Path(__file__).resolve().parents[2]


def local(moment: datetime) -> str:
    """Render an aware time as an LA wire time, independently of the fake's helpers."""
    return moment.astimezone(LA).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture(scope="module")
def tenant() -> Tenant:
    return build_tenant(seed=7, now=NOW)


@pytest.fixture
def fake(tenant: Tenant) -> Iterator[FakeZuora]:
    with FakeZuora(tenant, clock=lambda: NOW) as server:
        yield server


@pytest.fixture
def http(fake: FakeZuora) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, timeout=5) as client:
        yield client


def get_token(fake: FakeZuora, http: httpx.Client) -> str:
    reply = http.post(
        "/oauth/token",
        data={
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "grant_type": "client_credentials",
        },
    )
    assert reply.status_code == 200
    token = reply.json()["access_token"]
    assert isinstance(token, str)
    return token


@pytest.fixture
def auth(fake: FakeZuora, http: httpx.Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {get_token(fake, http)}"}


def expected_failed_callouts(tenant: Tenant, start: datetime, end: datetime) -> list[FakeCallout]:
    hits = [c for c in tenant.callouts if c.failed and start <= c.create_time < end]
    return sorted(hits, key=lambda c: c.create_time, reverse=True)


def expected_failed_emails(
    tenant: Tenant, start: datetime, end: datetime, account_id: str
) -> list[FakeEmail]:
    hits = [
        e
        for e in tenant.emails
        if e.failed and e.account_id == account_id and start <= e.send_time < end
    ]
    return sorted(hits, key=lambda e: e.send_time, reverse=True)


# -- OAuth ---------------------------------------------------------------------------------------


def test_oauth_issues_bearer_token_and_counts_requests(fake: FakeZuora, http: httpx.Client) -> None:
    reply = http.post(
        "/oauth/token",
        data={
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "grant_type": "client_credentials",
        },
    )
    body = reply.json()
    assert reply.status_code == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3599
    assert len(body["access_token"]) >= 32
    get_token(fake, http)
    assert fake.token_requests == 2


def test_oauth_rejects_wrong_secret_with_401(fake: FakeZuora, http: httpx.Client) -> None:
    reply = http.post(
        "/oauth/token",
        data={
            "client_id": fake.client_id,
            "client_secret": "not-the-secret",
            "grant_type": "client_credentials",
        },
    )
    assert reply.status_code == 401
    assert reply.json() == {"message": "Authentication error"}
    assert fake.token_requests == 1


def test_api_rejects_missing_unknown_and_expired_tokens(
    fake: FakeZuora, http: httpx.Client, auth: dict[str, str]
) -> None:
    assert http.get("/v1/accounts/A00000001", headers=auth).status_code == 200
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        reply = http.get("/v1/accounts/A00000001", headers=headers)
        assert reply.status_code == 401
        assert reply.json() == {"message": "Authentication error"}
    fake.expire_tokens()
    assert http.get("/v1/accounts/A00000001", headers=auth).status_code == 401
    fresh = {"Authorization": f"Bearer {get_token(fake, http)}"}
    assert http.get("/v1/accounts/A00000001", headers=fresh).status_code == 200


def test_tokens_expire_after_their_ttl(tenant: Tenant) -> None:
    with FakeZuora(tenant, token_ttl=0) as fake, httpx.Client(base_url=fake.base_url) as http:
        token = get_token(fake, http)
        reply = http.get("/v1/accounts/A00000001", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 401


# -- accounts ------------------------------------------------------------------------------------


def test_accounts_found_by_number_and_by_id(
    tenant: Tenant, http: httpx.Client, auth: dict[str, str]
) -> None:
    acct = tenant.accounts[4]
    by_number = http.get(f"/v1/accounts/{acct.number}", headers=auth).json()
    by_id = http.get(f"/v1/accounts/{acct.id}", headers=auth).json()
    assert by_number == by_id
    assert by_number["success"] is True
    info = by_number["basicInfo"]
    assert (info["id"], info["accountNumber"], info["name"], info["status"]) == (
        acct.id,
        acct.number,
        acct.name,
        acct.status,
    )
    assert "billingAndPayment" in by_number


def test_accounts_unknown_key_is_http_200_with_success_false(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    reply = http.get("/v1/accounts/A99999999", headers=auth)
    body = reply.json()
    assert reply.status_code == 200
    assert body["success"] is False
    assert body["processId"]
    assert body["reasons"] == [
        {"code": 50000040, "message": "Cannot find entity by key: 'A99999999'."}
    ]


# -- history lists -------------------------------------------------------------------------------


def test_callout_history_paginates_newest_first_with_next_page_until_the_last(
    tenant: Tenant, http: httpx.Client, auth: dict[str, str]
) -> None:
    start, end = NOW - timedelta(days=2), NOW - timedelta(hours=3)
    expected = expected_failed_callouts(tenant, start, end)
    assert len(expected) > 80  # several pages
    seen: list[dict[str, Any]] = []
    page = 1
    while True:
        params: dict[str, str | int] = {
            "startTime": local(start),
            "endTime": local(end),
            "pageSize": 40,
            "page": page,
            "failedOnly": "true",
        }
        body = http.get(CALLOUTS, params=params, headers=auth).json()
        assert body["success"] is True
        seen.extend(body["calloutHistories"])
        if "nextPage" not in body:
            break
        next_url = urlsplit(body["nextPage"])
        assert next_url.netloc == "localhost:8080"  # an internal host, as in Zuora's sample
        assert parse_qs(next_url.query)["page"] == [str(page + 1)]
        assert len(body["calloutHistories"]) == 40
        page += 1
    assert page == -(-len(expected) // 40)
    assert [r["id"] for r in seen] == [c.id for c in expected]
    assert [r["createTime"] for r in seen] == [local(c.create_time) for c in expected]


def test_history_page_is_ignored_without_page_size(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    first = http.get(CALLOUTS, params={"page": 1}, headers=auth).json()
    third = http.get(CALLOUTS, params={"page": 3}, headers=auth).json()
    assert len(first["calloutHistories"]) == 20  # default pageSize
    assert first == third


def test_history_rejects_page_size_over_40(http: httpx.Client, auth: dict[str, str]) -> None:
    for path in (CALLOUTS, EMAILS):
        reply = http.get(path, params={"pageSize": 41, "page": 1}, headers=auth)
        body = reply.json()
        assert reply.status_code == 400
        assert body["success"] is False
        assert "pageSize" in body["reasons"][0]["message"]


def test_email_history_rejects_windows_over_three_days(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    end = NOW - timedelta(hours=1)
    ok = http.get(
        EMAILS,
        params={"startTime": local(end - timedelta(days=3)), "endTime": local(end)},
        headers=auth,
    )
    too_long = http.get(
        EMAILS,
        params={"startTime": local(end - timedelta(days=3, seconds=1)), "endTime": local(end)},
        headers=auth,
    )
    callouts_long = http.get(
        CALLOUTS,
        params={"startTime": local(end - timedelta(days=6)), "endTime": local(end)},
        headers=auth,
    )
    assert ok.status_code == 200
    assert too_long.status_code == 400
    assert too_long.json()["success"] is False
    assert too_long.json()["reasons"] == [
        {
            "code": 58730020,
            "message": "The time range between startTime and endTime cannot exceed 3 days.",
        }
    ]
    assert callouts_long.status_code == 200


def test_history_time_filters_are_in_the_tenant_zone(
    tenant: Tenant, http: httpx.Client, auth: dict[str, str]
) -> None:
    record = next(
        c for c in tenant.callouts if c.failed and c.create_time < NOW - timedelta(days=1)
    )
    zone_start = local(record.create_time)
    zone_end = local(record.create_time + timedelta(seconds=1))
    body = http.get(
        CALLOUTS,
        params={"startTime": zone_start, "endTime": zone_end, "pageSize": 40, "page": 1},
        headers=auth,
    ).json()
    ids = [r["id"] for r in body["calloutHistories"]]
    assert record.id in ids
    assert body["calloutHistories"][ids.index(record.id)]["createTime"] == zone_start
    # The same wall-clock strings read as UTC point seven hours away: the record is not there.
    utc_start = record.create_time.strftime("%Y-%m-%dT%H:%M:%S")
    utc_end = (record.create_time + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    shifted = http.get(
        CALLOUTS,
        params={"startTime": utc_start, "endTime": utc_end, "pageSize": 40, "page": 1},
        headers=auth,
    ).json()
    assert record.id not in [r["id"] for r in shifted["calloutHistories"]]


def test_history_defaults_to_the_last_day_of_failed_records(
    tenant: Tenant, http: httpx.Client, auth: dict[str, str]
) -> None:
    expected = expected_failed_callouts(tenant, NOW - timedelta(days=1), NOW)
    body = http.get(CALLOUTS, params={"pageSize": 40, "page": 1}, headers=auth).json()
    assert [r["id"] for r in body["calloutHistories"]] == [c.id for c in expected[:40]]


def test_history_failed_only_false_includes_successful_records(
    tenant: Tenant, http: httpx.Client, auth: dict[str, str]
) -> None:
    start, end = NOW - timedelta(days=3), NOW

    def collect(failed_only: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in range(1, 50):
            params: dict[str, str | int] = {
                "startTime": local(start),
                "endTime": local(end),
                "pageSize": 40,
                "page": page,
                "failedOnly": failed_only,
            }
            body = http.get(EMAILS, params=params, headers=auth).json()
            out.extend(body["emailHistories"])
            if "nextPage" not in body:
                return out
        raise AssertionError("too many pages")

    failed, everything = collect("true"), collect("false")
    assert {r["result"] for r in failed} == {"Failed"}
    assert all(r["errorMessage"] for r in failed)
    ok = [r for r in everything if r["result"] == "OK"]
    assert ok and all(r["errorMessage"] is None for r in ok)
    assert len(everything) == len(failed) + len(ok)


def test_callout_history_includes_response_content_only_when_asked(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    plain = http.get(CALLOUTS, params={"pageSize": 5, "page": 1}, headers=auth).json()
    full = http.get(
        CALLOUTS,
        params={"pageSize": 5, "page": 1, "includeResponseContent": "true"},
        headers=auth,
    ).json()
    assert all("responseContent" not in r for r in plain["calloutHistories"])
    assert all(isinstance(r["responseContent"], str) for r in full["calloutHistories"])


def test_callout_history_filters_by_event_category(
    tenant: Tenant, http: httpx.Client, auth: dict[str, str]
) -> None:
    start = NOW - timedelta(days=2)
    body = http.get(
        CALLOUTS,
        params={"startTime": local(start), "eventCategory": "2110", "pageSize": 40, "page": 1},
        headers=auth,
    ).json()
    wanted = [c for c in expected_failed_callouts(tenant, start, NOW) if c.event_category == 2110]
    assert wanted
    assert [r["id"] for r in body["calloutHistories"]] == [c.id for c in wanted[:40]]
    assert {str(r["eventCategory"]) for r in body["calloutHistories"]} == {"2110"}


def test_email_history_filters_by_account_id_across_pages(
    tenant: Tenant, http: httpx.Client, auth: dict[str, str]
) -> None:
    big = tenant.big_account
    assert big is not None
    end, start = NOW, NOW - timedelta(days=3)
    expected = expected_failed_emails(tenant, start, end, big.id)
    assert len(expected) > 40
    seen: list[dict[str, Any]] = []
    for page in (1, 2, 3):
        body = http.get(
            EMAILS,
            params={
                "accountId": big.id,
                "startTime": local(start),
                "endTime": local(end),
                "pageSize": 40,
                "page": page,
            },
            headers=auth,
        ).json()
        seen.extend(body["emailHistories"])
        if "nextPage" not in body:
            break
    assert [r["id"] for r in seen] == [e.id for e in expected]
    assert {r["accountId"] for r in seen} == {big.id}
    # The account number is not an id: Zuora just finds nothing.
    by_number = http.get(EMAILS, params={"accountId": big.number}, headers=auth).json()
    assert by_number == {"emailHistories": [], "success": True}


def test_rest_ids_flag_controls_the_id_field() -> None:
    bare = build_tenant(seed=3, now=NOW, accounts=4, rest_ids=False)
    with FakeZuora(bare, clock=lambda: NOW) as fake, httpx.Client(base_url=fake.base_url) as http:
        headers = {"Authorization": f"Bearer {get_token(fake, http)}"}
        callouts = http.get(CALLOUTS, headers=headers).json()["calloutHistories"]
        emails = http.get(EMAILS, headers=headers).json()["emailHistories"]
    assert callouts and emails
    assert all("id" not in r for r in callouts + emails)


def test_history_rejects_bad_times_and_booleans(http: httpx.Client, auth: dict[str, str]) -> None:
    for params in (
        {"startTime": "2026-05-10T10:00:00-07:00"},
        {"endTime": "yesterday"},
        {"failedOnly": "maybe"},
        {"startTime": "2026-05-11T10:00:00", "endTime": "2026-05-10T10:00:00"},
    ):
        reply = http.get(CALLOUTS, params=params, headers=auth)
        assert reply.status_code == 400, params
        assert reply.json()["success"] is False


# -- resend --------------------------------------------------------------------------------------


def resendable(tenant: Tenant, kind: str, count: int) -> list[str]:
    records: list[FakeCallout] | list[FakeEmail] = (
        tenant.emails if kind == "email" else tenant.callouts
    )
    ids = [r.id for r in records if r.failed and r.id not in tenant.resend_failures]
    return ids[:count]


def test_resend_all_ok_is_202_with_an_empty_body_and_counts_each_id(
    tenant: Tenant, fake: FakeZuora, http: httpx.Client, auth: dict[str, str]
) -> None:
    ids = resendable(tenant, "email", 3)
    reply = http.post(
        RESEND_EMAILS,
        json=ids,
        headers={**auth, "Idempotency-Key": "k-1", "Zuora-Track-Id": "slack-T1-U2"},
    )
    assert reply.status_code == 202
    assert reply.content == b""
    assert [fake.resent(i) for i in ids] == [1, 1, 1]
    (call,) = fake.resend_calls("email")
    assert call.ids == tuple(ids)
    assert (call.idempotency_key, call.track_id, call.status) == ("k-1", "slack-T1-U2", 202)
    assert fake.resend_calls("callout") == []


def test_resend_partial_failure_is_202_with_a_map_of_failed_ids(
    tenant: Tenant, fake: FakeZuora, http: httpx.Client, auth: dict[str, str]
) -> None:
    configured = next(i for i in tenant.resend_failures if any(c.id == i for c in tenant.callouts))
    good = resendable(tenant, "callout", 2)
    reply = http.post(RESEND_CALLOUTS, json=[*good, configured, "no-such-id"], headers=auth)
    assert reply.status_code == 202
    assert reply.json() == {
        configured: tenant.resend_failures[configured].to_wire(),
        "no-such-id": {"code": "ObjectNotFound", "message": "Callout history does not exist."},
    }
    assert [fake.resent(i) for i in good] == [1, 1]
    assert fake.resent(configured) == 0


def test_resend_all_failed_is_400_with_the_same_map(
    fake: FakeZuora, http: httpx.Client, auth: dict[str, str]
) -> None:
    reply = http.post(RESEND_EMAILS, json=["8a" + "0" * 30, "bogus"], headers=auth)
    assert reply.status_code == 400
    missing = {"code": "ObjectNotFound", "message": "Email history does not exist."}
    assert reply.json() == {"8a" + "0" * 30: missing, "bogus": missing}
    assert fake.resend_counts() == {}


def test_resend_with_the_same_idempotency_key_replays_without_resending(
    tenant: Tenant, fake: FakeZuora, http: httpx.Client, auth: dict[str, str]
) -> None:
    ids = [*resendable(tenant, "email", 2), "missing-id"]
    headers = {**auth, "Idempotency-Key": "3f1c2a4e-0000-4000-8000-000000000001"}
    first = http.post(RESEND_EMAILS, json=ids, headers=headers)
    again = http.post(RESEND_EMAILS, json=ids, headers=headers)
    other_key = http.post(RESEND_EMAILS, json=ids, headers={**auth, "Idempotency-Key": "other"})
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json() == {"missing-id": ANY_NOT_FOUND}
    assert other_key.status_code == 202
    assert [fake.resent(i) for i in ids[:2]] == [2, 2]  # the first call and "other", not the replay
    assert [c.replayed for c in fake.resend_calls()] == [False, True, False]


ANY_NOT_FOUND = {"code": "ObjectNotFound", "message": "Email history does not exist."}


def test_resend_same_key_while_the_first_is_running_gets_409(
    tenant: Tenant, fake: FakeZuora, auth: dict[str, str]
) -> None:
    fake.set_resend_delay(0.4)
    ids = resendable(tenant, "email", 1)
    headers = {**auth, "Idempotency-Key": "slow-key"}
    results: list[int] = []

    def send() -> None:
        with httpx.Client(base_url=fake.base_url, timeout=5) as client:
            results.append(client.post(RESEND_EMAILS, json=ids, headers=headers).status_code)

    first = threading.Thread(target=send)
    first.start()
    deadline = time.monotonic() + 2
    while not fake.requests(RESEND_EMAILS) and time.monotonic() < deadline:
        time.sleep(0.01)
    send()
    first.join()
    assert sorted(results) == [202, 409]
    assert fake.resent(ids[0]) == 1


def test_resend_rejects_more_than_1000_ids_and_non_arrays(
    fake: FakeZuora, http: httpx.Client, auth: dict[str, str]
) -> None:
    too_many = http.post(RESEND_EMAILS, json=[f"id-{n}" for n in range(1001)], headers=auth)
    not_array = http.post(RESEND_EMAILS, json={"ids": ["a"]}, headers=auth)
    assert too_many.status_code == 400
    assert "1000" in too_many.json()["reasons"][0]["message"]
    assert not_array.status_code == 400
    assert fake.resend_counts() == {}


# -- headers -------------------------------------------------------------------------------------


def test_large_responses_are_gzipped_only_when_asked(fake: FakeZuora, auth: dict[str, str]) -> None:
    params = {"pageSize": 40, "page": 1}
    with httpx.Client(base_url=fake.base_url) as client:
        zipped = client.get(CALLOUTS, params=params, headers={**auth, "Accept-Encoding": "gzip"})
        plain = client.get(CALLOUTS, params=params, headers={**auth, "Accept-Encoding": "identity"})
        small = client.get("/v1/accounts/NOPE", headers={**auth, "Accept-Encoding": "gzip"})
        with client.stream(
            "GET", CALLOUTS, params=params, headers={**auth, "Accept-Encoding": "gzip"}
        ) as raw:
            raw_bytes = b"".join(raw.iter_raw())
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain.headers
    assert "Content-Encoding" not in small.headers
    assert zipped.json() == plain.json()
    assert json.loads(gzip.decompress(raw_bytes)) == plain.json()
    assert zipped.headers["Content-Type"] == "application/json"


def test_responses_echo_track_id_and_carry_request_and_rate_limit_headers(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    reply = http.get("/v1/accounts/A00000001", headers={**auth, "Zuora-Track-Id": "bot-run-42"})
    other = http.get("/v1/accounts/A00000001", headers=auth)
    assert reply.headers["Zuora-Track-Id"] == "bot-run-42"
    assert "Zuora-Track-Id" not in other.headers
    assert reply.headers["Zuora-Request-Id"] != other.headers["Zuora-Request-Id"]
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert reply.headers[name]
    assert int(other.headers["RateLimit-Remaining"]) < int(reply.headers["RateLimit-Remaining"])


def test_invalid_track_id_is_rejected(http: httpx.Client, auth: dict[str, str]) -> None:
    for bad in ("slack:T1:U2", "x" * 65, "quote'd"):
        reply = http.get("/v1/accounts/A00000001", headers={**auth, "Zuora-Track-Id": bad})
        assert reply.status_code == 400
        assert reply.json()["success"] is False


# -- Data Query ----------------------------------------------------------------------------------


def submit(http: httpx.Client, auth: dict[str, str], query: str, fmt: str = "JSON") -> str:
    reply = http.post(
        "/query/jobs",
        json={
            "query": query,
            "outputFormat": fmt,
            "compression": "NONE",
            "output": {"target": "S3"},
        },
        headers=auth,
    )
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert data["queryStatus"] == "submitted"
    job_id = data["id"]
    assert isinstance(job_id, str)
    return job_id


def wait_for_job(
    http: httpx.Client, auth: dict[str, str], job_id: str
) -> tuple[dict[str, Any], list[str]]:
    statuses: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data = http.get(f"/query/jobs/{job_id}", headers=auth).json()["data"]
        if not statuses or statuses[-1] != data["queryStatus"]:
            statuses.append(data["queryStatus"])
        if data["queryStatus"] in ("completed", "failed", "cancelled"):
            return data, statuses
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never finished: {statuses}")


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def test_data_query_job_completes_and_serves_rows_on_the_second_port(
    tenant: Tenant, fake: FakeZuora, http: httpx.Client, auth: dict[str, str]
) -> None:
    fake.set_query_delay(0.3)
    big = tenant.big_account
    assert big is not None
    start, end = NOW - timedelta(days=2), NOW
    query = (
        "SELECT Id, AccountId, to_iso8601(CreatedOn AT TIME ZONE 'UTC') AS at_utc, \"To\", "
        f"Subject, Status FROM notificationhistoryemail WHERE AccountId = '{big.id}' "
        f"AND CreatedOn >= TIMESTAMP '{utc_text(start)} +00:00' "
        f"AND CreatedOn < TIMESTAMP '{utc_text(end)}.000 +00:00'"
    )
    job, statuses = wait_for_job(http, auth, submit(http, auth, query))
    assert statuses[-2:] == ["in_progress", "completed"]
    data_file = urlsplit(job["dataFile"])
    assert (
        data_file.netloc == urlsplit(fake.files_base_url).netloc != urlsplit(fake.base_url).netloc
    )
    assert "X-Amz-Signature" in parse_qs(data_file.query)
    with httpx.Client() as s3:
        reply = s3.get(job["dataFile"])
    rows = [json.loads(line) for line in reply.text.splitlines()]
    expected = [
        e for e in tenant.emails if e.account_id == big.id and start <= email_created_on(e) < end
    ]
    assert reply.status_code == 200
    assert job["outputRows"] == len(rows) == len(expected) > 0
    assert {r["id"] for r in rows} == {e.id for e in expected}
    assert set(rows[0]) == {"id", "accountid", "at_utc", "to", "subject", "status"}
    by_id = {e.id: e for e in expected}
    for row in rows:
        at = datetime.fromisoformat(row["at_utc"].replace("Z", "+00:00"))
        sent = by_id[row["id"]].send_time
        assert timedelta(0) <= sent - at <= timedelta(seconds=3), "CreatedOn is 0-3 s early"
        assert row["at_utc"].endswith("Z") and "T" in row["at_utc"]
    assert fake.data_file_auth_headers_seen() == []
    with httpx.Client() as leaky:
        refused = leaky.get(job["dataFile"], headers=auth)
    assert refused.status_code == 400
    assert fake.data_file_auth_headers_seen() == [auth["Authorization"]]


def test_data_query_csv_output_has_a_header_row(
    tenant: Tenant, http: httpx.Client, auth: dict[str, str]
) -> None:
    since = NOW - timedelta(hours=6)
    query = (
        "SELECT Id, CreateTime, ObjectId, AccountId FROM notificationhistorycallout "
        f"WHERE CreateTime >= TIMESTAMP '{utc_text(since)}'"
    )
    job, _ = wait_for_job(http, auth, submit(http, auth, query, fmt="CSV"))
    lines = httpx.get(job["dataFile"]).text.splitlines()
    assert lines[0] == "id,createtime,objectid,accountid"
    expected = [c for c in tenant.callouts if callout_create_time(c) >= since]
    assert len(lines) - 1 == len(expected) > 0
    assert {line.split(",")[2] for line in lines[1:]} == {c.object_id for c in expected}
    assert all(line.split(",")[1].endswith(" UTC") for line in lines[1:])


@pytest.mark.parametrize(
    ("column", "table"),
    [
        ("SendTime", "notificationhistoryemail"),
        ("ToEmail", "notificationhistoryemail"),
        ("Result", "notificationhistoryemail"),
        ("EventId", "notificationhistorycallout"),
        ("CreatedOn", "notificationhistorycallout"),
        ("AttemptedNum", "notificationhistorycallout"),
    ],
)
def test_data_query_refuses_undocumented_columns_like_trino(
    http: httpx.Client, auth: dict[str, str], column: str, table: str
) -> None:
    query = f"SELECT Id, {column} FROM {table}"
    job, _ = wait_for_job(http, auth, submit(http, auth, query))
    assert job["queryStatus"] == "failed"
    assert job["errorMessage"] == f"line 1:12: Column '{column}' cannot be resolved"
    where = f"SELECT Id FROM {table} WHERE {column} = 'x'"
    job, _ = wait_for_job(http, auth, submit(http, auth, where))
    assert job["queryStatus"] == "failed" and "cannot be resolved" in job["errorMessage"]


def test_data_query_reads_a_zone_less_literal_as_utc_and_honours_offsets(
    tenant: Tenant, http: httpx.Client, auth: dict[str, str]
) -> None:
    since = NOW - timedelta(hours=6)
    expected = {c.id for c in tenant.callouts if callout_create_time(c) >= since}
    pacific = since.astimezone(ZoneInfo("America/Los_Angeles")).strftime("%Y-%m-%d %H:%M:%S")
    forms = [
        f"TIMESTAMP '{utc_text(since)}'",
        f"TIMESTAMP '{utc_text(since)}.000 +00:00'",
        f"TIMESTAMP '{pacific} America/Los_Angeles'",
        f"TIMESTAMP '{(since + timedelta(hours=9)).strftime('%Y-%m-%d %H:%M:%S')} +09:00'",
    ]
    for literal in forms:
        query = f"SELECT Id FROM notificationhistorycallout WHERE CreateTime >= {literal}"
        job, _ = wait_for_job(http, auth, submit(http, auth, query))
        rows = [json.loads(line) for line in httpx.get(job["dataFile"]).text.splitlines()]
        assert {r["id"] for r in rows} == expected, literal
    wall = f"SELECT Id FROM notificationhistorycallout WHERE CreateTime >= TIMESTAMP '{pacific}'"
    job, _ = wait_for_job(http, auth, submit(http, auth, wall))
    rows = [json.loads(line) for line in httpx.get(job["dataFile"]).text.splitlines()]
    assert {r["id"] for r in rows} != expected, "a wall-clock time without zone is not local"
    text = f"SELECT Id FROM notificationhistorycallout WHERE CreateTime >= '{utc_text(since)}'"
    job, _ = wait_for_job(http, auth, submit(http, auth, text))
    assert job["queryStatus"] == "failed"
    assert "Cannot apply operator: timestamp(3) >= varchar(19)" in job["errorMessage"]


def test_data_query_show_columns_lists_the_documented_columns(
    tenant: Tenant, http: httpx.Client, auth: dict[str, str]
) -> None:
    job, _ = wait_for_job(
        http, auth, submit(http, auth, "SHOW COLUMNS FROM notificationhistoryemail")
    )
    rows = [json.loads(line) for line in httpx.get(job["dataFile"]).text.splitlines()]
    assert [r["column"] for r in rows] == [
        "id",
        "accountid",
        "contactid",
        "notificationid",
        "objectid",
        "createdon",
        "createdbyid",
        "eventcategory",
        "eventname",
        "subject",
        "to",
        "cc",
        "bcc",
        "replyto",
        "sender",
        "status",
        "errormessage",
    ]
    assert {r["type"] for r in rows} == {"varchar", "timestamp(3)"}
    assert set(rows[0]) == {"column", "type", "extra", "comment"}


def test_data_query_hidden_columns_and_disabled_show_columns(tenant: Tenant) -> None:
    hidden = {"notificationhistorycallout": ("RequestUrl",)}
    with (
        FakeZuora(tenant, clock=lambda: NOW, hidden_columns=hidden, show_columns=False) as fake,
        httpx.Client(base_url=fake.base_url) as http,
    ):
        auth = {"Authorization": f"Bearer {get_token(fake, http)}"}
        job, _ = wait_for_job(
            http, auth, submit(http, auth, "SELECT RequestUrl FROM notificationhistorycallout")
        )
        assert job["errorMessage"] == "line 1:8: Column 'RequestUrl' cannot be resolved"
        job, _ = wait_for_job(
            http, auth, submit(http, auth, "SHOW COLUMNS FROM notificationhistorycallout")
        )
        assert job["queryStatus"] == "failed" and "mismatched input 'SHOW'" in job["errorMessage"]
        job, _ = wait_for_job(
            http,
            auth,
            submit(http, auth, "SELECT * FROM notificationhistorycallout LIMIT 1", "CSV"),
        )
        header = httpx.get(job["dataFile"]).text.splitlines()[0].split(",")
        assert "requesturl" not in header and "createtime" in header and len(header) == 11


def test_data_query_limits_running_and_queued_jobs(tenant: Tenant) -> None:
    with (
        FakeZuora(tenant, clock=lambda: NOW, query_delay=30) as fake,
        httpx.Client(base_url=fake.base_url) as http,
    ):
        auth = {"Authorization": f"Bearer {get_token(fake, http)}"}
        body = {
            "query": "SELECT Id FROM notificationhistoryemail LIMIT 1",
            "outputFormat": "JSON",
            "compression": "NONE",
            "output": {"target": "S3"},
        }
        answers = [http.post("/query/jobs", json=body, headers=auth).status_code for _ in range(16)]
        assert answers == [200] * 15 + [429]
        assert fake.max_active_queries == 15 and fake.query_jobs_submitted == 16


def test_data_query_jobs_fail_on_request_and_on_unsupported_queries(
    fake: FakeZuora, http: httpx.Client, auth: dict[str, str]
) -> None:
    fail_me = submit(http, auth, "SELECT Id FROM notificationhistoryemail WHERE Id = 'FAIL_ME'")
    fake.fail_next_query("Query timed out after 600 seconds")
    scripted = submit(http, auth, "SELECT Id FROM notificationhistoryemail")
    unsupported = submit(http, auth, "SELECT count(*) FROM account GROUP BY status")
    for job_id, message in (
        (fail_me, "FAIL_ME"),
        (scripted, "Query timed out after 600 seconds"),
        (unsupported, "does not exist"),
    ):
        job, _ = wait_for_job(http, auth, job_id)
        assert job["queryStatus"] == "failed"
        assert message in job["errorMessage"]
        assert "dataFile" not in job
    ok, _ = wait_for_job(http, auth, submit(http, auth, "SELECT Id FROM notificationhistoryemail"))
    assert ok["queryStatus"] == "completed"


def test_data_file_with_a_bad_signature_is_refused(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    job, _ = wait_for_job(http, auth, submit(http, auth, "SELECT Id FROM notificationhistoryemail"))
    url = job["dataFile"]
    tampered = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    assert httpx.get(tampered).status_code == 403


# -- fault scripting -----------------------------------------------------------------------------


def test_fail_next_scripts_status_body_headers_and_count(
    fake: FakeZuora, http: httpx.Client, auth: dict[str, str]
) -> None:
    fake.fail_next(
        "/v1/notification-history",
        status=429,
        body={"code": "REQUEST_EXCEEDED_LIMIT", "message": "slow down"},
        headers={"Retry-After": "1"},
        times=2,
    )
    other = http.get("/v1/accounts/A00000001", headers=auth)
    first = http.get(EMAILS, headers=auth)
    second = http.get(CALLOUTS, headers=auth)
    third = http.get(EMAILS, headers=auth)
    assert other.status_code == 200
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
    assert first.headers["Retry-After"] == "1"
    assert first.json()["code"] == "REQUEST_EXCEEDED_LIMIT"


@pytest.mark.parametrize("status", [401, 500, 502, 503])
def test_fail_next_default_bodies_match_zuora(
    fake: FakeZuora, http: httpx.Client, auth: dict[str, str], status: int
) -> None:
    fake.fail_next("/v1/accounts", status=status)
    reply = http.get("/v1/accounts/A00000001", headers=auth)
    assert reply.status_code == status
    if status == 401:
        assert reply.json() == {"message": "Authentication error"}
    else:
        assert reply.json()["success"] is False
    assert http.get("/v1/accounts/A00000001", headers=auth).status_code == 200


def test_fail_next_with_an_html_body(fake: FakeZuora, http: httpx.Client) -> None:
    fake.fail_next("/oauth/token", status=502, body="<html>Bad Gateway</html>")
    reply = http.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert reply.status_code == 502
    assert reply.headers["Content-Type"] == "text/html"
    assert reply.text == "<html>Bad Gateway</html>"


def test_set_down_drops_connections_until_back_up(fake: FakeZuora, auth: dict[str, str]) -> None:
    fake.set_down(True)
    with httpx.Client(base_url=fake.base_url) as client, pytest.raises(httpx.TransportError):
        client.get("/v1/accounts/A00000001", headers=auth)
    fake.set_down(False)
    with httpx.Client(base_url=fake.base_url) as client:
        assert client.get("/v1/accounts/A00000001", headers=auth).status_code == 200


def test_latency_lets_concurrent_requests_overlap(fake: FakeZuora, auth: dict[str, str]) -> None:
    fake.set_latency(0.25)
    fake.reset_log()
    statuses: list[int] = []

    def call() -> None:
        with httpx.Client(base_url=fake.base_url, timeout=5) as client:
            statuses.append(client.get("/v1/accounts/A00000001", headers=auth).status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    assert statuses == [200] * 8
    assert elapsed < 8 * 0.25 / 2  # serial would take 2 s
    assert fake.max_in_flight >= 4
    assert len(fake.requests("/v1/accounts")) == 8


def test_concurrency_limit_answers_429(tenant: Tenant) -> None:
    with FakeZuora(tenant, latency=0.3, concurrency_limit=2) as fake:
        with httpx.Client(base_url=fake.base_url) as client:
            headers = {"Authorization": f"Bearer {get_token(fake, client)}"}
        statuses: list[int] = []

        def call() -> None:
            with httpx.Client(base_url=fake.base_url, timeout=5) as client:
                statuses.append(client.get("/v1/accounts/A00000001", headers=headers).status_code)

        threads = [threading.Thread(target=call) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses.count(429) >= 1
    assert statuses.count(200) >= 1


def test_request_log_records_requests_and_resets(
    fake: FakeZuora, http: httpx.Client, auth: dict[str, str]
) -> None:
    http.post(RESEND_EMAILS, json=["abc"], headers={**auth, "X-Custom": "yes"})
    http.get(CALLOUTS, params={"pageSize": 2, "page": 1}, headers=auth)
    (resend,) = fake.requests(RESEND_EMAILS)
    (listing,) = fake.requests(CALLOUTS)
    assert (resend.method, resend.status, resend.json()) == ("POST", 400, ["abc"])
    assert resend.headers["x-custom"] == "yes"
    assert listing.query == {"pageSize": ["2"], "page": ["1"]}
    assert "Bearer" not in repr(listing)  # the token stays out of reprs
    assert [r.path for r in fake.requests()] == ["/oauth/token", RESEND_EMAILS, CALLOUTS]
    fake.reset_log()
    assert fake.requests() == []


def test_unknown_routes_and_methods(http: httpx.Client, auth: dict[str, str]) -> None:
    assert http.get("/v1/nothing-here", headers=auth).status_code == 404
    assert http.post(CALLOUTS, json={}, headers=auth).status_code == 405
    assert http.get(RESEND_EMAILS, headers=auth).status_code == 405


# -- generators ----------------------------------------------------------------------------------


def wire_dump(tenant: Tenant) -> list[Any]:
    zone = tenant.zone
    return [
        [(a.id, a.number, a.name, a.status) for a in tenant.accounts],
        [c.to_wire(zone, include_response_content=True, include_id=True) for c in tenant.callouts],
        [e.to_wire(zone, include_id=True) for e in tenant.emails],
        sorted((k, v.code, v.message) for k, v in tenant.resend_failures.items()),
    ]


def test_build_tenant_is_deterministic_per_seed() -> None:
    first = wire_dump(build_tenant(seed=11, now=NOW, accounts=8))
    again = wire_dump(build_tenant(seed=11, now=NOW, accounts=8))
    other = wire_dump(build_tenant(seed=12, now=NOW, accounts=8))
    assert first == again
    assert first != other


def contexts(tenant: Tenant) -> list[dict[str, Any] | str]:
    return [c.event_context(tenant.zone) for c in tenant.callouts]


def test_build_tenant_contains_the_features_tests_rely_on(tenant: Tenant) -> None:
    names = [a.name for a in tenant.accounts]
    assert any("<!channel>" in n for n in names)
    assert any("<https://evil.example|" in n for n in names)
    assert any("&" in n for n in names)
    assert [a.number for a in tenant.accounts[:3]] == ["A00000001", "A00000002", "A00000003"]
    assert all(len(a.id) == 32 and int(a.id, 16) >= 0 for a in tenant.accounts)

    big = tenant.big_account
    assert big is not None and big.number == "A00000001"
    assert len([e for e in tenant.emails_for(big.id) if e.failed]) > 120

    ctxs = contexts(tenant)
    objects = [c for c in ctxs if isinstance(c, dict)]
    strings = [c for c in ctxs if isinstance(c, str)]
    assert strings and all(isinstance(json.loads(s), dict) for s in strings)
    account_keys = {"<Account.ID>", "<Account.Id>", "<BillingAccount.ID>", "<Account.Number>"}
    no_account = [c for c in objects if not account_keys & c.keys()]
    assert 0 < len(no_account) < len(ctxs) * 0.15
    assert any("<BillingAccount.ID>" in c for c in objects)
    assert all("<Event.ID>" in c and "<Event.Timestamp>" in c for c in objects)

    failed = [c for c in tenant.callouts if c.failed]
    codes = {int(c.response_code) for c in failed}
    assert {400, 404, 405, 500, 502, 503, -1} <= codes
    assert {type(c.response_code) for c in failed} == {int, str}
    assert {type(c.attempted_num) for c in failed} == {int, str}
    assert all(c.request_url.startswith("https://hooks.") for c in tenant.callouts)
    assert any(not c.failed for c in tenant.callouts)
    assert any(not e.failed for e in tenant.emails)

    errors = {e.error_message for e in tenant.emails if e.failed}
    assert any(m and m.startswith("550 5.1.1") for m in errors)
    assert any(m and m.startswith("452 4.2.2") for m in errors)
    assert any(m and m.startswith("554 5.7.1") for m in errors)
    assert any(e.subject.startswith("Invoice INV") for e in tenant.emails)
    ids = {c.id for c in tenant.callouts} | {e.id for e in tenant.emails}
    assert len(tenant.resend_failures) == 6 and set(tenant.resend_failures) <= ids


def test_build_tenant_stores_utc_and_sorts_by_time(tenant: Tenant) -> None:
    times = [c.create_time for c in tenant.callouts]
    assert times == sorted(times)
    assert all(t.utcoffset() == timedelta(0) for t in times)
    assert all(NOW - timedelta(days=7) <= t < NOW for t in times)
    assert [e.send_time for e in tenant.emails] == sorted(e.send_time for e in tenant.emails)


def test_build_bulk_tenant_makes_large_sorted_tenants() -> None:
    bulk = build_bulk_tenant(seed=5, now=NOW, callouts=30_000, emails=20_000, accounts=50, days=7)
    assert (len(bulk.callouts), len(bulk.emails), len(bulk.accounts)) == (30_000, 20_000, 50)
    assert [c.create_time for c in bulk.callouts] == sorted(c.create_time for c in bulk.callouts)
    assert len({c.id for c in bulk.callouts}) == 30_000
    assert not hasattr(bulk.callouts[0], "__dict__")  # slotted records keep memory small
    again = build_bulk_tenant(seed=5, now=NOW, callouts=50, emails=50, accounts=5, days=1)
    assert wire_dump(again) == wire_dump(
        build_bulk_tenant(seed=5, now=NOW, callouts=50, emails=50, accounts=5, days=1)
    )


def test_hand_built_tenant_is_served_after_reindex() -> None:
    acct = FakeAccount(id="8a" + "1" * 30, number="CUST-1", name="Hand Made")
    hand = Tenant(now=NOW, accounts=[acct])
    with FakeZuora(hand, clock=lambda: NOW) as fake, httpx.Client(base_url=fake.base_url) as http:
        headers = {"Authorization": f"Bearer {get_token(fake, http)}"}
        assert http.get(EMAILS, headers=headers).json()["emailHistories"] == []
        hand.add_email(
            FakeEmail(
                id="8a" + "2" * 30,
                send_time=NOW - timedelta(hours=1),
                account_id=acct.id,
                event_category=1110,
                notification="Invoice Posted",
                to_email="ap@hand.example",
                subject="Invoice INV00000001 is available",
                error_message="554 5.7.1 Message rejected as spam",
            )
        )
        fake.reindex()
        (record,) = http.get(EMAILS, headers=headers).json()["emailHistories"]
        account = http.get("/v1/accounts/CUST-1", headers=headers).json()
    assert record["sendTime"] == local(NOW - timedelta(hours=1))
    assert account["basicInfo"]["name"] == "Hand Made"


# -- standalone process --------------------------------------------------------------------------


@pytest.mark.slow
def test_module_runs_standalone_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.sandbox.fake_zuora",
            "--port",
            "0",
            "--seed",
            "7",
            "--callouts-per-day",
            "30",
            "--latency",
            "0.01",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        with httpx.Client(base_url=info["base_url"], timeout=5) as http:
            token = http.post(
                "/oauth/token",
                data={
                    "client_id": info["client_id"],
                    "client_secret": info["client_secret"],
                    "grant_type": "client_credentials",
                },
            ).json()["access_token"]
            reply = http.get(CALLOUTS, headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 200 and reply.json()["success"] is True
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
