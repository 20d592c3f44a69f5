"""The Home's view builder and publisher: bounded blocks, one publish per content, hash conflicts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.home.cards import HomeState, build_home_view
from bot.home.service import HomePublisher
from bot.store import AlertIncident
from bot.store.watches import AccountWatch
from tests.support.home import Ticks
from tests.support.stack_fixtures import Harness, all_text, dispatch_harness

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path) as started:
        yield started


def _incident(i: int) -> AlertIncident:
    return AlertIncident(
        id=i,
        subscription_id=1,
        cause_id="abcdefghij",
        seq=1,
        cause_kind="callout",
        label=f"<!channel> cause {i}",
        state="open",
        count=10 + i,
        accounts=("A1", "A2"),
        hourly={},
        first_at=NOW,
        last_at=NOW,
        opened_at=NOW,
        recovered_at=None,
        claimed_by="",
        heartbeat_at=NOW,
        posting_at=None,
        checked_at=None,
        message_ts=None,
        shown_state=None,
        shown_count=None,
        detail=None,
    )


def _watch(i: int) -> AccountWatch:
    return AccountWatch(
        id=i,
        team_id="T1",
        user_id="U1",
        account_id=f"{i:032x}",
        account_number=f"A{i:08d}",
        account_name=f"<@U0EVIL> {i}",
        created_at=NOW,
        last_notified_at=None,
        last_seen_failure_at=None,
        checked_at=NOW,
        recent_failures=i,
    )


def test_home_view_is_bounded_and_escaped_with_every_list_full() -> None:
    state = HomeState(
        user_id="U1",
        may_resend=True,
        alerts=[_incident(i) for i in range(500)],
        watches=[_watch(i) for i in range(500)],
        resends=[],
        digests=[],
        alert_subscriptions=[],
    )
    view = build_home_view(state)
    text = all_text(view)
    assert len(view["blocks"]) <= 100
    assert "…and 490 more open alerts" in text and "…and 475 more watched accounts" in text
    assert "<!channel>" not in text and "<@U0EVIL>" not in text


def test_the_same_state_builds_the_same_view() -> None:
    state = HomeState("U1", False, [_incident(1)], [_watch(1)], [], [], [])
    assert build_home_view(state) == build_home_view(state)


def test_a_hash_conflict_rebuilds_and_publishes_unguarded(harness: Harness) -> None:
    ticks = Ticks()
    ours, other = HomePublisher(timer=ticks), HomePublisher(timer=ticks)
    object.__setattr__(harness.deps, "home", ours)
    assert ours.publish(harness.deps, team_id="T0001", user_id="U1", opened=True) == "published"
    object.__setattr__(harness.deps, "home", other)
    other.publish(harness.deps, team_id="T0001", user_id="U1", opened=True)  # another process
    harness.deps.store.add_watch(
        team_id="T0001",
        user_id="U1",
        account_id="f" * 32,
        account_number="A9",
        account_name="N",
        now=NOW,
        last_failure_at=None,
        recent_failures=None,
    )
    ticks.now += 60

    assert ours.publish(harness.deps, team_id="T0001", user_id="U1") == "published"

    calls = harness.slack.calls("views.publish")
    assert len(calls) == 4 and "hash" in calls[2].params and "hash" not in calls[3].params
    assert "A9" in all_text(harness.slack.surfaces.home_view("U1") or {})


def test_a_failed_publish_is_not_remembered_as_shown(harness: Harness) -> None:
    publisher = HomePublisher(timer=Ticks())
    object.__setattr__(harness.deps, "home", publisher)
    harness.slack.fail_next("views.publish", status=200, retry_after=None, error="not_enabled")
    with pytest.raises(Exception, match="not_enabled"):
        publisher.publish(harness.deps, team_id="T0001", user_id="U1", opened=True)
    assert publisher.publish(harness.deps, team_id="T0001", user_id="U1", opened=True) == (
        "published"
    )


def test_home_resend_rows_say_whether_each_resend_worked() -> None:
    from bot.store import ResendAuditEntry

    def entry(audit_id: int) -> ResendAuditEntry:
        return ResendAuditEntry(
            id=audit_id,
            requested_at=NOW,
            team_id="T1",
            user_id="U1",
            account_key="A00000001",
            kind="email",
            ids=("2c92c0f8",),
            track_id="t",
            dedup_key=f"k{audit_id}",
            status="sent",
            outcome={},
            error=None,
            finished_at=NOW,
            audit_channel=None,
            audit_ts=None,
        )

    state = HomeState(
        user_id="U1",
        may_resend=True,
        alerts=[],
        watches=[],
        resends=[entry(1), entry(2)],
        digests=[],
        alert_subscriptions=[],
        resend_notes={1: ["did it work? delivered <at 10:03>"]},
    )
    text = all_text(build_home_view(state))

    assert "did it work? delivered &lt;at 10:03&gt;" in text
    assert text.count("did it work?") == 1  # the second resend has no watch yet: nothing claimed
