"""Store tests, run on a SQLite file and on PostgreSQL, including races between threads and processes."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from bot.store import UNAVAILABLE_MESSAGE, IdOutcome, NewSubscription, ResendRequest, StoreError
from bot.store.database import Store
from bot.store.migrations import MIGRATIONS
from tests.support.db_urls import PG_URL, postgres_schema
from tests.support.race import race
from tests.support.subscriptions import new_subscription

WORKER = Path(__file__).resolve().parents[1] / "support" / "store_race_worker.py"
REPO_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 3, 14, 9, 30, 0, 123456, tzinfo=UTC)
DAY = date(2025, 3, 14)
LEASE = timedelta(minutes=10)
TTL = timedelta(minutes=10)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL for an empty PostgreSQL schema."""
    with postgres_schema() as url:
        yield url


def _kill_running(procs: list[subprocess.Popen[str]]) -> None:
    """Kill any worker still running."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()


def _race_processes(url: str, argv_for: Callable[[int], list[str]], n: int = 4) -> list[Any]:
    """Start ``n`` worker processes, release them together once all are ready, return their results."""
    with ExitStack() as stack:
        procs = [
            stack.enter_context(
                subprocess.Popen(
                    [sys.executable, str(WORKER), url, *argv_for(i)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    cwd=REPO_ROOT,
                )
            )
            for i in range(n)
        ]
        # Runs before the Popen exits (which close the pipes and wait), so a failed test leaves nothing behind.
        stack.callback(_kill_running, procs)
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line == "ready\n", proc.communicate(timeout=30)
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1])["result"])
        return results


def _subscription(**overrides: Any) -> NewSubscription:
    """A valid NewSubscription with the given fields changed."""
    return new_subscription(T0, **overrides)


def _request(**overrides: Any) -> ResendRequest:
    """A valid ResendRequest with the given fields changed."""
    fields: dict[str, Any] = {
        "requested_at": T0,
        "team_id": "T1",
        "user_id": "U1",
        "account_key": "A00001",
        "kind": "email",
        "ids": ("e1", "e2"),
        "track_id": "track-1",
        "dedup_key": "dedup-1",
    }
    fields.update(overrides)
    return ResendRequest(**fields)


# --- migrations ---


def test_store_migrations_are_versioned_and_idempotent(db_url: str) -> None:
    first = Store.from_url(db_url)
    second = Store.from_url(db_url)
    try:
        expected = [m.version for m in MIGRATIONS]
        assert first.schema_versions() == expected
        assert second.migrate() == expected[-1]
        assert first.migrate() == expected[-1]
        assert second.schema_versions() == expected
        assert first.count_resends() == 0
    finally:
        first.close()
        second.close()


@pytest.mark.slow
def test_store_migrations_race_from_four_processes(db_url: str) -> None:
    results = _race_processes(db_url, lambda i: ["migrate"])

    expected = [m.version for m in MIGRATIONS]
    assert results == [expected] * 4


def test_store_sqlite_file_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    s = Store.from_url(f"sqlite:///{path}")
    s.close()

    with sqlite3.connect(path) as raw:
        mode = raw.execute("PRAGMA journal_mode").fetchone()[0]
    raw.close()
    assert mode == "wal"


@pytest.mark.postgres
def test_store_from_url_uses_psycopg_for_plain_postgresql_url(pg_url: str) -> None:
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    assert plain != pg_url

    s = Store.from_url(plain)
    try:
        assert s.count_resends() == 0
    finally:
        s.close()


def test_store_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        Store.from_url("sqlite://")


# --- click claims ---


def test_store_claim_click_has_one_winner_among_16_threads(store: Store) -> None:
    for key in ("k0", "k1", "k2"):

        def claim(_: int, key: str = key) -> bool:
            return store.claim_click(key, now=T0, ttl=TTL)

        assert race(16, claim).count(True) == 1


@pytest.mark.slow
def test_store_claim_click_has_one_winner_among_4_processes(store: Store, db_url: str) -> None:
    results = _race_processes(db_url, lambda i: ["click", "proc-key", T0.isoformat()])

    assert sorted(results) == [False, False, False, True]
    assert store.claim_click("proc-key", now=T0, ttl=TTL) is False


def test_store_claim_click_expired_key_can_be_claimed_again(store: Store) -> None:
    assert store.claim_click("k", now=T0, ttl=TTL) is True
    assert store.claim_click("k", now=T0 + TTL - timedelta(microseconds=1), ttl=TTL) is False
    assert store.claim_click("k", now=T0 + TTL, ttl=TTL) is True
    assert store.claim_click("k", now=T0 + TTL + timedelta(minutes=1), ttl=TTL) is False


def test_store_claim_click_expired_key_has_one_winner_among_threads(store: Store) -> None:
    assert store.claim_click("k", now=T0, ttl=TTL) is True
    later = T0 + 2 * TTL

    results = race(16, lambda i: store.claim_click("k", now=later, ttl=TTL))

    assert results.count(True) == 1


def test_store_purge_expired_clicks_deletes_only_expired(store: Store) -> None:
    store.claim_click("old", now=T0, ttl=timedelta(minutes=1))
    store.claim_click("new", now=T0, ttl=timedelta(hours=1))

    assert store.purge_expired_clicks(T0 + timedelta(minutes=5)) == 1
    assert store.claim_click("new", now=T0 + timedelta(minutes=5), ttl=TTL) is False
    assert store.purge_expired_clicks(T0 + timedelta(minutes=5)) == 0


def test_store_claim_click_refuses_naive_time(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.claim_click("k", now=datetime(2025, 1, 1), ttl=TTL)


def test_store_claim_click_accepts_255_char_key(store: Store) -> None:
    key = "x" * 255
    assert store.claim_click(key, now=T0, ttl=TTL) is True
    assert store.claim_click(key, now=T0, ttl=TTL) is False
    with pytest.raises(ValueError):
        store.claim_click(key + "x", now=T0, ttl=TTL)


# --- digest runs ---


def test_store_claim_digest_run_has_one_winner_among_16_threads(store: Store) -> None:
    sub = store.add_subscription(_subscription())

    results = race(
        16, lambda i: store.claim_digest_run(sub.id, DAY, owner=f"t{i}", now=T0, lease=LEASE)
    )

    assert results.count(True) == 1
    [run] = store.list_digest_runs(sub.id)
    assert run.status == "claimed"
    assert run.claimed_by == f"t{results.index(True)}"


@pytest.mark.slow
def test_store_claim_digest_run_has_one_winner_among_4_processes(store: Store, db_url: str) -> None:
    sub = store.add_subscription(_subscription())

    results = _race_processes(
        db_url,
        lambda i: ["digest", str(sub.id), DAY.isoformat(), T0.isoformat(), f"proc-{i}"],
    )

    assert sorted(results) == [False, False, False, True]
    [run] = store.list_digest_runs(sub.id)
    assert run.claimed_by == f"proc-{results.index(True)}"


def test_store_stale_digest_claim_is_reclaimed_only_after_lease(store: Store) -> None:
    sub = store.add_subscription(_subscription())
    assert store.claim_digest_run(sub.id, DAY, owner="host-a:1", now=T0, lease=LEASE)

    # host-a dies mid-run; host-b restarts and retries on each tick.
    assert not store.claim_digest_run(sub.id, DAY, owner="host-b:2", now=T0 + LEASE, lease=LEASE)
    later = T0 + LEASE + timedelta(seconds=1)
    assert store.claim_digest_run(sub.id, DAY, owner="host-b:2", now=later, lease=LEASE)
    assert not store.claim_digest_run(sub.id, DAY, owner="host-c:3", now=later, lease=LEASE)

    [run] = store.list_digest_runs(sub.id)
    assert (run.status, run.claimed_by, run.claimed_at) == ("claimed", "host-b:2", later)


def test_store_stale_digest_claim_has_one_winner_among_threads(store: Store) -> None:
    sub = store.add_subscription(_subscription())
    store.claim_digest_run(sub.id, DAY, owner="dead", now=T0, lease=LEASE)
    later = T0 + 2 * LEASE

    results = race(
        16, lambda i: store.claim_digest_run(sub.id, DAY, owner=f"t{i}", now=later, lease=LEASE)
    )

    assert results.count(True) == 1


@pytest.mark.parametrize("final", ["posted", "skipped"])
def test_store_finished_digest_run_is_never_reclaimed(store: Store, final: str) -> None:
    sub = store.add_subscription(_subscription())
    store.claim_digest_run(sub.id, DAY, owner="a", now=T0, lease=LEASE)
    done = T0 + timedelta(seconds=5)
    store.finish_digest_run(sub.id, DAY, status=final, now=done, message_ts="1.2", detail="ok")  # type: ignore[arg-type]

    much_later = T0 + timedelta(days=3)
    assert not store.claim_digest_run(sub.id, DAY, owner="b", now=much_later, lease=LEASE)
    [run] = store.list_digest_runs(sub.id)
    assert (run.status, run.claimed_by, run.finished_at) == (final, "a", done)
    assert (run.message_ts, run.detail) == ("1.2", "ok")


def test_store_failed_digest_run_is_reclaimed_on_next_tick(store: Store) -> None:
    sub = store.add_subscription(_subscription())
    store.claim_digest_run(sub.id, DAY, owner="a", now=T0, lease=LEASE)
    store.finish_digest_run(sub.id, DAY, status="failed", now=T0, detail="slack 500")

    next_tick = T0 + timedelta(minutes=1)
    assert store.claim_digest_run(sub.id, DAY, owner="b", now=next_tick, lease=LEASE)
    [run] = store.list_digest_runs(sub.id)
    assert (run.status, run.claimed_by, run.detail, run.finished_at) == (
        "claimed",
        "b",
        None,
        None,
    )


def test_store_digest_runs_are_per_day(store: Store) -> None:
    sub = store.add_subscription(_subscription())
    next_day = DAY + timedelta(days=1)

    assert store.claim_digest_run(sub.id, DAY, owner="a", now=T0, lease=LEASE)
    assert store.claim_digest_run(sub.id, next_day, owner="a", now=T0, lease=LEASE)
    assert [r.local_date for r in store.list_digest_runs(sub.id)] == [DAY, next_day]


def test_store_finish_leaves_a_run_that_is_not_claimed(store: Store) -> None:
    sub = store.add_subscription(_subscription())
    store.claim_digest_run(sub.id, DAY, owner="a", now=T0, lease=LEASE)
    store.finish_digest_run(sub.id, DAY, status="posted", now=T0, message_ts="1.1")

    store.finish_digest_run(sub.id, DAY, status="failed", now=T0, detail="late")

    [run] = store.list_digest_runs(sub.id)
    assert (run.status, run.message_ts, run.detail) == ("posted", "1.1", None)


def test_store_digest_run_requires_existing_subscription(store: Store) -> None:
    with pytest.raises(sa_exc.IntegrityError):
        store.claim_digest_run(9999, DAY, owner="a", now=T0, lease=LEASE)


# --- resend audit ---


def test_store_resend_audit_success_round_trip(store: Store) -> None:
    requested = datetime(2025, 3, 14, 5, 30, tzinfo=ZoneInfo("America/New_York"))
    audit_id = store.record_resend_requested(_request(requested_at=requested))

    [entry] = store.list_resends()
    assert (entry.id, entry.status, entry.outcome, entry.finished_at) == (
        audit_id,
        "requested",
        {},
        None,
    )
    assert entry.requested_at == requested
    assert entry.requested_at.tzinfo is UTC

    finished = T0 + timedelta(seconds=2)
    outcome = {"e1": IdOutcome(ok=True), "e2": IdOutcome(ok=True)}
    store.record_resend_outcome(
        audit_id, status="succeeded", outcome=outcome, error=None, now=finished
    )
    store.set_audit_message(audit_id, "C-AUDIT", "1700000000.000100")

    [entry] = store.list_resends()
    assert entry.status == "succeeded"
    assert entry.outcome == outcome
    assert entry.finished_at == finished and entry.finished_at.tzinfo is UTC
    assert (entry.audit_channel, entry.audit_ts) == ("C-AUDIT", "1700000000.000100")
    assert (entry.team_id, entry.user_id, entry.account_key, entry.kind) == (
        "T1",
        "U1",
        "A00001",
        "email",
    )
    assert (entry.ids, entry.track_id, entry.dedup_key, entry.error) == (
        ("e1", "e2"),
        "track-1",
        "dedup-1",
        None,
    )


def test_store_resend_audit_partial_and_error_outcomes(store: Store) -> None:
    partial_id = store.record_resend_requested(_request(kind="callout", ids=("c1", "c2")))
    error_id = store.record_resend_requested(_request(requested_at=T0 + timedelta(seconds=1)))
    partial = {
        "c1": IdOutcome(ok=True),
        "c2": IdOutcome(ok=False, code="NOT_FOUND", message="Callout c2 not found"),
    }

    store.record_resend_outcome(partial_id, status="partial", outcome=partial, error=None, now=T0)
    store.record_resend_outcome(
        error_id, status="error", outcome={}, error="Zuora timed out", now=T0
    )

    by_id = {e.id: e for e in store.list_resends()}
    assert (by_id[partial_id].status, by_id[partial_id].kind) == ("partial", "callout")
    assert by_id[partial_id].outcome == partial
    assert (by_id[error_id].status, by_id[error_id].error) == ("error", "Zuora timed out")
    assert by_id[error_id].outcome == {}


def test_store_list_resends_newest_first_with_filter_and_paging(store: Store) -> None:
    ids = [
        store.record_resend_requested(
            _request(
                requested_at=T0 + timedelta(minutes=i),
                account_key="A1" if i % 2 == 0 else "A2",
                dedup_key=f"d{i}",
            )
        )
        for i in range(7)
    ]
    no_account = store.record_resend_requested(
        _request(requested_at=T0 - timedelta(minutes=1), account_key=None)
    )

    assert [e.id for e in store.list_resends(limit=100)] == ids[::-1] + [no_account]
    a1 = [ids[6], ids[4], ids[2], ids[0]]
    assert [e.id for e in store.list_resends(account_key="A1", limit=2)] == a1[:2]
    assert [e.id for e in store.list_resends(account_key="A1", limit=2, offset=2)] == a1[2:]
    assert store.list_resends(account_key="A1", limit=2, offset=4) == []
    assert store.count_resends() == 8
    assert store.count_resends("A1") == 4
    assert store.count_resends("nope") == 0


def test_store_resend_audit_refuses_unknown_status(store: Store) -> None:
    audit_id = store.record_resend_requested(_request())
    with pytest.raises(ValueError):
        store.record_resend_outcome(audit_id, status="done", outcome={}, error=None, now=T0)  # type: ignore[arg-type]


# --- subscriptions ---


def test_store_subscriptions_add_list_remove_scoped_by_team(store: Store) -> None:
    a = store.add_subscription(_subscription(accounts=("A1", "A2"), kind="callouts", quiet=True))
    b = store.add_subscription(_subscription(channel_id="C2", hour=23, minute=59))
    other = store.add_subscription(_subscription(team_id="T2"))

    assert a.accounts == ("A1", "A2") and a.kind == "callouts" and a.quiet and a.active
    assert a.created_at == T0 and a.created_at.tzinfo is UTC
    assert (b.hour, b.minute, b.timezone, b.accounts, b.kind) == (23, 59, "Europe/Paris", (), "all")
    assert store.list_subscriptions(team_id="T1") == [a, b]
    assert store.list_subscriptions(team_id="T1", channel_id="C2") == [b]
    assert store.list_subscriptions() == [a, b, other]

    assert store.remove_subscription(a.id, team_id="T2") is False
    assert store.list_subscriptions(team_id="T1") == [a, b]
    assert store.remove_subscription(a.id, team_id="T1") is True
    assert store.remove_subscription(a.id, team_id="T1") is False
    assert store.list_subscriptions(team_id="T1") == [b]

    removed = store.get_subscription(a.id)
    assert removed is not None and removed.active is False and removed.id == a.id
    assert store.get_subscription(b.id) == b
    assert store.get_subscription(9999) is None


@pytest.mark.parametrize(
    "overrides",
    [{"hour": 24}, {"minute": -1}, {"timezone": "Mars/Olympus"}, {"kind": "sms"}],
)
def test_store_new_subscription_refuses_bad_values(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _subscription(**overrides)


# --- failures ---


@pytest.mark.postgres
def test_store_reconnects_after_connection_is_killed(pg_url: str) -> None:
    s = Store.from_url(pg_url)
    try:
        assert s.count_resends() == 0  # leaves a pooled connection
        app_name = sa.make_url(pg_url).query["application_name"]
        admin = sa.create_engine(PG_URL, poolclass=NullPool)
        try:
            with admin.begin() as conn:
                killed = conn.execute(
                    sa.text(
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                        "FROM pg_stat_activity WHERE application_name = :name"
                    ),
                    {"name": app_name},
                ).scalar_one()
        finally:
            admin.dispose()
        assert killed >= 1

        s.record_resend_requested(_request())
        assert s.count_resends() == 1
    finally:
        s.close()


@pytest.mark.postgres
def test_store_unreachable_postgres_raises_friendly_error_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "postgresql+psycopg://zops:s3cr3t-pw@127.0.0.1:1/zops?connect_timeout=2"
    caplog.set_level(logging.DEBUG)

    with pytest.raises(StoreError) as info:
        Store.from_url(url)

    assert str(info.value) == UNAVAILABLE_MESSAGE
    assert "s3cr3t" not in repr(info.value)
    assert "s3cr3t" not in caplog.text
    assert "zops:***@127.0.0.1:1" in caplog.text
    assert isinstance(info.value.__cause__, sa_exc.OperationalError)


def test_store_describe_masks_password(tmp_path: Path) -> None:
    s = Store(sa.create_engine("postgresql+psycopg://zops:s3cr3t-pw@127.0.0.1:1/zops"))

    assert s.describe() == "postgresql+psycopg://zops:***@127.0.0.1:1/zops"
    assert "s3cr3t" not in repr(s)
    s.close()


def test_store_unopenable_sqlite_raises_friendly_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"

    with pytest.raises(StoreError, match="unavailable right now; nothing was changed"):
        Store.from_url(url)


# --- digest run leases, heartbeats and the 'posting' state (migration 2) ---


def test_store_migration_2_keeps_version_1_digest_runs(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.store.migrations as store_module

    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:1])
    old = Store.from_url(db_url)
    try:
        sub = old.add_subscription(_subscription())
        assert old.schema_versions() == [1]
    finally:
        old.close()
    # A run claimed by the previous release: only version 1's columns.
    engine = sa.create_engine(db_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO digest_runs (subscription_id, local_date, status, claimed_at,"
                    " claimed_by) VALUES (:sub, :day, 'claimed', :at, 'v1')"
                ),
                {
                    "sub": sub.id,
                    "day": DAY,
                    "at": T0.replace(tzinfo=None) if "sqlite" in db_url else T0,
                },
            )
    finally:
        engine.dispose()
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)

    new = Store.from_url(db_url)
    try:
        assert new.schema_versions() == [m.version for m in MIGRATIONS]
        [run] = new.list_digest_runs(sub.id)
        assert (run.status, run.claimed_by, run.claimed_at) == ("claimed", "v1", T0)
        assert (run.heartbeat_at, run.posting_at) == (None, None)
        # The v1 row's lease still runs from claimed_at, and the new statuses are accepted.
        assert not new.claim_digest_run(sub.id, DAY, owner="v2", now=T0 + LEASE, lease=LEASE)
        later = T0 + LEASE + timedelta(seconds=1)
        assert new.claim_digest_run(sub.id, DAY, owner="v2", now=later, lease=LEASE)
        assert new.mark_digest_posting(sub.id, DAY, owner="v2", now=later)
        assert new.finish_digest_run(sub.id, DAY, status="unconfirmed", now=later, owner="v2")
        [run] = new.list_digest_runs(sub.id)
        assert run.status == "unconfirmed"
    finally:
        new.close()


def test_store_heartbeat_keeps_a_slow_run_from_being_reclaimed(store: Store) -> None:
    sub = store.add_subscription(_subscription())
    assert store.claim_digest_run(sub.id, DAY, owner="slow", now=T0, lease=LEASE)

    # The slow holder beats every few minutes; long after the first lease, nobody can take over.
    for minutes in (4, 8, 12, 16, 20):
        beat = T0 + timedelta(minutes=minutes)
        assert store.renew_digest_runs([(sub.id, DAY)], owner="slow", now=beat) == {(sub.id, DAY)}
        assert not store.claim_digest_run(sub.id, DAY, owner="other", now=beat, lease=LEASE)
    # Once it stops beating (it died), the lease runs out from the last heartbeat.
    last = T0 + timedelta(minutes=20)
    assert not store.claim_digest_run(sub.id, DAY, owner="other", now=last + LEASE, lease=LEASE)
    taken = last + LEASE + timedelta(seconds=1)
    assert store.claim_digest_run(sub.id, DAY, owner="other", now=taken, lease=LEASE)
    # The old holder's next beat tells it that it lost the run.
    assert store.renew_digest_runs([(sub.id, DAY)], owner="slow", now=taken) == set()
    assert not store.mark_digest_posting(sub.id, DAY, owner="slow", now=taken)
    assert not store.finish_digest_run(sub.id, DAY, status="posted", now=taken, owner="slow")
    [run] = store.list_digest_runs(sub.id)
    assert (run.status, run.claimed_by, run.heartbeat_at) == ("claimed", "other", taken)


def test_store_run_taken_over_while_posting_stays_posting(store: Store) -> None:
    sub = store.add_subscription(_subscription())
    store.claim_digest_run(sub.id, DAY, owner="a", now=T0, lease=LEASE)
    posting = T0 + timedelta(minutes=1)
    assert store.mark_digest_posting(sub.id, DAY, owner="a", now=posting)

    # 'a' dies during chat.postMessage: the run still says 'posting' for whoever takes it over.
    later = posting + LEASE + timedelta(seconds=1)
    assert store.claim_digest_run(sub.id, DAY, owner="b", now=later, lease=LEASE)
    run = store.get_digest_run(sub.id, DAY)
    assert run is not None
    assert (run.status, run.claimed_by, run.posting_at) == ("posting", "b", posting)
    # Posting again keeps the first attempt's time, where a later Slack check must look from.
    assert store.mark_digest_posting(sub.id, DAY, owner="b", now=later)
    assert store.finish_digest_run(
        sub.id, DAY, status="posted", now=later, message_ts="1.5", owner="b"
    )
    run = store.get_digest_run(sub.id, DAY)
    assert run is not None
    assert (run.status, run.message_ts, run.posting_at) == ("posted", "1.5", posting)
    assert store.get_digest_run(sub.id, DAY + timedelta(days=1)) is None


def test_store_failed_run_reclaimed_is_claimed_not_posting(store: Store) -> None:
    sub = store.add_subscription(_subscription())
    store.claim_digest_run(sub.id, DAY, owner="a", now=T0, lease=LEASE)
    store.mark_digest_posting(sub.id, DAY, owner="a", now=T0)
    store.finish_digest_run(sub.id, DAY, status="failed", now=T0, detail="channel_not_found")

    assert store.claim_digest_run(sub.id, DAY, owner="b", now=T0, lease=LEASE)
    run = store.get_digest_run(sub.id, DAY)
    assert run is not None
    assert (run.status, run.posting_at, run.detail) == ("claimed", None, None)
