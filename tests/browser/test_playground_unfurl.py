"""The playground with the real bot: a pasted Zuora account link unfurls under the message, its
Open failures button shows the card to the clicker, and the message's "…" menu runs the shortcut."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.playground import Playground
from bot.sandbox.stack import SandboxStack
from tests.support.playground import BILLING

ORDINARY_ACCOUNT = "A00000017"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[SandboxStack, Playground]]:
    with SandboxStack(tmp_path) as stack:
        with Playground.for_stack(stack) as pg:
            yield stack, pg


def send(page: Any, pg: Playground, text: str) -> Any:
    """Open the playground, post `text` as the user, return the channel's view."""
    page.goto(pg.url)
    page.wait_for_selector("body[data-ready='true']")
    composer = page.get_by_test_id("composer-input")
    composer.fill(text)
    composer.press("Enter")
    return page.locator(f'[data-testid="channel-view"][data-channel-id="{BILLING}"]')


@pytest.mark.browser
def test_playground_unfurls_a_pasted_account_link_and_opens_its_failures_card(
    page: Any, sandbox: tuple[SandboxStack, Playground], artifacts: Path
) -> None:
    stack, pg = sandbox
    assert stack.tenant is not None
    big = stack.tenant.big_account
    link = f"{stack.settings().zuora.ui_url}/apps/CustomerAccount.do?method=view&id={big.id}"
    view = send(page, pg, f"Any idea what broke here? {link}")

    mine = view.locator('[data-testid="message"][data-author="you"]')
    unfurl = mine.locator('[data-testid="attachment"]')
    unfurl.wait_for(timeout=30_000)
    text = unfurl.inner_text()
    assert big.number in text and "failed callouts" in text and "Newest:" in text
    page.screenshot(path=str(artifacts / "playground-unfurl.png"), full_page=True)

    unfurl.locator('[data-action-id="zuora.open_failures"]').click()
    card = view.locator('[data-testid="message"][data-ephemeral="true"]').filter(
        has=page.locator('[data-action-id="zuora.refresh"]')
    )
    card.wait_for(timeout=30_000)
    assert big.number in card.inner_text()
    assert mine.count() == 1 and unfurl.count() == 1, "the unfurl stays under the message"


@pytest.mark.browser
def test_playground_message_menu_runs_the_shortcut_and_its_account_choice(
    page: Any, sandbox: tuple[SandboxStack, Playground], artifacts: Path
) -> None:
    stack, pg = sandbox
    assert stack.tenant is not None
    big = stack.tenant.big_account.number
    view = send(page, pg, f"{big} and {ORDINARY_ACCOUNT} both failed overnight")

    mine = view.locator('[data-testid="message"][data-author="you"]')
    mine.get_by_test_id("message-menu").click()
    mine.get_by_test_id("shortcut-zuora-failures").click()
    choice = view.locator('[data-testid="message"][data-ephemeral="true"]').filter(
        has=page.locator('[data-action-id="zuora.shortcut_pick"]')
    )
    choice.wait_for(timeout=30_000)
    assert "names 2 accounts" in choice.inner_text()
    choice.locator('[data-action-id="zuora.shortcut_pick"]').select_option(label=ORDINARY_ACCOUNT)

    card = view.locator('[data-testid="message"][data-ephemeral="true"]').filter(
        has=page.locator('[data-action-id="zuora.refresh"]')
    )
    card.wait_for(timeout=30_000)
    assert ORDINARY_ACCOUNT in card.inner_text()
    page.screenshot(path=str(artifacts / "playground-shortcut.png"), full_page=True)
