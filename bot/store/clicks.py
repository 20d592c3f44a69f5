"""Click dedup: one winner per button click key until it expires."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.store.engine import StoreBase, rowcount
from bot.store.records import require_aware
from bot.store.tables import click_keys

logger = logging.getLogger("bot.store")


class ClickStore(StoreBase):
    """The click_keys table."""

    def claim_click(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        """Return True for exactly one caller per ``key`` until ``now + ttl``; an expired key can be re-won."""
        if not key or len(key) > 255:
            raise ValueError("click key must be 1-255 characters")
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        now = require_aware(now, "now")
        stmt = self._insert(click_keys).values(key=key, claimed_at=now, expires_at=now + ttl)
        stmt = stmt.on_conflict_do_update(
            index_elements=[click_keys.c.key],
            set_={"claimed_at": stmt.excluded.claimed_at, "expires_at": stmt.excluded.expires_at},
            where=click_keys.c.expires_at <= now,
        )
        won = self._changed("claim_click", stmt)
        logger.debug("Click claim %s: %s", "won" if won else "lost", key)
        return won

    def purge_expired_clicks(self, now: datetime) -> int:
        """Delete expired click keys and return how many went."""
        stmt = click_keys.delete().where(click_keys.c.expires_at <= require_aware(now, "now"))
        with self._transaction("purge_expired_clicks") as conn:
            return rowcount(conn, stmt)
