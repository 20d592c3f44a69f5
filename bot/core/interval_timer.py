"""IntervalTimer: says when a clock job is due, on the first tick and then every interval."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta


class IntervalTimer:
    """Due on the clock's first tick, then every `every` (spike-alert checks, watch checks)."""

    def __init__(self, every: timedelta) -> None:
        self._every = every
        self._next: datetime | None = None
        self._lock = threading.Lock()

    def due(self, now: datetime) -> bool:
        """Whether a check is due at `now`; if so, the next one is `every` later."""
        with self._lock:
            if self._next is not None and now < self._next:
                return False
            self._next = now + self._every
            return True
