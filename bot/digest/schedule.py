"""When a daily digest is due: local dates and post times in the subscription's IANA zone, DST-safe.

A subscription posts once per local day, at its hour:minute in its own time zone. A local time that does
not exist (spring-forward gap) posts at the first valid minute after it; a local time that happens twice
(fall-back) posts at the first occurrence. A digest is due from its post time until local midnight, so a
clock that was down catches up the same local day, and never posts a previous day's digest.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# Gaps are minute-aligned in every zone; the longest ever (a skipped calendar day) is 24 hours.
_MAX_GAP_MINUTES = 24 * 60 + 1


class Scheduled(Protocol):
    """What the schedule needs of a subscription (Subscription and NewSubscription both fit)."""

    @property
    def hour(self) -> int: ...

    @property
    def minute(self) -> int: ...

    @property
    def timezone(self) -> str: ...


class CreatedScheduled(Scheduled, Protocol):
    """A stored subscription: also knows when it was created."""

    @property
    def created_at(self) -> datetime: ...


def zone(sub: Scheduled) -> ZoneInfo:
    """The subscription's time zone."""
    return ZoneInfo(sub.timezone)


def local_date_for(sub: Scheduled, now_utc: datetime) -> date:
    """The calendar date in the subscription's zone at `now_utc` (the key of its once-a-day run)."""
    return _aware(now_utc).astimezone(zone(sub)).date()


def due_at(sub: Scheduled, local_date: date) -> datetime:
    """The UTC instant the digest for `local_date` is due (DST gaps and repeats resolved)."""
    tz = zone(sub)
    wall = datetime.combine(local_date, time(sub.hour, sub.minute))
    if _exists(wall, tz):
        # fold=0 is the first of two occurrences when the wall time repeats.
        return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    for step in range(1, _MAX_GAP_MINUTES):
        later = wall + timedelta(minutes=step)
        if _exists(later, tz):
            return later.replace(tzinfo=tz, fold=0).astimezone(UTC)
    raise ValueError(f"no valid local time after {wall.isoformat()} in {sub.timezone}")


def is_due(sub: CreatedScheduled, now_utc: datetime) -> bool:
    """Whether today's (local) digest should be posted now: its time has passed and it is still today.

    A subscription created after today's post time starts tomorrow, so subscribing at 10:00 to a 09:00
    digest does not post at once.
    """
    now_utc = _aware(now_utc)
    due = due_at(sub, local_date_for(sub, now_utc))
    return due <= now_utc and _aware(sub.created_at) <= due


def next_due_at(sub: CreatedScheduled, now_utc: datetime) -> datetime:
    """The next UTC instant this subscription will post (today's if still ahead, else tomorrow's)."""
    now_utc = _aware(now_utc)
    today = local_date_for(sub, now_utc)
    due = due_at(sub, today)
    if due > now_utc or (due == now_utc and _aware(sub.created_at) <= due):
        return due
    return due_at(sub, today + timedelta(days=1))


def _exists(wall: datetime, tz: ZoneInfo) -> bool:
    """Whether a naive wall time exists in `tz` (it survives a round trip through UTC)."""
    aware = wall.replace(tzinfo=tz, fold=0)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("schedule times must be timezone-aware")
    return value
