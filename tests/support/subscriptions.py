"""Digest subscriptions as the store receives them, for store tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.store import NewSubscription


def new_subscription(created_at: datetime, **overrides: Any) -> NewSubscription:
    """A valid daily 09:00 Europe/Paris digest of T1's C1, with the given fields changed."""
    fields: dict[str, Any] = {
        "team_id": "T1",
        "channel_id": "C1",
        "created_by": "U1",
        "created_at": created_at,
        "hour": 9,
        "minute": 0,
        "timezone": "Europe/Paris",
    }
    return NewSubscription(**{**fields, **overrides})
