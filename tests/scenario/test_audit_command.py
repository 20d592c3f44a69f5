"""/zuora audit through signed dispatch: the audit card lists resends newest first and pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.actions import ActionId
from tests.support.channel_commands import CHANNEL, settled
from tests.support.stack_fixtures import (
    ORDINARY_ACCOUNT,
    Harness,
    all_text,
    button,
    dispatch_harness,
)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path, allowed_users="U0ALLOWED") as started:
        started.slack.set_channel(CHANNEL, name="billing-ops", is_member=True)
        yield started


def test_audit_card_lists_a_resend_newest_first_and_pages(harness: Harness) -> None:
    empty = settled(harness, "audit")
    assert "No resends recorded yet." in empty["text"]
    card = harness.card_for(ORDINARY_ACCOUNT)
    resend = button(card, ActionId.RESEND_EMAIL.value)
    click = harness.click(resend, user_id="U0ALLOWED")
    harness.wait_posts(click.response_url, 2)
    refused = settled(harness, f"audit {ORDINARY_ACCOUNT}", user_id="U0ANYONE")
    assert "read list" in refused["text"] and "<@U0ALLOWED>" not in all_text(refused)
    audit = settled(harness, f"audit {ORDINARY_ACCOUNT}", user_id="U0ALLOWED")
    text = all_text(audit)
    assert "<@U0ALLOWED>" in text and "succeeded" in text
    assert "1 entry" in audit["text"] or "1 entry" in text
