"""Browser steps the playground tests share: open the playground and run `/zuora outages`."""

from __future__ import annotations

from typing import Any

from bot.sandbox.playground import DEFAULT_CHANNELS

BILLING = DEFAULT_CHANNELS[0].id


def run_outages(page: Any, url: str) -> Any:
    """Open the playground, send `/zuora outages` from its suggestion, return the channel's view."""
    page.goto(url)
    page.wait_for_selector("body[data-ready='true']")
    page.get_by_test_id("suggestion").filter(has_text="/zuora outages").click()
    composer = page.get_by_test_id("composer-input")
    if composer.input_value():  # a suggestion may fill the composer rather than send
        composer.press("Enter")
    return page.locator(f'[data-testid="channel-view"][data-channel-id="{BILLING}"]')
