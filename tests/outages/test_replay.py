"""Outage replay ("Resend all N" of one cause) through signed clicks against the sandbox Zuora/Slack:
chunks of 1,000 with distinct derived keys, progress in place, exactly once across clicks, workers
and crashes, access and stale buttons, Zuora down mid-replay, and ids resolved with Data Query."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import App

from bot.app import create_app
from bot.core.actions import ActionId, OutageRef
from bot.deps import Deps, build_deps
from bot.outages.causes import Cause
from bot.outages.replay import (
    chunk_key,
    claim_replay,
    drive_replay,
    find_target,
    redrive_stale_replays,
)
from bot.sandbox.replay_tenant import OUTAGE_CAUSE, build_outage_tenant
from bot.settings import StoreSettings
from bot.zuora.models import TimeWindow
from tests.support.db_urls import postgres_schema
from tests.support.replay import cli_env, replay_button, run_cli, window_now
from tests.support.stack_fixtures import RESEND_PATH_PREFIX, Harness, all_text, dispatch_harness

CALLOUT_RESEND = "/notifications/callout-histories/resend"


def outage_tenant(failed: int = 2500, **kwargs: Any):
    return build_outage_tenant(failed=failed, now=datetime.now(UTC), **kwargs)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(
        tmp_path, tenant=outage_tenant(), zuora_overrides={"retry_max_delay": 0.05}
    ) as h:
        yield h


def replay_calls(harness: Harness):
    return [c for c in harness.zuora.resend_calls("callout")]


def duplicates(harness: Harness) -> dict[str, int]:
    return {i: n for i, n in harness.zuora.resend_counts().items() if n > 1}


def test_replay_sends_2500_ids_in_three_requests_with_distinct_keys(harness: Harness) -> None:
    window = window_now()
    reply = harness.click(replay_button(window))
    assert reply.status == 200
    calls = replay_calls(harness)
    assert [len(c.ids) for c in calls] == [1000, 1000, 500]
    assert len({c.idempotency_key for c in calls}) == 3
    assert not any(c.replayed for c in calls)
    assert len({i for c in calls for i in c.ids}) == 2500
    assert duplicates(harness) == {}
    posts = harness.posts(reply.response_url)
    assert len(posts) <= 4  # a response_url takes 5 posts
    assert all(p["replace_original"] is True for p in posts)
    assert "Resending 0 of 2,500 callouts" in posts[0]["text"]
    assert "2,500 of 2,500 callouts resent" in all_text(posts[-1])
    audit = harness.deps.store.list_resends(limit=10)
    assert len(audit) == 3 and {a.status for a in audit} == {"succeeded"}
    assert sorted(len(a.ids) for a in audit) == [500, 1000, 1000]


def test_replay_second_click_is_told_already_replayed(harness: Harness) -> None:
    window = window_now()
    harness.click(replay_button(window))
    second = harness.click(replay_button(window), user_id="U0002")
    told = harness.posts(second.response_url)
    assert len(told) == 1 and told[0]["replace_original"] is False
    assert "Already replayed by <@U0001>" in all_text(told[0])
    assert len(replay_calls(harness)) == 3


def test_replay_refuses_user_not_on_allow_list(tmp_path: Path) -> None:
    with dispatch_harness(tmp_path, tenant=outage_tenant(50), allowed_users="U0001") as harness:
        reply = harness.click(replay_button(window_now()), user_id="U0666")
        text = all_text(harness.posts(reply.response_url)[-1])
        assert "allow-list" in text
        assert harness.zuora.requests(RESEND_PATH_PREFIX) == []
        assert harness.deps.store.replays_for_cause(OUTAGE_CAUSE.id) == []


def test_replay_refuses_forged_value(harness: Harness) -> None:
    button = replay_button(window_now())
    button["value"] = button["value"].replace('"c":"', '"c":"X')
    reply = harness.click(button)
    assert reply.status == 200
    assert harness.posts(reply.response_url)[-1]["replace_original"] is False
    assert harness.zuora.requests(RESEND_PATH_PREFIX) == []


def test_replay_stale_cause_or_count_resends_nothing(harness: Harness) -> None:
    gone = Cause("callout", "nowhere.example/ HTTP 500")
    reply = harness.click(replay_button(window_now(), cause=gone))
    assert "out of date" in all_text(harness.posts(reply.response_url)[-1])
    reply = harness.click(replay_button(window_now(), count=10))
    assert "not the 10 you confirmed" in all_text(harness.posts(reply.response_url)[-1])
    assert harness.zuora.requests(RESEND_PATH_PREFIX) == []


def test_replay_bad_window_resends_nothing(harness: Harness) -> None:
    window = window_now()
    backwards = TimeWindow(start=window.end, end=window.start, label="24h")
    reply = harness.click(replay_button(backwards))
    assert "out of date" in all_text(harness.posts(reply.response_url)[-1])
    assert harness.zuora.requests(RESEND_PATH_PREFIX) == []


@contextmanager
def second_worker(harness: Harness, database_url: str | None = None) -> Iterator[tuple[Deps, App]]:
    """Another process's Deps and App on the same database (or on `database_url`)."""
    settings = harness.stack.settings()
    if database_url is not None:
        settings = settings.model_copy(
            update={"store": StoreSettings(_env_file=None, database_url=database_url)}
        )
    deps = build_deps(settings)
    try:
        yield deps, create_app(deps, process_before_response=True)
    finally:
        deps.close()


def race_two_workers(harness: Harness, other: App) -> list[Any]:
    """Two people click the same cause at once, each on another worker."""
    from slack_bolt import BoltRequest

    from bot.sandbox.slack_requests import sign
    from tests.support.stack_fixtures import click_body_for

    button = replay_button(window_now())
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def click(slot: int, app: App, user_id: str) -> None:
        url = harness.slack.response_url("click", kind="interaction")
        body = click_body_for(button, response_url=url, user_id=user_id)
        import time

        headers = dict(sign(harness.stack.signing_secret, body, int(time.time())))
        barrier.wait()
        results[slot] = (app.dispatch(BoltRequest(body=body.decode(), headers=headers)), url)

    threads = [
        threading.Thread(target=click, args=(0, harness.app, "U0001")),
        threading.Thread(target=click, args=(1, other, "U0002")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_replay_racing_clicks_on_two_workers_resend_once_sqlite(harness: Harness) -> None:
    with second_worker(harness) as (_, other):
        results = race_two_workers(harness, other)
    assert all(r is not None and r[0].status == 200 for r in results)
    assert len(replay_calls(harness)) == 3
    assert duplicates(harness) == {}
    texts = [all_text(harness.posts(url)[-1]) for _, url in results]
    assert sum("2,500 of 2,500 callouts resent" in t for t in texts) == 1
    assert sum(("in progress" in t or "Already replayed" in t) for t in texts) == 1


@pytest.mark.postgres
def test_replay_racing_clicks_on_two_workers_resend_once_postgres(tmp_path: Path) -> None:
    with postgres_schema() as url:
        with dispatch_harness(tmp_path, tenant=outage_tenant()) as harness:
            with second_worker(harness, url) as (deps_a, app_a):
                with second_worker(harness, url) as (_, app_b):
                    harness.app = app_a
                    results = race_two_workers(harness, app_b)
                    assert all(r is not None and r[0].status == 200 for r in results)
                    assert len(replay_calls(harness)) == 3
                    assert duplicates(harness) == {}
                    replays = deps_a.store.replays_for_cause(OUTAGE_CAUSE.id)
                    assert [(r.state, r.sent) for r in replays] == [("done", 2500)]


def test_replay_zuora_down_mid_replay_waits_then_the_clock_continues(harness: Harness) -> None:
    deps = harness.deps
    window = window_now()
    target = find_target(deps, OUTAGE_CAUSE.id, window, track_id="t-down")
    assert target is not None and len(target.ids) == 2500
    claim = claim_replay(
        deps, target, team_id="T1", user_id="U0001", track_id="t-down", reply_url=None
    )
    assert claim.won

    def go_down(replay: Any) -> None:
        harness.zuora.set_down(True)  # it hangs up after reading: chunk 2's outcome is unknown

    waiting = drive_replay(deps, claim.replay, progress=go_down)
    assert waiting.state == "running" and waiting.waiting
    assert (waiting.chunks_done, waiting.sent, waiting.not_sent) == (1, 1000, 0)
    from bot.outages.replay_cards import build_replay_busy, build_replay_progress

    text = all_text(build_replay_progress(waiting).as_payload())
    assert "Waiting for Zuora's answer to request 2 of 3" in text and "Not failed" in text
    assert "Waiting for Zuora's answer" in all_text(build_replay_busy(waiting).as_payload())
    statuses = sorted(a.status for a in deps.store.list_resends(limit=10))
    assert statuses == ["succeeded", "waiting"], "the unknown chunk is not counted as failed"
    harness.zuora.set_down(False)
    # A click meanwhile joins the waiting replay; the clock then asks with chunk 2's own key.
    reply = harness.click(replay_button(window))
    assert "Replay in progress" in all_text(harness.posts(reply.response_url)[-1])
    later = dataclasses.replace(deps, now=lambda: datetime.now(UTC) + timedelta(minutes=5))
    shown: list[Any] = []
    assert redrive_stale_replays(later, on_done=shown.append) == 1
    assert shown and shown[0].state == "done" and shown[0].sent == 2500
    assert duplicates(harness) == {}
    assert sum(harness.zuora.resend_counts().values()) == 2500
    sent = [c for c in replay_calls(harness) if c.status == 202]
    assert [len(c.ids) for c in sent] == [1000, 1000, 500]
    assert {a.status for a in deps.store.list_resends(limit=10)} == {"succeeded"}


def test_replay_worker_death_is_redriven_with_same_keys(harness: Harness) -> None:
    deps = harness.deps
    window = window_now()
    target = find_target(deps, OUTAGE_CAUSE.id, window, track_id="t-dead")
    assert target is not None
    url = harness.slack.response_url("click", kind="interaction")
    claim = claim_replay(
        deps,
        target,
        team_id="T1",
        user_id="U0001",
        track_id="t-dead",
        reply_url=url,
        owner="dead-worker",
    )

    class Killed(Exception):
        pass

    def die(replay: Any) -> None:
        raise Killed

    with pytest.raises(Killed):
        drive_replay(deps, claim.replay, owner="dead-worker", progress=die)
    # The dead worker had also sent chunk 2 (its request reached Zuora) before it died.
    replay = deps.store.replay(claim.replay.replay_key)
    assert replay is not None and replay.chunks_done == 1
    deps.service.resend(
        "callout", replay.chunk(1), idempotency_key=chunk_key(replay, 1, 1), track_id="t-dead"
    )
    later = dataclasses.replace(deps, now=lambda: datetime.now(UTC) + timedelta(hours=1))
    shown: list[Any] = []
    assert redrive_stale_replays(later, on_done=shown.append) == 1
    assert shown and shown[0].state == "done" and shown[0].sent == 2500
    assert duplicates(harness) == {}
    calls = replay_calls(harness)
    assert Counter(c.replayed for c in calls) == Counter({False: 3, True: 1})


def test_replay_resolves_missing_ids_with_one_data_query(tmp_path: Path) -> None:
    tenant = outage_tenant(1200, rest_ids=False, accounts=120)
    with dispatch_harness(tmp_path, tenant=tenant, zuora_overrides={"id_wait": 0.2}) as harness:
        deps = harness.deps
        target = find_target(deps, OUTAGE_CAUSE.id, window_now(), track_id="t-dq")
        assert target is not None
        tenant_events = target.group.count - len(target.ids)
        assert len(target.ids) > 1000 and target.unresolved == tenant_events
        id_queries = [q for q in harness.zuora.queries_submitted if "AccountId IN" in q]
        assert len(id_queries) == 1
        reply = harness.click(replay_button(window_now()))
        text = all_text(harness.posts(reply.response_url)[-1])
        assert f"{len(target.ids):,} of {len(target.ids):,} callouts resent" in text
        assert duplicates(harness) == {}


def test_cli_replay_refuses_without_yes_when_not_a_terminal(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env(harness, monkeypatch)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, out, err = run_cli("replay", OUTAGE_CAUSE.id)
    assert code == 2 and "pass --yes" in err
    assert "Resend 2,500 callouts of cause" in out and "accounts" in out
    assert harness.zuora.requests(RESEND_PATH_PREFIX) == []


def test_cli_replay_yes_prints_plain_progress_lines_and_summary(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env(harness, monkeypatch)
    code, out, err = run_cli("replay", OUTAGE_CAUSE.id, "--window", "25h", "--yes")
    assert code == 0, err
    assert "resent 0 of 2500 (0 of 3 requests)" in err
    assert "resent 2500 of 2500 (3 of 3 requests)" in err
    assert "\r" not in err
    assert "2,500 of 2,500 callouts resent" in out
    assert [len(c.ids) for c in replay_calls(harness)] == [1000, 1000, 500]


def test_cli_replay_after_the_slack_button_sends_nothing_twice(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.click(replay_button(window_now()))
    cli_env(harness, monkeypatch)
    code, out, err = run_cli("replay", OUTAGE_CAUSE.id, "--window", "25h", "--yes")
    assert code == 0, err
    assert "2,500 already resent by an earlier replay" in out and "Nothing to send" in out
    assert len(replay_calls(harness)) == 3 and duplicates(harness) == {}


def test_cli_replay_rejects_a_malformed_cause_id(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env(harness, monkeypatch)
    code, _, err = run_cli("replay", "not-a-cause", "--yes")
    assert code == 2 and "not a cause id" in err


# --- from the /zuora outages card ----------------------------------------------------------------


def test_replay_from_the_outages_card_resends_the_sandbox_outage_once(tmp_path: Path) -> None:
    from bot.core.actions import decode_value
    from bot.sandbox.tenant import build_tenant
    from tests.support.stack_fixtures import buttons

    tenant = build_tenant(seed=7, now=datetime.now(UTC), outage=True)
    with dispatch_harness(tmp_path, tenant=tenant) as harness:
        reply = harness.command("outages")
        (card,) = harness.wait_posts(reply.response_url, 1)
        button = buttons(card, ActionId.OUTAGE_REPLAY.value)[0]
        ref = decode_value(button["value"], OutageRef)
        click = harness.click(button)
        posts = harness.posts(click.response_url)
        assert all(p["replace_original"] is True for p in posts) and len(posts) <= 4
        assert f"Resending 0 of {ref.n:,} callouts" in posts[0]["text"]
        assert f"{ref.n:,} of {ref.n:,} callouts resent" in all_text(posts[-1])
        calls = replay_calls(harness)
        assert sum(len(c.ids) for c in calls) == ref.n
        assert len(calls) == -(-ref.n // 1000)
        again = harness.click(button, user_id="U0002")
        assert "Already replayed" in all_text(harness.posts(again.response_url)[-1])
        assert len(replay_calls(harness)) == len(calls) and duplicates(harness) == {}


def test_replay_summary_groups_zuora_refusals_by_reason(tmp_path: Path) -> None:
    from bot.sandbox.replay_tenant import OUTAGE_URL
    from bot.sandbox.tenant import ResendFailure

    tenant = outage_tenant(1500)
    ids = [c.id for c in tenant.callouts if c.request_url == OUTAGE_URL]
    gone = ResendFailure("ObjectNotFound", "Callout history does not exist.")
    locked = ResendFailure("InvalidState", "Callout <b>is</b> locked")
    for history_id in ids[:3]:
        tenant.resend_failures[history_id] = gone
    tenant.resend_failures[ids[1200]] = locked
    with dispatch_harness(tmp_path, tenant=tenant) as harness:
        reply = harness.click(replay_button(window_now()))
        text = all_text(harness.posts(reply.response_url)[-1])
        assert "1,496 of 1,500 callouts resent" in text
        assert "4 refused by Zuora" in text
        assert "3 × `ObjectNotFound` Callout history does not exist." in text
        assert "1 × `InvalidState` Callout &lt;b&gt;is&lt;/b&gt; locked" in text
        audit = harness.deps.store.list_resends(limit=5)
        assert sorted(a.status for a in audit) == ["partial", "partial"]
