"""/zuora digest through signed dispatch, and the clock loop that posts a due digest."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import run_clock, seconds_to_next_tick
from tests.support.channel_commands import CHANNEL, settled
from tests.support.stack_fixtures import BIG_ACCOUNT, Harness, all_text, dispatch_harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path, allowed_users="U0ALLOWED") as started:
        started.slack.set_channel(CHANNEL, name="billing-ops", is_member=True)
        yield started


def test_digest_subscribe_stores_and_confirms(harness: Harness) -> None:
    answer = settled(harness, "digest subscribe at 08:30 tz Europe/Paris kind emails")
    assert "Subscribed: digest #" in answer["text"]
    (sub,) = harness.deps.store.list_subscriptions(channel_id=CHANNEL)
    assert (sub.hour, sub.minute, sub.timezone, sub.kind) == (8, 30, "Europe/Paris", "emails")
    assert sub.created_by == "U0ALLOWED"


def test_digest_subscribe_refuses_an_overlap_in_the_same_channel(harness: Harness) -> None:
    settled(harness, "digest subscribe kind all")
    answer = settled(harness, f"digest subscribe account {BIG_ACCOUNT} kind emails at 07:00")
    assert "unsubscribe" in all_text(answer)
    assert len(harness.deps.store.list_subscriptions(channel_id=CHANNEL)) == 1


def test_digest_subscribe_needs_the_allow_list(harness: Harness) -> None:
    answer = settled(harness, "digest subscribe", user_id="U0STRANGER")
    assert "allow-list" in all_text(answer)
    assert harness.deps.store.list_subscriptions() == []


def test_digest_subscribe_to_a_private_channel_without_the_bot_explains_the_fix(
    harness: Harness,
) -> None:
    harness.slack.set_channel(CHANNEL, name="secret", is_member=False, is_private=True)
    answer = settled(harness, "digest subscribe")
    assert "/invite @Zuora Ops" in all_text(answer)
    assert harness.deps.store.list_subscriptions() == []


def test_digest_subscribe_refuses_an_unknown_account(harness: Harness) -> None:
    answer = settled(harness, "digest subscribe account A99999999")
    assert "Zuora has no account `A99999999`" in all_text(answer)
    assert harness.deps.store.list_subscriptions() == []


def test_digest_list_and_unsubscribe(harness: Harness) -> None:
    settled(harness, "digest subscribe kind callouts")
    (sub,) = harness.deps.store.list_subscriptions()
    listed = settled(harness, "digest list", user_id="U0ANYONE")  # anyone may list
    assert f"#{sub.id}" in all_text(listed)
    denied = settled(harness, f"digest unsubscribe {sub.id}", user_id="U0ANYONE")
    assert "allow-list" in all_text(denied)
    assert harness.deps.store.list_subscriptions()
    gone = settled(harness, f"digest unsubscribe {sub.id}")
    assert harness.deps.store.list_subscriptions() == []
    assert str(sub.id) in all_text(gone)
    again = settled(harness, f"digest unsubscribe {sub.id}")  # a repeat: already gone, said so
    assert f"Digest #{sub.id} was already unsubscribed" in all_text(again)
    unknown = settled(harness, f"digest unsubscribe {sub.id + 100}")
    assert f"no digest #{sub.id + 100}" in all_text(unknown)


def test_digest_preview_is_built_now_and_posts_nowhere(harness: Harness) -> None:
    answer = settled(harness, "digest preview", user_id="U0ANYONE")
    assert "Zuora failures in the last 24h" in answer["text"]
    assert answer["response_type"] == "ephemeral"
    assert harness.slack.calls("chat.postMessage") == []
    assert harness.deps.store.list_subscriptions() == []


def test_clock_tick_posts_a_due_digest_and_stops_on_request(harness: Harness) -> None:
    settled(harness, "digest subscribe at 09:00 tz UTC")
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
