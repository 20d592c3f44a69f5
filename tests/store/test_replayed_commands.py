"""Replayed state-changing commands change nothing twice (issue 16, "a signed request can be replayed").

Store level, on SQLite and PostgreSQL: an identical alert or digest subscription is stored once even
when the requests race; migration 9 keeps the oldest of duplicates an earlier release let in. The HTTP
replay through gunicorn is in tests/smoke/test_request_gate_gunicorn.py; the command answers here go
through signed dispatch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.store import NewAlertSubscription, NewSubscription
from bot.store.database import Store
from bot.store.migrations import MIGRATIONS
from tests.support.race import race
from tests.support.stack_fixtures import Harness, all_text, dispatch_harness
from tests.support.subscriptions import new_subscription

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
CHANNEL = "C0001"  # the channel slash_command_body sends from


def alert(**overrides: Any) -> NewAlertSubscription:
    fields: dict[str, Any] = {
        "team_id": "T1",
        "channel_id": "C1",
        "created_by": "U1",
        "created_at": T0,
        "threshold": 5,
        "minutes": 15,
        "kind": "emails",
    }
    return NewAlertSubscription(**{**fields, **overrides})


def digest(**overrides: Any) -> NewSubscription:
    return new_subscription(T0, **{"accounts": ("A1", "A2"), "kind": "callouts", **overrides})


def race_on_stores(
    stores: list[Store], ensure: Callable[[Store], tuple[Any, bool]]
) -> list[tuple[int, bool]]:
    """`ensure` on 8 threads released together, taking the stores in turn: (id, created) of each."""

    def subscribe(i: int) -> tuple[int, bool]:
        sub, created = ensure(stores[i % len(stores)])
        return sub.id, created

    return race(8, subscribe)


def test_store_identical_alert_subscriptions_racing_store_one(db_url: str) -> None:
    stores = [Store.from_url(db_url) for _ in range(4)]
    try:
        results = race_on_stores(stores, lambda store: store.ensure_alert_subscription(alert()))
        assert len({sub_id for sub_id, _ in results}) == 1
        assert sum(created for _, created in results) == 1
        assert len(stores[0].list_alert_subscriptions(team_id="T1")) == 1
        # A different threshold, window, kind, channel or workspace is another subscription.
        for other in (
            alert(threshold=6),
            alert(minutes=30),
            alert(kind="all"),
            alert(channel_id="C2"),
            alert(team_id="T2"),
        ):
            assert stores[0].ensure_alert_subscription(other)[1] is True
        # Once removed, the same request subscribes anew.
        (first_id,) = {sub_id for sub_id, _ in results}
        assert stores[0].remove_alert_subscription(first_id, team_id="T1")
        again, created = stores[0].ensure_alert_subscription(alert())
        assert created and again.id != first_id
    finally:
        for store in stores:
            store.close()


def test_store_identical_digest_subscriptions_racing_store_one(db_url: str) -> None:
    stores = [Store.from_url(db_url) for _ in range(4)]
    try:
        results = race_on_stores(stores, lambda store: store.ensure_subscription(digest()))
        assert len({sub_id for sub_id, _ in results}) == 1
        assert sum(created for _, created in results) == 1
        assert len(stores[0].list_subscriptions(team_id="T1")) == 1
    finally:
        for store in stores:
            store.close()


def test_store_migration_9_keeps_the_oldest_of_duplicate_subscriptions(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.store.migrations as store_module

    monkeypatch.setattr(store_module, "MIGRATIONS", tuple(m for m in MIGRATIONS if m.version < 9))
    old = Store.from_url(db_url)
    try:  # what a replayed command left behind before this release
        alerts = [old.add_alert_subscription(alert()).id for _ in range(3)]
        other = old.add_alert_subscription(alert(threshold=9)).id
        digests = [old.add_subscription(digest()).id for _ in range(2)]
    finally:
        old.close()
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)

    new = Store.from_url(db_url)
    try:
        assert 9 in new.schema_versions()
        assert [s.id for s in new.list_alert_subscriptions()] == [alerts[0], other]
        assert [s.id for s in new.list_subscriptions()] == [digests[0]]
        assert new.ensure_alert_subscription(alert())[0].id == alerts[0]
        assert new.ensure_subscription(digest())[0].id == digests[0]
    finally:
        new.close()


# --- the commands' answers -------------------------------------------------------------------------


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path, allowed_users="U0ALLOWED") as started:
        started.slack.set_channel(CHANNEL, name="billing-ops", is_member=True)
        yield started


def answer(harness: Harness, text: str) -> str:
    reply = harness.command(text, user_id="U0ALLOWED")
    return all_text(harness.posts(reply.response_url)[-1])


def test_repeated_alerts_subscribe_names_the_existing_one(harness: Harness) -> None:
    first = answer(harness, "alerts subscribe threshold 4 per 20 minutes kind emails")
    (sub,) = harness.deps.store.list_alert_subscriptions()
    assert f"Subscribed: spike alert #{sub.id}" in first
    again = answer(harness, "alerts subscribe threshold 4 per 20 minutes kind emails")
    assert f"Already subscribed (id {sub.id})" in again
    assert len(harness.deps.store.list_alert_subscriptions()) == 1


def test_repeated_digest_subscribe_names_the_existing_one(harness: Harness) -> None:
    first = answer(harness, "digest subscribe at 08:30 kind callouts")
    (sub,) = harness.deps.store.list_subscriptions()
    assert f"digest #{sub.id}" in first
    again = answer(harness, "digest subscribe at 08:30 kind callouts")
    assert f"Already subscribed (id {sub.id})" in again
    assert len(harness.deps.store.list_subscriptions()) == 1
    # A different time for the same failures is still an overlap, refused as before.
    other = answer(harness, "digest subscribe at 10:00 kind callouts")
    assert "already covers" in other
    assert len(harness.deps.store.list_subscriptions()) == 1
