"""The sandbox's written-down guess about what a resend leaves in the history: a NEW record a
little later, with the original's match fields, delivered or failing again as the tenant says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import FailAgain, Tenant, build_tenant

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
LA = ZoneInfo("America/Los_Angeles")


def local(moment: datetime) -> str:
    return moment.astimezone(LA).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture
def tenant() -> Tenant:
    return build_tenant(seed=7, now=NOW)


@pytest.fixture
def fake(tenant: Tenant) -> Iterator[FakeZuora]:
    with FakeZuora(tenant, clock=lambda: NOW) as server:
        yield server


@pytest.fixture
def http(fake: FakeZuora) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, timeout=5) as client:
        reply = client.post(
            "/oauth/token",
            data={
                "client_id": fake.client_id,
                "client_secret": fake.client_secret,
                "grant_type": "client_credentials",
            },
        )
        client.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
        yield client


def history(http: httpx.Client, kind: str, **params: Any) -> list[dict[str, Any]]:
    """Every record (delivered ones too) in the last hour, one page of 40."""
    query = {
        "startTime": local(NOW - timedelta(hours=1)),
        "endTime": local(NOW + timedelta(hours=1)),
        "failedOnly": "false",
        "page": 1,
        "pageSize": 40,
        **params,
    }
    reply = http.get(f"/v1/notification-history/{kind}", params=query)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    return list(body["emailHistories" if kind == "email" else "calloutHistories"])


def context(record: dict[str, Any]) -> dict[str, Any]:
    """A callout's eventContext, an object or a JSON string on the wire."""
    value = record["eventContext"]
    return json.loads(value) if isinstance(value, str) else dict(value)


def resendable(tenant: Tenant, kind: str) -> Any:
    records = tenant.emails if kind == "email" else tenant.callouts
    return next(r for r in reversed(records) if r.failed and r.id not in tenant.resend_failures)


def test_resent_email_appears_as_a_new_delivered_record_after_the_delay(
    fake: FakeZuora, http: httpx.Client, tenant: Tenant
) -> None:
    original = resendable(tenant, "email")
    reply = http.post("/notifications/email-histories/resend", json=[original.id])
    assert reply.status_code == 202
    before = history(http, "email", accountId=original.account_id)
    assert not [r for r in before if r["result"] == "OK" and r["subject"] == original.subject]

    fake.advance(tenant.redelivery_delay.total_seconds())
    after = history(http, "email", accountId=original.account_id)

    (new,) = [r for r in after if r["result"] == "OK" and r["subject"] == original.subject]
    assert (new["toEmail"], new["eventCategory"]) == (original.to_email, original.event_category)
    assert new["errorMessage"] is None and new["id"] != original.id
    assert new["sendTime"] == local(NOW + tenant.redelivery_delay)
    assert original.result == "Failed", "the original record is left as it was"


def test_an_address_that_bounces_again_gets_a_new_failed_record(
    fake: FakeZuora, http: httpx.Client, tenant: Tenant
) -> None:
    original = resendable(tenant, "email")
    tenant.fails_again[original.to_email] = FailAgain("550 5.1.1 <{to}>... User unknown")
    http.post("/notifications/email-histories/resend", json=[original.id])
    fake.advance(10)

    new = [
        r
        for r in history(http, "email", accountId=original.account_id)
        if r["subject"] == original.subject and r["sendTime"] >= local(NOW)
    ]
    assert [(r["result"], r["errorMessage"]) for r in new] == [
        ("Failed", f"550 5.1.1 <{original.to_email}>... User unknown")
    ]


def test_resent_callout_appears_with_the_same_event_id_answered_200(
    fake: FakeZuora, http: httpx.Client, tenant: Tenant
) -> None:
    original = resendable(tenant, "callout")
    http.post("/notifications/callout-histories/resend", json=[original.id])
    fake.advance(10)

    new = [
        r
        for r in history(http, "callout")
        if context(r).get("<Event.ID>") == original.event_id and r["createTime"] >= local(NOW)
    ]
    assert [(r["responseCode"], r["requestUrl"]) for r in new] == [(200, original.request_url)]


def test_a_refused_or_replayed_resend_adds_nothing(
    fake: FakeZuora, http: httpx.Client, tenant: Tenant
) -> None:
    original = resendable(tenant, "email")
    headers = {"Idempotency-Key": "k-1"}
    http.post("/notifications/email-histories/resend", json=[original.id], headers=headers)
    http.post("/notifications/email-histories/resend", json=[original.id], headers=headers)
    refused = next(iter(k for k in tenant.resend_failures if k in {e.id for e in tenant.emails}))
    http.post("/notifications/email-histories/resend", json=[refused])
    assert fake.redeliveries.pending == 1
