"""Concurrent, ordered, bounded-memory paging over several time slices of a Zuora list endpoint.

Zuora never says how many pages a listing has, only whether another follows. Pages known to exist are
page 1 of every slice and the page after one that said "more"; once a slice has said it has more, its
next pages are requested speculatively, at most `max_in_flight` past what is known and, when records
carry times, no further than the page count their density predicts, so few requests are wasted past
the end; pages past the end are dropped. The consumer's next page always goes first, then the pages of
the listings with the most left to fetch (long chains start early), until the read-ahead fills.
Pages are yielded in a fixed order (slice, then page number) whatever order they arrive in, and at
most `read_ahead` (+1) finished pages are held at once.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Generic, TypeVar

from bot.zuora.errors import ZuoraResponseValidationError
from bot.zuora.models import Page

logger = logging.getLogger(__name__)

T = TypeVar("T")
PageFetch = Callable[[int], Page[T]]
Submit = Callable[[Callable[[], Page[T]]], "cf.Future[Page[T]]"]


@dataclass(frozen=True)
class Listing(Generic[T]):
    """One paged listing: `fetch(n)` returns page n. With `start`, `end` and `time_of`, the scanner
    estimates the listing's length from how densely records fill the time span."""

    fetch: PageFetch[T]
    start: datetime | None = None
    end: datetime | None = None
    time_of: Callable[[T], datetime] | None = None


@dataclass
class _Slice:
    """What is known about one listing's pages so far."""

    next_page: int = 1  # next page number to submit
    known: int = 1  # pages up to this number are known to exist
    more_seen: bool = False  # some page said another follows: speculation allowed
    end: int | None = None  # an upper bound of the last page, once a page said "no more"
    page_size: int = 0  # records on a full page (a page that said "more")
    gaps: int = 0  # record-to-record gaps seen within pages ...
    seconds: float = 0.0  # ... and the time they span: the records' density
    estimate: int | None = None  # pages the density predicts for the whole span


def scan_pages(
    listings: Sequence[Listing[T]],
    *,
    submit: Submit[T],
    max_in_flight: int,
    read_ahead: int,
    max_pages: int,
    track_id: str | None = None,
) -> Iterator[Page[T]]:
    """Yield every page of every listing in order: listing by listing, page 1, 2, … to the last.

    `submit` runs a fetch on a worker and returns its future. A fetch error surfaces when its page's
    turn comes (errors of pages past the end are dropped). More than `max_pages` pages in one listing
    raises ZuoraResponseValidationError.
    """
    if max_in_flight < 1 or read_ahead < 1 or max_pages < 1:
        raise ValueError("max_in_flight, read_ahead and max_pages must be at least 1")
    return _Scan(listings, submit, max_in_flight, read_ahead, max_pages, track_id).run()


class _Scan(Generic[T]):
    """The state of one scan; `run()` is the generator."""

    def __init__(
        self,
        listings: Sequence[Listing[T]],
        submit: Submit[T],
        max_in_flight: int,
        read_ahead: int,
        max_pages: int,
        track_id: str | None,
    ) -> None:
        self.listings = listings
        self.submit = submit
        self.max_in_flight = max_in_flight
        self.read_ahead = read_ahead
        self.max_pages = max_pages
        self.track_id = track_id
        self.slices = [_Slice() for _ in listings]
        self.futures: dict[tuple[int, int], cf.Future[Page[T]]] = {}
        self.absorbed: set[tuple[int, int]] = set()
        self.stale: set[cf.Future[Page[T]]] = set()  # dropped but still running: they hold a slot
        self.cursor = (0, 1)

    def run(self) -> Iterator[Page[T]]:
        try:
            while self.cursor[0] < len(self.listings):
                index, number = self.cursor
                end = self.slices[index].end
                if end is not None and number > end:  # an inconsistent server ended it earlier
                    self.cursor = (index + 1, 1)
                    continue
                self._fill()
                future = self.futures.get(self.cursor)
                if future is None or not future.done():
                    self._wait()
                    continue
                del self.futures[self.cursor]
                page = future.result()  # raises the fetch's error in order
                self._absorb(self.cursor, page)
                self.absorbed.discard(self.cursor)
                yield page
                self._advance(page)
        finally:
            for future in [*self.futures.values(), *self.stale]:
                future.cancel()
            self.futures.clear()
            self.stale.clear()

    def _advance(self, page: Page[T]) -> None:
        index, number = self.cursor
        if page.has_more:
            if number >= self.max_pages:
                raise ZuoraResponseValidationError(
                    f"Zuora still reported more results after {self.max_pages} pages; stopping",
                    track_id=self.track_id,
                )
            self.cursor = (index, number + 1)
        else:
            self._drop_beyond(index, number)
            self.cursor = (index + 1, 1)

    def _in_flight(self) -> int:
        self.stale = {f for f in self.stale if not f.done()}
        return len(self.stale) + sum(1 for f in self.futures.values() if not f.done())

    def _fill(self) -> None:
        while self._in_flight() < self.max_in_flight:
            task = self._choose()
            if task is None:
                return
            index, number = task
            self.futures[task] = self.submit(partial(self.listings[index].fetch, number))
            self.slices[index].next_page = number + 1

    def _choose(self) -> tuple[int, int] | None:
        """The next page to request.

        The consumer's page always goes first. Otherwise, among each listing's next page (when it is
        known to exist, or worth speculating on), the one whose listing has the most pages still to
        fetch goes first, so long chains start early; once half the read-ahead is used, the earliest
        in yield order goes first, so finished pages drain.
        """
        if self.cursor not in self.futures:
            index, number = self.cursor
            if self.slices[index].next_page <= number:
                return self.cursor
        if len(self.futures) >= self.read_ahead:
            return None
        drain = len(self.futures) >= self.read_ahead // 2
        best: tuple[int, int] | None = None
        best_remaining = -1
        for index in range(self.cursor[0], len(self.listings)):
            state = self.slices[index]
            number = state.next_page
            if not self._worth_fetching(state, number):
                continue
            if drain:
                return index, number
            remaining = (state.estimate or self.max_pages) - number
            if remaining > best_remaining:
                best, best_remaining = (index, number), remaining
        return best

    def _worth_fetching(self, state: _Slice, number: int) -> bool:
        """Whether page `number` is known to exist or is a reasonable speculation."""
        if number > self.max_pages or (state.end is not None and number > state.end):
            return False
        distance = number - state.known
        if distance <= 0:
            return True
        if not state.more_seen or distance >= self.max_in_flight:
            return False
        return state.estimate is None or number <= state.estimate

    def _wait(self) -> None:
        running = [f for f in self.futures.values() if not f.done()] + list(self.stale)
        if running:
            cf.wait(running, return_when=cf.FIRST_COMPLETED)
        for key in sorted(self.futures):
            future = self.futures.get(key)  # an earlier page may just have dropped this one
            if (
                future is not None
                and future.done()
                and not future.cancelled()
                and future.exception() is None
            ):
                self._absorb(key, future.result())

    def _absorb(self, key: tuple[int, int], page: Page[T]) -> None:
        """Learn from a finished page: more pages exist, or the listing ends here (or earlier)."""
        if key in self.absorbed:
            return
        self.absorbed.add(key)
        index, number = key
        state = self.slices[index]
        if page.has_more:
            state.known = max(state.known, number + 1)
            state.more_seen = True
            state.page_size = max(state.page_size, len(page.items))
            self._learn_density(index, page)
        else:
            state.end = number if state.end is None else min(state.end, number)
            self._drop_beyond(index, state.end)

    def _learn_density(self, index: int, page: Page[T]) -> None:
        """Estimate the listing's page count from the time the records of its full pages span."""
        listing, state = self.listings[index], self.slices[index]
        if listing.time_of is None or listing.start is None or listing.end is None:
            return
        if len(page.items) < 2 or state.page_size < 1:
            return
        times = [listing.time_of(item) for item in page.items]
        state.gaps += len(times) - 1
        state.seconds += (max(times) - min(times)).total_seconds()
        span = (listing.end - listing.start).total_seconds()
        if state.seconds <= 0 or span <= 0:
            state.estimate = None  # records share one timestamp: no basis for a guess
            return
        # Guess a little high (by the rate's relative error, 1/sqrt(samples)): a page short costs a
        # round trip, a page over only one request. The guess only trims speculation.
        records = state.gaps / state.seconds * span * (1 + 1 / math.sqrt(state.gaps))
        state.estimate = math.ceil(records / state.page_size)

    def _drop_beyond(self, index: int, last: int) -> None:
        for key in [k for k in self.futures if k[0] == index and k[1] > last]:
            future = self.futures.pop(key)
            self.absorbed.discard(key)
            if not future.cancel() and not future.done():
                self.stale.add(future)
