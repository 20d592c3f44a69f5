"""Tests for subscription rules: the overlap refusal table and one-line descriptions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.digest.subscriptions import (
    accounts_text,
    describe_digest,
    digest_label,
    find_overlap,
    kinds_overlap,
    overlaps,
)
from bot.store import NewSubscription, Subscription

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def existing(**overrides) -> Subscription:
    values = {
        "id": 3,
        "team_id": "T1",
        "channel_id": "C1",
        "created_by": "U1",
        "created_at": NOW,
        "hour": 9,
        "minute": 0,
        "timezone": "UTC",
        "accounts": (),
        "kind": "emails",
        "quiet": False,
        "active": True,
    }
    return Subscription(**{**values, **overrides})


def new(**overrides) -> NewSubscription:
    values = {
        "team_id": "T1",
        "channel_id": "C1",
        "created_by": "U2",
        "created_at": NOW,
        "hour": 17,
        "minute": 30,
        "timezone": "Asia/Kolkata",
        "accounts": (),
        "kind": "emails",
        "quiet": False,
    }
    return NewSubscription(**{**values, **overrides})


@pytest.mark.parametrize(
    ("new_kind", "old_kind", "expected"),
    [
        ("all", "all", True),
        ("all", "emails", True),
        ("callouts", "all", True),
        ("emails", "emails", True),
        ("callouts", "callouts", True),
        ("callouts", "emails", False),
        ("emails", "callouts", False),
    ],
)
def test_kinds_overlap_table(new_kind, old_kind, expected):
    assert kinds_overlap(new_kind, old_kind) is expected


@pytest.mark.parametrize(
    ("new_fields", "old_fields", "refused"),
    [
        ({}, {}, True),  # the same digest at another time is still noise
        ({"kind": "all"}, {"kind": "emails"}, True),
        ({"kind": "callouts"}, {"kind": "emails"}, False),
        ({"accounts": ("A1",)}, {}, True),  # all accounts covers A1
        ({}, {"accounts": ("A1",)}, True),
        ({"accounts": ("A1", "A2")}, {"accounts": ("A2", "A3")}, True),
        ({"accounts": ("a1",)}, {"accounts": ("A1",)}, True),  # account keys ignore case
        ({"accounts": ("A1",)}, {"accounts": ("A2",)}, False),
        ({"channel_id": "C2"}, {}, False),
        ({"team_id": "T2"}, {}, False),
        ({}, {"active": False}, False),
        ({"kind": "callouts", "accounts": ("A1",)}, {"kind": "all", "accounts": ("A1",)}, True),
        ({"kind": "callouts", "accounts": ("A1",)}, {"kind": "all", "accounts": ("A9",)}, False),
    ],
)
def test_overlaps_refusal_table(new_fields, old_fields, refused):
    reason = overlaps(new(**new_fields), existing(**old_fields))
    assert (reason is not None) is refused


def test_overlaps_explains_what_the_existing_digest_covers_and_what_to_do():
    reason = overlaps(new(), existing())
    assert reason == (
        "Digest #3 in this channel already covers emails for all accounts at 09:00 UTC; "
        "unsubscribe it first (`/zuora digest unsubscribe 3`) or subscribe a different kind or accounts."
    )


def test_overlaps_names_the_shared_accounts():
    reason = overlaps(
        new(accounts=("A1", "A2"), kind="all"),
        existing(accounts=("A2", "A3"), kind="callouts", id=7),
    )
    assert reason is not None
    assert reason.startswith(
        "Digest #7 in this channel already covers callouts for A2 and A3 (A2 in both) at 09:00 UTC;"
    )


def test_find_overlap_returns_the_first_overlap_or_none():
    subs = [existing(id=1, kind="callouts"), existing(id=2, kind="emails"), existing(id=4)]
    reason = find_overlap(new(kind="emails"), subs)
    assert reason is not None and reason.startswith("Digest #2 ")
    assert find_overlap(new(kind="emails"), subs[:1]) is None


def test_describe_is_one_line():
    assert describe_digest(existing()) == "#3: failed emails for all accounts, daily at 09:00 UTC"
    quiet = existing(kind="all", accounts=("A1", "A2", "A3", "A4", "A5"), quiet=True, minute=5)
    assert describe_digest(quiet) == (
        "#3: failed callouts and emails for A1, A2, A3 and 2 more, daily at 09:05 UTC; "
        "nothing on days without failures"
    )
    assert describe_digest(new(accounts=("A1",))) == (
        "failed emails for A1, daily at 17:30 Asia/Kolkata"
    )
    assert "\n" not in describe_digest(quiet)


def test_label_and_accounts_text():
    assert digest_label(existing(kind="callouts", accounts=("A1", "A2"))) == (
        "Digest #3 · callouts · A1 and A2"
    )
    assert accounts_text(()) == "all accounts"
    assert accounts_text(("A1", "A2", "A3")) == "A1, A2 and A3"
