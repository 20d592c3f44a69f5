"""The playground with the real bot: `/zuora outages`, then Resend all N on the sandbox outage, confirmed
in the dialog; the card turns into the replay's summary in place and Zuora resent each id once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.core.actions import OutageRef, decode_value
from tests.support.playground import run_outages


@pytest.mark.browser
def test_playground_outages_then_replay_shows_the_summary_in_place(
    page: Any, outage_sandbox: Any, artifacts: Path
) -> None:
    stack, pg = outage_sandbox
    view = run_outages(page, pg.url)
    card = view.locator('[data-testid="message"][data-author="Zuora Ops"]').filter(
        has=page.locator('[data-action-id="zuora.outage_replay"]')
    )
    card.first.wait_for(timeout=30_000)
    replay = card.first.locator('[data-action-id="zuora.outage_replay"]').first
    ref = decode_value(replay.get_attribute("data-value"), OutageRef)
    replay.click()
    page.get_by_test_id("confirm-ok").click()
    summary = view.get_by_text(f"{ref.n:,} of {ref.n:,} callouts resent")
    summary.first.wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "playground-replay.png"), full_page=True)
    counts = Counter(stack.zuora.resend_counts())
    assert len(counts) == ref.n and set(counts.values()) == {1}
    assert len(stack.zuora.resend_calls()) == -(-ref.n // 1000)
