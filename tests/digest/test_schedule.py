"""Tests for digest scheduling: local dates and due times across zones, DST gaps and repeats, catch-up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.digest.schedule import due_at, is_due, local_date_for, next_due_at
from bot.store import Subscription

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def sub(hour: int, minute: int, timezone: str, created_at: datetime = LONG_AGO) -> Subscription:
    return Subscription(
        id=1,
        team_id="T1",
        channel_id="C1",
        created_by="U1",
        created_at=created_at,
        hour=hour,
        minute=minute,
        timezone=timezone,
        accounts=(),
        kind="all",
        quiet=False,
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("timezone", "hour", "minute", "local_date", "expected"),
    [
        ("UTC", 9, 0, date(2026, 1, 15), "2026-01-15T09:00"),
        ("America/Los_Angeles", 9, 0, date(2026, 1, 15), "2026-01-15T17:00"),  # PST
        ("America/Los_Angeles", 9, 0, date(2026, 7, 15), "2026-07-15T16:00"),  # PDT
        ("Asia/Kolkata", 9, 0, date(2026, 1, 15), "2026-01-15T03:30"),
        ("Asia/Kolkata", 2, 0, date(2026, 1, 15), "2026-01-14T20:30"),  # previous UTC day
        ("Australia/Lord_Howe", 9, 0, date(2026, 7, 15), "2026-07-14T22:30"),  # +10:30
        ("Australia/Lord_Howe", 9, 0, date(2026, 1, 15), "2026-01-14T22:00"),  # +11 (DST)
    ],
)
def test_due_at_is_local_time_in_utc(timezone, hour, minute, local_date, expected):
    assert due_at(sub(hour, minute, timezone), local_date) == utc(expected)


@pytest.mark.parametrize(
    ("timezone", "hour", "minute", "local_date", "expected"),
    [
        # 02:30 does not exist on 8 March 2026 in Los Angeles (02:00 -> 03:00): first valid is 03:00 PDT.
        ("America/Los_Angeles", 2, 30, date(2026, 3, 8), "2026-03-08T10:00"),
        ("America/Los_Angeles", 2, 0, date(2026, 3, 8), "2026-03-08T10:00"),
        ("America/Los_Angeles", 2, 59, date(2026, 3, 8), "2026-03-08T10:00"),
        # Lord Howe springs forward by half an hour (02:00 -> 02:30) on 4 October 2026.
        ("Australia/Lord_Howe", 2, 15, date(2026, 10, 4), "2026-10-03T15:30"),
        ("Australia/Lord_Howe", 2, 30, date(2026, 10, 4), "2026-10-03T15:30"),
    ],
)
def test_due_at_in_spring_forward_gap_is_first_valid_minute_after(
    timezone, hour, minute, local_date, expected
):
    assert due_at(sub(hour, minute, timezone), local_date) == utc(expected)


@pytest.mark.parametrize(
    ("timezone", "hour", "minute", "local_date", "first", "second"),
    [
        # 01:30 happens twice on 1 November 2026 in Los Angeles: PDT first, then PST.
        ("America/Los_Angeles", 1, 30, date(2026, 11, 1), "2026-11-01T08:30", "2026-11-01T09:30"),
        # Lord Howe falls back by half an hour (02:00 -> 01:30) on 5 April 2026.
        ("Australia/Lord_Howe", 1, 45, date(2026, 4, 5), "2026-04-04T14:45", "2026-04-04T15:15"),
    ],
)
def test_due_at_in_fall_back_repeat_is_first_occurrence(
    timezone, hour, minute, local_date, first, second
):
    subscription = sub(hour, minute, timezone)
    assert due_at(subscription, local_date) == utc(first)
    # Once posted at the first occurrence, the second is the same local date: the claim stops a repeat.
    assert local_date_for(subscription, utc(second)) == local_date


def test_due_at_on_a_normal_day_next_to_a_dst_change_is_unchanged():
    subscription = sub(2, 30, "America/Los_Angeles")
    assert due_at(subscription, date(2026, 3, 7)) == utc("2026-03-07T10:30")  # PST
    assert due_at(subscription, date(2026, 3, 9)) == utc("2026-03-09T09:30")  # PDT


@pytest.mark.parametrize(
    ("timezone", "now", "expected"),
    [
        ("UTC", "2026-01-15T23:59", date(2026, 1, 15)),
        ("Asia/Kolkata", "2026-01-15T18:30", date(2026, 1, 16)),  # 00:00 IST
        ("Asia/Kolkata", "2026-01-15T18:29", date(2026, 1, 15)),
        ("America/Los_Angeles", "2026-01-16T07:59", date(2026, 1, 15)),
        ("Australia/Lord_Howe", "2026-01-15T13:00", date(2026, 1, 16)),
    ],
)
def test_local_date_for_uses_the_subscription_zone(timezone, now, expected):
    assert local_date_for(sub(9, 0, timezone), utc(now)) == expected


@pytest.mark.parametrize(
    "timezone", ["UTC", "America/Los_Angeles", "Asia/Kolkata", "Australia/Lord_Howe"]
)
def test_is_due_from_local_time_until_local_midnight(timezone):
    subscription = sub(9, 0, timezone)
    day = date(2026, 6, 10)
    due = due_at(subscription, day)
    assert not is_due(subscription, due - timedelta(minutes=1))
    assert is_due(subscription, due)
    assert is_due(subscription, due + timedelta(hours=14, minutes=59))  # 23:59 local
    # The next local day starts at 00:00: its 09:00 has not come, and yesterday's is never due again.
    next_midnight = due + timedelta(hours=15)
    assert local_date_for(subscription, next_midnight) == day + timedelta(days=1)
    assert not is_due(subscription, next_midnight)


def test_is_due_catches_up_a_digest_missed_earlier_the_same_day():
    subscription = sub(9, 0, "Europe/Paris")
    # The clock was down from 08:00 to 16:00 Paris time (CEST, +2).
    back_up = utc("2026-06-10T14:00")
    assert is_due(subscription, back_up)
    assert local_date_for(subscription, back_up) == date(2026, 6, 10)


def test_is_due_never_posts_a_missed_digest_the_next_day():
    subscription = sub(23, 0, "Europe/Paris")
    # Down from 22:00 on 10 June until 08:00 on 11 June (Paris): the 10th's digest is gone.
    back_up = utc("2026-06-11T06:00")
    assert local_date_for(subscription, back_up) == date(2026, 6, 11)
    assert not is_due(subscription, back_up)


def test_is_due_waits_for_tomorrow_when_created_after_todays_time():
    created = utc("2026-06-10T10:00")
    subscription = sub(9, 0, "UTC", created_at=created)
    assert not is_due(subscription, created)
    assert not is_due(subscription, utc("2026-06-10T23:59"))
    assert is_due(subscription, utc("2026-06-11T09:00"))
    assert next_due_at(subscription, created) == utc("2026-06-11T09:00")


def test_is_due_the_same_day_when_created_before_todays_time():
    created = utc("2026-06-10T08:00")
    subscription = sub(9, 0, "UTC", created_at=created)
    assert next_due_at(subscription, created) == utc("2026-06-10T09:00")
    assert is_due(subscription, utc("2026-06-10T09:00"))


def test_next_due_at_crosses_a_dst_change():
    subscription = sub(9, 0, "America/Los_Angeles")
    # Saturday 7 March 2026 after 09:00 PST: next is Sunday 09:00 PDT.
    assert next_due_at(subscription, utc("2026-03-07T18:00")) == utc("2026-03-08T16:00")


def test_schedule_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="timezone-aware"):
        is_due(sub(9, 0, "UTC"), datetime(2026, 1, 1, 9, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date_for(sub(9, 0, "UTC"), datetime(2026, 1, 1, 9, 0))
