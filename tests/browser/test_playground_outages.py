"""The playground with the real bot and the sandbox tenant's outage: `/zuora outages` shows the down
endpoint and the bouncing mail domain on one card, each Resend all N behind its confirm dialog."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.tenant import OUTAGE_ACCOUNTS
from tests.support.playground import run_outages


@pytest.mark.browser
def test_playground_outages_card_shows_the_sandbox_outage(
    page: Any, outage_sandbox: Any, artifacts: Path
) -> None:
    stack, pg = outage_sandbox
    view = run_outages(page, pg.url)
    replies = view.locator('[data-testid="message"][data-author="Zuora Ops"]')
    card = replies.filter(has=page.locator('[data-action-id="zuora.outage_replay"]'))
    card.first.wait_for(timeout=30_000)
    assert replies.count() == 2, "the receipt and one card"
    assert "Outages in the last 24h" in card.locator('[data-testid="block-header"]').inner_text()
    top = card.locator('[data-testid="block-section"]').first
    assert "hooks.ledgerlink.example/zuora/v2/accounts/*/events → no response" in top.inner_text()
    assert f"{OUTAGE_ACCOUNTS} accounts" in top.inner_text()
    assert card.get_by_text(re.compile("550 5.1.1 user unknown$")).count() == 1
    page.screenshot(path=str(artifacts / "playground-outages.png"), full_page=True)

    top.locator('[data-action-id="zuora.outage_replay"]').click()
    dialog = page.get_by_test_id("confirm-dialog")
    assert dialog.is_visible()
    text = page.get_by_test_id("confirm-text").inner_text()
    assert f"({OUTAGE_ACCOUNTS} accounts)" in text and "no response" in text
    page.get_by_test_id("confirm-deny").click()
    assert not dialog.is_visible()
    assert stack.zuora.resend_calls() == []
