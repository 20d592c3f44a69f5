"""The clock process (`python -m bot.clock`, as Procfile runs it) SIGKILLed mid-digest, then restarted.

FakeZuora and FakeSlack run in the test process on 127.0.0.1; the clock is a real subprocess configured
only by environment, with a one-second lease. It is killed (a) after Slack stored the digest but before
the clock heard back and recorded it (the fake delays its answer), and (b) during the Zuora scan, before
any post (the fake Zuora is slowed). After a restart there must be exactly one digest in the channel,
recorded with its real ts, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.digest.schedule import local_date_for
from bot.sandbox.fake_env import fakes_env
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_zuora import FakeZuora, RecordedRequest
from bot.store import DigestRun, NewSubscription
from bot.store.database import Store
from tests.support.db_urls import postgres_schema
from tests.support.stack_fixtures import fresh_tenant

pytestmark = pytest.mark.slow

CHANNEL = "C0KILLED"
LEASE_SECONDS = 1.0
TIMEOUT = 30.0
# Long enough that the first clock is still scanning when it is killed, short enough to be over (for the
# dead clock's requests still being answered) by the time the test ends.
ZUORA_STALL = 2.0


def noon_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about noon now, so the day cannot roll over during the test."""
    offset = 12 - now.hour
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def clock_env(zuora: FakeZuora, slack: FakeSlack, database_url: str) -> dict[str, str]:
    """The clock's environment: the real setting names, pointing at the fakes."""
    assert slack.token is not None and zuora.tenant is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ZUORA_"))}
    env.update(
        fakes_env(
            slack,
            zuora,
            bot_token=slack.token,
            signing_secret="kill-test-signing-secret-" + "0" * 8,
            timezone=zuora.tenant.timezone,
        )
    )
    env.update(
        {
            "RESEND_ALLOWED_USERS": "*",
            "DATABASE_URL": database_url,
            "DIGEST_CLAIM_LEASE": str(LEASE_SECONDS),
            "DIGEST_POST_INTERVAL": "0",
            "LOG_LEVEL": "INFO",
        }
    )
    return env


@contextmanager
def clock_process(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python -m bot.clock`; always gone afterwards (SIGKILLed if the test did not end it)."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.clock"],
            cwd=log_path.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def wait_until(check: Callable[[], bool], what: str, log_path: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}:\n{log_path.read_text(errors='replace')[-4000:]}")


def the_run(store: Store, sub_id: int) -> DigestRun | None:
    runs = store.list_digest_runs(sub_id)
    assert len(runs) <= 1
    return runs[0] if runs else None


def status_is(store: Store, sub_id: int, status: str) -> Callable[[], bool]:
    def check() -> bool:
        run = the_run(store, sub_id)
        return run is not None and run.status == status

    return check


def wait_for_held_request(zuora: FakeZuora, log_path: Path) -> RecordedRequest:
    """A request of the claimed digest's scan that Zuora is still holding (not answered yet).

    The clock runs its digests one after another, so while the run is claimed and not posted, an
    unanswered Zuora request is its scan, which cannot post before Zuora answers.
    """
    held: list[RecordedRequest] = []

    def holding() -> bool:
        held[:] = [r for r in zuora.requests() if r.status is None]
        return bool(held)

    wait_until(holding, "the scan to wait on Zuora", log_path)
    return held[0]


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL


def wait_for_lease_to_lapse(store: Store, sub_id: int, log_path: Path) -> None:
    """The dead clock's lease runs out a second after its last heartbeat."""
    lease = timedelta(seconds=LEASE_SECONDS)

    def lapsed() -> bool:
        run = the_run(store, sub_id)
        assert run is not None
        return run.lease_expires_at(lease) < datetime.now(UTC) - timedelta(milliseconds=100)

    wait_until(lapsed, "the dead clock's lease to lapse", log_path)


def run_kill_scenario(database_url: str, workdir: Path, *, when: str) -> None:
    log_path = workdir / "clock.log"
    with (
        FakeZuora(fresh_tenant()) as zuora,
        FakeSlack(token="xoxb-kill-" + secrets.token_hex(6)) as slack,
    ):
        store = Store.from_url(database_url)
        try:
            now = datetime.now(UTC)
            sub = store.add_subscription(
                NewSubscription(
                    team_id=slack.team_id,
                    channel_id=CHANNEL,
                    created_by="U0001",
                    created_at=now - timedelta(days=3),
                    hour=0,
                    minute=0,
                    timezone=noon_zone(now),
                )
            )
            env = clock_env(zuora, slack, database_url)

            if when == "after_post":
                # Slack stores the post at once but answers only after the clock is dead.
                slack.delay_replies("chat.postMessage", TIMEOUT)
                with clock_process(env, log_path) as first:
                    wait_until(lambda: len(slack.messages(CHANNEL)) == 1, "the post", log_path)
                    kill(first)
                slack.delay_replies("chat.postMessage", 0)  # the held answer goes to a dead client
                assert status_is(store, sub.id, "posting")(), "killed between post and record"
            else:
                # The scan hangs in Zuora: claimed, nothing posted yet.
                zuora.set_latency(ZUORA_STALL)
                with clock_process(env, log_path) as first:
                    wait_until(status_is(store, sub.id, "claimed"), "the claim", log_path)
                    held = wait_for_held_request(zuora, log_path)
                    kill(first)
                zuora.set_latency(0)
                assert held.status is None, "the clock died while Zuora held its scan"
                assert status_is(store, sub.id, "claimed")(), "killed before the post"
                assert slack.messages(CHANNEL) == []

            wait_for_lease_to_lapse(store, sub.id, log_path)
            with clock_process(env, log_path) as second:
                wait_until(status_is(store, sub.id, "posted"), "the restarted clock", log_path)
                second.send_signal(signal.SIGTERM)
                assert second.wait(timeout=15) == 0

            messages = slack.messages(CHANNEL)
            assert len(messages) == 1, "exactly one digest in the channel for the day"
            run = the_run(store, sub.id)
            assert run is not None and run.message_ts == messages[0]["ts"]
            assert run.local_date == local_date_for(sub, now)
            posts = slack.calls("chat.postMessage")
            checks = slack.calls("conversations.history")
            if when == "after_post":
                assert (len(posts), len(checks)) == (1, 1)  # found in Slack, not posted again
            else:
                assert (len(posts), len(checks)) == (1, 0)  # nothing to look for: just posted
        finally:
            store.close()


@pytest.mark.parametrize("when", ["after_post", "before_post"])
def test_clock_killed_mid_digest_posts_exactly_once_on_sqlite(tmp_path: Path, when: str) -> None:
    run_kill_scenario(f"sqlite:///{tmp_path / 'zuora-ops.db'}", tmp_path, when=when)


@pytest.mark.postgres
@pytest.mark.parametrize("when", ["after_post", "before_post"])
def test_clock_killed_mid_digest_posts_exactly_once_on_postgres(tmp_path: Path, when: str) -> None:
    with postgres_schema("kill") as url:
        run_kill_scenario(url, tmp_path, when=when)
