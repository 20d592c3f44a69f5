"""/zuora digest and /zuora audit through signed dispatch, and the clock loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import run_clock, seconds_to_next_tick
from bot.core.actions import ActionId
from bot.digest.service import run_due_digests
from tests.support.stack_fixtures import (
    BIG_ACCOUNT,
    ORDINARY_ACCOUNT,
    Harness,
    all_text,
    button,
    buttons,
    dispatch_harness,
    value_of,
)

CHANNEL = "C0001"  # the channel slash_command_body sends from


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path, allowed_users="U0ALLOWED") as started:
        started.slack.set_channel(CHANNEL, name="billing-ops", is_member=True)
        yield started


def _answer(harness: Harness, text: str, *, user_id: str = "U0ALLOWED") -> dict[str, Any]:
    """The message that settles a command: the ack, or the post that replaced the placeholder."""
    reply = harness.command(text, user_id=user_id)
    assert reply.status == 200
    posts = harness.posts(reply.response_url)
    return posts[-1] if posts else reply.ack


def test_digest_subscribe_stores_and_confirms(harness: Harness) -> None:
    answer = _answer(harness, "digest subscribe at 08:30 tz Europe/Paris kind emails")
    assert "Subscribed: digest #" in answer["text"]
    (sub,) = harness.deps.store.list_subscriptions(channel_id=CHANNEL)
    assert (sub.hour, sub.minute, sub.timezone, sub.kind) == (8, 30, "Europe/Paris", "emails")
    assert sub.created_by == "U0ALLOWED"


def test_digest_subscribe_refuses_an_overlap_in_the_same_channel(harness: Harness) -> None:
    _answer(harness, "digest subscribe kind all")
    answer = _answer(harness, f"digest subscribe account {BIG_ACCOUNT} kind emails at 07:00")
    assert "unsubscribe" in all_text(answer)
    assert len(harness.deps.store.list_subscriptions(channel_id=CHANNEL)) == 1


def test_digest_subscribe_needs_the_allow_list(harness: Harness) -> None:
    answer = _answer(harness, "digest subscribe", user_id="U0STRANGER")
    assert "allow-list" in all_text(answer)
    assert harness.deps.store.list_subscriptions() == []


def test_digest_subscribe_to_a_private_channel_without_the_bot_explains_the_fix(
    harness: Harness,
) -> None:
    harness.slack.set_channel(CHANNEL, name="secret", is_member=False, is_private=True)
    answer = _answer(harness, "digest subscribe")
    assert "/invite @Zuora Ops" in all_text(answer)
    assert harness.deps.store.list_subscriptions() == []


def test_digest_subscribe_refuses_an_unknown_account(harness: Harness) -> None:
    answer = _answer(harness, "digest subscribe account A99999999")
    assert "Zuora has no account `A99999999`" in all_text(answer)
    assert harness.deps.store.list_subscriptions() == []


def test_digest_list_and_unsubscribe(harness: Harness) -> None:
    _answer(harness, "digest subscribe kind callouts")
    (sub,) = harness.deps.store.list_subscriptions()
    listed = _answer(harness, "digest list", user_id="U0ANYONE")  # anyone may list
    assert f"#{sub.id}" in all_text(listed)
    denied = _answer(harness, f"digest unsubscribe {sub.id}", user_id="U0ANYONE")
    assert "allow-list" in all_text(denied)
    assert harness.deps.store.list_subscriptions()
    gone = _answer(harness, f"digest unsubscribe {sub.id}")
    assert harness.deps.store.list_subscriptions() == []
    assert str(sub.id) in all_text(gone)
    again = _answer(harness, f"digest unsubscribe {sub.id}")  # a repeat: already gone, said so
    assert f"Digest #{sub.id} was already unsubscribed" in all_text(again)
    unknown = _answer(harness, f"digest unsubscribe {sub.id + 100}")
    assert f"no digest #{sub.id + 100}" in all_text(unknown)


def test_digest_preview_is_built_now_and_posts_nowhere(harness: Harness) -> None:
    answer = _answer(harness, "digest preview", user_id="U0ANYONE")
    assert "Zuora failures in the last 24h" in answer["text"]
    assert answer["response_type"] == "ephemeral"
    assert harness.slack.calls("chat.postMessage") == []
    assert harness.deps.store.list_subscriptions() == []


def test_audit_card_lists_a_resend_newest_first_and_pages(harness: Harness) -> None:
    empty = _answer(harness, "audit")
    assert "No resends recorded yet." in empty["text"]
    card = harness.card_for(ORDINARY_ACCOUNT)
    resend = button(card, ActionId.RESEND_EMAIL.value)
    click = harness.click(resend, user_id="U0ALLOWED")
    harness.wait_posts(click.response_url, 2)
    refused = _answer(harness, f"audit {ORDINARY_ACCOUNT}", user_id="U0ANYONE")
    assert "read list" in refused["text"] and "<@U0ALLOWED>" not in all_text(refused)
    audit = _answer(harness, f"audit {ORDINARY_ACCOUNT}", user_id="U0ALLOWED")
    text = all_text(audit)
    assert "<@U0ALLOWED>" in text and "succeeded" in text
    assert "1 entry" in audit["text"] or "1 entry" in text


def test_clock_tick_posts_a_due_digest_and_stops_on_request(harness: Harness) -> None:
    _answer(harness, "digest subscribe at 09:00 tz UTC")
    (sub,) = harness.deps.store.list_subscriptions()
    stop = threading.Event()
    due = datetime.combine(sub.created_at.date(), datetime.min.time(), UTC) + timedelta(
        days=1, hours=9, seconds=30
    )

    class ClockDeps:
        """The real Deps at a fixed time just after 09:00 the next day; asks to stop after a tick."""

        def __getattr__(self, name: str) -> Any:
            return getattr(harness.deps, name)

        def now(self) -> datetime:
            stop.set()
            return due

    thread = threading.Thread(target=run_clock, args=(ClockDeps(), stop), daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    posts = harness.slack.calls("chat.postMessage")
    assert [call.params["channel"] for call in posts] == [CHANNEL]
    runs = harness.deps.store.list_digest_runs(sub.id)
    assert [(run.local_date, run.status) for run in runs] == [(due.date(), "posted")]


def test_clock_wakes_just_after_the_next_minute() -> None:
    now = datetime(2026, 11, 23, 9, 0, 45, tzinfo=UTC)
    assert seconds_to_next_tick(now) == pytest.approx(15.5)


# --- Resend all on a channel digest -----------------------------------------------------------


def _posted_digest(harness: Harness) -> dict[str, Any]:
    """Subscribe this channel and run the digest job once; the digest message as Slack stores it."""
    _answer(harness, "digest subscribe at 09:00 tz UTC")
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
