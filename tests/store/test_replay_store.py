"""The outage_replays store on SQLite and PostgreSQL: one winner per (cause, window) however many
threads claim at once, chunks counted once and only by the lease holder, stop and resume, re-drive."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from bot.store import ChunkResult, IdOutcome, ReplayRequest, ResendRequest
from bot.store.database import Store
from tests.support.replay_requests import replay_request

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
IDS = tuple(f"{i:032x}" for i in range(2500))


def request(key: str = "replay:abcdefghij:1:2", ids: tuple[str, ...] = IDS) -> ReplayRequest:
    return replay_request(T0, ids, key=key, accounts=12)


def chunk_request(index: int, ids: tuple[str, ...]) -> ResendRequest:
    return ResendRequest(
        requested_at=T0,
        team_id="T1",
        user_id="U1",
        account_key=None,
        kind="callout",
        ids=ids,
        track_id="track",
        dedup_key=f"replay:abcdefghij:1:2:chunk-{index}:attempt-1",
    )


def test_replay_store_claim_has_one_winner_among_racing_threads(store: Store) -> None:
    barrier = threading.Barrier(8)
    won: list[bool] = []
    lock = threading.Lock()

    def claim(i: int) -> None:
        barrier.wait()
        result = store.claim_replay(request(), owner=f"w{i}", lease=LEASE, reply_url=None)
        with lock:
            won.append(result.won)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(won) == [False] * 7 + [True]
    replay = store.replay("replay:abcdefghij:1:2")
    assert replay is not None and replay.total == 2500 and replay.chunk_count == 3
    assert replay.chunk(2) == IDS[2000:]


def test_replay_store_counts_each_chunk_once_and_only_for_the_holder(store: Store) -> None:
    claim = store.claim_replay(request(), owner="w1", lease=LEASE, reply_url="https://r")
    replay = claim.replay
    assert (
        store.begin_replay_chunk(
            replay.id, owner="w2", index=0, request=chunk_request(0, replay.chunk(0))
        )
        is None
    )
    audit = store.begin_replay_chunk(
        replay.id, owner="w1", index=0, request=chunk_request(0, replay.chunk(0))
    )
    assert audit is not None and audit.status == "requested" and len(audit.ids) == 1000
    again = store.begin_replay_chunk(
        replay.id, owner="w1", index=0, request=chunk_request(0, replay.chunk(0))
    )
    assert again is not None and again.id == audit.id  # a re-driver reuses the chunk's audit row
    outcome = {i: IdOutcome(ok=True) for i in replay.chunk(0)[:998]}
    outcome[replay.chunk(0)[998]] = IdOutcome(ok=False, code="ObjectNotFound", message="gone")
    outcome[replay.chunk(0)[999]] = IdOutcome(ok=False, code="ObjectNotFound", message="gone")
    counts = ChunkResult(sent=998, refused={"ObjectNotFound\tgone": 2})
    args = dict(
        index=0, audit_id=audit.id, status="partial", outcome=outcome, counts=counts, now=T0
    )
    assert not store.finish_replay_chunk(replay.id, owner="w2", **args)
    assert store.finish_replay_chunk(replay.id, owner="w1", **args)
    assert not store.finish_replay_chunk(replay.id, owner="w1", **args)  # counted once
    after = store.replay(replay.replay_key)
    assert after is not None
    assert (after.chunks_done, after.sent, dict(after.refused)) == (
        1,
        998,
        {"ObjectNotFound\tgone": 2},
    )
    assert store.replayed_ids("replay:abcdefghij:") == set(replay.chunk(0)[:998])
    rows = store.list_resends(limit=5)
    assert [(r.status, len(r.ids)) for r in rows] == [("partial", 1000)]


def test_replay_store_stop_then_resume_keeps_ids_and_progress(store: Store) -> None:
    replay = store.claim_replay(request(), owner="w1", lease=LEASE, reply_url=None).replay
    assert store.stop_replay(
        replay.id, owner="w1", audit_id=None, error="down", new_key=True, now=T0
    )
    stopped = store.replay(replay.replay_key)
    assert stopped is not None and (stopped.state, stopped.chunk_attempt) == ("stopped", 2)
    resumed = store.claim_replay(request(ids=IDS[:10]), owner="w2", lease=LEASE, reply_url=None)
    assert resumed.won and resumed.resumed and resumed.replay.ids == IDS
    assert resumed.replay.state == "running" and resumed.replay.lease_owner == "w2"
    second = store.claim_replay(request(), owner="w3", lease=LEASE, reply_url=None)
    assert not second.won


def test_replay_store_stale_replay_is_taken_by_one_redriver(store: Store) -> None:
    replay = store.claim_replay(request(), owner="dead", lease=LEASE, reply_url=None).replay
    assert store.stale_replays(T0) == []
    later = T0 + LEASE + timedelta(seconds=1)
    assert [r.id for r in store.stale_replays(later)] == [replay.id]
    assert store.take_stale_replay(replay.id, owner="r1", now=later, lease=LEASE)
    assert not store.take_stale_replay(replay.id, owner="r2", now=later, lease=LEASE)
    assert not store.renew_replay_lease(replay.id, owner="dead", until=later + LEASE)
    assert store.finish_replay(replay.id, owner="r1", now=later)
    done = store.replay(replay.replay_key)
    assert done is not None and done.state == "done" and done.finished_at == later
