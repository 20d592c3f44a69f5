"""`/zuora watch|watch list|unwatch` and the failures card's Watch button, through signed dispatch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack_fixtures import (
    BIG_ACCOUNT,
    ORDINARY_ACCOUNT,
    Harness,
    all_text,
    button,
    dispatch_harness,
)

WATCH = "zuora.watch_account"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path, allowed_users="U0ALLOWED") as started:
        yield started


def _answer(harness: Harness, text: str, *, user_id: str = "U0ALLOWED") -> dict[str, Any]:
    reply = harness.command(text, user_id=user_id)
    assert reply.status == 200
    posts = harness.posts(reply.response_url)
    assert all(post.get("replace_original") is not True for post in posts)
    return posts[-1] if posts else reply.ack


def test_watch_stores_the_account_and_says_how_to_stop(harness: Harness) -> None:
    answer = all_text(_answer(harness, f"watch {BIG_ACCOUNT}"))
    (watch,) = harness.deps.store.list_watches()
    assert "Watching" in answer and f"/zuora unwatch {BIG_ACCOUNT}" in answer
    assert (watch.team_id, watch.user_id, watch.account_number) == (
        "T0001",
        "U0ALLOWED",
        BIG_ACCOUNT,
    )
    assert watch.recent_failures == 32  # 15 callouts and 17 emails in the last 24 h
    assert "Failures in the last 24 h: *32*" in answer


def test_watch_twice_keeps_one_watch(harness: Harness) -> None:
    _answer(harness, f"watch {BIG_ACCOUNT}")
    answer = all_text(_answer(harness, f"watch {BIG_ACCOUNT}"))
    assert "You already watch" in answer
    assert len(harness.deps.store.list_watches()) == 1


def test_watch_list_shows_only_my_watches(harness: Harness) -> None:
    _answer(harness, f"watch {BIG_ACCOUNT}")
    _answer(harness, f"watch {ORDINARY_ACCOUNT}", user_id="U0OTHER")
    mine = all_text(_answer(harness, "watch list"))
    assert "You watch 1 account" in mine and BIG_ACCOUNT in mine and ORDINARY_ACCOUNT not in mine
    assert "You watch no accounts" in all_text(_answer(harness, "watch list", user_id="U0NOBODY"))


def test_unwatch_removes_only_that_watch(harness: Harness) -> None:
    _answer(harness, f"watch {BIG_ACCOUNT}")
    _answer(harness, f"watch {ORDINARY_ACCOUNT}")
    assert "Stopped watching" in all_text(_answer(harness, f"unwatch {BIG_ACCOUNT}"))
    assert [w.account_number for w in harness.deps.store.list_watches()] == [ORDINARY_ACCOUNT]
    again = all_text(_answer(harness, f"unwatch {BIG_ACCOUNT}"))
    assert "were not watching" in again and "nothing changed" in again


def test_a_user_off_the_allow_list_may_watch(harness: Harness) -> None:
    answer = all_text(_answer(harness, f"watch {BIG_ACCOUNT}", user_id="U0STRANGER"))
    assert "Watching" in answer and "allow-list" not in answer
    assert [w.user_id for w in harness.deps.store.list_watches()] == ["U0STRANGER"]


def test_watch_of_an_unknown_account_says_so_and_stores_nothing(harness: Harness) -> None:
    answer = all_text(_answer(harness, "watch A99999999"))
    assert "A99999999" in answer
    assert harness.deps.store.list_watches() == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("watch", "Which account should I watch"),
        ("watch A1 A2", "takes one account"),
        ("unwatch", "takes one account"),
        ("watch <!channel>", "doesn't look like an account"),
    ],
)
def test_watch_bad_command_text_is_a_usage_error(harness: Harness, text: str, says: str) -> None:
    reply = harness.command(text, user_id="U0ALLOWED")
    assert says in all_text(reply.ack)
    assert harness.posts(reply.response_url) == []
    assert harness.deps.store.list_watches() == []


def test_watch_stops_at_the_per_user_cap(harness: Harness) -> None:
    capped = harness.deps.settings.watch.model_copy(update={"max_per_user": 1})
    object.__setattr__(harness.deps.settings, "watch", capped)
    _answer(harness, f"watch {BIG_ACCOUNT}")
    answer = all_text(_answer(harness, f"watch {ORDINARY_ACCOUNT}"))
    assert "You already watch 1 account, the most" in answer
    assert [w.account_number for w in harness.deps.store.list_watches()] == [BIG_ACCOUNT]


def test_the_failures_cards_watch_button_watches_its_account(harness: Harness) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)
    reply = harness.click(button(card, WATCH), user_id="U0STRANGER")
    answer = harness.wait_posts(reply.response_url, 1)[-1]
    assert "Watching" in all_text(answer) and answer.get("replace_original") is False
    (watch,) = harness.deps.store.list_watches()
    assert (watch.user_id, watch.account_number) == ("U0STRANGER", ORDINARY_ACCOUNT)
