"""`zuora-ops replay` and Zuora's own retries: callouts Zuora still retries are skipped and said so,
unless --include-retrying (issue 18)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.outages.causes import callout_cause
from bot.sandbox.tenant import build_tenant
from bot.zuora.models import CalloutHistory
from tests.support.replay import cli_env, run_cli
from tests.support.stack_fixtures import Harness, dispatch_harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    tenant = build_tenant(seed=7, now=datetime.now(UTC), outage=True)
    with dispatch_harness(tmp_path, tenant=tenant) as started:
        yield started


def retrying_outage(harness: Harness, count: int) -> tuple[str, list[str]]:
    """`count` fresh failures (attempt 1 of 3) of the sandbox outage's endpoint; its cause id."""
    tenant = harness.tenant
    down = [c for c in tenant.callouts if c.failed and "ledgerlink" in c.request_url]
    now = datetime.now(UTC).replace(microsecond=0)
    fresh = [
        dataclasses.replace(
            c,
            id=f"6a{n:030x}",
            create_time=now - timedelta(minutes=4 + n),
            event_id=f"6b{n:030x}",
            attempted_num=1,
        )
        for n, c in enumerate(down[:count])
    ]
    for record in fresh:
        tenant.add_callout(record)
    harness.zuora.reindex()
    wire = CalloutHistory.model_validate(down[0].to_wire(tenant.zone))
    return callout_cause(wire)[0].id, [r.id for r in fresh]


def sent_ids(harness: Harness) -> list[str]:
    return [i for call in harness.zuora.resend_calls() for i in call.ids]


def test_cli_replay_skips_what_zuora_still_retries_and_says_how_to_include_it(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    cause, fresh = retrying_outage(harness, 3)
    cli_env(harness, monkeypatch)

    code, out, err = run_cli("replay", cause, "--window", "24h", "--yes")

    assert code == 0, err
    assert "3 that Zuora still retries are skipped (--include-retrying sends them too)." in out
    sent = sent_ids(harness)
    assert sent and not set(fresh) & set(sent)


def test_cli_replay_include_retrying_sends_them_too(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    cause, fresh = retrying_outage(harness, 3)
    cli_env(harness, monkeypatch)

    code, out, err = run_cli("replay", cause, "--window", "24h", "--yes", "--include-retrying")

    assert code == 0, err
    assert "still retries" not in out
    assert set(fresh) <= set(sent_ids(harness))
