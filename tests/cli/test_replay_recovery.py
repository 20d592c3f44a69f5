"""`zuora-ops replay` says whether the cause is over before it asks: a cause still failing is a
WARNING, and the replay still runs when confirmed (--yes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import EXIT_OK
from bot.outages.causes import Cause
from bot.sandbox.tenant import build_tenant
from tests.support.replay import cli_env, run_cli
from tests.support.stack_fixtures import Harness, dispatch_harness

BOUNCE = Cause("email", "550 5.1.1 user unknown")
ENDPOINT = Cause("callout", "hooks.ledgerlink.example/zuora/v2/accounts/*/events no response")


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    tenant = build_tenant(seed=7, now=datetime.now(UTC), outage=True)
    with dispatch_harness(tmp_path, tenant=tenant) as started:
        cli_env(started, monkeypatch)
        yield started


def test_cli_replay_warns_of_a_cause_still_failing_and_replays_when_confirmed(
    harness: Harness,
) -> None:
    code, out, err = run_cli("replay", BOUNCE.id, "--yes")

    assert code == EXIT_OK, err
    first = out.splitlines()[0]
    assert first.startswith("WARNING: Still failing, last failure ")
    assert first.endswith(": a replay now will probably fail again.")
    assert "resent" in out
    assert [kind for kind, _ in harness.resends()] == ["email"]


def test_cli_replay_says_a_recovered_endpoint_is_safe(harness: Harness) -> None:
    code, out, err = run_cli("replay", ENDPOINT.id, "--yes")

    assert code == EXIT_OK, err
    first = out.splitlines()[0]
    assert first.startswith("Recovered at ") and first.endswith(" UTC: safe to replay.")
    assert [kind for kind, _ in harness.resends()] == ["callout"]
