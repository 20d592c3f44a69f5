"""Once per notification (issue 16): a history id is resent at most once per window whoever asks,
from whichever card; others are told who resent it and may press "Resend again" (behind a confirm);
the allow-list is checked before any Zuora request; two outage cards of one cause resend once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core.actions import ActionId
from bot.resend.once import notification_scope
from bot.sandbox.replay_tenant import build_outage_tenant
from bot.store import OnceRule
from bot.zuora.models import TimeWindow
from tests.support.replay import replay_button
from tests.support.stack_fixtures import (
    ORDINARY_ACCOUNT,
    Harness,
    JsonDict,
    all_text,
    button,
    buttons,
    dispatch_harness,
    ticked,
)

RESEND_CONFIRM = ActionId.RESEND_CONFIRM.value
RESEND_AGAIN = ActionId.RESEND_AGAIN.value


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path) as started:
        yield started


def resendable_email(harness: Harness) -> str:
    """A failed email id Zuora resends without complaint."""
    return next(
        email.id
        for email in harness.tenant.emails
        if email.failed and email.id not in harness.tenant.resend_failures
    )


def confirm_card(harness: Harness, history_id: str, user_id: str) -> JsonDict:
    """`/zuora resend <id>` typed by `user_id`: the confirm card from the ack."""
    reply = harness.command(f"resend {history_id}", user_id=user_id)
    assert reply.status == 200
    return reply.ack


def press_confirm(harness: Harness, card: JsonDict, user_id: str, ts: str) -> Any:
    """Press Resend on a person's own confirm card (each ephemeral card has its own ts)."""
    return harness.click(button(card, RESEND_CONFIRM), user_id=user_id, message_ts=ts)


def test_once_two_people_resend_command_send_one_resend_and_the_second_is_told(
    harness: Harness,
) -> None:
    history_id = resendable_email(harness)
    alice = confirm_card(harness, history_id, "U0ALICE")
    bob = confirm_card(harness, history_id, "U0BOB")

    first = press_confirm(harness, alice, "U0ALICE", "1700000001.000100")
    second = press_confirm(harness, bob, "U0BOB", "1700000002.000200")

    assert harness.resends() == [("email", (history_id,))]
    assert harness.posts(first.response_url)[-1]["text"].startswith("1 of 1 email resent")
    told = harness.posts(second.response_url)
    assert len(told) == 1 and told[0]["replace_original"] is False
    text = all_text(told[0])
    assert f"`{history_id}` already resent by <@U0ALICE> at <!date^" in text
    assert "— sent" in text and "Nothing was sent twice" in text
    again = button(told[0], RESEND_AGAIN)
    assert again["confirm"]["style"] == "danger"
    assert again["confirm"]["confirm"]["text"] == "Resend again"


def test_once_resend_again_behind_confirm_resends_with_a_new_key_and_is_audited(
    harness: Harness,
) -> None:
    history_id = resendable_email(harness)
    press_confirm(harness, confirm_card(harness, history_id, "U0ALICE"), "U0ALICE", "1.1")
    bob = press_confirm(harness, confirm_card(harness, history_id, "U0BOB"), "U0BOB", "2.2")
    carol = press_confirm(harness, confirm_card(harness, history_id, "U0CAROL"), "U0CAROL", "3.3")
    bob_again = button(harness.posts(bob.response_url)[-1], RESEND_AGAIN)
    carol_again = button(harness.posts(carol.response_url)[-1], RESEND_AGAIN)

    pressed = harness.click(bob_again, user_id="U0BOB", message_ts="2.3")

    calls = harness.zuora.resend_calls("email")
    assert [c.ids for c in calls] == [(history_id,), (history_id,)]
    assert calls[0].idempotency_key != calls[1].idempotency_key
    assert harness.zuora.resent(history_id) == 2
    assert harness.posts(pressed.response_url)[-1]["text"].startswith("1 of 1 email resent")
    newest = harness.deps.store.list_resends(limit=1)[0]
    assert (newest.user_id, newest.ids, newest.status) == ("U0BOB", (history_id,), "succeeded")
    scope = notification_scope(harness.deps.settings.zuora)
    (claim,) = harness.deps.store.notification_claims(
        scope, "email", [history_id], now=datetime.now(UTC)
    )
    assert (claim.user_id, claim.again, claim.previous_user_id) == ("U0BOB", True, "U0ALICE")

    # The same Resend again pressed twice, and Carol's from a notice drawn before Bob's: no more.
    harness.click(bob_again, user_id="U0BOB", message_ts="2.3")
    late = harness.click(carol_again, user_id="U0CAROL", message_ts="3.4")
    assert harness.zuora.resent(history_id) == 2
    assert "already resent again by <@U0BOB>" in all_text(harness.posts(late.response_url)[-1])


def test_once_resend_again_refuses_a_user_not_on_the_allow_list(tmp_path: Path) -> None:
    with dispatch_harness(tmp_path, allowed_users="U0ALICE,U0BOB") as harness:
        history_id = resendable_email(harness)
        press_confirm(harness, confirm_card(harness, history_id, "U0ALICE"), "U0ALICE", "1.1")
        bob = press_confirm(harness, confirm_card(harness, history_id, "U0BOB"), "U0BOB", "2.2")
        again = button(harness.posts(bob.response_url)[-1], RESEND_AGAIN)
        mallory = harness.click(again, user_id="U0MALLORY", message_ts="2.3")
        assert "allow-list" in all_text(harness.posts(mallory.response_url)[-1])
        assert harness.zuora.resent(history_id) == 1


def test_once_row_button_on_another_card_leaves_out_an_id_resent_from_the_command(
    harness: Harness,
) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)
    row = next(
        b
        for b in buttons(card, ActionId.RESEND_EMAIL.value)
        if b["value"].split(".")[3] not in harness.tenant.resend_failures
    )
    history_id = row["value"].split(".")[3]
    press_confirm(harness, confirm_card(harness, history_id, "U0ALICE"), "U0ALICE", "1.1")
    clicked = harness.click(row, user_id="U0BOB", message_ts="9.9")
    assert harness.zuora.resent(history_id) == 1
    assert "already resent by <@U0ALICE>" in all_text(harness.posts(clicked.response_url)[-1])


def test_once_resend_selected_resends_only_the_ids_nobody_resent(harness: Harness) -> None:
    card = harness.card_for()
    state, chosen = ticked(card, 3)
    held = chosen[0]
    press_confirm(harness, confirm_card(harness, held, "U0ALICE"), "U0ALICE", "1.1")
    selected = button(card, ActionId.RESEND_SELECTED.value)
    reply = harness.click(selected, user_id="U0BOB", state_values=state, message_ts="4.4")
    resent = [ids for kind, ids in harness.resends()]
    assert resent[0] == (held,) and sorted(resent[1]) == sorted(chosen[1:])
    assert all(harness.zuora.resent(i) == 1 for i in chosen)
    texts = [all_text(p) for p in harness.posts(reply.response_url)]
    assert any("2 of 2 emails resent" in t for t in texts)
    assert any(f"`{held}` already resent by <@U0ALICE>" in t for t in texts)


def test_once_the_window_ends_and_the_id_may_be_resent_again(harness: Harness) -> None:
    store, scope = harness.deps.store, notification_scope(harness.deps.settings.zuora)
    history_id = resendable_email(harness)
    press_confirm(harness, confirm_card(harness, history_id, "U0ALICE"), "U0ALICE", "1.1")
    later = datetime.now(UTC) + timedelta(hours=25)
    assert store.notification_claims(scope, "email", [history_id], now=later) == []
    assert len(store.notification_claims(scope, "email", [history_id], now=datetime.now(UTC))) == 1
    with pytest.raises(ValueError):
        OnceRule(scope=scope, window=timedelta(0))


# --- the allow-list first ------------------------------------------------------------------------


@pytest.mark.parametrize("control", ["resend_all", "row", "selected", "confirm"])
def test_once_denied_click_costs_zero_zuora_requests(tmp_path: Path, control: str) -> None:
    with dispatch_harness(tmp_path, allowed_users="U0001") as harness:
        card = harness.card_for()
        harness_card = harness.card_for(ORDINARY_ACCOUNT)
        confirm = confirm_card(harness, resendable_email(harness), "U0001")
        harness.zuora.reset_log()
        for _ in range(3):
            if control == "resend_all":
                reply = harness.click(button(card, ActionId.RESEND_ALL.value), user_id="U0666")
            elif control == "row":
                row = buttons(harness_card, ActionId.RESEND_EMAIL.value)[0]
                reply = harness.click(row, user_id="U0666")
            elif control == "selected":
                state, _ = ticked(card, 2)
                selected = button(card, ActionId.RESEND_SELECTED.value)
                reply = harness.click(selected, user_id="U0666", state_values=state)
            else:
                reply = harness.click(button(confirm, RESEND_CONFIRM), user_id="U0666")
            assert "allow-list" in all_text(harness.posts(reply.response_url)[-1])
        assert harness.zuora.requests() == []
        assert harness.deps.store.list_resends() == []


# --- two outage cards of one cause ---------------------------------------------------------------


def two_windows() -> tuple[TimeWindow, TimeWindow]:
    """Two people's `/zuora outages` cards a few seconds apart: two windows of one outage."""
    end = datetime.now(UTC).replace(microsecond=0)
    first = TimeWindow(start=end - timedelta(hours=26), end=end - timedelta(seconds=7), label="26h")
    second = TimeWindow(
        start=end - timedelta(hours=26) + timedelta(seconds=7), end=end, label="26h"
    )
    return first, second


def test_once_second_outage_card_after_the_first_replay_resends_nothing(tmp_path: Path) -> None:
    tenant = build_outage_tenant(failed=1200, now=datetime.now(UTC))
    with dispatch_harness(tmp_path, tenant=tenant) as harness:
        first, second = two_windows()
        harness.click(replay_button(first), user_id="U0001")
        again = harness.click(replay_button(second), user_id="U0002")
        assert max(harness.zuora.resend_counts().values()) == 1
        assert sum(harness.zuora.resend_counts().values()) == 1200
        assert "already resent" in all_text(harness.posts(again.response_url)[-1])


def test_once_card_resend_leaves_out_ids_a_replay_holds(tmp_path: Path) -> None:
    tenant = build_outage_tenant(failed=300, now=datetime.now(UTC))
    with dispatch_harness(tmp_path, tenant=tenant) as harness:
        first, _ = two_windows()
        harness.click(replay_button(first), user_id="U0001")
        history_id = next(iter(harness.zuora.resend_counts()))
        reply = harness.command(f"resend callout {history_id}", user_id="U0002")
        told = harness.click(button(reply.ack, RESEND_CONFIRM), user_id="U0002", message_ts="5.5")
        assert harness.zuora.resent(history_id) == 1
        assert "already resent by <@U0001>" in all_text(harness.posts(told.response_url)[-1])


# --- the CLI claims the same notifications --------------------------------------------------------


def test_once_cli_resend_skips_an_id_resent_in_slack_unless_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.replay import cli_env, run_cli

    history_id = resendable_email(harness)
    press_confirm(harness, confirm_card(harness, history_id, "U0ALICE"), "U0ALICE", "1.1")
    cli_env(harness, monkeypatch)

    code, out, err = run_cli("resend", history_id, "--yes", "--user", "ops")
    assert code == 1, err
    assert f"SKIPPED {history_id}: already resent by U0ALICE at " in out and "— sent" in out
    assert harness.zuora.resent(history_id) == 1

    code, out, err = run_cli("resend", history_id, "--yes", "--user", "ops", "--again")
    assert code == 0, err
    assert "1 of 1 resent" in out and harness.zuora.resent(history_id) == 2
    assert harness.deps.store.list_resends(limit=1)[0].user_id == "ops"

    bob = press_confirm(harness, confirm_card(harness, history_id, "U0BOB"), "U0BOB", "2.2")
    assert "already resent again by ops (CLI)" in all_text(harness.posts(bob.response_url)[-1])
    assert harness.zuora.resent(history_id) == 2
