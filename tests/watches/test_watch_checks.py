"""The clock's watch check: a DM on a new failure, at most one an hour, one DM when two clocks race."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.deps import build_deps
from bot.watches.service import run_watch_checks
from tests.support.race import race
from tests.support.stack_fixtures import (
    BIG_ACCOUNT,
    ORDINARY_ACCOUNT,
    Harness,
    all_text,
    button,
    dispatch_harness,
)
from tests.support.watches import add_failed_email, dms

WATCHER = "U0WATCHER"
OPEN_FAILURES = "zuora.open_failures"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path, allowed_users="U0ALLOWED") as started:
        yield started


def _watch(harness: Harness, account: str = ORDINARY_ACCOUNT, user_id: str = WATCHER) -> None:
    reply = harness.command(f"watch {account}", user_id=user_id)
    assert "Watching" in all_text(harness.posts(reply.response_url)[-1])


def test_old_failures_bring_no_dm(harness: Harness) -> None:
    _watch(harness)
    assert run_watch_checks(harness.deps, datetime.now(UTC)) == []
    assert dms(harness, WATCHER) == []


def test_a_new_failure_brings_one_dm_with_the_card_one_click_away(harness: Harness) -> None:
    _watch(harness)
    failed_at = add_failed_email(harness, ORDINARY_ACCOUNT, ago=timedelta(seconds=1))

    (notice,) = run_watch_checks(harness.deps, datetime.now(UTC))

    assert (notice.user_id, notice.failure_at, notice.delivered) == (WATCHER, failed_at, True)
    (dm,) = dms(harness, WATCHER)
    assert "1 new failure" in all_text(dm) and ORDINARY_ACCOUNT in all_text(dm)
    opened = harness.click(button(dm, OPEN_FAILURES), user_id=WATCHER, message=dm)
    card = harness.wait_posts(opened.response_url, 1)[-1]
    assert harness.account_name(ORDINARY_ACCOUNT) in all_text(card)
    assert harness.slack.calls("conversations.open")[0].params["users"] == WATCHER


def test_dms_are_at_most_one_an_hour_per_account_and_user(harness: Harness) -> None:
    _watch(harness)
    start = datetime.now(UTC)
    add_failed_email(harness, ORDINARY_ACCOUNT, ago=timedelta(seconds=3))
    assert len(run_watch_checks(harness.deps, start)) == 1

    add_failed_email(harness, ORDINARY_ACCOUNT, ago=timedelta(seconds=2))
    assert run_watch_checks(harness.deps, start + timedelta(minutes=30)) == []
    assert run_watch_checks(harness.deps, start + timedelta(minutes=59, seconds=59)) == []
    assert len(dms(harness, WATCHER)) == 1

    (later,) = run_watch_checks(harness.deps, start + timedelta(hours=1))
    assert len(dms(harness, WATCHER)) == 2
    # Nothing newer since: the next hour stays quiet.
    assert run_watch_checks(harness.deps, start + timedelta(hours=3)) == []
    assert later.delivered


def test_every_watcher_of_the_account_gets_their_own_dm(harness: Harness) -> None:
    _watch(harness, user_id="U0ONE")
    _watch(harness, user_id="U0TWO")
    add_failed_email(harness, ORDINARY_ACCOUNT, ago=timedelta(seconds=1))
    assert sorted(n.user_id for n in run_watch_checks(harness.deps, datetime.now(UTC))) == [
        "U0ONE",
        "U0TWO",
    ]


def test_a_check_scans_at_most_accounts_per_check_least_recently_checked_first(
    harness: Harness,
) -> None:
    _watch(harness, BIG_ACCOUNT)
    _watch(harness, ORDINARY_ACCOUNT)
    one = harness.deps.settings.watch.model_copy(update={"accounts_per_check": 1})
    object.__setattr__(harness.deps.settings, "watch", one)
    add_failed_email(harness, BIG_ACCOUNT, ago=timedelta(seconds=1))
    add_failed_email(harness, ORDINARY_ACCOUNT, ago=timedelta(seconds=1))
    now = datetime.now(UTC) + timedelta(seconds=5)

    first = run_watch_checks(harness.deps, now)
    second = run_watch_checks(harness.deps, now + timedelta(seconds=1))

    assert [n.account_number for n in first + second] == [BIG_ACCOUNT, ORDINARY_ACCOUNT]
    assert len(harness.slack.calls("conversations.open")) == 2


def test_a_refused_dm_is_not_retried_within_the_hour(harness: Harness) -> None:
    _watch(harness)
    add_failed_email(harness, ORDINARY_ACCOUNT, ago=timedelta(seconds=1))
    harness.slack.fail_next(
        "conversations.open", status=200, retry_after=None, error="user_not_found"
    )
    now = datetime.now(UTC)
    (notice,) = run_watch_checks(harness.deps, now)
    assert notice.delivered is False
    assert run_watch_checks(harness.deps, now + timedelta(minutes=10)) == []


def test_two_clocks_checking_at_once_send_one_dm(harness: Harness, db_url: str) -> None:
    settings = harness.deps.settings
    shared = settings.model_copy(
        update={"store": settings.store.model_copy(update={"database_url": db_url})}
    )
    clocks = [build_deps(shared), build_deps(shared)]
    watchers = ["U0ONE", "U0TWO", "U0THREE"]
    account = harness.tenant.account(ORDINARY_ACCOUNT)
    assert account is not None
    try:
        for user_id in watchers:
            clocks[0].store.add_watch(
                team_id="T0001",
                user_id=user_id,
                account_id=account.id,
                account_number=ORDINARY_ACCOUNT,
                account_name=account.name,
                now=datetime.now(UTC) - timedelta(minutes=1),
                last_failure_at=datetime.now(UTC) - timedelta(minutes=1),
                recent_failures=0,
            )
        add_failed_email(harness, ORDINARY_ACCOUNT, ago=timedelta(seconds=1))
        now = datetime.now(UTC)

        first = race(2, lambda i: run_watch_checks(clocks[i], now))
        again = race(2, lambda i: run_watch_checks(clocks[i], now + timedelta(minutes=5)))

        assert sorted(n.user_id for r in first for n in r) == sorted(watchers)
        assert again == [[], []]
        assert [len(dms(harness, user_id)) for user_id in watchers] == [1, 1, 1]
    finally:
        for deps in clocks:
            deps.close()
