"""Digests survive crashes and slow runs: one post per channel per day, on SQLite and PostgreSQL.

A crash is a BaseException raised at a chosen point (after Slack took the post, before it, or during the
Zuora scan); the clock that "died" stops beating, and a second clock (another Store on the same database)
takes over once the lease lapses. Times come from a settable clock shared with the fake Slack, heartbeats
from a wait the test drives: nothing sleeps for real.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from slack_sdk import WebClient
from sqlalchemy.pool import NullPool

from bot.clock import Maintenance, run_clock
from bot.digest.posting import digest_key
from bot.digest.service import run_due_digests
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.io import retry_handlers
from bot.store import NewSubscription
from bot.store.database import Store
from bot.store.tables import click_keys
from bot.zuora.models import Account, CalloutHistory, EmailHistory, TimeWindow
from tests.support.crash_doubles import Crash, CrashingSlack
from tests.support.db_urls import database

START = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)
LEASE_SECONDS = 120.0
LEASE = timedelta(seconds=LEASE_SECONDS)
CHANNEL = "C0DIGEST"


class Clock:
    """A settable UTC clock, shared by the bot and the fake Slack's message timestamps."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self.current

    def advance(self, **delta: float) -> None:
        with self._lock:
            self.current += timedelta(**delta)

    def unix(self) -> float:
        return self.now().timestamp()


class Service:
    """A tenant with no failures; the scan can block until released, or crash."""

    def __init__(self, *, block: bool = False, crash: bool = False) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        if not block:
            self.release.set()
        self.crash = crash
        self.scans = 0

    def get_account(self, key: str, *, track_id: str) -> Account:
        raise AssertionError("no account filters here")

    def iter_failed_callouts(
        self, window: TimeWindow, *, track_id: str
    ) -> Iterator[CalloutHistory]:
        self.scans += 1
        self.entered.set()
        assert self.release.wait(timeout=20), "the test never released the scan"
        if self.crash:
            raise Crash("killed during the Zuora scan")
        return iter(())

    def iter_failed_emails(self, window: TimeWindow, *, track_id: str) -> Iterator[EmailHistory]:
        return iter(())


@dataclass(frozen=True)
class Deps:
    settings: Any
    service: Service
    store: Store
    slack: Any


class Beats:
    """A heartbeat wait the test drives: `beat()` lets exactly one renewal happen and waits for it."""

    def __init__(self) -> None:
        self._go = threading.Semaphore(0)
        self._done = threading.Semaphore(0)
        self._calls = 0

    def __call__(self, stop: threading.Event, seconds: float) -> bool:
        assert seconds == LEASE_SECONDS / 4
        if self._calls:
            self._done.release()
        self._calls += 1
        while not stop.is_set():
            if self._go.acquire(timeout=0.01):
                return False
        return True

    def beat(self) -> None:
        self._go.release()
        assert self._done.acquire(timeout=10), "the heartbeat did not renew"


def never_beats(stop: threading.Event, seconds: float) -> bool:
    stop.wait()
    return True


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake_slack(clock: Clock) -> Iterator[FakeSlack]:
    with FakeSlack(clock=clock.unix) as server:
        yield server


@pytest.fixture
def clocks(db_url: str, make_settings: Any, fake_slack: FakeSlack, clock: Clock) -> Iterator[Any]:
    """Build clock processes: each its own Store (engine) on the one database, and its own Slack client."""
    stores: list[Store] = []

    def build(service: Service, *, crash: str | None = None) -> Deps:
        store = Store.from_url(db_url)
        stores.append(store)
        client = WebClient(
            token=fake_slack.token, base_url=fake_slack.base_url, retry_handlers=retry_handlers()
        )
        settings = make_settings(digest={"post_interval": 0, "claim_lease": LEASE_SECONDS})
        return Deps(settings, service, store, CrashingSlack(client, crash))

    yield build
    for store in stores:
        store.close()


def subscribe(store: Store) -> int:
    sub = store.add_subscription(
        NewSubscription(
            team_id="T0001",
            channel_id=CHANNEL,
            created_by="U0001",
            created_at=START - timedelta(days=3),
            hour=9,
            minute=0,
            timezone="UTC",
        )
    )
    return sub.id


def tick(deps: Deps, clock: Clock, owner: str, **kwargs: Any) -> list[Any]:
    kwargs.setdefault("beat_wait", never_beats)
    return run_due_digests(
        deps, clock.now(), owner=owner, clock=clock.now, sleep=lambda _s: None, **kwargs
    )


def only_run(store: Store, sub_id: int) -> Any:
    (run,) = store.list_digest_runs(sub_id)
    return run


# --- crashes ---------------------------------------------------------------------------------


def test_digest_crash_after_post_is_found_in_slack_not_posted_again(clocks, clock, fake_slack):
    dying = clocks(Service(), crash="after")
    sub_id = subscribe(dying.store)
    with pytest.raises(Crash):
        tick(dying, clock, "dying")
    assert len(fake_slack.messages(CHANNEL)) == 1
    assert only_run(dying.store, sub_id).status == "posting"

    heir = clocks(Service())
    assert tick(heir, clock, "heir") == []  # the lease has not lapsed yet
    clock.advance(seconds=LEASE_SECONDS + 1)
    (result,) = tick(heir, clock, "heir")

    (message,) = fake_slack.messages(CHANNEL)
    assert result.status == "posted" and result.message_ts == message["ts"]
    run = only_run(heir.store, sub_id)
    assert (run.status, run.message_ts, run.claimed_by) == ("posted", message["ts"], "heir")
    assert message["metadata"]["event_payload"]["digest_key"] == digest_key(sub_id, START.date())
    history = fake_slack.calls("conversations.history")
    assert [c.params.get("include_all_metadata") for c in history] == ["1"]
    assert heir.service.scans == 0  # found in Slack: Zuora is not even scanned again


def test_digest_crash_before_post_is_posted_later_that_day(clocks, clock, fake_slack):
    dying = clocks(Service(), crash="before")
    sub_id = subscribe(dying.store)
    with pytest.raises(Crash):
        tick(dying, clock, "dying")
    assert fake_slack.messages(CHANNEL) == []
    assert only_run(dying.store, sub_id).status == "posting"

    clock.advance(seconds=LEASE_SECONDS + 1)
    heir = clocks(Service())
    (result,) = tick(heir, clock, "heir")
    assert result.status == "posted"
    assert len(fake_slack.messages(CHANNEL)) == 1
    assert len(fake_slack.calls("conversations.history")) == 1  # checked, found nothing, posted
    assert tick(heir, clock, "heir") == []
    assert len(fake_slack.messages(CHANNEL)) == 1


def test_digest_crash_during_scan_is_posted_once_the_lease_lapses(clocks, clock, fake_slack):
    dying = clocks(Service(crash=True))
    sub_id = subscribe(dying.store)
    with pytest.raises(Crash):
        tick(dying, clock, "dying")
    assert only_run(dying.store, sub_id).status == "claimed"

    heir = clocks(Service())
    clock.advance(seconds=LEASE_SECONDS)
    assert tick(heir, clock, "heir") == []
    clock.advance(seconds=1)
    (result,) = tick(heir, clock, "heir")
    assert result.status == "posted"
    assert len(fake_slack.messages(CHANNEL)) == 1
    assert fake_slack.calls("conversations.history") == []  # nothing could have been posted


def test_digest_post_without_answer_is_checked_at_once(clocks, clock, fake_slack):
    deps = clocks(Service(), crash="no-answer")
    sub_id = subscribe(deps.store)
    (result,) = tick(deps, clock, "one")
    (message,) = fake_slack.messages(CHANNEL)
    assert (result.status, result.message_ts) == ("posted", message["ts"])
    assert only_run(deps.store, sub_id).status == "posted"


def test_digest_unverifiable_interrupted_post_is_not_posted_again(clocks, clock, fake_slack):
    dying = clocks(Service(), crash="before")
    sub_id = subscribe(dying.store)
    with pytest.raises(Crash):
        tick(dying, clock, "dying")

    clock.advance(seconds=LEASE_SECONDS + 1)
    fake_slack.fail_next("conversations.history", status=200, error="missing_scope")
    heir = clocks(Service())
    (result,) = tick(heir, clock, "heir")
    assert result.status == "unconfirmed" and "missing_scope" in (result.error or "")
    assert fake_slack.messages(CHANNEL) == []
    run = only_run(heir.store, sub_id)
    assert run.status == "unconfirmed"
    clock.advance(hours=1)
    assert tick(heir, clock, "heir") == []  # final: never posted twice


def test_digest_check_failing_for_now_leaves_the_run_for_later(clocks, clock, fake_slack):
    dying = clocks(Service(), crash="after")
    sub_id = subscribe(dying.store)
    with pytest.raises(Crash):
        tick(dying, clock, "dying")

    clock.advance(seconds=LEASE_SECONDS + 1)
    fake_slack.fail_next("conversations.history", status=200, error="internal_error")
    heir = clocks(Service())
    (result,) = tick(heir, clock, "heir")
    assert result.status == "deferred"
    assert only_run(heir.store, sub_id).status == "posting"

    clock.advance(seconds=LEASE_SECONDS + 1)
    (result,) = tick(heir, clock, "heir")
    (message,) = fake_slack.messages(CHANNEL)
    assert (result.status, result.message_ts) == ("posted", message["ts"])


def test_digest_check_ignores_another_apps_message_with_the_same_key(clocks, clock, fake_slack):
    dying = clocks(Service(), crash="before")
    sub_id = subscribe(dying.store)
    with pytest.raises(Crash):
        tick(dying, clock, "dying")
    # Another app (another bot id) posts a message carrying our key: it is not our digest.
    fake_slack.bot_id = "B0OTHER"
    other = WebClient(token=fake_slack.token, base_url=fake_slack.base_url)
    other.chat_postMessage(
        channel=CHANNEL,
        text="look-alike",
        metadata={
            "event_type": "zuora_ops_digest",
            "event_payload": {"digest_key": digest_key(sub_id, START.date())},
        },
    )
    fake_slack.bot_id = "B0001"

    clock.advance(seconds=LEASE_SECONDS + 1)
    (result,) = tick(clocks(Service()), clock, "heir")
    assert result.status == "posted"
    assert [m["bot_id"] for m in fake_slack.messages(CHANNEL)] == ["B0OTHER", "B0001"]


# --- two clocks and a slow digest ------------------------------------------------------------


def _slow_tick_then_second_clock(clocks, clock, *, beat: bool) -> tuple[list[Any], list[Any]]:
    """Clock A claims and hangs in the Zuora scan for 5 minutes (> lease); clock B ticks meanwhile."""
    slow = clocks(Service(block=True))
    subscribe(slow.store)
    beats = Beats()
    results_a: list[Any] = []
    errors: list[BaseException] = []

    def run_a() -> None:
        try:
            results_a.extend(tick(slow, clock, "A", beat_wait=beats if beat else never_beats))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run_a, daemon=True)
    thread.start()
    assert slow.service.entered.wait(timeout=10)
    for _minute in range(5):
        clock.advance(minutes=1)
        if beat:
            beats.beat()
    other = clocks(Service())
    results_b = tick(other, clock, "B")
    slow.service.release.set()
    thread.join(timeout=20)
    assert not thread.is_alive() and errors == []
    return results_a, results_b


def test_digest_heartbeat_keeps_a_slow_run_from_a_second_clock(clocks, clock, fake_slack):
    results_a, results_b = _slow_tick_then_second_clock(clocks, clock, beat=True)

    assert results_b == []
    assert [r.status for r in results_a] == ["posted"]
    assert len(fake_slack.messages(CHANNEL)) == 1


def test_digest_without_heartbeat_second_clock_takes_over_and_first_is_fenced(
    clocks, clock, fake_slack
):
    results_a, results_b = _slow_tick_then_second_clock(clocks, clock, beat=False)

    assert [r.status for r in results_b] == ["posted"]
    assert [r.status for r in results_a] == ["lost"]  # A may not post once B holds the run
    assert len(fake_slack.messages(CHANNEL)) == 1


# --- maintenance -----------------------------------------------------------------------------


@dataclass
class ClockDeps:
    """What run_clock needs, with no subscriptions (digest ticks do nothing) and a settable clock."""

    settings: Any
    store: Store
    clock: Clock
    service: Any = None
    slack: Any = None

    def now(self) -> datetime:
        return self.clock.now()


def _keys(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return set(conn.scalars(sa.select(click_keys.c.key)))
    finally:
        engine.dispose()


def test_clock_purges_expired_click_keys_every_hour(db_url, make_settings, clock):
    store = Store.from_url(db_url)
    try:
        for key, ttl in (("gone", 1), ("in-half-an-hour", 31), ("tomorrow", 24 * 60)):
            assert store.claim_click(
                key, now=START - timedelta(minutes=1), ttl=timedelta(minutes=ttl)
            )
        deps = ClockDeps(make_settings(), store, clock)
        stop = threading.Event()
        seen: list[tuple[datetime, set[str]]] = []

        def wait(seconds: float) -> None:
            seen.append((clock.now(), _keys(db_url)))
            clock.advance(seconds=seconds)
            if clock.now() > START + timedelta(minutes=70):
                stop.set()

        run_clock(deps, stop, owner="clock", wait=wait)  # type: ignore[arg-type]
    finally:
        store.close()

    first_at, first_keys = seen[0]
    assert first_at == START and first_keys == {"in-half-an-hour", "tomorrow"}
    # Not purged again before the hour is up, even though the key expired meanwhile...
    at_50 = next(keys for at, keys in seen if at >= START + timedelta(minutes=50))
    assert at_50 == {"in-half-an-hour", "tomorrow"}
    # ...then purged on the first tick after it.
    assert seen[-1][1] == {"tomorrow"}
    assert 60 <= len(seen) <= 72  # one tick a minute


def test_clock_maintenance_retries_a_failed_purge_next_tick():
    class BrokenStore:
        def purge_expired_clicks(self, now: datetime) -> int:
            raise RuntimeError("disk full")

    maintenance = Maintenance(BrokenStore())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        maintenance.run(START)
    # Not recorded as done, so the next tick tries again.
    with pytest.raises(RuntimeError):
        maintenance.run(START + timedelta(minutes=1))


# --- a post whose answer is lost is not resent ------------------------------------------------


class HangUpServer:
    """Reads each HTTP request on 127.0.0.1 and hangs up without answering; records the paths."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.02)  # so the thread notices close(); accept() would not
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/api/"

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if data:
                    self.paths.append(data.split(b" ", 2)[1].decode())

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self._listener.close()


def test_digest_post_is_not_resent_after_the_connection_drops(db_url, make_settings, clock):
    server = HangUpServer()
    store = Store.from_url(db_url)
    try:
        sub_id = subscribe(store)
        client = WebClient(
            token="xoxb-x", base_url=server.base_url, retry_handlers=retry_handlers()
        )
        settings = make_settings(digest={"post_interval": 0, "claim_lease": LEASE_SECONDS})
        (result,) = tick(Deps(settings, Service(), store, client), clock, "one")
    finally:
        store.close()
        server.close()

    # The bot's client resends reads after a hang-up, but the post went out once: Slack may have it.
    assert server.paths.count("/api/chat.postMessage") == 1
    assert server.paths.count("/api/auth.test") == 3  # the check's first read, retried twice
    assert result.status == "deferred"  # could not check: left 'posting' for a later tick
    assert result.subscription.id == sub_id
