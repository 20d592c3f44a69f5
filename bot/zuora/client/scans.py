"""Time-sliced scans: every page of a window, cut into slices that run concurrently on the client's pool.

Pages run on a client-owned thread pool, bounded by the one limiter every call of the client shares,
so the tenant's in-flight limit holds however many scans run at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar, cast

from bot.zuora.client.history import (
    EMAIL_WINDOW,
    MAX_PAGE_SIZE,
    HistoryPages,
    check_paging,
    check_window,
)
from bot.zuora.guard import validate_account_key
from bot.zuora.models import CalloutHistory, EmailHistory, Page, TimeWindow
from bot.zuora.scan import Listing, scan_pages
from bot.zuora.track import validate_track_id

MAX_PAGES = 2_500
CALLOUT_SLICE = timedelta(days=1)  # smaller slices let a long callout scan run in parallel
# A tenant-wide scan cuts its window into 6-hour listings: more of them run side by side, and a busy
# day's outage stays far below MAX_PAGES per listing.
TENANT_SCAN_SLICE = timedelta(hours=6)

AnyListing = Listing[CalloutHistory | EmailHistory]
T = TypeVar("T")


class HistoryScans(HistoryPages):
    """Streams every record of a window, slice by slice, fetching pages concurrently."""

    max_pages: int = MAX_PAGES
    callout_slice: timedelta = CALLOUT_SLICE

    def iter_callout_history(
        self,
        *,
        start: datetime,
        end: datetime,
        track_id: str,
        failed_only: bool = True,
        include_response_content: bool = False,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[CalloutHistory]:
        """Every callout in [start, end), oldest slice first, fetched concurrently with bounded memory."""
        track_id = validate_track_id(track_id)
        check_paging(1, page_size)
        window = _window(start, end)
        sources = [
            self._callout_source(piece, track_id, failed_only, include_response_content, page_size)
            for piece in window.split(self.callout_slice, tz=self._settings.tz)
        ]
        return self._iter_items(sources, track_id)

    def iter_email_history(
        self,
        *,
        account_id: str | None,
        start: datetime,
        end: datetime,
        track_id: str,
        failed_only: bool = True,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[EmailHistory]:
        """Every email in [start, end) over ≤3-day slices, fetched concurrently with bounded memory."""
        track_id = validate_track_id(track_id)
        if account_id is not None:
            account_id = validate_account_key(account_id)
        check_paging(1, page_size)
        window = _window(start, end)
        sources = [
            self._email_source(piece, account_id, track_id, failed_only, page_size)
            for piece in window.split(EMAIL_WINDOW, tz=self._settings.tz)
        ]
        return self._iter_items(sources, track_id)

    def iter_failed_callouts(
        self, window: TimeWindow, *, track_id: str
    ) -> Iterator[CalloutHistory]:
        """Every failed callout of the tenant in `window` (for the digest), streamed."""
        return self.iter_callout_history(start=window.start, end=window.end, track_id=track_id)

    def iter_failed_emails(self, window: TimeWindow, *, track_id: str) -> Iterator[EmailHistory]:
        """Every failed email of the tenant in `window` (for the digest), streamed."""
        return self.iter_email_history(
            account_id=None, start=window.start, end=window.end, track_id=track_id
        )

    def iter_failed_history(
        self,
        window: TimeWindow,
        *,
        track_id: str,
        callouts: bool = True,
        emails: bool = True,
        slice_length: timedelta = TENANT_SCAN_SLICE,
    ) -> Iterator[CalloutHistory | EmailHistory]:
        """Every failed callout and email of the tenant in `window` in ONE concurrent scan.

        Both lists' pages share the read-ahead, so the emails' first pages are in flight while the
        callouts' last ones are, instead of starting after them. Callouts come first (slice by
        slice), then emails; `slice_length` (at most 3 days) cuts more, shorter listings.
        """
        track_id = validate_track_id(track_id)
        check_window(window.start, window.end)
        piece_length = min(slice_length, EMAIL_WINDOW)
        sources: list[AnyListing] = []
        if callouts:
            sources.extend(
                cast(AnyListing, self._callout_source(piece, track_id, True, False, MAX_PAGE_SIZE))
                for piece in window.split(piece_length, tz=self._settings.tz)
            )
        if emails:
            sources.extend(
                cast(AnyListing, self._email_source(piece, None, track_id, True, MAX_PAGE_SIZE))
                for piece in window.split(piece_length, tz=self._settings.tz)
            )
        overlap = max(1, self._settings.max_concurrency // 4)
        return self._iter_items(sources, track_id, overlap=overlap)

    def _callout_source(
        self,
        piece: TimeWindow,
        track_id: str,
        failed_only: bool,
        include_response_content: bool,
        page_size: int,
    ) -> Listing[CalloutHistory]:
        def fetch(page: int) -> Page[CalloutHistory]:
            found = self.list_callout_history(
                start=piece.start,
                end=piece.end,
                page=page,
                track_id=track_id,
                failed_only=failed_only,
                include_response_content=include_response_content,
                page_size=page_size,
            )
            return _clip(found, piece, record_time)

        return Listing(fetch, piece.start, piece.end, record_time)

    def _email_source(
        self,
        piece: TimeWindow,
        account_id: str | None,
        track_id: str,
        failed_only: bool,
        page_size: int,
    ) -> Listing[EmailHistory]:
        def fetch(page: int) -> Page[EmailHistory]:
            found = self.list_email_history(
                account_id=account_id,
                start=piece.start,
                end=piece.end,
                page=page,
                track_id=track_id,
                failed_only=failed_only,
                page_size=page_size,
            )
            return _clip(found, piece, record_time)

        return Listing(fetch, piece.start, piece.end, record_time)

    def _iter_items(
        self, sources: Sequence[Listing[T]], track_id: str, *, overlap: int = 0
    ) -> Iterator[T]:
        pages = self._scan(sources, track_id, overlap=overlap)
        for page in pages:
            yield from page.items

    def _scan(
        self, sources: Sequence[Listing[T]], track_id: str, *, overlap: int = 0
    ) -> Iterator[Page[T]]:
        # `overlap` extra pages may be submitted beyond the in-flight limit: they wait for a slot
        # of the limiter (which alone bounds what is on the wire) while others parse their answers,
        # so a slot never idles during parsing.
        limit = self._settings.max_concurrency
        return scan_pages(
            sources,
            submit=self._submit,
            max_in_flight=limit + overlap,
            read_ahead=4 * limit,
            max_pages=self.max_pages,
            track_id=track_id,
        )

    def _submit(self, task: Callable[[], T]) -> Future[T]:
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("ZuoraClient is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=2 * self._settings.max_concurrency, thread_name_prefix="zuora"
                )
            return self._pool.submit(task)


def _window(start: datetime, end: datetime) -> TimeWindow:
    check_window(start, end)
    return TimeWindow(start=start.astimezone(UTC), end=end.astimezone(UTC), label="")


def record_time(record: CalloutHistory | EmailHistory) -> datetime:
    return record.create_time if isinstance(record, CalloutHistory) else record.send_time


R = TypeVar("R", CalloutHistory, EmailHistory)


def _clip(page: Page[R], piece: TimeWindow, when: Callable[[R], datetime]) -> Page[R]:
    """Keep the records inside the half-open slice so neighbouring slices never both return one."""
    kept = [item for item in page.items if piece.start <= when(item) < piece.end]
    if len(kept) == len(page.items):
        return page
    return Page(items=kept, page=page.page, has_more=page.has_more)
