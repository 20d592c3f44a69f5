"""Takes turns editing one digest, so two Resend-all notes close together both stay on it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from cachetools import TTLCache

from bot.slack.message import SlackMessage

Blocks = list[dict[str, Any]]
NOTES_TTL_SECONDS = (
    2 * 24 * 3600
)  # as long as a click on the digest is remembered (bot.resend.service)
NOTES_MAX_DIGESTS = 512


class DigestNotes:
    """The digest blocks this process last wrote, per message; one edit of a digest at a time.

    A click carries the digest as it was when clicked. Two Resend-all clicks on different accounts
    of one digest, both waiting for Zuora, would each chat.update from their own copy and the later
    would drop the earlier one's note. So an edit starts from the blocks this process last wrote
    when it has them, and holds the lock through the write so edits reach Slack in order. This
    holds within one web process (the Procfile runs one, with threads).
    """

    def __init__(
        self,
        *,
        ttl: float = NOTES_TTL_SECONDS,
        maxsize: int = NOTES_MAX_DIGESTS,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._written: TTLCache[tuple[str, str], Blocks] = TTLCache(
            maxsize=maxsize, ttl=ttl, timer=timer
        )
        self._lock = threading.Lock()

    def edit(
        self,
        channel: str,
        ts: str,
        clicked: Sequence[dict[str, Any]],
        build: Callable[[Blocks], SlackMessage],
        write: Callable[[SlackMessage], bool],
    ) -> bool:
        """`build` the new digest from the latest known blocks (else `clicked`), `write` it.

        Returns whether Slack took the edit; `build`'s errors propagate, nothing is remembered then.
        """
        key = (channel, ts)
        with self._lock:
            base = self._written.get(key)
            message = build([dict(block) for block in (base if base is not None else clicked)])
            if not write(message):
                return False
            self._written[key] = message.blocks
            return True
