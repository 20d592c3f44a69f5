"""Resends as durable work: one claim per click across racing workers, a new attempt (and key) only
after a recorded failure, leases that run out, and the re-driver finishing what a dead worker left.

Store tests run on SQLite and PostgreSQL; the re-driver runs against the sandbox Zuora and fake Slack
over 127.0.0.1 with the real Deps.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.deps import build_deps
from bot.failures.results import ResendOutcome
from bot.resend.redrive import redrive_stale_resends
from bot.resend.service import (
    AlreadyStarted,
    ResendClick,
    attempt_key,
    encode_context,
    perform_resend,
)
from bot.sandbox.stack import SandboxStack
from bot.sandbox.tenant import build_tenant
from bot.store import IdOutcome, ResendRequest
from bot.store.database import Store
from tests.support.resend_clicks import failed_email_click

T0 = datetime(2026, 12, 2, 10, 2, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def request_for(key: str, *, user: str = "U0001", at: datetime = T0) -> ResendRequest:
    return ResendRequest(
        requested_at=at,
        team_id="T0001",
        user_id=user,
        account_key="A00000001",
        kind="email",
        ids=("2c92c0f87a3b4e21017a3c5d6e7f8091",),
        track_id="zops-test",
        dedup_key=key,
    )


def claim(store: Store, key: str, *, owner: str = "w1", at: datetime = T0, **kw: Any) -> Any:
    return store.claim_resend(
        request_for(key, at=at, **kw), owner=owner, lease=LEASE, reply_url=None, context="{}"
    )


def test_claim_resend_is_won_once_by_racing_workers(store: Store) -> None:
    barrier = threading.Barrier(8)

    def race(i: int) -> bool:
        barrier.wait(timeout=30)
        return bool(claim(store, "k-race", owner=f"w{i}", user=f"U000{i}").won)

    with ThreadPoolExecutor(max_workers=8) as pool:
        wins = list(pool.map(race, range(8)))

    assert wins.count(True) == 1
    assert store.count_resends() == 1, "the losers wrote no audit row"


def test_an_in_flight_job_is_reported_with_who_and_when(store: Store) -> None:
    first = claim(store, "k1", user="U0AAA")
    second = claim(store, "k1", user="U0BBB", at=T0 + timedelta(seconds=5))

    assert first.won and not second.won
    assert second.job.state == "claimed" and second.job.audit.user_id == "U0AAA"
    notice = AlreadyStarted(second.job).message().text
    assert "in progress, started by <@U0AAA>" in notice and "twice" in notice


def test_a_failed_attempt_lets_the_next_click_retry_with_a_new_key(store: Store) -> None:
    first = claim(store, "k2")
    store.record_resend_outcome(
        first.job.audit.id, status="failed", outcome={}, error="Zuora down", now=T0
    )
    store.advance_resend(first.job.id, owner="w1", state="done", now=T0)

    retry = claim(store, "k2", at=T0 + timedelta(minutes=1))

    assert retry.won and retry.job.attempt == 2
    assert attempt_key("k2", 2) != attempt_key("k2", 1) == attempt_key("k2", 1)
    assert store.count_resends() == 2


def test_a_handled_click_stays_handled(store: Store) -> None:
    first = claim(store, "k3")
    store.record_resend_outcome(
        first.job.audit.id, status="partial", outcome={}, error=None, now=T0
    )
    store.advance_resend(first.job.id, owner="w1", state="done", now=T0)

    again = claim(store, "k3", at=T0 + timedelta(days=3))

    assert not again.won and again.job.state == "done" and again.job.attempt == 1
    assert "Already handled" in AlreadyStarted(again.job).message().text


def test_only_expired_leases_are_stale_and_one_taker_wins(store: Store) -> None:
    job = claim(store, "k4").job
    assert store.stale_resends(T0 + LEASE - timedelta(seconds=1)) == []
    assert store.renew_resend_lease(job.id, owner="w1", until=T0 + 2 * LEASE)
    assert store.stale_resends(T0 + LEASE + timedelta(seconds=1)) == []
    later = T0 + 2 * LEASE + timedelta(seconds=1)
    (stale,) = store.stale_resends(later)
    assert stale.id == job.id

    takers = [
        store.take_stale_resend(job.id, owner=f"r{i}", now=later, lease=LEASE) for i in range(3)
    ]

    assert takers == [True, False, False]
    assert not store.renew_resend_lease(job.id, owner="w1", until=later + LEASE), "lease is gone"
    assert not store.advance_resend(job.id, owner="w1", state="done", now=later)


def test_jobs_survive_a_new_store_on_the_same_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    first = Store.from_url(url)
    claim(first, "k5")
    first.close()
    second = Store.from_url(url)
    try:
        job = second.resend_job("k5")
        assert job is not None and job.state == "claimed" and job.lease_owner == "w1"
    finally:
        second.close()


# -- the re-driver against the sandbox -----------------------------------------------------------


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SandboxStack]:
    tenant = build_tenant(seed=7, now=datetime.now(UTC))
    with SandboxStack(tmp_path, tenant=tenant) as running:
        yield running


def click_for(stack: SandboxStack, key: str) -> ResendClick:
    return failed_email_click(stack, key=key, track_id="zops-redrive-test")


def dead_worker_claim(stack: SandboxStack, click: ResendClick, reply_url: str) -> None:
    """What a worker killed while Zuora held its request leaves: a claimed job, lease run out."""
    deps = stack.deps
    assert deps is not None
    past = datetime.now(UTC) - timedelta(minutes=5)
    deps.store.claim_resend(
        ResendRequest(
            requested_at=past,
            team_id=click.team_id,
            user_id=click.user_id,
            account_key=click.account.number if click.account else None,
            kind=click.kind,
            ids=click.ids,
            track_id=click.track_id,
            dedup_key=click.dedup_key,
        ),
        owner="dead-host:4242",
        lease=timedelta(seconds=1),
        reply_url=reply_url,
        context=encode_context(click),
    )


def test_redrive_finishes_a_dead_workers_resend_without_resending(stack: SandboxStack) -> None:
    deps = stack.deps
    assert deps is not None
    click = click_for(stack, "k-dead")
    reply_url = stack.slack.response_url("click")
    dead_worker_claim(stack, click, reply_url)
    # Zuora got (and did) the dead worker's request before the worker died.
    deps.service.resend(
        "email", click.ids, idempotency_key=attempt_key("k-dead", 1), track_id="zops-first"
    )

    assert redrive_stale_resends(deps) == 1
    assert redrive_stale_resends(deps) == 0, "a finished job is not re-driven again"

    (history_id,) = click.ids
    assert stack.zuora.resent(history_id) == 1, "the re-drive was Zuora's replay, not a resend"
    calls = stack.zuora.resend_calls("email")
    assert [c.replayed for c in calls] == [False, True]
    assert len({c.idempotency_key for c in calls}) == 1
    (entry,) = deps.store.list_resends()
    assert entry.status == "succeeded" and entry.outcome[history_id].ok
    (card,) = stack.slack.responses(reply_url)
    assert card["replace_original"] is True and card["text"].startswith("1 of 1 email resent")
    job = deps.store.resend_job("k-dead")
    assert job is not None and job.state == "done"


def test_redrive_of_an_answered_job_only_redraws_the_card(stack: SandboxStack) -> None:
    deps = stack.deps
    assert deps is not None
    click = click_for(stack, "k-answered")
    reply_url = stack.slack.response_url("click")
    dead_worker_claim(stack, click, reply_url)
    job = deps.store.resend_job("k-answered")
    assert job is not None
    (history_id,) = click.ids
    deps.store.record_resend_outcome(
        job.audit.id,
        status="succeeded",
        outcome={history_id: IdOutcome(ok=True)},
        error=None,
        now=datetime.now(UTC),
    )
    deps.store.advance_resend(job.id, owner="dead-host:4242", state="answered", now=T0)

    assert redrive_stale_resends(deps) == 1

    assert stack.zuora.resend_calls() == [], "Zuora had answered: nothing is asked again"
    (card,) = stack.slack.responses(reply_url)
    assert card["text"].startswith("1 of 1 email resent")


def test_a_click_while_the_first_is_in_flight_and_after_it(stack: SandboxStack) -> None:
    deps = stack.deps
    assert deps is not None
    click = click_for(stack, "k-live")
    stack.zuora.set_resend_delay(0.6)
    shown: list[str] = []
    results: list[Any] = []

    def first() -> None:
        results.append(perform_resend(deps, click, lambda m: shown.append(m.text), reply_url=None))

    runner = threading.Thread(target=first)
    runner.start()
    time.sleep(0.2)
    during = perform_resend(deps, click, lambda m: shown.append(m.text), reply_url=None)
    runner.join(10)
    after = perform_resend(deps, click, lambda m: shown.append(m.text), reply_url=None)

    assert isinstance(results[0], ResendOutcome) and results[0].result is not None
    assert isinstance(during, AlreadyStarted) and during.in_flight
    assert isinstance(after, AlreadyStarted) and not after.in_flight
    assert len(stack.zuora.resend_calls()) == 1
    assert shown[0].startswith("Resending") and shown[-1].startswith("1 of 1 email resent")


def test_the_lease_is_renewed_while_zuora_is_slow(tmp_path: Path) -> None:
    tenant = build_tenant(seed=7, now=datetime.now(UTC))
    stack = SandboxStack(tmp_path, tenant=tenant)
    stack.start()
    try:
        settings = stack.settings()
        settings.resend.resend_lease = 1.0
        deps = build_deps(settings)
        click = click_for(stack, "k-slow")
        stack.zuora.set_resend_delay(2.5)
        seen: list[Any] = []

        def watch() -> None:
            time.sleep(1.8)  # past the first lease: only renewals keep it
            seen.append(deps.store.stale_resends(datetime.now(UTC)))

        watcher = threading.Thread(target=watch)
        watcher.start()
        outcome = perform_resend(deps, click, lambda m: None, reply_url=None)
        watcher.join(10)
        deps.close()
    finally:
        stack.stop()

    assert isinstance(outcome, ResendOutcome) and outcome.result is not None
    assert seen == [[]], "a live worker's slow resend is never taken over"


def test_a_5xx_resend_waits_and_is_asked_again_with_the_same_key(stack: SandboxStack) -> None:
    deps = stack.deps
    assert deps is not None
    click = click_for(stack, "k-retry")
    # Every try of the first click gets a 500 (one request and ZUORA_MAX_RETRIES=2 retries): Zuora
    # may have sent it, so the click waits for Zuora's answer instead of failing.
    stack.zuora.fail_next("/notifications/email-histories/resend", status=500, times=3)

    waiting = perform_resend(deps, click, lambda m: None, reply_url=None)
    clicked_again = perform_resend(deps, click, lambda m: None, reply_url=None)
    later = dataclasses.replace(deps, now=lambda: datetime.now(UTC) + timedelta(minutes=5))
    assert redrive_stale_resends(later) == 1

    assert isinstance(waiting, ResendOutcome) and waiting.waiting and waiting.result is None
    assert isinstance(clicked_again, AlreadyStarted), "no new attempt while Zuora's answer is due"
    (history_id,) = click.ids
    assert stack.zuora.resent(history_id) == 1
    sent = stack.zuora.requests("/notifications/email-histories/resend")
    keys = [r.headers["idempotency-key"] for r in sent]
    assert len(keys) == 4 and len(set(keys)) == 1, "the clock asked again with the same key"
    statuses = [e.status for e in deps.store.list_resends()]
    assert statuses == ["succeeded"]
