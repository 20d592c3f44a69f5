"""Two `/zuora outages` cards of one outage (two windows, a few seconds apart), *Resend all* pressed on
both at once, served by two gunicorn workers on one database: every callout is resent exactly once
(issue 16). Before the fix each card's replay had its own key and both resent everything."""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.core.actions import ActionId, OutageRef
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.replay_tenant import OUTAGE_CAUSE, build_outage_tenant
from bot.sandbox.slack_requests import sign
from tests.support.db_urls import database
from tests.support.gunicorn import (
    FRESH,
    SIGNING_SECRET,
    bot_env,
    gunicorn,
    served,
    wait_for_workers,
)
from tests.support.stack_fixtures import all_text, click_body_for

pytestmark = pytest.mark.slow

FAILED = 1500
CLICKS_PER_ROUND = 4  # two per card
MAX_ROUNDS = 4


def card_buttons(now: datetime) -> list[dict[str, str]]:
    """The "Resend all" buttons of two people's outages cards drawn 7 s apart."""
    end = now.replace(microsecond=0) + timedelta(minutes=5)
    shown = []
    for shift in (7, 0):
        card_end = end - timedelta(seconds=shift)
        ref = OutageRef(
            c=OUTAGE_CAUSE.id,
            s=int((card_end - timedelta(hours=26)).timestamp()),
            e=int(card_end.timestamp()),
            w="26h",
            n=FAILED,
        )
        shown.append(
            {
                "type": "button",
                "action_id": ActionId.OUTAGE_REPLAY.value,
                "block_id": "outage",
                "value": ref.encode(),
            }
        )
    return shown


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_once_two_outage_cards_on_two_gunicorn_workers_resend_each_id_once(
    tmp_path: Path, kind: str
) -> None:
    now = datetime.now(UTC)
    tenant = build_outage_tenant(failed=FAILED, now=now, noise=50, accounts=60)
    with (
        database(kind, tmp_path) as url,
        FakeZuora(tenant) as zuora,
        FakeSlack(token="xoxb-once-" + secrets.token_hex(6)) as slack,
        gunicorn(bot_env(zuora, slack, url), tmp_path) as (base, log_path),
        httpx.Client(timeout=30, headers=FRESH) as http,
    ):
        wait_for_workers(http, base, log_path)
        events = f"{base}/slack/events"
        buttons = card_buttons(now)
        zuora.set_resend_delay(0.3)  # the first replay is still sending when the others arrive
        urls: list[str] = []

        def click(n: int) -> int:
            url = slack.response_url(f"once{n}", kind="interaction")
            urls.append(url)
            body = click_body_for(
                buttons[n % 2], response_url=url, user_id=f"U0{n:04d}", message_ts=f"{n}.{n}"
            )
            headers = {**sign(SIGNING_SECRET, body, int(time.time())), **FRESH}
            headers["X-Probe"] = f"once{n}"
            return http.post(events, content=body, headers=headers).status_code

        pids: set[int] = set()
        for round_number in range(MAX_ROUNDS):
            numbers = range(round_number * CLICKS_PER_ROUND, (round_number + 1) * CLICKS_PER_ROUND)
            with ThreadPoolExecutor(max_workers=CLICKS_PER_ROUND) as pool:
                assert list(pool.map(click, numbers)) == [200] * CLICKS_PER_ROUND
            served_now = served(log_path)
            pids = {pid for pid, *_, probe in served_now if probe.startswith("once")}
            if len(pids) >= 2:
                break
        assert len(pids) == 2, f"clicks never reached both workers: {pids}"

        def settled() -> bool:
            finals = [slack.responses(u)[-1:] for u in urls]
            return all(finals) and not any(f[0]["text"].startswith("Resending") for f in finals)

        assert slack.wait_for(settled, timeout=120), log_path.read_text()[-3000:]
        counts = zuora.resend_counts()
        assert len(counts) == FAILED and max(counts.values()) == 1, "each id resent once"
        assert sum(len(c.ids) for c in zuora.resend_calls("callout") if not c.replayed) == FAILED
        finals = [all_text(slack.responses(u)[-1]) for u in urls]
        assert sum(f"{FAILED:,} of {FAILED:,} callouts resent" in t for t in finals) == 1
        assert all(
            "Nothing will be sent twice" in t
            or "nothing was sent twice" in t.lower()
            or "callouts resent" in t
            for t in finals
        ), finals
