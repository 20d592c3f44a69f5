"""account_watches on SQLite and PostgreSQL: add once, remove by number, the due order, the DM claim."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.store.database import Store
from tests.support.race import race

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ACCOUNT = "2c92c0f87a3b4e21017a3c5d6e7f8091"


def _add(store: Store, user_id: str = "U1", account_id: str = ACCOUNT, number: str = "A00000001"):
    return store.add_watch(
        team_id="T1",
        user_id=user_id,
        account_id=account_id,
        account_number=number,
        account_name="Acme",
        now=T0,
        last_failure_at=None,
        recent_failures=None,
    )


def test_add_watch_is_idempotent_and_starts_new_at_now(store: Store) -> None:
    first, created = _add(store)
    again, created_again = _add(store)
    assert (created, created_again) == (True, False)
    assert first == again and first.last_seen_failure_at == T0
    assert len(store.list_watches()) == 1


def test_remove_watch_by_number_in_any_case_only_for_that_user(store: Store) -> None:
    _add(store, "U1")
    _add(store, "U2")
    assert store.remove_watch(team_id="T1", user_id="U1", account_key="a00000001") is not None
    assert store.remove_watch(team_id="T1", user_id="U1", account_key="A00000001") is None
    assert [w.user_id for w in store.list_watches()] == ["U2"]


def test_watched_accounts_due_least_recently_checked_first(store: Store) -> None:
    other = "8a8082c45f3e4c2b9d0e1f2a3b4c5d6e"
    _add(store, account_id=ACCOUNT)
    _add(store, account_id=other, number="A2")
    store.record_watch_check(ACCOUNT, now=T0 + timedelta(minutes=5), recent_failures=3)
    assert store.watched_accounts_due(1) == [other]
    store.record_watch_check(other, now=T0 + timedelta(minutes=10), recent_failures=0)
    assert store.watched_accounts_due(2) == [ACCOUNT, other]
    assert store.list_watches(account_ids=[ACCOUNT])[0].recent_failures == 3


def test_claim_watch_notice_needs_a_newer_failure_and_an_hour(store: Store) -> None:
    watch, _ = _add(store)
    gap = timedelta(hours=1)
    failure = T0 + timedelta(minutes=1)
    claim = store.claim_watch_notice
    assert not claim(watch.id, failure_at=T0, now=T0 + timedelta(minutes=2), gap=gap)  # not newer
    assert claim(watch.id, failure_at=failure, now=T0 + timedelta(minutes=2), gap=gap)
    assert not claim(watch.id, failure_at=failure, now=T0 + timedelta(hours=2), gap=gap)  # seen
    later = T0 + timedelta(minutes=30)
    assert not claim(watch.id, failure_at=later, now=T0 + timedelta(minutes=61), gap=gap)  # hour
    assert claim(watch.id, failure_at=later, now=T0 + timedelta(minutes=62), gap=gap)
    (stored,) = store.list_watches()
    assert (stored.last_notified_at, stored.last_seen_failure_at) == (
        T0 + timedelta(minutes=62),
        later,
    )


def test_racing_claims_have_one_winner(store: Store) -> None:
    watch, _ = _add(store)
    failure = T0 + timedelta(minutes=1)
    won = race(
        8,
        lambda _: store.claim_watch_notice(
            watch.id, failure_at=failure, now=T0 + timedelta(minutes=2), gap=timedelta(hours=1)
        ),
    )
    assert won.count(True) == 1
