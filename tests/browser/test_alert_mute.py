"""The playground with the real bot: a spike alert's thread reply shows under it, and "Mute 1 hour" from
its menu marks it muted by the player and records the mute."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.service import run_alert_checks
from bot.sandbox.playground import DEFAULT_CHANNELS, Playground

BILLING = DEFAULT_CHANNELS[0].id
BOT_REPLY = '[data-testid="message"][data-author="Zuora Ops"]'


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Any]:
    from bot.sandbox.stack import SandboxStack
    from bot.sandbox.tenant import build_tenant

    tenant = build_tenant(seed=7, now=datetime.now(UTC), outage=True)  # one endpoint down
    with SandboxStack(tmp_path, tenant=tenant) as stack:
        with Playground.for_stack(stack) as pg:
            yield stack, pg


def fail_again(stack: Any, at: datetime, count: int, first: int) -> None:
    """`count` fresh failures of the sandbox outage's endpoint, every 30 s up to `at`."""
    down = [c for c in stack.tenant.callouts if c.failed and "ledgerlink" in c.request_url]
    for n, callout in enumerate(down[:count]):
        stack.tenant.add_callout(
            dataclasses.replace(
                callout,
                id=f"8a{first + n:030x}",
                create_time=at - timedelta(seconds=30 * n),
                event_id=f"8b{first + n:030x}",
            )
        )
    stack.zuora.reindex()


@pytest.mark.browser
def test_playground_alert_thread_reply_and_mute_from_its_menu(page: Any, sandbox: Any) -> None:
    stack, pg = sandbox
    page.goto(pg.url)
    page.wait_for_selector("body[data-ready='true']")
    view = page.locator(f'[data-testid="channel-view"][data-channel-id="{BILLING}"]')
    composer = page.get_by_test_id("composer-input")
    composer.fill("/zuora alerts subscribe threshold 20 per 30 minutes kind callouts")
    composer.press("Enter")
    view.get_by_text("will post to", exact=False).first.wait_for(timeout=30_000)

    now = datetime.now(UTC).replace(microsecond=0)
    fail_again(stack, now, 25, 0)
    assert [a.outcome for a in run_alert_checks(stack.deps, now, owner="t")] == ["posted"]
    alert = view.locator(BOT_REPLY).filter(has_text="Spike: ")
    alert.wait_for(timeout=30_000)
    later = now + timedelta(minutes=11)
    fail_again(stack, later, 5, 100)
    outcomes = [a.outcome for a in run_alert_checks(stack.deps, later, owner="t")]
    assert outcomes == ["updated", "replied"]
    reply = alert.get_by_test_id("thread").locator('[data-testid="message"]')
    reply.get_by_text("(+5 since", exact=False).wait_for(timeout=30_000)
    (incident,) = stack.deps.store.list_alert_incidents()
    assert f"now {incident.count} failures across" in reply.inner_text()

    alert.locator('select[data-action-id="zuora.alert_mute"]').select_option(label="Mute 1 hour")
    alert.get_by_text("Muted", exact=False).first.wait_for(timeout=30_000)
    assert "Muted by @you until" in alert.inner_text()
    assert alert.locator('[data-action-id="zuora.alert_unmute"]').count() == 1
    (mute,) = stack.deps.store.active_mutes(None, datetime.now(UTC)).values()
    assert mute.until is not None and mute.until - mute.muted_at == timedelta(hours=1)
