"""The read rule and workspace scoping through the production App: signed slash commands and clicks
from two workspaces (team_ids) and from users on and off the read list, against the sandbox Zuora
and the fake Slack over loopback HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.actions import ActionId
from bot.store import ResendRequest
from tests.support.read_rule import (
    ALLOWED,
    SESSION,
    TEAM_A,
    TEAM_B,
    command,
    posted_text,
    read_harness,
)
from tests.support.stack_fixtures import (
    ORDINARY_ACCOUNT,
    Harness,
    JsonDict,
    Reply,
    buttons,
    click_body_for,
    menu_option,
)

READER = "U0READER"
STRANGER = "U0STRANGER"
REFUSED = "shown only to people on the bot's read list"


def click(harness: Harness, element: JsonDict, *, user_id: str, team_id: str = TEAM_A) -> Reply:
    """A signed click on `element` by `user_id` of workspace `team_id`."""
    url = harness.slack.response_url("click", kind="interaction")
    body = click_body_for(element, response_url=url, user_id=user_id, team_id=team_id)
    reply = Reply(harness.dispatch(body), url)
    assert reply.status == 200, reply.response.body
    return reply


def assert_refused_politely(harness: Harness, reply: Reply, user_id: str) -> None:
    """One ephemeral post that says who may read, whom to ask, and the user's own ID."""
    (post,) = harness.posts(reply.response_url)
    text = post["text"]
    assert text.startswith("Sorry, ") and REFUSED in text
    assert "RESEND_ALLOWED_USERS" in text and "READ_ALLOWED_USERS" in text
    assert "#billing-ops" in text and user_id in text and "Nothing was fetched" in text
    assert post.get("response_type", "ephemeral") == "ephemeral"
    assert post["replace_original"] is False


def audit_row(harness: Harness, team_id: str, track_id: str, account: str) -> None:
    """One stored resend of workspace `team_id`."""
    harness.deps.store.record_resend_requested(
        ResendRequest(
            requested_at=datetime.now(UTC) - timedelta(minutes=5),
            team_id=team_id,
            user_id=ALLOWED,
            account_key=account,
            kind="email",
            ids=("2c92c0f87a3b4e21017a3c5d6e7f8091",),
            track_id=track_id,
            dedup_key=f"key-{track_id}",
        )
    )


# --- callout details ------------------------------------------------------------------------


def test_read_rule_details_refused_to_a_stranger_before_zuora_is_asked(tmp_path: Path) -> None:
    with read_harness(tmp_path) as harness:
        card = command(harness, f"failures {ORDINARY_ACCOUNT}", user_id=STRANGER)
        (shown_card,) = harness.posts(card.response_url)
        details = menu_option(shown_card, "Details")
        harness.zuora.reset_log()

        refused = click(harness, details, user_id=STRANGER)

        assert_refused_politely(harness, refused, STRANGER)
        assert "Callout details" in posted_text(harness, refused)
        assert harness.zuora.requests() == [], "nothing is fetched for someone who may not read"

        allowed = click(harness, details, user_id=ALLOWED)

        (post,) = harness.posts(allowed.response_url)
        assert post["text"].startswith("Callout ")
        assert harness.zuora.requests("/v1/notification-history/callout")


def test_read_rule_details_open_to_read_allowed_users_and_their_groups(tmp_path: Path) -> None:
    with read_harness(tmp_path, readers=f"{READER},S0READERS") as harness:
        harness.slack.set_usergroup("S0READERS", ["U0MEMBER"])
        card = command(harness, f"failures {ORDINARY_ACCOUNT}", user_id=READER)
        details = menu_option(harness.posts(card.response_url)[0], "Details")

        for user_id in (READER, "U0MEMBER"):
            reply = click(harness, details, user_id=user_id)
            assert harness.posts(reply.response_url)[0]["text"].startswith("Callout ")
        assert_refused_politely(harness, click(harness, details, user_id=STRANGER), STRANGER)


def test_read_rule_star_opens_reading_to_the_whole_workspace(tmp_path: Path) -> None:
    with read_harness(tmp_path, readers="*") as harness:
        card = command(harness, f"failures {ORDINARY_ACCOUNT}", user_id=STRANGER)
        details = menu_option(harness.posts(card.response_url)[0], "Details")

        reply = click(harness, details, user_id=STRANGER)

        assert harness.posts(reply.response_url)[0]["text"].startswith("Callout ")
        assert not harness.deps.access.may_resend(STRANGER), "reading is not acting"


def test_read_rule_cards_show_callout_urls_masked(tmp_path: Path) -> None:
    with read_harness(tmp_path) as harness:
        card = command(harness, f"failures {ORDINARY_ACCOUNT}", user_id=ALLOWED)
        details = click(
            harness, menu_option(harness.posts(card.response_url)[0], "Details"), user_id=ALLOWED
        )

        shown = json.dumps(harness.posts(card.response_url) + harness.posts(details.response_url))
        assert "hooks.acme.example/hook/;jsessionid=***?token=***" in shown
        for secret in ("whsec_", "hunter2", SESSION):
            assert secret not in shown


# --- /zuora status ------------------------------------------------------------------------------


def test_read_rule_status_refused_to_a_stranger_and_zuora_is_not_called(tmp_path: Path) -> None:
    with read_harness(tmp_path) as harness:
        harness.zuora.reset_log()

        refused = command(harness, "status", user_id=STRANGER)

        assert_refused_politely(harness, refused, STRANGER)
        assert ALLOWED not in posted_text(harness, refused), "the allow-list is not shown"
        assert harness.zuora.requests() == []

        allowed = command(harness, "status", user_id=ALLOWED)

        shown = posted_text(harness, allowed)
        assert ALLOWED in shown and "READ_ALLOWED_USERS" in shown  # readers see the configuration
        assert harness.zuora.requests()


# --- /zuora audit, two workspaces ---------------------------------------------------------------


def test_read_rule_audit_shows_each_workspace_only_its_own_trail(tmp_path: Path) -> None:
    with read_harness(tmp_path) as harness:
        audit_row(harness, TEAM_A, "track-of-team-a", "A00000001")
        audit_row(harness, TEAM_B, "track-of-team-b", "A00000002")

        seen_a = posted_text(harness, command(harness, "audit", user_id=ALLOWED, team_id=TEAM_A))
        seen_b = posted_text(harness, command(harness, "audit", user_id=ALLOWED, team_id=TEAM_B))
        for_account = command(harness, "audit A00000001", user_id=ALLOWED, team_id=TEAM_B)

        assert "track-of-team-a" in seen_a and "track-of-team-b" not in seen_a
        assert "track-of-team-b" in seen_b and "track-of-team-a" not in seen_b
        assert "No resends recorded for A00000001" in posted_text(harness, for_account)


def test_read_rule_audit_paging_stays_in_the_clickers_workspace(tmp_path: Path) -> None:
    with read_harness(tmp_path) as harness:
        for n in range(12):
            audit_row(harness, TEAM_A, f"track-a-{n:02d}", "A00000001")
        audit_row(harness, TEAM_B, "track-of-team-b", "A00000001")
        first = command(harness, "audit", user_id=ALLOWED, team_id=TEAM_A)
        (card,) = harness.posts(first.response_url)
        (older,) = buttons(card, ActionId.AUDIT_PAGE.value)

        own = click(harness, older, user_id=ALLOWED, team_id=TEAM_A)
        other = click(harness, older, user_id=ALLOWED, team_id=TEAM_B)

        assert "track-a-" in posted_text(harness, own)
        assert "track-a-" not in posted_text(harness, other)


def test_read_rule_audit_refused_to_a_stranger(tmp_path: Path) -> None:
    with read_harness(tmp_path) as harness:
        audit_row(harness, TEAM_A, "track-of-team-a", "A00000001")

        refused = command(harness, "audit", user_id=STRANGER, team_id=TEAM_A)

        assert_refused_politely(harness, refused, STRANGER)
        assert "track-of-team-a" not in posted_text(harness, refused)


@pytest.mark.parametrize("target", ["status", "audit"])
def test_read_rule_refusal_never_reaches_the_store_or_zuora(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    with read_harness(tmp_path) as harness:
        harness.zuora.reset_log()
        reads: list[str] = []
        store = harness.deps.store
        for name in ("list_resends", "count_resends"):
            monkeypatch.setattr(store, name, lambda *a, _n=name, **k: reads.append(_n) or [])

        command(harness, target, user_id=STRANGER)

        assert reads == [] and harness.zuora.requests() == []
