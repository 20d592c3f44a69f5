"""An unknown resend outcome is never "failed": a timeout, a connection dropped after the request
was sent, or a 5xx leaves the job waiting under the same Idempotency-Key; the card and the audit
say "waiting for Zuora's answer"; the clock asks again with that key (backing off) until Zuora
answers for sure; a click meanwhile starts nothing new. Only a definite refusal allows a new key.

Everything runs against the sandbox Zuora and fake Slack over 127.0.0.1 with the real Deps; the
client reads with a 0.5 s timeout and no retries of its own, so the job-level behaviour is what
decides (with retries the client would often rescue the answer itself, same key).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.deps import Deps
from bot.failures.results import ResendOutcome
from bot.resend.redrive import redrive_stale_resends
from bot.resend.service import AlreadyStarted, ResendClick, perform_resend
from bot.sandbox.stack import SandboxStack
from bot.sandbox.tenant import build_tenant
from tests.support.resend_clicks import failed_email_click

EMAIL_RESEND = "/notifications/email-histories/resend"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SandboxStack]:
    tenant = build_tenant(seed=7, now=datetime.now(UTC))
    overrides = {"read_timeout": 0.5, "max_retries": 0}
    with SandboxStack(tmp_path, tenant=tenant, zuora_overrides=overrides) as running:
        yield running


def deps_of(stack: SandboxStack) -> Deps:
    assert stack.deps is not None
    return stack.deps


def the_click(stack: SandboxStack, key: str) -> ResendClick:
    """One failed email of A00000002 that the sandbox Zuora resends when asked."""
    return failed_email_click(stack, key=key, track_id="zops-unknown-test")


def later(deps: Deps, seconds: float) -> Deps:
    """The same Deps with a clock `seconds` ahead (the clock's next round after the backoff)."""
    return dataclasses.replace(deps, now=lambda: datetime.now(UTC) + timedelta(seconds=seconds))


def wait_until_zuora_is_idle(stack: SandboxStack) -> None:
    deadline = time.monotonic() + 10
    while stack.zuora.resends_in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stack.zuora.resends_in_flight == 0


def card_text(message: dict[str, Any]) -> str:
    parts = [str(message.get("text") or "")]
    for block in message.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text") or ""))
        for element in block.get("elements") or []:
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts)


def assert_waiting_card(shown: str) -> None:
    assert "waiting for Zuora's answer" in shown
    assert "did not go through" not in shown and ":x:" not in shown
    assert "same Idempotency-Key" in shown


def assert_finished_once_by_the_clock(stack: SandboxStack, click: ResendClick, reply: str) -> None:
    """The clock's re-ask used the same key, Zuora resent once, and audit and card say sent."""
    deps = deps_of(stack)
    (history_id,) = click.ids
    assert stack.zuora.resent(history_id) == 1, "Zuora resent the email exactly once"
    keys = {r.headers["idempotency-key"] for r in stack.zuora.requests(EMAIL_RESEND)}
    assert len(keys) == 1, "every ask, the clock's included, carried the first key"
    (entry,) = deps.store.list_resends()
    assert entry.status == "succeeded" and entry.outcome[history_id].ok
    card = stack.slack.responses(reply)[-1]
    assert card["replace_original"] is True
    assert card["text"].startswith("1 of 1 email resent")
    job = deps.store.resend_job(click.dedup_key)
    assert job is not None and job.state == "done" and job.attempt == 1


def test_unknown_outcome_timeout_waits_and_the_clock_asks_again_with_the_same_key(
    stack: SandboxStack,
) -> None:
    deps = deps_of(stack)
    click = the_click(stack, "k-timeout")
    reply = stack.slack.response_url("click")
    stack.zuora.set_resend_delay(1.5)  # Zuora holds the resend 1.5 s; the bot reads 0.5 s
    shown: list[str] = []

    outcome = perform_resend(
        deps, click, lambda m: shown.append(card_text(m.as_payload())), reply_url=reply
    )

    assert_waiting_card(shown[-1])
    assert isinstance(outcome, ResendOutcome) and outcome.result is None
    (entry,) = deps.store.list_resends()
    assert entry.status == "waiting", "an unknown outcome is not recorded as failed"
    assert entry.error is not None and "did not answer in time" in entry.error
    # A click meanwhile is told it waits for Zuora and starts no new attempt (no new key).
    again = perform_resend(deps, click, lambda m: shown.append(m.text), reply_url=reply)
    assert isinstance(again, AlreadyStarted) and again.in_flight
    assert "Waiting for Zuora's answer" in again.message().text
    assert len(stack.zuora.requests(EMAIL_RESEND)) == 1
    # The clock respects the backoff, then asks again once Zuora is done with the first request.
    assert redrive_stale_resends(deps) == 0, "not yet due"
    wait_until_zuora_is_idle(stack)
    assert redrive_stale_resends(later(deps, 60)) == 1
    assert [c.replayed for c in stack.zuora.resend_calls("email")] == [False, True]
    assert_finished_once_by_the_clock(stack, click, reply)


@pytest.mark.parametrize(
    "lose",
    [
        pytest.param({"status": None}, id="dropped-connection-after-send"),
        pytest.param({"status": 502}, id="5xx-after-zuora-resent"),
    ],
)
def test_unknown_outcome_after_zuora_resent_is_never_sent_twice(
    stack: SandboxStack, lose: dict[str, Any]
) -> None:
    deps = deps_of(stack)
    click = the_click(stack, f"k-lost-{lose['status']}")
    reply = stack.slack.response_url("click")
    stack.zuora.lose_next_resend_answers(**lose)  # Zuora resends, the answer never arrives
    shown: list[str] = []

    outcome = perform_resend(
        deps, click, lambda m: shown.append(card_text(m.as_payload())), reply_url=reply
    )

    assert_waiting_card(shown[-1])
    assert isinstance(outcome, ResendOutcome) and outcome.waiting
    assert [e.status for e in deps.store.list_resends()] == ["waiting"]
    again = perform_resend(deps, click, lambda m: None, reply_url=reply)
    assert isinstance(again, AlreadyStarted), "a click while waiting starts no new key"
    assert redrive_stale_resends(later(deps, 60)) == 1
    assert [c.replayed for c in stack.zuora.resend_calls("email")] == [False, True]
    assert_finished_once_by_the_clock(stack, click, reply)


def test_unknown_outcome_5xx_before_zuora_acted_is_sent_by_the_clock_once(
    stack: SandboxStack,
) -> None:
    deps = deps_of(stack)
    click = the_click(stack, "k-503")
    reply = stack.slack.response_url("click")
    stack.zuora.fail_next(EMAIL_RESEND, status=503)  # a gateway error: Zuora did nothing

    outcome = perform_resend(deps, click, lambda m: None, reply_url=reply)

    assert isinstance(outcome, ResendOutcome) and outcome.waiting
    (history_id,) = click.ids
    assert stack.zuora.resent(history_id) == 0
    assert redrive_stale_resends(later(deps, 60)) == 1
    assert [c.replayed for c in stack.zuora.resend_calls("email")] == [False]
    assert_finished_once_by_the_clock(stack, click, reply)


def test_unknown_outcome_the_clock_backs_off_while_zuora_stays_silent(
    stack: SandboxStack,
) -> None:
    deps = deps_of(stack)
    click = the_click(stack, "k-silent")
    stack.zuora.fail_next(EMAIL_RESEND, status=503, times=3)

    perform_resend(deps, click, lambda m: None, reply_url=None)
    first = deps.store.resend_job("k-silent")
    assert first is not None and first.lease_until is not None
    assert redrive_stale_resends(later(deps, 60)) == 0, "asked again; still no answer"
    second = deps.store.resend_job("k-silent")
    assert second is not None and second.lease_until is not None

    assert second.state == "claimed" and second.audit.status == "waiting"
    # Each wait is at least as long as the time already waited (the first ask was 60 s earlier).
    assert second.lease_until - (datetime.now(UTC) + timedelta(seconds=60)) >= timedelta(seconds=55)
    assert len({r.headers["idempotency-key"] for r in stack.zuora.requests(EMAIL_RESEND)}) == 1


def test_unknown_outcome_a_definite_refusal_lets_a_new_click_use_a_new_key(
    stack: SandboxStack,
) -> None:
    deps = deps_of(stack)
    click = the_click(stack, "k-refused")
    stack.zuora.fail_next(EMAIL_RESEND, status=400)  # Zuora refused: it did not send

    refused = perform_resend(deps, click, lambda m: None, reply_url=None)
    retried = perform_resend(deps, click, lambda m: None, reply_url=None)

    assert isinstance(refused, ResendOutcome) and refused.error and not refused.waiting
    assert isinstance(retried, ResendOutcome) and retried.result is not None
    (history_id,) = click.ids
    assert stack.zuora.resent(history_id) == 1
    keys = [r.headers["idempotency-key"] for r in stack.zuora.requests(EMAIL_RESEND)]
    assert len(keys) == 2 and keys[0] != keys[1], "the retry after a refusal used a new key"
    assert sorted(e.status for e in deps.store.list_resends()) == ["error", "succeeded"]


# -- replay chunks ---------------------------------------------------------------------------------


def test_unknown_outcome_replay_chunk_waits_and_the_clock_sends_it_once_with_its_key(
    tmp_path: Path,
) -> None:
    from bot.outages.replay import redrive_stale_replays
    from bot.sandbox.replay_tenant import OUTAGE_CAUSE, build_outage_tenant
    from tests.support.replay import replay_button, window_now
    from tests.support.stack_fixtures import all_text, dispatch_harness

    tenant = build_outage_tenant(failed=1500, now=datetime.now(UTC))
    overrides = {"read_timeout": 2.0, "max_retries": 0}
    with dispatch_harness(tmp_path, tenant=tenant, zuora_overrides=overrides) as harness:
        deps = harness.deps
        # Zuora resends chunk 1 but a gateway answers 502: its outcome is unknown.
        harness.zuora.lose_next_resend_answers(status=502)

        reply = harness.click(replay_button(window_now()))

        last = all_text(harness.posts(reply.response_url)[-1])
        assert "Waiting for Zuora's answer to request 1 of 2" in last and "Not failed" in last
        (replay,) = deps.store.replays_for_cause(OUTAGE_CAUSE.id)
        assert replay.waiting and replay.chunks_done == 0 and replay.state == "running"
        assert [a.status for a in deps.store.list_resends()] == ["waiting"]
        assert redrive_stale_replays(deps) == 0, "not yet due"
        shown: list[Any] = []
        assert redrive_stale_replays(later(deps, 60), on_done=shown.append) == 1

        assert shown and shown[0].state == "done" and shown[0].sent == 1500
        counts = harness.zuora.resend_counts()
        assert len(counts) == 1500 and set(counts.values()) == {1}, "each id resent once"
        calls = harness.zuora.resend_calls("callout")
        assert [(len(c.ids), c.replayed) for c in calls] == [
            (1000, False),
            (1000, True),
            (500, False),
        ]
        assert calls[0].idempotency_key == calls[1].idempotency_key, "chunk 1 kept its key"
        assert {a.status for a in deps.store.list_resends()} == {"succeeded"}
