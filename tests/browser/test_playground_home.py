"""The playground's Home tab with the real bot: `/zuora watch`, then Home shows the watched account
(published by views.publish after a signed app_home_opened), and its Open failures DMs the card."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.fake_slack_surfaces import dm_channel
from bot.sandbox.playground import Playground
from bot.sandbox.stack import SandboxStack
from tests.support.stack_fixtures import ORDINARY_ACCOUNT, fresh_tenant


@pytest.fixture
def home_sandbox(tmp_path: Path) -> Iterator[tuple[SandboxStack, Playground]]:
    with SandboxStack(tmp_path, tenant=fresh_tenant()) as stack:
        with Playground.for_stack(stack) as pg:
            yield stack, pg


@pytest.mark.browser
def test_playground_home_tab_shows_the_watch_and_opens_its_card(
    page: Any, home_sandbox: tuple[SandboxStack, Playground], artifacts: Path
) -> None:
    stack, pg = home_sandbox
    page.goto(pg.url)
    page.wait_for_selector("body[data-ready='true']")
    composer = page.get_by_test_id("composer-input")
    composer.fill(f"/zuora watch {ORDINARY_ACCOUNT}")
    composer.press("Enter")
    page.get_by_text("Watching").first.wait_for(timeout=20_000)

    page.get_by_test_id("open-home").click()
    home = page.locator('[data-testid="home-tab"][data-state="shown"]')
    home.wait_for(timeout=20_000)
    text = home.inner_text()
    assert "Accounts you watch: 1" in text and ORDINARY_ACCOUNT in text
    assert "Open outages (spike alerts): 0" in text and "Your recent resends" in text
    assert page.get_by_test_id("home-status").inner_text() == "published just now"
    assert home.locator('[data-testid="blocks"] > *').count() <= 100
    page.screenshot(path=str(artifacts / "playground-home.png"), full_page=True)

    home.locator('[data-action-id="zuora.home_open_failures"]').click()
    dm = page.locator(f'[data-testid="channel-link"][data-channel-id="{dm_channel(pg.user.id)}"]')
    dm.wait_for(timeout=20_000)
    assert any(
        ORDINARY_ACCOUNT in str(m.get("payload", {})) or ORDINARY_ACCOUNT in str(m)
        for m in pg.messages(dm_channel(pg.user.id))
    )

    page.get_by_test_id("open-home").click()  # opened again, nothing changed: not republished
    page.locator('[data-testid="home-tab"][data-state="shown"][data-published="false"]').wait_for(
        timeout=20_000
    )
    assert page.get_by_test_id("home-status").inner_text() == "unchanged"
    publishes = [c for c in stack.slack.calls("views.publish") if c.params["user_id"] == pg.user.id]
    assert len(publishes) == 1
