"""One page of notification history: the callout and email listing calls and their parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Generic, TypeVar

from bot.zuora.client.transport import Transport
from bot.zuora.errors import ZuoraInputError
from bot.zuora.guard import validate_account_key
from bot.zuora.models import CalloutHistory, EmailHistory, Page
from bot.zuora.parse import parse_page
from bot.zuora.track import validate_track_id

CALLOUT_PATH = "/v1/notification-history/callout"
EMAIL_PATH = "/v1/notification-history/email"
MAX_PAGE_SIZE = 40
EMAIL_WINDOW = timedelta(days=3)  # Zuora refuses longer email-history windows
R = TypeVar("R", CalloutHistory, EmailHistory)
WIRE_TIME = "%Y-%m-%dT%H:%M:%S"
MAX_RECENT_PAGES = 5  # pages a recent read (successes included) may take, whatever it finds


@dataclass(frozen=True)
class Recent(Generic[R]):
    """Records of a short recent read, successes included; `complete`: every page was read."""

    items: list[R]
    complete: bool


class HistoryPages(Transport):
    """Lists one page of the tenant's callout or email history."""

    def list_callout_history(
        self,
        *,
        start: datetime,
        end: datetime,
        page: int,
        track_id: str,
        failed_only: bool = True,
        include_response_content: bool = False,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Page[CalloutHistory]:
        """One page of the tenant's callout history between `start` and `end` (aware datetimes)."""
        track_id = validate_track_id(track_id)
        params = self._history_params(start, end, page, page_size, failed_only)
        params["includeResponseContent"] = _flag(include_response_content)
        response = self._request(
            "GET", CALLOUT_PATH, track_id=track_id, params=params, idempotent=True
        )
        return parse_page(
            response, "calloutHistories", CalloutHistory, page, track_id, self._context
        )

    def list_email_history(
        self,
        *,
        account_id: str | None,
        start: datetime,
        end: datetime,
        page: int,
        track_id: str,
        failed_only: bool = True,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Page[EmailHistory]:
        """One page of email history (of one account when `account_id` is set), at most 3 days."""
        track_id = validate_track_id(track_id)
        params = self._history_params(start, end, page, page_size, failed_only)
        if end - start > EMAIL_WINDOW:
            raise ZuoraInputError(
                "Zuora lists at most 3 days of email history per call; use iter_email_history"
            )
        if account_id is not None:
            params["accountId"] = validate_account_key(account_id)
        response = self._request(
            "GET", EMAIL_PATH, track_id=track_id, params=params, idempotent=True
        )
        return parse_page(response, "emailHistories", EmailHistory, page, track_id, self._context)

    def recent_callouts(
        self, *, start: datetime, end: datetime, track_id: str, max_pages: int = MAX_RECENT_PAGES
    ) -> Recent[CalloutHistory]:
        """The tenant's callouts in [start, end), successes included (failedOnly=false), reading at
        most `max_pages` pages of MAX_PAGE_SIZE one after another (a recovery check, not a scan)."""

        def fetch(page: int) -> Page[CalloutHistory]:
            return self.list_callout_history(
                start=start, end=end, page=page, track_id=track_id, failed_only=False
            )

        return _read_pages(fetch, max_pages)

    def recent_emails(
        self,
        *,
        account_id: str,
        start: datetime,
        end: datetime,
        track_id: str,
        max_pages: int = MAX_RECENT_PAGES,
    ) -> Recent[EmailHistory]:
        """One account's emails in [start, end) (at most 3 days), successes included, at most
        `max_pages` pages: Zuora filters email history by account, so the read stays targeted."""

        def fetch(page: int) -> Page[EmailHistory]:
            return self.list_email_history(
                account_id=account_id,
                start=start,
                end=end,
                page=page,
                track_id=track_id,
                failed_only=False,
            )

        return _read_pages(fetch, max_pages)

    def _history_params(
        self, start: datetime, end: datetime, page: int, page_size: int, failed_only: bool
    ) -> dict[str, str]:
        check_window(start, end)
        check_paging(page, page_size)
        tz = self._settings.tz
        return {
            "startTime": wire_time(start, tz),
            "endTime": wire_time(end, tz),
            "failedOnly": _flag(failed_only),
            "page": str(page),
            "pageSize": str(page_size),
        }


def wire_time(moment: datetime, tz: tzinfo) -> str:
    """`yyyy-MM-ddTHH:mm:ss` in the tenant's zone: no offset and no fraction.

    A fraction is rounded up: history times are whole seconds, so for the half-open [start, end)
    rounding both ends up selects exactly the same records and never lengthens a 3-day window.
    """
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        utc = utc.replace(microsecond=0) + timedelta(seconds=1)
    return utc.astimezone(tz).strftime(WIRE_TIME)


def _read_pages(fetch: Callable[[int], Page[R]], max_pages: int) -> Recent[R]:
    """Pages 1.. in order until Zuora says there are no more or `max_pages` were read."""
    items: list[R] = []
    for number in range(1, min(max(1, max_pages), MAX_RECENT_PAGES) + 1):
        page = fetch(number)
        items.extend(page.items)
        if not page.has_more:
            return Recent(items, complete=True)
    return Recent(items, complete=False)


def check_paging(page: int, page_size: int) -> None:
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ZuoraInputError(f"Page must be a whole number from 1, got {page!r}")
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise ZuoraInputError(f"Page size must be a whole number, got {page_size!r}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ZuoraInputError(f"Page size must be 1 to {MAX_PAGE_SIZE}, got {page_size}")


def check_window(start: datetime, end: datetime) -> None:
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        raise ZuoraInputError("start and end must be datetimes")
    if start.tzinfo is None or end.tzinfo is None:
        raise ZuoraInputError("start and end must be timezone-aware datetimes")
    if start >= end:
        raise ZuoraInputError(f"start ({start.isoformat()}) must be before end ({end.isoformat()})")


def _flag(value: bool) -> str:
    return "true" if value else "false"
