"""Resend all on a channel digest through signed dispatch: the report in the thread, once, for the
allow-list only, with every account's note kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.actions import ActionId
from bot.digest.service import run_due_digests
from tests.support.channel_commands import CHANNEL, settled
from tests.support.stack_fixtures import (
    Harness,
    all_text,
    button,
    buttons,
    dispatch_harness,
    value_of,
)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path, allowed_users="U0ALLOWED") as started:
        started.slack.set_channel(CHANNEL, name="billing-ops", is_member=True)
        yield started


# --- Resend all on a channel digest -----------------------------------------------------------


def _posted_digest(harness: Harness) -> dict[str, Any]:
    """Subscribe this channel and run the digest job once; the digest message as Slack stores it."""
    settled(harness, "digest subscribe at 09:00 tz UTC")
    (result,) = run_due_digests(harness.deps, harness.deps.now(), force=True, owner="test")
    assert result.status == "posted", result
    (digest,) = harness.slack.messages(CHANNEL)
    return digest


def test_digest_resend_all_reports_in_the_thread_and_keeps_the_digest(harness: Harness) -> None:
    digest = _posted_digest(harness)
    resend_all = button(digest, ActionId.RESEND_ALL.value)
    count = value_of(resend_all)["count"]

    click = harness.click(resend_all, user_id="U0ALLOWED", message=digest)

    assert click.status == 200
    ((kind, ids),) = harness.resends()
    assert kind == "email" and len(ids) == count
    # Nothing went through the click's response_url: the shared digest was not replaced.
    assert harness.posts(click.response_url) == []
    after, reply = harness.slack.messages(CHANNEL)
    assert after["ts"] == digest["ts"] and after["text"] == digest["text"]
    added = [block for block in after["blocks"] if block not in digest["blocks"]]
    assert len(added) == 1 and added[0]["type"] == "context"
    assert [block for block in after["blocks"] if block is not added[0]] == digest["blocks"]
    note = all_text({"blocks": added})
    assert f"<@U0ALLOWED> resent {count} of {count} failed emails" in note
    # The note sits right under the button that was pressed.
    holder = next(
        i
        for i, block in enumerate(after["blocks"])
        if any(e.get("value") == resend_all["value"] for e in block.get("elements", []))
    )
    assert after["blocks"][holder + 1] == added[0]
    assert reply["thread_ts"] == digest["ts"]
    assert f"{count} of {count} emails resent" in reply["text"]
    assert not buttons(reply, ActionId.REFRESH.value), "no card redraws in a shared thread"
    (entry,) = harness.deps.store.list_resends()
    assert (entry.user_id, entry.status) == ("U0ALLOWED", "succeeded")


def test_digest_resend_all_second_click_resends_nothing_twice(harness: Harness) -> None:
    digest = _posted_digest(harness)
    resend_all = button(digest, ActionId.RESEND_ALL.value)
    harness.click(resend_all, user_id="U0ALLOWED", message=digest)
    noted = harness.slack.messages(CHANNEL)

    # A colleague clicks the same button on the digest as Slack now shows it (with the note).
    again = harness.click(resend_all, user_id="U0ALLOWED", message=noted[0])

    assert len(harness.resends()) == 1
    (told,) = harness.posts(again.response_url)
    assert "Already handled" in told["text"] and told["replace_original"] is False
    assert harness.slack.messages(CHANNEL) == noted, "digest and thread are left as they were"


def test_digest_resend_all_by_someone_off_the_allow_list_changes_nothing(
    harness: Harness,
) -> None:
    digest = _posted_digest(harness)

    denied = harness.click(
        button(digest, ActionId.RESEND_ALL.value), user_id="U0STRANGER", message=digest
    )

    (told,) = harness.posts(denied.response_url)
    assert "allow-list" in all_text(told) and told["replace_original"] is False
    assert harness.resends() == []
    assert harness.slack.messages(CHANNEL) == [digest]


def test_digest_resend_all_on_two_accounts_keeps_both_notes(harness: Harness) -> None:
    digest = _posted_digest(harness)
    first, second = buttons(digest, ActionId.RESEND_ALL.value)[:2]

    harness.click(first, user_id="U0ALLOWED", message=digest)
    # Clicked before the first note reached this user's screen: the payload has the bare digest.
    harness.click(second, user_id="U0ALLOWED", message=digest)

    after = harness.slack.messages(CHANNEL)[0]
    notes = [block for block in after["blocks"] if block not in digest["blocks"]]
    assert len(notes) == 2 and all(note["type"] == "context" for note in notes)
    assert [b for b in after["blocks"] if b not in notes] == digest["blocks"]
    assert len(harness.resends()) == 2
    replies = [m for m in harness.slack.messages(CHANNEL) if m.get("thread_ts") == digest["ts"]]
    assert len(replies) == 2
