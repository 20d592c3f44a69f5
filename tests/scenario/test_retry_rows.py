"""Zuora's own retries through signed requests (issue 18): rows, Resend selected, replays, status.

The sandbox account `Retry Works Ltd` (bot.sandbox.retry_tenant) has a callout in every retry
state; the fake Data Query's AttemptLimit is 3 and the interval the default 30 minutes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.actions import OutageRef, decode_value
from bot.outages.replay import ReplayDone, start_replay
from bot.sandbox.retry_tenant import add_retry_account
from bot.sandbox.tenant import FakeAccount, FakeCallout, build_tenant
from bot.zuora.models import TimeWindow
from tests.support.scenario import RESEND_EMAIL
from tests.support.stack_fixtures import (
    ORDINARY_ACCOUNT,
    Harness,
    all_text,
    button,
    buttons,
    dispatch_harness,
)

REPLAY = "zuora.outage_replay"
# Failures minutes ago: the endpoint is still failing, so its replay button is "Replay anyway".
REPLAY_ANYWAY = "zuora.outage_replay_anyway"


@pytest.fixture
def retry(tmp_path: Path) -> Iterator[tuple[Harness, FakeAccount]]:
    now = datetime.now(UTC)
    tenant = build_tenant(seed=7, now=now, outage=True)
    account = add_retry_account(tenant, now)
    with dispatch_harness(tmp_path, tenant=tenant) as started:
        yield started, account


def ids_by_code(harness: Harness, account: FakeAccount) -> dict[int, str]:
    return {
        int(c.response_code): c.id
        for c in harness.tenant.callouts
        if c.account is account and c.failed
    }


def row_with(card: dict, words: str) -> dict:
    rows = [b for b in card["blocks"] if b["type"] == "section" and words in b["text"]["text"]]
    assert len(rows) == 1, [b.get("text", {}).get("text") for b in card["blocks"]]
    return rows[0]


def offers_resend(row: dict) -> bool:
    accessory = row.get("accessory") or {}
    return any(o["text"]["text"] == "Resend" for o in accessory.get("options", []))


def callout_box_ids(card: dict) -> set[str]:
    return {
        option["value"].split(":", 1)[1]
        for box in buttons(card, "zuora.select_callouts")
        for option in box["options"]
    }


def test_retry_rows_a_callout_zuora_still_retries_has_no_resend_and_no_checkbox(
    retry: tuple[Harness, FakeAccount],
) -> None:
    harness, account = retry
    card = harness.card_for(account.number)
    ids = ids_by_code(harness, account)

    first = row_with(card, "Zuora retries it (attempt 1 of 3, next after ~")
    second = row_with(card, "Zuora retries it (attempt 2 of 3, next after ~")
    assert not offers_resend(first) and not offers_resend(second)
    boxes = callout_box_ids(card)
    assert ids[503] not in boxes and ids[429] not in boxes
    # Codes Zuora never retries keep their Resend and checkbox, and say so.
    never = row_with(card, "Zuora won't retry this (`404`)")
    assert offers_resend(never) and ids[404] in boxes
    assert offers_resend(row_with(card, "Zuora won't retry this (`200`)"))
    # Exhausted (3 of 3) rows are resendable, with no retry line.
    assert ids[500] in boxes and ids[-1] in boxes


def test_retry_rows_an_invalid_custom_body_says_why_and_has_no_resend(
    retry: tuple[Harness, FakeAccount],
) -> None:
    harness, account = retry
    card = harness.card_for(account.number)

    row = row_with(card, "custom body is invalid (-2000)")
    assert "a resend would fail the same way" in row["text"]["text"]
    assert not offers_resend(row)
    assert ids_by_code(harness, account)[-2000] not in callout_box_ids(card)


def test_retry_rows_resend_selected_leaves_out_what_zuora_still_retries(
    retry: tuple[Harness, FakeAccount],
) -> None:
    harness, account = retry
    card = harness.card_for(account.number)
    (box,) = buttons(card, "zuora.select_callouts")
    state = {
        box["block_id"]: {
            "zuora.select_callouts": {"type": "checkboxes", "selected_options": box["options"]}
        }
    }

    reply = harness.click(buttons(card, "zuora.resend_selected")[0], state_values=state)

    assert reply.status == 200
    ids = ids_by_code(harness, account)
    ((kind, sent),) = harness.resends()
    assert kind == "callout"
    assert set(sent) == {ids[404], ids[200], ids[500], ids[-1]}


def add_retrying_outage_records(harness: Harness, count: int) -> list[str]:
    """`count` fresh failures (attempt 1 of 3, minutes ago) of the sandbox outage's endpoint."""
    tenant = harness.tenant
    down = [c for c in tenant.callouts if c.failed and "ledgerlink" in c.request_url]
    now = datetime.now(UTC).replace(microsecond=0)
    fresh: list[FakeCallout] = []
    for n, callout in enumerate(down[:count]):
        record = dataclasses.replace(
            callout,
            id=f"9a{n:030x}",
            create_time=now - timedelta(minutes=5 + n),
            event_id=f"9b{n:030x}",
            attempted_num=1,
        )
        tenant.add_callout(record)
        fresh.append(record)
    harness.zuora.reindex()
    return [r.id for r in fresh]


def test_retry_rows_replay_confirm_previews_and_replay_leaves_retried_out(
    retry: tuple[Harness, FakeAccount],
) -> None:
    harness, _ = retry
    retrying = add_retrying_outage_records(harness, 2)
    reply = harness.command("outages")
    (card,) = harness.wait_posts(reply.response_url, 1)
    button = buttons(card, REPLAY_ANYWAY)[0]
    ref = decode_value(button["value"], OutageRef)
    confirm = button["confirm"]["text"]["text"]

    assert confirm.startswith("Last failure 5 min ago: a replay now will probably fail again.")
    assert button["text"]["text"] == f"Replay anyway ({ref.n - 2:,})"

    assert f"Sends {ref.n - 2:,}. Left out: 2 Zuora still retries." in confirm
    assert "zuora-ops replay --include-retrying" in confirm
    assert "Resend uses the current template" in confirm

    click = harness.click(button)

    assert click.status == 200
    sent = [i for kind, ids in harness.resends() if kind == "callout" for i in ids]
    assert len(sent) == ref.n - 2
    assert not set(retrying) & set(sent)
    told = " ".join(all_text(m) for m in harness.posts(click.response_url))
    assert "2 callouts of that cause were left out: Zuora still retries them" in told


def test_retry_rows_replay_includes_retried_callouts_when_asked(
    retry: tuple[Harness, FakeAccount],
) -> None:
    harness, _ = retry
    retrying = add_retrying_outage_records(harness, 2)
    reply = harness.command("outages")
    (card,) = harness.wait_posts(reply.response_url, 1)
    ref = decode_value(buttons(card, REPLAY_ANYWAY)[0]["value"], OutageRef)

    done = start_replay(
        harness.deps,
        ref.c,
        TimeWindow(start=ref.start, end=ref.end, label=ref.w),
        team_id="cli",
        user_id="cli",
        track_id="zops-cli-test",
        reply_url=None,
        include_retrying=True,
    )

    assert isinstance(done, ReplayDone)
    sent = [i for kind, ids in harness.resends() if kind == "callout" for i in ids]
    assert set(retrying) <= set(sent) and len(sent) == ref.n


def test_retry_rows_status_shows_the_attempt_limit_source_and_the_guesses(
    retry: tuple[Harness, FakeAccount],
) -> None:
    harness, _ = retry
    reply = harness.command("status")
    status = all_text(harness.wait_posts(reply.response_url, 1)[-1])

    assert "attempt limit 3 (from Data Query AttemptLimit)" in status
    assert "interval 30 min (from settings)" in status
    assert "next try ≥ createTime + attemptedNum × interval" in status
    assert "a failed 200 (parsed body) or other 2xx is not retried" in status


def test_retry_rows_status_without_data_query_names_the_settings(tmp_path: Path) -> None:
    tenant = build_tenant(seed=7, now=datetime.now(UTC))
    overrides = {"history_ids": "rest", "callout_attempt_limit": 5}
    with dispatch_harness(tmp_path, tenant=tenant, zuora_overrides=overrides) as harness:
        reply = harness.command("status")
        status = all_text(harness.wait_posts(reply.response_url, 1)[-1])

    assert "attempt limit 5 (from settings) (Data Query is off (ZUORA_HISTORY_IDS=rest))" in status


def test_retry_rows_resend_all_preview_names_who_already_resent(tmp_path: Path) -> None:
    with dispatch_harness(tmp_path) as harness:
        card = harness.card_for(ORDINARY_ACCOUNT)
        total = len(buttons(card, RESEND_EMAIL))
        harness.click(buttons(card, RESEND_EMAIL)[0], user_id="U0ALICE")
        refreshed = harness.click(button(card, "zuora.refresh"))
        (redrawn,) = harness.posts(refreshed.response_url)
        confirm = button(redrawn, "zuora.resend_all")["confirm"]["text"]["text"]

    assert f"Sends {total - 1}. Left out: 1 already resent (last by U0ALICE at " in confirm
    assert confirm.endswith(
        "Resend uses the current template for callout auth and email From/To/Cc/Bcc/Reply-To."
    )
