"""Finishing a resend job, its audit row or a replay chunk is a compare-and-set on the lease owner
and the state: a slow worker whose lease the clock took over never overwrites what the clock
recorded. On SQLite and PostgreSQL, through the store and through a real resend against the
sandbox Zuora; plus migration 7 (the 'waiting' audit status) over rows an older release wrote.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from bot.deps import build_deps
from bot.failures.results import ResendOutcome
from bot.resend.service import ResendClick, perform_resend
from bot.sandbox.stack import SandboxStack
from bot.sandbox.tenant import build_tenant
from bot.store import ChunkResult, IdOutcome, ReplayRequest, ResendRequest
from bot.store.database import Store
from bot.store.migrations import MIGRATIONS
from tests.support.replay_requests import replay_request as build_replay_request
from tests.support.resend_clicks import failed_email_click

T0 = datetime(2026, 12, 2, 10, 2, tzinfo=UTC)
LEASE = timedelta(seconds=30)
HISTORY_ID = "2c92c0f87a3b4e21017a3c5d6e7f8091"


def resend_request(key: str, *, at: datetime = T0) -> ResendRequest:
    return ResendRequest(
        requested_at=at,
        team_id="T0001",
        user_id="U0001",
        account_key="A00000001",
        kind="email",
        ids=(HISTORY_ID,),
        track_id="zops-test",
        dedup_key=key,
    )


def test_lease_owner_finish_of_a_resend_job_is_refused_after_a_takeover(store: Store) -> None:
    job = store.claim_resend(
        resend_request("k-cas"), owner="w1", lease=LEASE, reply_url=None, context="{}"
    ).job
    later = T0 + 2 * LEASE
    assert store.take_stale_resend(job.id, owner="clock", now=later, lease=LEASE)
    sent = {HISTORY_ID: IdOutcome(ok=True)}
    assert store.finish_resend(
        job.id, owner="clock", status="succeeded", outcome=sent, error=None, now=later
    )

    # The slow first worker comes back with its (timed out) view of the same request.
    lost = {HISTORY_ID: IdOutcome(ok=False, code="error", message="timeout")}
    assert not store.finish_resend(
        job.id, owner="w1", status="error", outcome=lost, error="timeout", now=later
    )
    assert not store.wait_resend(
        job.id, owner="w1", error="timeout", retry_at=later + LEASE, now=later
    )
    assert not store.advance_resend(job.id, owner="w1", state="done", now=later)
    assert not store.finish_resend(
        job.id, owner="clock", status="failed", outcome=lost, error=None, now=later
    ), "an answered job is not answered twice (state compare-and-set)"

    current = store.resend_job("k-cas")
    assert current is not None and current.state == "answered"
    assert current.audit.status == "succeeded" and current.audit.outcome == sent
    assert current.audit.error is None
    assert store.advance_resend(job.id, owner="clock", state="done", now=later)
    assert not store.advance_resend(job.id, owner="clock", state="answered", now=later)


def test_lease_owner_waiting_job_is_handed_to_the_clock_with_its_key(store: Store) -> None:
    job = store.claim_resend(
        resend_request("k-wait"), owner="w1", lease=LEASE, reply_url=None, context="{}"
    ).job
    retry_at = T0 + timedelta(seconds=10)

    assert store.wait_resend(job.id, owner="w1", error="no answer", retry_at=retry_at, now=T0)

    waiting = store.resend_job("k-wait")
    assert waiting is not None and waiting.state == "claimed" and waiting.attempt == 1
    assert waiting.lease_owner is None and waiting.lease_until == retry_at
    assert waiting.audit.status == "waiting" and waiting.audit.finished_at is None
    assert store.stale_resends(retry_at - timedelta(seconds=1)) == []
    assert [j.id for j in store.stale_resends(retry_at)] == [job.id]
    again = store.claim_resend(
        resend_request("k-wait", at=T0 + timedelta(seconds=5)),
        owner="w2",
        lease=LEASE,
        reply_url=None,
        context="{}",
    )
    assert not again.won and again.job.attempt == 1, "a click while waiting gets no new key"
    assert not store.renew_resend_lease(job.id, owner="w1", until=T0 + LEASE)


def replay_request(ids: tuple[str, ...]) -> ReplayRequest:
    return build_replay_request(T0, ids, accounts=3, chunk_size=2)


def chunk_request(ids: tuple[str, ...]) -> ResendRequest:
    return ResendRequest(
        requested_at=T0,
        team_id="T1",
        user_id="U1",
        account_key=None,
        kind="callout",
        ids=ids,
        track_id="track",
        dedup_key="replay:abcdefghij:1:2:chunk-0:attempt-1",
    )


def test_lease_owner_replay_chunk_finish_is_refused_after_a_takeover(store: Store) -> None:
    ids = tuple(f"{i:032x}" for i in range(4))
    replay = store.claim_replay(replay_request(ids), owner="w1", lease=LEASE, reply_url=None).replay
    audit = store.begin_replay_chunk(replay.id, owner="w1", index=0, request=chunk_request(ids[:2]))
    assert audit is not None
    later = T0 + 2 * LEASE
    assert store.take_stale_replay(replay.id, owner="clock", now=later, lease=LEASE)
    assert store.wait_replay_chunk(
        replay.id,
        owner="clock",
        index=0,
        audit_id=audit.id,
        error="Zuora did not answer in time.",
        retry_at=later + LEASE,
        now=later,
    )
    sent = {i: IdOutcome(ok=True) for i in ids[:2]}

    # The slow first worker must not count the chunk the clock is waiting on.
    assert not store.finish_replay_chunk(
        replay.id,
        owner="w1",
        index=0,
        audit_id=audit.id,
        status="succeeded",
        outcome=sent,
        counts=ChunkResult(sent=2),
        now=later,
    )
    waiting = store.replay(replay.replay_key)
    assert waiting is not None and waiting.waiting and waiting.chunks_done == 0
    assert waiting.sent == 0 and waiting.state == "running"
    (row,) = store.list_resends()
    assert row.status == "waiting"

    # The clock's next round asks again (same chunk, same attempt) and counts it once.
    again = later + 2 * LEASE
    assert store.take_stale_replay(replay.id, owner="clock-2", now=again, lease=LEASE)
    assert store.finish_replay_chunk(
        replay.id,
        owner="clock-2",
        index=0,
        audit_id=audit.id,
        status="succeeded",
        outcome=sent,
        counts=ChunkResult(sent=2),
        now=again,
    )
    done = store.replay(replay.replay_key)
    assert done is not None and not done.waiting and done.error is None
    assert (done.chunks_done, done.sent, done.chunk_attempt) == (1, 2, 1)
    (row,) = store.list_resends()
    assert row.status == "succeeded"


# -- through a real resend: the slow worker's timeout does not overwrite the clock's answer ------


def the_click(stack: SandboxStack) -> ResendClick:
    return failed_email_click(stack, key="k-slow-worker", track_id="zops-cas-test", labelled=False)


def test_lease_owner_slow_worker_does_not_overwrite_what_the_clock_recorded(
    db_url: str, tmp_path: Path
) -> None:
    tenant = build_tenant(seed=7, now=datetime.now(UTC))
    overrides = {"read_timeout": 2.0, "max_retries": 0}
    with SandboxStack(tmp_path, tenant=tenant, zuora_overrides=overrides) as stack:
        settings = stack.settings()
        settings.store.database_url = db_url
        deps = build_deps(settings)
        try:
            click = the_click(stack)
            (history_id,) = click.ids
            stack.zuora.set_resend_delay(3.0)  # the first worker's answer times out after 2 s
            results: list[Any] = []
            worker = threading.Thread(
                target=lambda: results.append(
                    perform_resend(deps, click, lambda m: None, reply_url=None)
                )
            )
            worker.start()
            deadline = time.monotonic() + 10
            while not stack.zuora.resends_in_flight and time.monotonic() < deadline:
                time.sleep(0.01)
            assert stack.zuora.resends_in_flight == 1
            # Meanwhile the clock takes the job over (as after a lost lease) and records the answer.
            job = deps.store.resend_job(click.dedup_key)
            assert job is not None
            now = datetime.now(UTC) + timedelta(minutes=10)
            assert deps.store.take_stale_resend(job.id, owner="clock", now=now, lease=LEASE)
            sent = {history_id: IdOutcome(ok=True)}
            deps.store.record_resend_outcome(
                job.audit.id, status="succeeded", outcome=sent, error=None, now=now
            )
            assert deps.store.advance_resend(job.id, owner="clock", state="answered", now=now)
            assert deps.store.advance_resend(job.id, owner="clock", state="done", now=now)
            worker.join(15)
            finished = deps.store.resend_job(click.dedup_key)
        finally:
            deps.close()
            stack.zuora.set_resend_delay(0)

        assert len(results) == 1 and isinstance(results[0], ResendOutcome)
        assert finished is not None and finished.state == "done"
        assert finished.audit.status == "succeeded", "the slow worker did not overwrite it"
        assert finished.audit.outcome == sent and finished.audit.error is None


# -- migration 7 ---------------------------------------------------------------------------------


def test_migration_7_allows_waiting_and_keeps_older_rows(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.store.migrations as store_module

    monkeypatch.setattr(store_module, "MIGRATIONS", tuple(m for m in MIGRATIONS if m.version < 7))
    old = Store.from_url(db_url)
    try:
        job = old.claim_resend(
            resend_request("k-old"), owner="w1", lease=LEASE, reply_url="https://x", context="{}"
        ).job
        with pytest.raises(sa.exc.IntegrityError):
            old.record_resend_outcome(job.audit.id, status="waiting", outcome={}, error="x", now=T0)
    finally:
        old.close()
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)

    new = Store.from_url(db_url)
    try:
        assert 7 in new.schema_versions()
        kept = new.resend_job("k-old")
        assert kept is not None and kept.audit.id == job.audit.id and kept.reply_url == "https://x"
        assert kept.audit.requested_at == T0 and kept.audit.ids == (HISTORY_ID,)
        assert new.wait_resend(job.id, owner="w1", error="no answer", retry_at=T0, now=T0)
        waiting = new.resend_job("k-old")
        assert waiting is not None and waiting.audit.status == "waiting"
        assert new.migrate() == max(m.version for m in MIGRATIONS), "running it again is a no-op"
        later = new.claim_resend(
            resend_request("k-new"), owner="w1", lease=LEASE, reply_url=None, context="{}"
        )
        assert later.won and later.job.audit.id > job.audit.id
    finally:
        new.close()
    # resend_jobs still refers to resend_audit: a job for a missing audit row is refused.
    engine = sa.create_engine(db_url, poolclass=NullPool)
    try:
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", lambda c, _r: c.execute("PRAGMA foreign_keys = ON"))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO resend_jobs (dedup_key, attempt, audit_id, state, context,"
                    " updated_at) VALUES ('k-x', 1, 99999, 'claimed', '{}', :at)"
                ),
                {"at": T0.replace(tzinfo=None)},
            )
    finally:
        engine.dispose()
