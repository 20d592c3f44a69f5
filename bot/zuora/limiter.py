"""An in-flight limit for Zuora calls that halves when Zuora says "too many at once" and grows back.

Zuora allows 40 concurrent requests per tenant, shared with every other integration and every
process of this bot, so the configured per-process limit can still be too many at busy times. A 429
halves this process's limit (once per burst: requests already in flight when it was cut do not cut
it again) and each run of successes wins one slot back, so a scan slows down instead of failing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

logger = logging.getLogger(__name__)

RECOVER_AFTER = 20  # successful calls that win back one slot


@dataclass
class Slot:
    """One held place; the holder sets `throttled` when Zuora answered 429."""

    generation: int
    throttled: bool = False


class AdaptiveLimiter:
    """At most `limit` holders at once; `limit` moves between `floor` and `ceiling`. Thread-safe."""

    def __init__(self, ceiling: int, *, floor: int = 1, recover_after: int = RECOVER_AFTER) -> None:
        if not 1 <= floor <= ceiling:
            raise ValueError("need 1 <= floor <= ceiling")
        self._ceiling = ceiling
        self._floor = floor
        self._recover_after = recover_after
        self._limit = ceiling
        self._held = 0
        self._generation = 0  # bumped at every cut
        self._successes = 0
        self._cond = threading.Condition()

    @property
    def limit(self) -> int:
        """How many calls may be in flight right now."""
        with self._cond:
            return self._limit

    @property
    def ceiling(self) -> int:
        """The configured most (ZUORA_MAX_CONCURRENCY)."""
        return self._ceiling

    def wait_idle(self, timeout: float) -> bool:
        """Block until no call holds a place (or `timeout` s pass); whether it went idle."""
        with self._cond:
            return self._cond.wait_for(lambda: self._held == 0, timeout=timeout)

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """Hold one place for the duration of a call; blocks while the limit is reached."""
        with self._cond:
            while self._held >= self._limit:
                self._cond.wait()
            self._held += 1
            held = Slot(self._generation)
        try:
            yield held
        finally:
            self._release(held)

    def _release(self, held: Slot) -> None:
        with self._cond:
            self._held -= 1
            if held.throttled:
                self._successes = 0
                if held.generation == self._generation and self._limit > self._floor:
                    self._limit = max(self._floor, self._limit // 2)
                    self._generation += 1
                    logger.warning(
                        "Zuora is throttling concurrent requests; this process now sends at most "
                        "%d at once (of %d)",
                        self._limit,
                        self._ceiling,
                    )
            else:
                self._successes += 1
                if self._successes >= self._recover_after and self._limit < self._ceiling:
                    self._limit += 1
                    self._successes = 0
            self._cond.notify_all()
