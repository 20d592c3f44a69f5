"""One lease keeper: renews the leases a process holds from a background thread while long work goes on.

A lease lapses some time after its last renewal; the keeper renews every `every` (a fraction of the
lease), so slow work is never taken over while its holder lives, and a dead holder's work is taken over
soon. What a lease is and how it is renewed (digest runs, a resend job, a replay) is the caller's
`renew` callable; the keeper only knows keys, the thread, and what to do when a lease is lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Generic, TypeVar

from bot.core.closing import StopsOnExit

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

Wait = Callable[[threading.Event, float], bool]
"""Wait up to `seconds` or until the event is set; True when it was set (the default: Event.wait)."""

Renew = Callable[[frozenset[K]], Iterable[K]]
"""Renew the leases of these keys; return the keys still held (the others went to someone else)."""


def _event_wait(stop: threading.Event, seconds: float) -> bool:
    return stop.wait(seconds)


class LeaseKeeper(StopsOnExit, Generic[K]):
    """Renews the leases of the keys it holds every `every` until stopped; remembers the ones lost.

    A renewal that raises one of `errors` is logged and tried again next round (a database hiccup must
    not drop a lease); a key `renew` no longer returns is dropped and remembered as lost.
    """

    def __init__(
        self,
        renew: Renew[K],
        *,
        every: timedelta,
        what: str,
        errors: tuple[type[Exception], ...] = (Exception,),
        wait: Wait | None = None,
        join_timeout: float = 10.0,
        lost_level: int = logging.WARNING,
    ) -> None:
        self._renew = renew
        self._interval = every.total_seconds()
        self._what = what
        self._errors = errors
        self._wait = wait or _event_wait
        self._join_timeout = join_timeout
        self._lost_level = lost_level
        self._lock = threading.Lock()
        self._held: set[K] = set()
        self._lost: set[K] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, keys: Iterable[K]) -> None:
        """Start renewing these keys."""
        with self._lock:
            self._held.update(keys)

    def release(self, key: K) -> None:
        """Stop renewing a key (its work is finished, or left for someone else)."""
        with self._lock:
            self._held.discard(key)

    def lost(self, key: K) -> bool:
        """Whether a renewal found the key's lease gone to someone else."""
        with self._lock:
            return key in self._lost

    def beat(self) -> None:
        """Renew every held key once; a key no longer ours is dropped and remembered as lost."""
        with self._lock:
            keys = frozenset(self._held)
        if not keys:
            return
        try:
            still = set(self._renew(keys))
        except self._errors:
            logger.warning("%s: could not renew the lease; trying again", self._what, exc_info=True)
            return
        gone = keys - still
        if gone:
            logger.log(
                self._lost_level,
                "%s: lease of %s released or taken over; no longer renewed",
                self._what,
                sorted(gone, key=repr),
            )
        with self._lock:
            self._held -= gone
            self._lost |= gone

    def start(self) -> LeaseKeeper[K]:
        """Renew from a daemon thread until `stop`."""
        self._thread = threading.Thread(target=self._run, name=f"lease-{self._what}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._join_timeout)

    def _run(self) -> None:
        while not self._wait(self._stop, self._interval):
            self.beat()

    def __enter__(self) -> LeaseKeeper[K]:
        return self.start()


@contextmanager
def renewing(renew: Callable[[], bool], *, every: timedelta, what: str) -> Iterator[None]:
    """Keep one lease while the block runs: call `renew` every `every` from a daemon thread.

    `renew` returns False once the lease went to someone else (renewing stops); an exception is a
    store hiccup, logged, and the next round tries again.
    """
    keeper: LeaseKeeper[str] = LeaseKeeper(
        lambda held: held if renew() else frozenset(),
        every=every,
        what=what,
        join_timeout=5,
        lost_level=logging.INFO,
    )
    keeper.hold([what])
    with keeper:
        yield
