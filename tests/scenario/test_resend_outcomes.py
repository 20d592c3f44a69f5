"""Did it work? A resend clicked through signed HTTP, then the clock reading the history for its new
record: delivered, failed again, or no outcome yet, on the card and in the audit, across restarts.

The sandbox Zuora adds a resent notification's new record 5 s of sandbox time after the resend; the
tests move its clock (`advance`) and the bot's (`later`) instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.actions import ActionId
from bot.deps import build_deps
from bot.digest.service import run_due_digests
from bot.sandbox.tenant import FailAgain
from tests.support.channel_commands import CHANNEL, settled
from tests.support.outcome_watch import check_at, on_database, only_watch, watch_harness
from tests.support.scenario import RESEND_EMAIL
from tests.support.stack_fixtures import (
    ORDINARY_ACCOUNT,
    Harness,
    all_text,
    button,
    dispatch_harness,
    ids_of,
)

HISTORY = "/v1/notification-history/"


@pytest.fixture
def harness(tmp_path: Path, db_url: str) -> Iterator[Harness]:
    with watch_harness(tmp_path, db_url) as started:
        yield started


def resend_first_email(harness: Harness) -> tuple[str, str]:
    """Click the first email row's Resend on a fresh card; its history id and response_url."""
    card = harness.card_for(ORDINARY_ACCOUNT)
    row = button(card, RESEND_EMAIL)
    click = harness.click(row)
    assert click.status == 200
    assert harness.posts(click.response_url)[-1]["text"].startswith("1 of 1 email resent")
    return ids_of(row)[0], click.response_url


def email(harness: Harness, history_id: str):  # noqa: ANN201 - a sandbox record
    return next(e for e in harness.tenant.emails if e.id == history_id)


def test_resent_email_delivered_ends_delivered_on_card_and_audit(harness: Harness) -> None:
    history_id, url = resend_first_email(harness)
    original = email(harness, history_id)

    assert check_at(harness.deps, 10) == 0, "nothing is due before RESEND_WATCH_FIRST_SECONDS"
    harness.zuora.advance(6)  # the sandbox adds the new record 5 s after the resend
    assert check_at(harness.deps, 31) == 1

    shown = harness.posts(url)[-1]
    assert shown["replace_original"] is True
    text = all_text(shown)
    assert "delivered" in text and "failed again" not in text
    assert original.subject and original.subject in text, "the card names what was resent"
    watch = only_watch(harness.deps)
    assert (watch.outcome, watch.checks_done) == ("delivered", 1)
    assert watch.items[0].state == "delivered" and watch.items[0].at is not None
    audit = harness.command("audit")
    assert "delivered" in all_text(harness.wait_posts(audit.response_url, 1)[-1])


def test_resent_email_bouncing_again_ends_failed_again_with_the_reason(harness: Harness) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)
    row = button(card, RESEND_EMAIL)
    to = email(harness, ids_of(row)[0]).to_email
    harness.tenant.fails_again[to] = FailAgain("550 5.1.1 <{to}>... User unknown")
    click = harness.click(row)
    harness.zuora.advance(6)

    assert check_at(harness.deps, 31) == 1

    text = all_text(harness.posts(click.response_url)[-1])
    assert "failed again: 550 5.1.1 User unknown" in text
    assert to not in text.split("failed again")[1], "the bounce's address is taken out"
    assert only_watch(harness.deps).outcome == "failed"


def test_outcome_survives_a_restart_between_resend_and_outcome(
    harness: Harness, db_url: str
) -> None:
    history_id, url = resend_first_email(harness)
    harness.deps.close()  # the web process is gone; a new clock process on the same database
    harness.zuora.advance(6)
    fresh = build_deps(on_database(harness.stack.settings(), db_url))
    try:
        assert check_at(fresh, 31) == 1
        assert "delivered" in all_text(harness.posts(url)[-1])
        assert only_watch(fresh).items[0].history_id == history_id
    finally:
        fresh.close()


def test_no_new_record_ends_no_outcome_yet_after_the_bounded_checks(harness: Harness) -> None:
    harness.tenant.redelivery_delay = harness.tenant.redelivery_delay * 10_000  # never, here
    _, url = resend_first_email(harness)
    posts_before = len(harness.posts(url))
    harness.zuora.reset_log()

    elapsed, ended = 0.0, []
    for delay in (30, 60, 120, 240, 480):  # RESEND_WATCH_FIRST_SECONDS, doubling, 5 checks
        elapsed += delay
        assert check_at(harness.deps, elapsed - 1) == 0, "not due a second early"
        ended.append(check_at(harness.deps, elapsed + 1))
    assert ended == [0, 0, 0, 0, 1]
    assert check_at(harness.deps, elapsed + 10_000) == 0, "a final watch is never checked again"

    watch = only_watch(harness.deps)
    assert (watch.outcome, watch.checks_done) == ("none", 5)
    assert "no outcome yet" in all_text(harness.posts(url)[-1])
    assert len(harness.posts(url)) == posts_before + 1, "one response_url use for the outcome"
    history = [r for r in harness.zuora.requests(HISTORY)]
    # The first check finds the original on the card (one email listing, one callout listing);
    # then one email listing of the account per check.
    assert len(history) <= 2 + 5, [r.path for r in history]
    assert sum("email" in r.path for r in history) <= 1 + 5


def test_status_shows_the_did_it_work_rule(harness: Harness) -> None:
    reply = harness.command("status")
    text = all_text(harness.wait_posts(reply.response_url, 1)[-1])
    assert "Did it work?" in text and "appends a NEW history record" in text
    assert "toEmail" in text and "&lt;Event.ID&gt;" in text


def test_digest_resend_all_outcome_edits_its_thread_reply_not_the_digest(tmp_path: Path) -> None:
    with dispatch_harness(tmp_path, allowed_users="U0ALLOWED") as harness:
        harness.slack.set_channel(CHANNEL, name="billing-ops", is_member=True)
        settled(harness, "digest subscribe at 09:00 tz UTC")
        (result,) = run_due_digests(harness.deps, harness.deps.now(), force=True, owner="test")
        (digest,) = harness.slack.messages(CHANNEL)
        harness.click(
            button(digest, ActionId.RESEND_ALL.value), user_id="U0ALLOWED", message=digest
        )
        before_digest, reply = harness.slack.messages(CHANNEL)
        harness.zuora.advance(6)

        assert check_at(harness.deps, 31) == 1

        after_digest, after_reply = harness.slack.messages(CHANNEL)
        assert after_digest == before_digest, "the shared digest is left as it was"
        assert after_reply["ts"] == reply["ts"] and after_reply["thread_ts"] == digest["ts"]
        assert "delivered" in all_text(after_reply)
        assert len(harness.slack.calls("chat.update")) >= 1


def test_a_fresh_card_remembers_the_resend_and_its_outcome(harness: Harness) -> None:
    history_id, _ = resend_first_email(harness)
    again = harness.card_for(ORDINARY_ACCOUNT)
    (row,) = [b for b in again["blocks"] if history_id in str(b.get("accessory") or {})]
    assert "resent by <@U0001>" in all_text({"blocks": [row]})
    assert "checking Zuora's history" in all_text({"blocks": [row]})

    harness.zuora.advance(6)
    assert check_at(harness.deps, 31) == 1
    fresh = harness.card_for(ORDINARY_ACCOUNT)
    text = next(
        all_text({"blocks": [b]})
        for b in fresh["blocks"]
        if history_id in str(b.get("accessory") or {})
    )
    assert "resent by <@U0001>" in text and "delivered" in text
