"""The sandbox's retry-state account and the fake Data Query's max(AttemptLimit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.failures.retry_policy import RetryLimits, RetryRule, classify
from bot.sandbox.fake_dataquery import ATTEMPT_LIMIT, CALLOUT_TABLE, Query, QueryError, Table
from bot.sandbox.retry_tenant import RETRY_ACCOUNT_NAME, add_retry_account
from bot.sandbox.tenant import build_tenant
from bot.zuora.models import CalloutHistory


def test_retry_account_shows_every_retry_state() -> None:
    now = datetime.now(UTC)
    tenant = build_tenant(seed=7, now=now)
    before = len(tenant.callouts)
    account = add_retry_account(tenant, now)
    rule = RetryRule(RetryLimits(ATTEMPT_LIMIT, timedelta(minutes=30), "settings"), now)

    records = [
        CalloutHistory.model_validate(c.to_wire(tenant.zone), context={"tenant_tz": tenant.zone})
        for c in tenant.callouts_for(account.id)
    ]

    assert account.name == RETRY_ACCOUNT_NAME and tenant.account(account.number) is account
    assert len(tenant.callouts) == before + len(records)
    kinds = sorted(classify(r, rule).kind for r in records)
    assert kinds == [
        "exhausted",
        "exhausted",
        "invalid_body",
        "never",
        "never",
        "retrying",
        "retrying",
    ]


def test_fake_dataquery_answers_max_attempt_limit_and_refuses_a_mixed_aggregate() -> None:
    now = datetime.now(UTC)
    tenant = build_tenant(seed=7, now=now)
    add_retry_account(tenant, now)
    tables = {CALLOUT_TABLE: Table(CALLOUT_TABLE)}

    rows = Query(
        "SELECT max(AttemptLimit) AS attempt_limit, max(AttemptNumber) "
        "FROM notificationhistorycallout",
        tables,
    ).run(tenant.callouts)

    assert rows == [{"attempt_limit": ATTEMPT_LIMIT, "_col1": 5}]
    with pytest.raises(QueryError, match="must be an aggregate expression"):
        Query("SELECT Id, max(AttemptLimit) FROM notificationhistorycallout", tables)
