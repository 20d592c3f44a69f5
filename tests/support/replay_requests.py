"""An outage replay request as the store receives it, for store and lease tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.store import ReplayRequest


def replay_request(
    at: datetime,
    ids: tuple[str, ...],
    *,
    key: str = "replay:abcdefghij:1:2",
    accounts: int,
    chunk_size: int = 1000,
) -> ReplayRequest:
    """A callout replay of cause `abcdefghij` over the 24 hours up to `at`, asked at `at`."""
    return ReplayRequest(
        replay_key=key,
        cause_id="abcdefghij",
        kind="callout",
        label="hooks.example/x → HTTP 503",
        window_start=at - timedelta(days=1),
        window_end=at,
        window_label="24h",
        team_id="T1",
        user_id="U1",
        requested_at=at,
        track_id="track",
        ids=ids,
        accounts=accounts,
        chunk_size=chunk_size,
    )
