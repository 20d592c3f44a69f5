"""The concurrent page scanner: ordered output, bounded memory and in-flight, errors in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from bot.zuora.errors import ZuoraResponseValidationError
from bot.zuora.models import Page
from bot.zuora.scan import Listing, scan_pages


class Source:
    """A fake listing of `pages` pages; page n holds [(name, n)]; pages past the end are empty."""

    def __init__(
        self,
        name: str,
        pages: int,
        *,
        delay: Callable[[int], float] = lambda n: 0.0,
        fail: set[int] | None = None,
    ) -> None:
        self.name, self.pages, self.delay, self.fail = name, pages, delay, fail or set()
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, number: int) -> Page[tuple[str, int]]:
        with self.lock:
            self.calls.append(number)
        time.sleep(self.delay(number))
        if number in self.fail:
            raise RuntimeError(f"{self.name} page {number} failed")
        if number > self.pages:
            return Page(items=[], page=number, has_more=False)
        return Page(items=[(self.name, number)], page=number, has_more=number < self.pages)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=16) as executor:
        yield executor


def scan(
    pool: ThreadPoolExecutor,
    sources: Sequence[Source],
    *,
    in_flight: int = 4,
    read_ahead: int = 8,
    max_pages: int = 100,
) -> Iterator[Page[tuple[str, int]]]:
    def submit(task: Callable[[], Page[tuple[str, int]]]) -> Future[Page[tuple[str, int]]]:
        return pool.submit(task)

    return scan_pages(
        [Listing(source) for source in sources],
        submit=submit,
        max_in_flight=in_flight,
        read_ahead=read_ahead,
        max_pages=max_pages,
    )


def items(pages: Iterator[Page[tuple[str, int]]]) -> list[tuple[str, int]]:
    return [item for page in pages for item in page.items]


def test_scan_yields_in_source_then_page_order(pool: ThreadPoolExecutor) -> None:
    # Later pages answer faster, so completion order is scrambled.
    sources = [Source("a", 5, delay=lambda n: 0.02 / n), Source("b", 1), Source("c", 3)]
    assert items(scan(pool, sources)) == [
        ("a", 1),
        ("a", 2),
        ("a", 3),
        ("a", 4),
        ("a", 5),
        ("b", 1),
        ("c", 1),
        ("c", 2),
        ("c", 3),
    ]


def test_scan_single_slot_is_sequential(pool: ThreadPoolExecutor) -> None:
    source = Source("a", 4)
    assert len(items(scan(pool, [source], in_flight=1))) == 4
    assert source.calls == [1, 2, 3, 4]


def test_scan_empty_sources_and_empty_listing(pool: ThreadPoolExecutor) -> None:
    assert items(scan(pool, [])) == []
    assert items(scan(pool, [Source("a", 0)])) == []


def test_scan_never_exceeds_in_flight(pool: ThreadPoolExecutor) -> None:
    active, peak, lock = 0, 0, threading.Lock()

    def tracked(n: int) -> float:
        return 0.005

    class Counting(Source):
        def __call__(self, number: int) -> Page[tuple[str, int]]:
            nonlocal active, peak
            with lock:
                active += 1
                peak = max(peak, active)
            try:
                return super().__call__(number)
            finally:
                with lock:
                    active -= 1

    sources = [Counting(f"s{i}", 6, delay=tracked) for i in range(5)]
    assert len(items(scan(pool, sources, in_flight=3))) == 30
    assert peak == 3


def test_scan_memory_is_bounded_for_slow_consumer(pool: ThreadPoolExecutor) -> None:
    source = Source("a", 90)
    pages = scan(pool, [source], in_flight=4, read_ahead=6)
    next(pages)
    time.sleep(0.05)  # let every worker run as far as it may
    assert len(source.calls) <= 1 + 6 + 1
    assert len(items(pages)) == 89


def test_scan_drops_pages_past_the_end(pool: ThreadPoolExecutor) -> None:
    source = Source("a", 2, fail={5, 6})  # speculative pages beyond the end fail: ignored
    assert items(scan(pool, [source], in_flight=8)) == [("a", 1), ("a", 2)]
    assert max(source.calls) < 2 + 8


def test_scan_speculates_only_after_a_page_says_more(pool: ThreadPoolExecutor) -> None:
    sources = [Source(f"s{i}", 1) for i in range(3)]
    items(scan(pool, sources, in_flight=8))
    assert all(source.calls == [1] for source in sources)


def test_scan_error_surfaces_in_order(pool: ThreadPoolExecutor) -> None:
    sources = [Source("a", 3), Source("b", 3, fail={2})]
    pages = scan(pool, sources)
    seen: list[tuple[str, int]] = []
    with pytest.raises(RuntimeError, match="b page 2"):
        for page in pages:
            seen.extend(page.items)
    assert seen == [("a", 1), ("a", 2), ("a", 3), ("b", 1)]


def test_scan_page_cap(pool: ThreadPoolExecutor) -> None:
    with pytest.raises(ZuoraResponseValidationError, match="5 pages"):
        items(scan(pool, [Source("a", 50)], max_pages=5))


def test_scan_close_early_cancels_queued_work() -> None:
    with ThreadPoolExecutor(max_workers=1) as single:
        source = Source("a", 100, delay=lambda n: 0.01)
        pages = scan(single, [source], in_flight=4)
        next(pages)
        pages.close()  # type: ignore[attr-defined]
        time.sleep(0.05)
        assert len(source.calls) <= 6


def test_scan_rejects_bad_limits(pool: ThreadPoolExecutor) -> None:
    with pytest.raises(ValueError):
        scan(pool, [], in_flight=0)


class TimedSource:
    """A listing of `records` evenly spread times over one day, newest first, `size` per page."""

    def __init__(self, records: int, size: int = 10) -> None:
        self.start = datetime(2026, 5, 1, tzinfo=UTC)
        self.end = self.start + timedelta(days=1)
        step = (self.end - self.start) / records
        self.times = [self.end - step * (i + 0.5) for i in range(records)]
        self.size = size
        self.calls: list[int] = []

    def __call__(self, number: int) -> Page[datetime]:
        self.calls.append(number)
        chunk = self.times[(number - 1) * self.size : number * self.size]
        return Page(items=chunk, page=number, has_more=number * self.size < len(self.times))


def test_scan_density_estimate_limits_speculation(pool: ThreadPoolExecutor) -> None:
    def submit(task: Callable[[], Page[datetime]]) -> Future[Page[datetime]]:
        return pool.submit(task)

    timed = TimedSource(records=30)
    listing = Listing(timed, timed.start, timed.end, time_of=lambda moment: moment)
    pages = list(
        scan_pages([listing], submit=submit, max_in_flight=8, read_ahead=32, max_pages=100)
    )
    assert sum(len(page.items) for page in pages) == 30
    assert max(timed.calls) <= 4  # 3 pages predicted, not 8 speculative ones
    untimed = TimedSource(records=30)
    list(
        scan_pages([Listing(untimed)], submit=submit, max_in_flight=8, read_ahead=32, max_pages=100)
    )
    assert max(untimed.calls) > 4  # without times it speculates up to max_in_flight
