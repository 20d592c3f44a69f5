"""outcome_watches on SQLite and PostgreSQL: opened once per key, claimed by one clock at a time,
written back only by its holder, never checked again once final."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.store.database import Store
from bot.store.watch_records import NewWatch, WatchItem, WatchTarget
from tests.support.race import race

T0 = datetime(2026, 12, 6, 10, 2, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def new_watch(key: str = "audit:1", *, first: timedelta = timedelta(seconds=30)) -> NewWatch:
    return NewWatch(
        watch_key=key,
        kind="email",
        team_id="T1",
        user_id="U1",
        resent_at=T0,
        first_check_at=T0 + first,
        items=(WatchItem("a" * 32, label="Invoice Posted · Invoice 1 → ap@x.example"),),
        audit_id=1,
        account_id="b" * 32,
        source={"card": {"a": "b" * 32}},
        target=WatchTarget(reply_url="https://hooks.slack.com/actions/1", replace=True),
    )


def test_open_watch_once_per_key(store: Store) -> None:
    assert store.open_watch(new_watch()) is True
    assert store.open_watch(new_watch()) is False
    (watch,) = store.watches_for_audits([1]).values()
    assert watch.items[0].label.startswith("Invoice Posted")
    assert watch.target.reply_url == "https://hooks.slack.com/actions/1"
    assert (watch.checks_done, watch.outcome, watch.final) == (0, None, False)


def test_watch_is_due_only_after_its_first_delay(store: Store) -> None:
    store.open_watch(new_watch())
    assert store.due_watches(T0 + timedelta(seconds=29)) == []
    assert len(store.due_watches(T0 + timedelta(seconds=30))) == 1


def test_racing_clocks_claim_a_watch_once(store: Store) -> None:
    store.open_watch(new_watch())
    (watch_id,) = store.due_watches(T0 + timedelta(minutes=1))

    won = race(
        6,
        lambda i: store.claim_watch(
            watch_id, owner=f"clock-{i}", now=T0 + timedelta(minutes=1), lease=LEASE
        ),
    )

    assert sum(w is not None for w in won) == 1
    assert store.due_watches(T0 + timedelta(minutes=1)) == [], "a held watch is not due"


def test_only_the_holder_records_and_a_final_watch_is_never_due(store: Store) -> None:
    store.open_watch(new_watch())
    now = T0 + timedelta(minutes=1)
    (watch_id,) = store.due_watches(now)
    watch = store.claim_watch(watch_id, owner="clock-a", now=now, lease=LEASE)
    assert watch is not None
    delivered = (WatchItem("a" * 32, state="delivered", at=T0 + timedelta(seconds=5)),)

    assert not store.record_check(
        watch_id,
        owner="clock-b",
        items=delivered,
        next_check_at=None,
        outcome="delivered",
        outcome_detail="delivered 10:02 UTC",
        now=now,
    )
    assert store.record_check(
        watch_id,
        owner="clock-a",
        items=delivered,
        next_check_at=None,
        outcome="delivered",
        outcome_detail="delivered 10:02 UTC",
        now=now,
    )

    final = store.watch(watch_id)
    assert final is not None and final.final and final.checks_done == 1
    assert final.items[0].state == "delivered" and final.items[0].at == T0 + timedelta(seconds=5)
    assert store.due_watches(now + timedelta(days=1)) == []
    assert (
        store.claim_watch(watch_id, owner="clock-c", now=now + timedelta(days=1), lease=LEASE)
        is None
    )


def test_a_dead_clocks_claim_is_taken_over_after_its_lease(store: Store) -> None:
    store.open_watch(new_watch())
    now = T0 + timedelta(minutes=1)
    (watch_id,) = store.due_watches(now)
    assert store.claim_watch(watch_id, owner="dead", now=now, lease=LEASE) is not None

    assert store.claim_watch(watch_id, owner="next", now=now + LEASE / 2, lease=LEASE) is None
    taken = store.claim_watch(watch_id, owner="next", now=now + LEASE, lease=LEASE)
    assert taken is not None and taken.lease_owner == "next"


def test_a_check_that_finds_nothing_sets_the_next_look(store: Store) -> None:
    store.open_watch(new_watch())
    now = T0 + timedelta(minutes=1)
    (watch_id,) = store.due_watches(now)
    watch = store.claim_watch(watch_id, owner="clock", now=now, lease=LEASE)
    assert watch is not None
    assert store.record_check(
        watch_id,
        owner="clock",
        items=watch.items,
        next_check_at=now + timedelta(seconds=60),
        outcome=None,
        outcome_detail=None,
        now=now,
    )
    assert store.due_watches(now + timedelta(seconds=59)) == []
    assert store.due_watches(now + timedelta(seconds=60)) == [watch_id]
