"""Keeps the digest runs a clock holds leased while a long run goes on, from a background thread.

A run's lease lapses `lease` after its last heartbeat; the heartbeat renews it every quarter of that, so
a slow Zuora scan is never taken over by a second clock while a dead clock's run is taken over soon.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Protocol

from bot.store import StoreError

logger = logging.getLogger(__name__)

RunKey = tuple[int, date]
Wait = Callable[[threading.Event, float], bool]
"""Wait up to `seconds` or until the event is set; True when it was set (the default: Event.wait)."""


class LeaseStore(Protocol):
    """The part of Store the heartbeat uses."""

    def renew_digest_runs(
        self, runs: Iterable[RunKey], *, owner: str, now: datetime
    ) -> set[RunKey]: ...


def _event_wait(stop: threading.Event, seconds: float) -> bool:
    return stop.wait(seconds)


class Heartbeat:
    """Renews the store lease of the runs it holds every `interval` seconds until stopped."""

    def __init__(
        self,
        store: LeaseStore,
        *,
        owner: str,
        lease: timedelta,
        now: Callable[[], datetime],
        wait: Wait | None = None,
    ) -> None:
        self._store = store
        self._owner = owner
        self._interval = lease.total_seconds() / 4
        self._now = now
        self._wait = wait or _event_wait
        self._lock = threading.Lock()
        self._held: set[RunKey] = set()
        self._lost: set[RunKey] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, runs: Iterable[RunKey]) -> None:
        """Start renewing these runs."""
        with self._lock:
            self._held.update(runs)

    def release(self, run: RunKey) -> None:
        """Stop renewing a run (it is finished, or left for someone else)."""
        with self._lock:
            self._held.discard(run)

    def lost(self, run: RunKey) -> bool:
        """Whether a heartbeat found the run taken over by someone else."""
        with self._lock:
            return run in self._lost

    def beat(self) -> None:
        """Renew every held run once; a run no longer ours is dropped and remembered as lost."""
        with self._lock:
            runs = set(self._held)
        if not runs:
            return
        try:
            still = self._store.renew_digest_runs(runs, owner=self._owner, now=self._now())
        except StoreError:
            logger.warning("digest heartbeat could not reach the database; trying again")
            return
        gone = runs - still
        if gone:
            logger.warning("digest runs %s were taken over; this clock lets them go", sorted(gone))
        with self._lock:
            self._held -= gone
            self._lost |= gone

    def start(self) -> Heartbeat:
        """Beat from a daemon thread until `stop`."""
        self._thread = threading.Thread(target=self._run, name="digest-heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._wait(self._stop, self._interval):
            self.beat()

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
