"""The bot under gunicorn (2 workers x 8 threads) as Procfile runs it, configured only by environment.

FakeZuora and FakeSlack run in the test process; gunicorn is a subprocess importing
`bot.wsgi:application`. The same resend click is delivered concurrently until both workers have served
it, and Zuora must see exactly one resend: the click claim lives in the shared database, on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.slack_requests import sign, slash_command_body
from bot.store.database import Store
from tests.support.gunicorn import (
    FRESH,
    SIGNING_SECRET,
    WORKERS,
    bot_env,
    gunicorn,
    served,
    wait_for_workers,
)
from tests.support.stack_fixtures import (
    ORDINARY_ACCOUNT,
    button,
    click_body_for,
    fresh_tenant,
    ids_of,
    post_signed,
    postgres_url,
    told_not_twice,
)

pytestmark = pytest.mark.slow
CLICKS = 10
MAX_ROUNDS = 5


def wait_for_access_lines(
    log_path: Path, count: int, probe: Callable[[str], bool], *, timeout: float = 15.0
) -> list[tuple[int, str, str, int, str]]:
    """The access log entries whose probe matches, once there are at least `count` of them.

    gunicorn writes a request's access line only after the response has gone out, so a client that
    has its answer can read the log before the line is there: wait for the lines instead.
    """
    deadline = time.monotonic() + timeout
    while True:
        entries = [entry for entry in served(log_path) if probe(entry[4])]
        if len(entries) >= count or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    assert len(entries) >= count, f"{len(entries)} of {count} access lines:\n{log_path.read_text()}"
    return entries


def run_same_click_on_both_workers(database_url: str, workdir: Path) -> None:
    """Boot gunicorn against fakes, fetch a card, click one Resend from many threads, count resends."""
    with (
        FakeZuora(fresh_tenant()) as zuora,
        FakeSlack(token="xoxb-smoke-" + secrets.token_hex(6)) as slack,
        gunicorn(bot_env(zuora, slack, database_url), workdir) as (base, log_path),
        httpx.Client(timeout=15, headers=FRESH) as http,
    ):
        wait_for_workers(http, base, log_path)
        events = f"{base}/slack/events"
        command_url = slack.response_url("cmd", kind="command")
        command = slash_command_body(text=f"failures {ORDINARY_ACCOUNT}", response_url=command_url)
        ack = post_signed(http, events, command, secret=SIGNING_SECRET)
        assert ack.status_code == 200, ack.text
        assert ack.json()["text"].startswith(f"Asked Zuora for the failures of {ORDINARY_ACCOUNT}")
        assert slack.wait_for(lambda: len(slack.responses(command_url)) == 1, timeout=15)
        card = slack.responses(command_url)[0]
        assert card["replace_original"] is False
        row = button(card, "zuora.resend_email")
        zuora.set_resend_delay(0.2)  # the winner is still in Zuora while the others arrive

        urls: list[str] = []

        def click(n: int) -> int:
            url = slack.response_url(f"click{n}")
            urls.append(url)
            body = click_body_for(row, response_url=url)
            headers = {**sign(SIGNING_SECRET, body, int(time.time())), **FRESH}
            headers["X-Probe"] = f"click{n}"
            started = time.monotonic()
            response = http.post(events, content=body, headers=headers)
            assert time.monotonic() - started < 3.0, "acked within Slack's 3 seconds"
            return response.status_code

        # The same click, CLICKS at a time, until both workers have served at least one delivery.
        for round_number in range(MAX_ROUNDS):
            numbers = range(round_number * CLICKS, (round_number + 1) * CLICKS)
            with ThreadPoolExecutor(max_workers=CLICKS) as pool:
                assert list(pool.map(click, numbers)) == [200] * CLICKS
            # Every click of the round was answered; wait for their access lines before counting.
            clicked = wait_for_access_lines(log_path, numbers.stop, lambda p: p.startswith("click"))
            click_pids = {pid for pid, *_ in clicked}
            if len(click_pids) >= WORKERS:
                break
        assert len(click_pids) == WORKERS, f"clicks never reached both workers: {click_pids}"

        def settled() -> bool:
            finals = [slack.responses(url)[-1:] for url in urls]
            return all(finals) and not any(f[0]["text"].startswith("Resending") for f in finals)

        assert slack.wait_for(settled, timeout=20), log_path.read_text()[-3000:]
        finals = [slack.responses(url)[-1]["text"] for url in urls]
        assert sum(text.startswith("1 of 1 email resent") for text in finals) == 1
        assert sum(told_not_twice(text) for text in finals) == len(urls) - 1
        assert len(zuora.resend_calls()) == 1
        assert zuora.resent(row_id(row)) == 1
    store = Store.from_url(database_url)
    try:
        (entry,) = store.list_resends()
        assert entry.status == "succeeded" and entry.ids == (row_id(row),)
    finally:
        store.close()


def row_id(row: dict[str, object]) -> str:
    """The history id a row's Resend button carries."""
    return ids_of(row)[0]


def test_smoke_gunicorn_two_workers_resend_once_on_sqlite(tmp_path: Path) -> None:
    run_same_click_on_both_workers(f"sqlite:///{tmp_path / 'zuora-ops.db'}", tmp_path)


@pytest.mark.postgres
def test_smoke_gunicorn_two_workers_resend_once_on_postgres(tmp_path: Path) -> None:
    base = postgres_url()
    schema = f"smoke_{secrets.token_hex(6)}"
    admin_url = base.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            separator = "&" if "?" in base else "?"
            url = f"{base}{separator}options=-csearch_path%3D{schema}"
            run_same_click_on_both_workers(url, tmp_path)
            tables = admin.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchone()
            assert tables is not None and tables[0] > 0, "the bot's tables live in the test schema"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
