"""Kill tests: gunicorn (2 workers) and the clock as Procfile runs them; the worker holding a resend
is SIGKILLed while the sandbox Zuora still holds its request. Zuora must see exactly one resend, the
card must end showing the outcome, and the audit must hold one row: on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.processes import stop_process
from bot.sandbox.slack_requests import sign, slash_command_body
from bot.store.database import Store
from tests.support.db_urls import database
from tests.support.gunicorn import (
    FRESH,
    SIGNING_SECRET,
    bot_env,
    gunicorn,
    wait_for_workers,
)
from tests.support.stack_fixtures import (
    ORDINARY_ACCOUNT,
    button,
    buttons,
    click_body_for,
    fresh_tenant,
    ids_of,
    post_signed,
)

pytestmark = pytest.mark.slow

LEASE = "1.5"  # seconds: a dead worker's resend is taken over within about two of these
ZUORA_HOLDS = 5.0  # seconds the sandbox Zuora holds each resend request (the kill lands inside)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


@contextmanager
def clock(env: dict[str, str], workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m bot.clock` as Procfile runs it; always stopped."""
    with open(workdir / "clock.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.clock"], cwd=workdir, env=env, stdout=log, stderr=log
        )
        try:
            yield process
        finally:
            stop_process(process, grace=15, kill_wait=5)


def poll(condition: Callable[[], bool], *, timeout: float) -> bool:
    """Check `condition` every 20 ms until it holds or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def resend_holder(database_url: str) -> int:
    """The pid of the worker holding the only resend job: its lease owner, `host:pid`.

    The worker commits that lease before it calls Zuora, so once Zuora holds the request the store
    names the worker (gunicorn's access line for the click may still be unwritten at that point).
    """
    store = Store.from_url(database_url)
    try:
        (entry,) = store.list_resends(limit=10)
        job = store.resend_job(entry.dedup_key)
    finally:
        store.close()
    assert job is not None and job.state != "done" and job.lease_owner is not None, job
    host, _, pid = job.lease_owner.rpartition(":")
    assert host == socket.gethostname(), job.lease_owner
    return int(pid)


def gone(pid: int) -> bool:
    """Whether the process has exited (reaped by its parent, or a zombie waiting to be)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # reaped before the open, or during the read
        return True
    return stat.rpartition(")")[2].split()[0] in {"Z", "X"}


def card_with_button(slack: FakeSlack, url: str, action_id: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        for post in reversed(slack.responses(url)):
            if buttons(post, action_id):
                return post
        return None

    assert slack.wait_for(lambda: found() is not None, timeout=20), slack.responses(url)
    card = found()
    assert card is not None
    return card


def test_worker_killed_while_zuora_holds_the_resend(database_url: str, tmp_path: Path) -> None:
    with (
        FakeZuora(fresh_tenant()) as zuora,
        FakeSlack(token="xoxb-kill-" + secrets.token_hex(6)) as slack,
    ):
        env = bot_env(zuora, slack, database_url) | {"RESEND_LEASE": LEASE}
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2])])
        with (
            gunicorn(env, tmp_path) as (base, log_path),
            clock(env, tmp_path) as clock_process,
            httpx.Client(timeout=15, headers=FRESH) as http,
        ):
            workers = wait_for_workers(http, base, log_path)
            events = f"{base}/slack/events"
            command_url = slack.response_url("cmd")
            ack = post_signed(
                http,
                events,
                slash_command_body(
                    text=f"failures {ORDINARY_ACCOUNT} 24h", response_url=command_url
                ),
                secret=SIGNING_SECRET,
            )
            assert ack.status_code == 200, ack.text
            card = card_with_button(slack, command_url, "zuora.resend_email")
            row = button(card, "zuora.resend_email")
            zuora.set_resend_delay(ZUORA_HOLDS)

            click_url = slack.response_url("click")
            body = click_body_for(row, response_url=click_url)
            headers = {**sign(SIGNING_SECRET, body, int(time.time())), **FRESH, "X-Probe": "kill"}
            assert http.post(events, content=body, headers=headers).status_code == 200
            held = poll(lambda: zuora.resends_in_flight == 1, timeout=10)
            assert held, f"{slack.responses(click_url)}\n{log_path.read_text()[-2000:]}"
            victim = resend_holder(database_url)
            assert victim in workers, f"the resend's lease names {victim}, not a worker {workers}"
            os.kill(victim, signal.SIGKILL)
            assert poll(lambda: gone(victim), timeout=10), f"worker {victim} outlived SIGKILL"
            assert zuora.resends_in_flight == 1, "the worker died while Zuora held its resend"

            def finished() -> bool:
                posts = slack.responses(click_url)
                return bool(posts) and posts[-1]["text"].startswith("1 of 1 email resent")

            reached = poll(finished, timeout=60)
            logs = (tmp_path / "clock.log").read_text(errors="replace")[-3000:]
            web = log_path.read_text(errors="replace")[-2000:]
            calls = zuora.resend_calls("email")
            assert reached, f"{slack.responses(click_url)}\n{calls}\nclock:\n{logs}\nweb:\n{web}"
            assert clock_process.poll() is None, logs

        (history_id,) = ids_of(row)
        assert zuora.resent(history_id) == 1, "exactly one resend reached Zuora"
        calls = zuora.resend_calls("email")
        assert sum(not c.replayed for c in calls) == 1
        assert len({c.idempotency_key for c in calls}) == 1, "the re-drive used the same key"
        posts = slack.responses(click_url)
        assert posts[0]["text"].startswith("Resending")
        assert posts[-1]["replace_original"] is True
    store = Store.from_url(database_url)
    try:
        (entry,) = store.list_resends(limit=10)
        job = store.resend_job(entry.dedup_key)
    finally:
        store.close()
    assert entry.status == "succeeded" and entry.outcome[history_id].ok
    assert job is not None and job.state == "done" and job.lease_owner is not None
    assert job.lease_owner.startswith("redrive:"), "the clock finished what the worker began"
