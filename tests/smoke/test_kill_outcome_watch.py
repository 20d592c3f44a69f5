"""Kill test: the clock process is SIGKILLed between a resend (gunicorn, real HTTP) and its first
look at the history; a new clock process on the same database finds the outcome and the card ends
"delivered": on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import secrets
import signal
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.slack_requests import sign, slash_command_body
from bot.store.database import Store
from tests.smoke.test_kill_resend import card_with_button, clock, database_url, gone, poll
from tests.support.gunicorn import FRESH, SIGNING_SECRET, bot_env, gunicorn, wait_for_workers
from tests.support.stack_fixtures import (
    ORDINARY_ACCOUNT,
    button,
    click_body_for,
    fresh_tenant,
    post_signed,
)

__all__ = ["database_url"]  # the fixture, shared with the resend kill test
pytestmark = pytest.mark.slow

FIRST_LOOK = "3"  # RESEND_WATCH_FIRST_SECONDS: the kill lands before it


def watch_of(database_url: str):  # noqa: ANN201 - an OutcomeWatch
    store = Store.from_url(database_url)
    try:
        entries = store.list_resends(limit=10)  # the worker may not have written it yet
        assert len(entries) <= 1, entries
        return (
            store.watches_for_audits([e.id for e in entries]).get(entries[0].id)
            if entries
            else None
        )
    finally:
        store.close()


def test_clock_killed_before_the_first_look_a_new_clock_shows_delivered(
    database_url: str, tmp_path: Path
) -> None:
    tenant = fresh_tenant()
    tenant.redelivery_delay = timedelta(seconds=0.5)
    with (
        FakeZuora(tenant) as zuora,
        FakeSlack(token="xoxb-watch-" + secrets.token_hex(6)) as slack,
    ):
        env = bot_env(zuora, slack, database_url) | {
            "RESEND_LEASE": "1.5",
            "RESEND_WATCH_FIRST_SECONDS": FIRST_LOOK,
        }
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
        with (
            gunicorn(env, tmp_path) as (base, log_path),
            httpx.Client(timeout=15, headers=FRESH) as http,
        ):
            wait_for_workers(http, base, log_path)
            events = f"{base}/slack/events"
            command_url = slack.response_url("cmd")
            body = slash_command_body(text=f"failures {ORDINARY_ACCOUNT}", response_url=command_url)
            assert post_signed(http, events, body, secret=SIGNING_SECRET).status_code == 200
            row = button(
                card_with_button(slack, command_url, "zuora.resend_email"), "zuora.resend_email"
            )

            with clock(env, tmp_path) as first_clock:
                click_url = slack.response_url("click")
                body = click_body_for(row, response_url=click_url)
                headers = {**sign(SIGNING_SECRET, body, int(time.time())), **FRESH}
                assert http.post(events, content=body, headers=headers).status_code == 200
                assert poll(lambda: watch_of(database_url) is not None, timeout=10)
                os.kill(first_clock.pid, signal.SIGKILL)
                assert poll(lambda: gone(first_clock.pid), timeout=10)
            watch = watch_of(database_url)
            assert watch is not None and watch.checks_done == 0 and watch.lease_owner is None

            with clock(env, tmp_path) as second_clock:

                def delivered() -> bool:
                    posts = slack.responses(click_url)
                    return bool(posts) and "delivered" in posts[-1]["text"]

                reached = poll(delivered, timeout=40)
                logs = (tmp_path / "clock.log").read_text(errors="replace")[-3000:]
                assert reached, f"{slack.responses(click_url)}\nclock:\n{logs}"
                assert second_clock.poll() is None, logs

    final = watch_of(database_url)
    assert final is not None and (final.outcome, final.checks_done) == ("delivered", 1)
