"""The App Home tab through signed requests: published on app_home_opened, refreshed after a change,
never re-published unchanged, read-only off the allow-list, bounded to Slack's 100 blocks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.store import NewAlertSubscription
from tests.support.home import click_home, home_view, open_home, publishes, use_timer
from tests.support.stack_fixtures import (
    BIG_ACCOUNT,
    ORDINARY_ACCOUNT,
    Harness,
    all_text,
    button,
    dispatch_harness,
    elements,
)
from tests.support.subscriptions import new_subscription
from tests.support.watches import dms

ALLOWED = "U0ALLOWED"
STRANGER = "U0STRANGER"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path, allowed_users=ALLOWED) as started:
        yield started


def test_opening_home_publishes_this_users_view(harness: Harness) -> None:
    use_timer(harness)
    response = open_home(harness, ALLOWED, with_current_view=False)

    assert response.status == 200
    (call,) = harness.slack.calls("views.publish")
    assert call.params["user_id"] == ALLOWED and "hash" not in call.params
    view = home_view(harness, ALLOWED)
    text = all_text(view)
    assert view["type"] == "home"
    assert "Accounts you watch: 0" in text and "Your recent resends" in text
    assert "Open outages (spike alerts): 0" in text and "Read-only" not in text


def test_an_unchanged_home_is_not_published_again(harness: Harness) -> None:
    ticks = use_timer(harness)
    open_home(harness, ALLOWED, with_current_view=False)
    ticks.now += 3600
    open_home(harness, ALLOWED)
    open_home(harness, ALLOWED)
    assert publishes(harness, ALLOWED) == 1


def test_a_watch_change_refreshes_home_with_slacks_hash(harness: Harness) -> None:
    ticks = use_timer(harness)
    open_home(harness, ALLOWED, with_current_view=False)
    first_hash = home_view(harness, ALLOWED)["hash"]
    ticks.now += 60

    harness.command(f"watch {ORDINARY_ACCOUNT}", user_id=ALLOWED)

    assert publishes(harness, ALLOWED) == 2
    assert harness.slack.calls("views.publish")[-1].params["hash"] == first_hash
    text = all_text(home_view(harness, ALLOWED))
    assert "Accounts you watch: 1" in text and ORDINARY_ACCOUNT in text
    assert "Failures in the last 24 h: *9*" in text


def test_refreshes_inside_the_gap_are_debounced_and_the_next_open_shows_them(
    harness: Harness,
) -> None:
    ticks = use_timer(harness)
    open_home(harness, ALLOWED, with_current_view=False)
    ticks.now += 60
    harness.command(f"watch {ORDINARY_ACCOUNT}", user_id=ALLOWED)
    ticks.now += 1  # within HOME_PUBLISH_GAP (10 s) of that refresh
    harness.command(f"watch {BIG_ACCOUNT}", user_id=ALLOWED)
    assert publishes(harness, ALLOWED) == 2
    assert BIG_ACCOUNT not in all_text(home_view(harness, ALLOWED))

    open_home(harness, ALLOWED)  # the user looks: shown at once

    assert publishes(harness, ALLOWED) == 3
    assert BIG_ACCOUNT in all_text(home_view(harness, ALLOWED))


def test_home_is_read_only_for_a_user_off_the_allow_list(harness: Harness) -> None:
    use_timer(harness)
    harness.command(f"watch {ORDINARY_ACCOUNT}", user_id=STRANGER)
    open_home(harness, STRANGER, with_current_view=False)

    view = home_view(harness, STRANGER)
    assert "Read-only" in all_text(view) and ORDINARY_ACCOUNT in all_text(view)
    actions = {e["action_id"] for e in elements(view)}
    assert actions == {"zuora.home_open_failures"}
    assert not any("resend" in action for action in actions)


def test_home_lists_this_workspaces_subscriptions_and_the_users_resends(harness: Harness) -> None:
    use_timer(harness)
    now = datetime.now(UTC)
    harness.deps.store.add_subscription(
        new_subscription(
            now, team_id="T0001", channel_id="C0DIGEST", created_by=ALLOWED, timezone="UTC"
        )
    )
    harness.deps.store.add_alert_subscription(
        NewAlertSubscription(
            team_id="T0001",
            channel_id="C0ALERTS",
            created_by=ALLOWED,
            created_at=now,
            threshold=10,
            minutes=15,
            kind="all",
        )
    )
    harness.deps.store.add_subscription(
        new_subscription(
            now, team_id="T0OTHER", channel_id="C0ELSE", created_by=ALLOWED, timezone="UTC"
        )
    )
    open_home(harness, ALLOWED, with_current_view=False)
    text = all_text(home_view(harness, ALLOWED))
    assert "Digests in this workspace: 1" in text and "<#C0DIGEST>" in text
    assert "Spike alerts in this workspace: 1" in text and "<#C0ALERTS>" in text
    assert "C0ELSE" not in text


def test_home_stays_within_100_blocks_with_many_items(harness: Harness) -> None:
    use_timer(harness)
    store = harness.deps.store
    now = datetime.now(UTC)
    for i in range(60):
        store.add_watch(
            team_id="T0001",
            user_id=ALLOWED,
            account_id=f"{i:032x}",
            account_number=f"A{i:08d}",
            account_name=f"Account {i}",
            now=now,
            last_failure_at=None,
            recent_failures=i,
        )
    for i in range(30):
        store.add_alert_subscription(
            NewAlertSubscription(
                team_id="T0001",
                channel_id=f"C{i:08d}",
                created_by=ALLOWED,
                created_at=now,
                threshold=10 + i,
                minutes=15,
                kind="all",
            )
        )
    open_home(harness, ALLOWED, with_current_view=False)
    view = home_view(harness, ALLOWED)  # the fake refuses a Home over 100 blocks
    assert len(view["blocks"]) <= 100
    assert "…and 35 more watched accounts" in all_text(view)


def test_an_unsigned_or_retried_event_publishes_nothing(harness: Harness) -> None:
    use_timer(harness)
    assert open_home(harness, ALLOWED, secret="wrong-secret").status == 401
    assert open_home(harness, ALLOWED, retry_num="1").status == 200
    assert harness.slack.calls("views.publish") == []


def test_homes_open_failures_button_dms_the_card(harness: Harness) -> None:
    use_timer(harness)
    harness.command(f"watch {ORDINARY_ACCOUNT}", user_id=STRANGER)
    open_home(harness, STRANGER, with_current_view=False)

    assert click_home(harness, STRANGER, "zuora.home_open_failures").status == 200

    (dm,) = dms(harness, STRANGER)
    assert harness.account_name(ORDINARY_ACCOUNT) in all_text(dm)


def test_a_resend_refreshes_the_resenders_home_with_its_outcome(harness: Harness) -> None:
    ticks = use_timer(harness)
    open_home(harness, ALLOWED, with_current_view=False)
    assert "None yet." in all_text(home_view(harness, ALLOWED))
    ticks.now += 60
    card = harness.card_for(ORDINARY_ACCOUNT)

    harness.click(button(card, "zuora.resend_email"), user_id=ALLOWED)

    assert publishes(harness, ALLOWED) == 2
    text = all_text(home_view(harness, ALLOWED))
    assert "1 email" in text and "*succeeded*" in text


def test_a_change_publishes_no_home_for_a_user_who_never_opened_it(harness: Harness) -> None:
    use_timer(harness)
    harness.command(f"watch {ORDINARY_ACCOUNT}", user_id=ALLOWED)
    assert harness.slack.calls("views.publish") == []


def test_an_open_without_a_view_in_slack_publishes_again(harness: Harness) -> None:
    ticks = use_timer(harness)
    open_home(harness, ALLOWED, with_current_view=False)
    ticks.now += 1
    open_home(harness, ALLOWED, with_current_view=False)  # Slack shows no Home of ours: resend it
    assert publishes(harness, ALLOWED) == 2


def test_an_alert_subscription_refreshes_the_homes_shown_in_the_workspace(
    harness: Harness,
) -> None:
    ticks = use_timer(harness)
    harness.slack.set_channel("C0001", name="billing-ops", is_member=True)
    open_home(harness, STRANGER, with_current_view=False)
    ticks.now += 60

    harness.command("alerts subscribe threshold 5 per 10 minutes", user_id=ALLOWED)

    assert publishes(harness, STRANGER) == 2 and publishes(harness, ALLOWED) == 0
    assert "Spike alerts in this workspace: 1" in all_text(home_view(harness, STRANGER))
