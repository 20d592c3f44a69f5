"""ZuoraClient: notification history, accounts and resend over one injected httpx.Client.

Every call goes through `_request`, the one place that sends, retries, translates httpx errors and maps
statuses to the ZuoraError tree (`_raise_for_status`). `parse.py` turns bodies into models. Long
scans run pages concurrently on a client-owned thread pool, bounded by one semaphore shared by every
call of the client, so the tenant's in-flight limit holds however many scans run at once.
Data Query jobs are submitted and polled through `_request` too; only their result file, a
pre-signed URL on another host, is fetched by a separate plain client without Zuora's credentials.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, tzinfo
from random import random as _uniform
from types import TracebackType
from typing import Any, TypeVar, cast

import httpx

from bot.core.url_rules import allowed_url, host_of
from bot.zuora.auth import TokenStatus, ZuoraOAuth
from bot.zuora.cache import ReadCache
from bot.zuora.dataquery import (
    QUERY_JOB_PATH,
    QUERY_JOBS_PATH,
    OutputFormat,
    QueryJob,
    QueryResult,
    job_request,
    parse_job,
    parse_result,
    poll_delays,
    validate_job_id,
)
from bot.zuora.errors import (
    ZuoraAuthError,
    ZuoraClosedError,
    ZuoraConnectionError,
    ZuoraError,
    ZuoraInputError,
    ZuoraNotFoundError,
    ZuoraQueryError,
    ZuoraRateLimitError,
    ZuoraReason,
    ZuoraResponseValidationError,
    ZuoraServerError,
    ZuoraStatusError,
    ZuoraTimeoutError,
)
from bot.zuora.guard import validate_account_key, validate_history_id
from bot.zuora.limiter import AdaptiveLimiter
from bot.zuora.models import (
    Account,
    CalloutHistory,
    EmailHistory,
    NotificationKind,
    Page,
    ResendFailure,
    ResendResult,
    TimeWindow,
)
from bot.zuora.parse import (
    body_text,
    json_or_none,
    parse_account,
    parse_page,
    parse_resend,
)
from bot.zuora.retry import (
    IN_PROGRESS_STATUS,
    SAFE_METHODS,
    RetryPolicy,
    compute_delay,
    may_have_reached,
    should_retry,
    unknown_outcome,
)
from bot.zuora.scan import Listing, scan_pages
from bot.zuora.settings import ZuoraSettings
from bot.zuora.track import validate_track_id

logger = logging.getLogger(__name__)

CALLOUT_PATH = "/v1/notification-history/callout"
EMAIL_PATH = "/v1/notification-history/email"
ACCOUNT_PATH = "/v1/accounts/{key}"
RESEND_PATHS: Mapping[NotificationKind, str] = {
    "email": "/notifications/email-histories/resend",
    "callout": "/notifications/callout-histories/resend",
}
MAX_PAGE_SIZE = 40
MAX_PAGES = 2_500
MAX_RESEND_BATCH = 1_000
CLOSE_GRACE = 5.0  # seconds close() waits for other threads' requests in flight
RATE_LIMIT_RETRIES = 6  # retries of a throttled call (429); other failures get ZUORA_MAX_RETRIES
EMAIL_WINDOW = timedelta(days=3)  # Zuora refuses longer email-history windows
CALLOUT_SLICE = timedelta(days=1)  # smaller slices let a long callout scan run in parallel
# A tenant-wide scan cuts its window into 6-hour listings: more of them run side by side, and a busy
# day's outage stays far below MAX_PAGES per listing.
TENANT_SCAN_SLICE = timedelta(hours=6)
WIRE_TIME = "%Y-%m-%dT%H:%M:%S"
DATA_FILE_TIMEOUT = 30.0  # seconds to read a Data Query result file from Zuora's S3
MAX_DATA_FILE_BYTES = 64 * 1024 * 1024
_S3_CODE = re.compile(rb"<Code>([A-Za-z0-9]{1,64})</Code>")
_SUCCESS_FALSE = re.compile(rb'"success"\s*:\s*false')
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d2c3e-8a4b-5c6d-9e0f-7a8b9c0d1e2f")

_AnyListing = Listing[CalloutHistory | EmailHistory]
ChunkDone = Callable[[int, int], None]
T = TypeVar("T")


def build_http_client(settings: ZuoraSettings) -> httpx.Client:
    """An httpx.Client for the tenant: explicit timeouts and pool limits, JSON + gzip, OAuth."""
    return httpx.Client(
        base_url=settings.base_url,
        timeout=httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.connect_timeout,
        ),
        limits=httpx.Limits(
            max_connections=settings.max_concurrency + 2,
            max_keepalive_connections=settings.max_concurrency + 2,
            keepalive_expiry=30.0,
        ),
        headers={"Accept": "application/json", "Accept-Encoding": "gzip"},
        auth=ZuoraOAuth.from_settings(settings),
        follow_redirects=False,
    )


class ZuoraClient:
    """Reads accounts and notification histories and resends notifications, with retries and limits.

    Thread-safe: listeners share one client. Public methods validate their input (keys, ids, track id,
    windows) before building any request and raise only ZuoraError subclasses (RuntimeError if used
    after `close()`).
    """

    max_pages: int = MAX_PAGES
    callout_slice: timedelta = CALLOUT_SLICE

    def __init__(
        self,
        http: httpx.Client,
        settings: ZuoraSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        timer: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _uniform,
        files_http: httpx.Client | None = None,
    ) -> None:
        self._http = http
        self._files_http = files_http  # for Data Query result files: no Zuora auth, own timeout
        self._owns_files_http = files_http is None
        self._settings = settings
        self._sleep = sleep
        self._timer = timer
        self._random = random
        self._base_url = settings.base_url.rstrip("/")
        self._auth = (
            http.auth
            if isinstance(http.auth, ZuoraOAuth)
            else ZuoraOAuth.from_settings(settings, timer=timer)
        )
        self._policy = RetryPolicy(
            max_retries=settings.max_retries, max_delay=settings.retry_max_delay
        )
        self._context: dict[str, Any] = {"tenant_tz": settings.tz}
        self._limiter = AdaptiveLimiter(settings.max_concurrency)
        self._cache = ReadCache(ttl=settings.cache_ttl, timer=timer)
        self._pool_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False
        self._owns_http = False
        self._static_headers = _static_headers(settings)

    @property
    def http(self) -> httpx.Client:
        """The httpx client Zuora calls go through (e.g. to add a response event hook)."""
        return self._http

    @classmethod
    def from_settings(cls, settings: ZuoraSettings) -> ZuoraClient:
        """A client with its own httpx.Client (closed by `close()`)."""
        client = cls(build_http_client(settings), settings)
        client._owns_http = True
        return client

    def close(self) -> None:
        """Stop the worker threads and, if this client built it, close the HTTP client."""
        with self._pool_lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        # Calls other threads (ID lookups) still have in flight finish before their connections
        # close under them; new ones are refused by `_closed`.
        if not self._limiter.wait_idle(CLOSE_GRACE):
            logger.warning("Closing the Zuora client with requests still in flight")
        with self._pool_lock:
            files, self._files_http = self._files_http, None
        if files is not None and self._owns_files_http:
            files.close()
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ZuoraClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def settings(self) -> ZuoraSettings:
        """The tenant settings this client was built with (read-only use)."""
        return self._settings

    # -- credentials -------------------------------------------------------------------------------

    def token_status(self) -> TokenStatus:
        """Whether a token is cached and for how long Zuora accepts it (never the token)."""
        return self._auth.token_status()

    def check_credentials(self, track_id: str) -> TokenStatus:
        """Fetch a token now unless one is cached; ZuoraAuthError if Zuora rejects the credentials."""
        track_id = validate_track_id(track_id)
        return self._auth.ensure_token(
            lambda request: self._transmit(request, track_id=track_id, auth=None),
            track_id=track_id,
            timeout=self._http.timeout,
        )

    # -- accounts ----------------------------------------------------------------------------------

    def get_account(self, key: str, *, track_id: str) -> Account:
        """The account with this number or 32-hex id; ZuoraNotFoundError (with `.key`) if none."""
        key = validate_account_key(key)
        track_id = validate_track_id(track_id)
        return self._cache.get_or_compute(
            ("account", key), lambda: self._fetch_account(key, track_id)
        )

    def _fetch_account(self, key: str, track_id: str) -> Account:
        try:
            response = self._request(
                "GET", ACCOUNT_PATH.format(key=key), track_id=track_id, idempotent=True
            )
        except (ZuoraAuthError, ZuoraRateLimitError, ZuoraServerError):
            raise
        except ZuoraStatusError as exc:  # success=false or any other 4xx: Zuora says "no such key"
            raise ZuoraNotFoundError(
                f"No Zuora account matches {key!r}",
                key=key,
                status_code=exc.status_code,
                track_id=track_id,
                reasons=exc.reasons,
                body=exc.body,
            ) from exc
        account = parse_account(response, track_id)
        self._cache.put(("account", account.id), account)
        self._cache.put(("account", account.number), account)
        return account

    # -- one page ----------------------------------------------------------------------------------

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

    def _history_params(
        self, start: datetime, end: datetime, page: int, page_size: int, failed_only: bool
    ) -> dict[str, str]:
        _check_window(start, end)
        _check_paging(page, page_size)
        tz = self._settings.tz
        return {
            "startTime": wire_time(start, tz),
            "endTime": wire_time(end, tz),
            "failedOnly": _flag(failed_only),
            "page": str(page),
            "pageSize": str(page_size),
        }

    # -- every page --------------------------------------------------------------------------------

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
        _check_paging(1, page_size)
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
        _check_paging(1, page_size)
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
        _check_window(window.start, window.end)
        piece_length = min(slice_length, EMAIL_WINDOW)
        sources: list[_AnyListing] = []
        if callouts:
            sources.extend(
                cast(_AnyListing, self._callout_source(piece, track_id, True, False, MAX_PAGE_SIZE))
                for piece in window.split(piece_length, tz=self._settings.tz)
            )
        if emails:
            sources.extend(
                cast(_AnyListing, self._email_source(piece, None, track_id, True, MAX_PAGE_SIZE))
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
            return _clip(found, piece, _record_time)

        return Listing(fetch, piece.start, piece.end, _record_time)

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
            return _clip(found, piece, _record_time)

        return Listing(fetch, piece.start, piece.end, _record_time)

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

    # -- an account's failures ---------------------------------------------------------------------

    def failed_callouts_for(
        self, account: Account, window: TimeWindow, *, track_id: str
    ) -> list[CalloutHistory]:
        """The account's failed callouts in `window`: one per event (latest attempt), newest first."""
        track_id = validate_track_id(track_id)
        key = _account_key("callouts", account, window)
        found = self._cache.get_or_compute(
            key, lambda: tuple(self._failures(account, window, track_id, emails=False)[0])
        )
        return list(found)

    def failed_emails_for(
        self, account: Account, window: TimeWindow, *, track_id: str
    ) -> list[EmailHistory]:
        """The account's failed emails in `window`, newest first, duplicates removed."""
        track_id = validate_track_id(track_id)
        key = _account_key("emails", account, window)
        found = self._cache.get_or_compute(
            key, lambda: tuple(self._failures(account, window, track_id, callouts=False)[1])
        )
        return list(found)

    def failures_for(
        self, account: Account, window: TimeWindow, *, track_id: str
    ) -> tuple[list[CalloutHistory], list[EmailHistory]]:
        """Both lists of an account's failures in one concurrent scan (faster than two calls)."""
        track_id = validate_track_id(track_id)
        callout_key = _account_key("callouts", account, window)
        email_key = _account_key("emails", account, window)
        both = self._cache.get_or_compute(
            ("both", callout_key, email_key),
            lambda: self._failures(account, window, track_id),
        )
        self._cache.put(callout_key, tuple(both[0]))
        self._cache.put(email_key, tuple(both[1]))
        return list(both[0]), list(both[1])

    def forget(self, account: Account, window: TimeWindow) -> None:
        """Drop the cached failures of `account` in `window` so the next read asks Zuora again."""
        callout_key = _account_key("callouts", account, window)
        email_key = _account_key("emails", account, window)
        for key in (callout_key, email_key, ("both", callout_key, email_key)):
            self._cache.discard(key)

    def _failures(
        self,
        account: Account,
        window: TimeWindow,
        track_id: str,
        *,
        callouts: bool = True,
        emails: bool = True,
    ) -> tuple[list[CalloutHistory], list[EmailHistory]]:
        _check_window(window.start, window.end)
        sources: list[_AnyListing] = []
        if callouts:
            sources.extend(
                cast(
                    _AnyListing,
                    self._callout_source(piece, track_id, True, False, MAX_PAGE_SIZE),
                )
                for piece in window.split(self.callout_slice, tz=self._settings.tz)
            )
        if emails:
            account_id = validate_account_key(account.id)
            sources.extend(
                cast(
                    _AnyListing,
                    self._email_source(piece, account_id, track_id, True, MAX_PAGE_SIZE),
                )
                for piece in window.split(EMAIL_WINDOW, tz=self._settings.tz)
            )
        latest_callouts: dict[Hashable, CalloutHistory] = {}
        unique_emails: dict[Hashable, EmailHistory] = {}
        for record in self._iter_items(sources, track_id):
            if isinstance(record, CalloutHistory):
                if record.belongs_to(account):
                    _keep_latest(latest_callouts, record)
            elif record.account_id in (None, account.id):
                unique_emails.setdefault(record.id or record.natural_key, record)
        return (
            sorted(latest_callouts.values(), key=_callout_order, reverse=True),
            sorted(unique_emails.values(), key=lambda record: record.send_time, reverse=True),
        )

    def get_callout_response(
        self,
        account: Account,
        created_at: datetime,
        event_id: str | None,
        *,
        track_id: str,
    ) -> CalloutHistory | None:
        """One callout of the account with its response content (fetched on demand), or None."""
        track_id = validate_track_id(track_id)
        if created_at.tzinfo is None:
            raise ZuoraInputError("created_at must be timezone-aware")
        moment = created_at.astimezone(UTC).replace(microsecond=0)
        matches = [
            record
            for record in self.iter_callout_history(
                start=moment - timedelta(seconds=1),
                end=moment + timedelta(seconds=2),
                track_id=track_id,
                failed_only=False,
                include_response_content=True,
            )
            if record.belongs_to(account) and (event_id is None or record.event_id == event_id)
        ]
        if not matches:
            return None
        exact = [record for record in matches if record.create_time == moment] or matches
        return max(exact, key=lambda record: record.attempted_num or 0)

    # -- resend ------------------------------------------------------------------------------------

    def resend_emails(
        self,
        ids: Iterable[str],
        *,
        idempotency_key: str,
        track_id: str,
        on_chunk: ChunkDone | None = None,
    ) -> ResendResult:
        """Resend email notifications by history id, 1,000 per request, each chunk idempotent."""
        return self._resend(
            "email", ids, idempotency_key=idempotency_key, track_id=track_id, on_chunk=on_chunk
        )

    def resend_callouts(
        self,
        ids: Iterable[str],
        *,
        idempotency_key: str,
        track_id: str,
        on_chunk: ChunkDone | None = None,
    ) -> ResendResult:
        """Resend callout notifications by history id, 1,000 per request, each chunk idempotent."""
        return self._resend(
            "callout", ids, idempotency_key=idempotency_key, track_id=track_id, on_chunk=on_chunk
        )

    def _resend(
        self,
        kind: NotificationKind,
        ids: Iterable[str],
        *,
        idempotency_key: str,
        track_id: str,
        on_chunk: ChunkDone | None = None,
    ) -> ResendResult:
        """Resend in chunks; `on_chunk(done, total)` after each one (ids handled so far).

        A 409 that outlasts the retries means Zuora already did (or is still doing) the request
        with that key: its ids are reported `in_progress`, never as failed and never sent twice.
        """
        track_id = validate_track_id(track_id)
        if not isinstance(idempotency_key, str) or not idempotency_key.strip():
            raise ZuoraInputError("A resend needs a non-empty idempotency key")
        if isinstance(ids, str):
            raise ZuoraInputError("Resend ids must be a list of ids, not one string")
        unique = list(dict.fromkeys(validate_history_id(history_id) for history_id in ids))
        failed: dict[str, ResendFailure] = {}
        in_progress: list[str] = []
        for index, start in enumerate(range(0, len(unique), MAX_RESEND_BATCH)):
            chunk = unique[start : start + MAX_RESEND_BATCH]
            key = chunk_idempotency_key(idempotency_key, kind, index, chunk)
            try:
                response = self._request(
                    "POST",
                    RESEND_PATHS[kind],
                    track_id=track_id,
                    json=chunk,
                    headers={"Idempotency-Key": key},
                    idempotent=True,
                    accept=(400,),
                )
                failures = parse_resend(response, chunk, track_id)
                if failures is None:  # a 400 that is not the id map: a real error
                    _raise_for_status(response, track_id)
                    raise ZuoraResponseValidationError("Zuora's resend answer is not understood")
                failed.update(failures)
            except ZuoraStatusError as exc:
                # An unknown outcome ends the whole request, whatever the chunk: asked again with
                # the same key, Zuora replays the chunks it answered and nothing is sent twice.
                if exc.status_code != IN_PROGRESS_STATUS and (index == 0 or exc.outcome_unknown):
                    raise
                if exc.status_code == IN_PROGRESS_STATUS:
                    logger.info(
                        "Resend chunk %d of %s: Zuora says key %s is done or in progress "
                        "(409); not resent (track %s)",
                        index,
                        kind,
                        key[:8],
                        track_id,
                    )
                    in_progress.extend(chunk)
                else:
                    _fail_chunk(failed, chunk, exc, index, kind, track_id)
            except ZuoraError as exc:
                if index == 0 or exc.outcome_unknown:
                    raise
                _fail_chunk(failed, chunk, exc, index, kind, track_id)
            if on_chunk is not None:
                on_chunk(min(start + len(chunk), len(unique)), len(unique))
        waiting = set(in_progress)
        return ResendResult(
            kind=kind,
            requested=tuple(unique),
            succeeded=tuple(i for i in unique if i not in failed and i not in waiting),
            failed=failed,
            in_progress=tuple(in_progress),
        )

    # -- Data Query --------------------------------------------------------------------------------

    def submit_query(
        self, query: str, *, track_id: str, output_format: OutputFormat = "JSON"
    ) -> QueryJob:
        """Start a Data Query job (`POST /query/jobs`); the SQL must come from trusted builders."""
        track_id = validate_track_id(track_id)
        if not isinstance(query, str) or not query.strip():
            raise ZuoraInputError("A Data Query needs SQL text")
        response = self._request(
            "POST",
            QUERY_JOBS_PATH,
            track_id=track_id,
            json=job_request(query, output_format),
            idempotent=False,
        )
        return parse_job(json_or_none(response))

    def query_job(self, job_id: str, *, track_id: str) -> QueryJob:
        """The current state of a Data Query job (`GET /query/jobs/{id}`)."""
        track_id = validate_track_id(track_id)
        path = QUERY_JOB_PATH.format(job_id=validate_job_id(job_id))
        response = self._request("GET", path, track_id=track_id, idempotent=True)
        return parse_job(json_or_none(response))

    def cancel_query(self, job_id: str, *, track_id: str) -> None:
        """Ask Zuora to cancel a Data Query job (`DELETE /query/jobs/{id}`)."""
        track_id = validate_track_id(track_id)
        path = QUERY_JOB_PATH.format(job_id=validate_job_id(job_id))
        self._request("DELETE", path, track_id=track_id, idempotent=True)

    def run_query(
        self,
        query: str,
        *,
        track_id: str,
        output_format: OutputFormat = "JSON",
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        """Submit a Data Query, wait for it and return the result file's rows (see `query`)."""
        return self.query(
            query, track_id=track_id, output_format=output_format, timeout=timeout
        ).rows

    def query(
        self,
        query: str,
        *,
        track_id: str,
        output_format: OutputFormat = "JSON",
        timeout: float | None = None,
    ) -> QueryResult:
        """Submit a Data Query, poll it with back-off, and return the result file's columns and rows.

        Waits at most `timeout` seconds (default: settings.query_timeout). A job that fails, is
        cancelled or runs out of time raises ZuoraQueryError with Zuora's reason; an overdue job is
        cancelled on the way out. The result file is fetched without Zuora's credentials.
        """
        track_id = validate_track_id(track_id)
        limit = self._settings.query_timeout if timeout is None else timeout
        started = self._timer()
        deadline = started + limit
        job = self.submit_query(query, track_id=track_id, output_format=output_format)
        delays = poll_delays()
        while not job.finished:
            remaining = deadline - self._timer()
            if remaining <= 0:
                self._abandon_query(job, track_id)
                raise ZuoraQueryError(
                    f"Data Query job {job.id} did not finish within {limit:g} s",
                    track_id=track_id,
                )
            self._sleep(min(next(delays), remaining))
            if self._closed:
                raise ZuoraQueryError(
                    "The bot stopped while a Data Query job was running", track_id=track_id
                )
            job = self.query_job(job.id, track_id=track_id)
        if job.status != "completed":
            reason = job.error or "no reason given"
            raise ZuoraQueryError(f"Data Query job {job.status}: {reason}", track_id=track_id)
        if job.data_file is None:
            raise ZuoraQueryError(
                f"Data Query job {job.id} completed without a result file", track_id=track_id
            )
        result = parse_result(self._download(job.data_file, track_id=track_id), output_format)
        logger.info(
            "Data Query job %s: %d rows in %.2f s (track %s)",
            job.id,
            len(result.rows),
            self._timer() - started,
            track_id,
        )
        return result

    def _abandon_query(self, job: QueryJob, track_id: str) -> None:
        """Cancel an overdue job so it stops using the tenant's Data Query capacity (best effort)."""
        try:
            self.cancel_query(job.id, track_id=track_id)
        except ZuoraError as exc:
            logger.info("Could not cancel Data Query job %s: %s", job.id, exc.message)

    def _download(self, url: str, *, track_id: str) -> bytes:
        """GET a pre-signed result file: a plain request, no Zuora auth, its own timeout, retried."""
        if not allowed_url(url, self._settings.result_file_rules):
            # The URL's query holds a signature: only its host is logged.
            logger.warning(
                "Refused Data Query result file URL on %s: not https on a host in "
                "ZUORA_RESULT_FILE_HOSTS (track %s)",
                host_of(url),
                track_id,
            )
            raise ZuoraQueryError(
                "Zuora's result file URL is not https on an allowed file host "
                "(ZUORA_RESULT_FILE_HOSTS)",
                track_id=track_id,
            )
        target = httpx.URL(url)
        # The query string holds the signature: only the host and path are ever logged.
        where = f"{target.host}{target.path[:60]}"
        attempt = 0
        while True:
            try:
                return self._download_once(url, where, track_id)
            except _RetryableDownload as exc:
                if attempt >= self._policy.max_retries:
                    raise ZuoraQueryError(exc.message, track_id=track_id) from exc
                attempt += 1
                delay = compute_delay(
                    attempt,
                    retry_after=None,
                    ratelimit_reset=None,
                    policy=self._policy,
                    rand=self._random(),
                    now=datetime.now(UTC),
                )
                logger.warning(
                    "Retrying the Data Query result file from %s in %.2f s after %s (track %s)",
                    where,
                    delay,
                    exc.message,
                    track_id,
                )
                self._sleep(delay)

    def _download_once(self, url: str, where: str, track_id: str) -> bytes:
        started = self._timer()
        try:
            with self._files_client().stream("GET", url) as response:
                if response.status_code != 200:
                    head = response.read()[:2000]
                    found = _S3_CODE.search(head)
                    detail = f" {found.group(1).decode()}" if found else ""
                    message = (
                        f"Zuora's result file could not be fetched "
                        f"(HTTP {response.status_code}{detail})"
                    )
                    if response.status_code >= 500 or response.status_code == 429:
                        raise _RetryableDownload(message)
                    raise ZuoraQueryError(message, track_id=track_id)
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_DATA_FILE_BYTES:
                        raise ZuoraQueryError(
                            "Zuora's result file is larger than the bot accepts", track_id=track_id
                        )
                    chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise _RetryableDownload("the result file did not arrive in time") from exc
        except httpx.TransportError as exc:
            raise _RetryableDownload(
                f"the result file host could not be reached ({type(exc).__name__})"
            ) from exc
        logger.debug(
            "Data Query result file from %s: %d bytes in %.0f ms (track %s)",
            where,
            size,
            (self._timer() - started) * 1000,
            track_id,
        )
        return b"".join(chunks)

    def _files_client(self) -> httpx.Client:
        """The HTTP client for result files: no auth, no Zuora headers, no redirects."""
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("ZuoraClient is closed")
            if self._files_http is None:
                self._files_http = httpx.Client(
                    timeout=httpx.Timeout(
                        DATA_FILE_TIMEOUT,
                        connect=self._settings.connect_timeout,
                        pool=self._settings.connect_timeout,
                    ),
                    follow_redirects=False,
                )
            return self._files_http

    # -- the choke point ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        track_id: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool,
        accept: Collection[int] = (),
    ) -> httpx.Response:
        """Send one call with retries; return the response or raise the matching ZuoraError.

        Statuses in `accept` are returned as they are for the caller to read (the resend 400 map).
        """
        request = self._http.build_request(
            method,
            self._base_url + path,
            params=params,
            json=json,
            headers={**self._static_headers, "Zuora-Track-Id": track_id, **(headers or {})},
        )
        attempt = 0
        reached = False  # whether an earlier try may have been carried out by Zuora
        while True:
            response: httpx.Response | None = None
            try:
                response = self._send(request, track_id=track_id)
                if response.status_code not in accept:
                    _raise_for_status(response, track_id)
                return response
            except ZuoraError as exc:
                if method.upper() not in SAFE_METHODS:
                    exc.outcome_unknown = unknown_outcome(exc, reached_before=reached)
                    reached = reached or may_have_reached(exc)
                if not isinstance(exc, ZuoraConnectionError | ZuoraStatusError):
                    raise
                # Throttling gets a longer budget than other failures: the limiter has just cut
                # the in-flight limit, so waiting it out slows the scan instead of failing it.
                budget = (
                    max(self._policy.max_retries, RATE_LIMIT_RETRIES)
                    if isinstance(exc, ZuoraRateLimitError)
                    else self._policy.max_retries
                )
                if attempt >= budget or not should_retry(method, exc, idempotent=idempotent):
                    raise
                attempt += 1
                delay = compute_delay(
                    attempt,
                    retry_after=_header(response, "Retry-After") or _retry_after_of(exc),
                    # Zuora sends RateLimit-Reset on every answer; it only matters for a 429.
                    ratelimit_reset=(
                        _header(response, "RateLimit-Reset")
                        if isinstance(exc, ZuoraRateLimitError)
                        else None
                    ),
                    policy=self._policy,
                    rand=self._random(),
                    now=datetime.now(UTC),
                )
                logger.warning(
                    "Retrying Zuora %s %s (retry %d of %d) in %.2f s after %s (track %s)",
                    method,
                    path,
                    attempt,
                    budget,
                    delay,
                    _outcome(exc),
                    track_id,
                )
                self._sleep(delay)

    def _send(self, request: httpx.Request, *, track_id: str) -> httpx.Response:
        """One attempt, holding a place under the client's adaptive in-flight limit."""
        with self._limiter.slot() as slot:
            if self._closed:  # a lookup thread outliving close(): no new connection
                raise ZuoraClosedError("The bot is stopping", track_id=track_id)
            response = self._transmit(request, track_id=track_id, auth=self._auth)
            slot.throttled = response.status_code == 429
            return response

    @property
    def in_flight_limit(self) -> int:
        """How many requests this client sends at once right now (lower after Zuora's 429s)."""
        return self._limiter.limit

    def _transmit(
        self, request: httpx.Request, *, track_id: str, auth: httpx.Auth | None
    ) -> httpx.Response:
        """Send through httpx, translating its exceptions (here only) and logging the exchange."""
        started = self._timer()
        try:
            response = self._http.send(request, auth=auth)
        except httpx.ConnectError as exc:
            # No connection was made: the request certainly never reached Zuora.
            raise ZuoraConnectionError(
                f"Could not reach Zuora at {request.url.host} ({type(exc).__name__})",
                track_id=track_id,
                request_sent=False,
            ) from exc
        except httpx.TimeoutException as exc:
            raise ZuoraTimeoutError(
                f"Zuora did not answer {request.method} {request.url.path} in time",
                track_id=track_id,
                # A connect or pool timeout: nothing was sent. A read or write timeout: it may be.
                request_sent=not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout),
            ) from exc
        except httpx.DecodingError as exc:
            raise ZuoraResponseValidationError(
                f"Zuora's answer to {request.method} {request.url.path} could not be decoded",
                track_id=track_id,
            ) from exc
        except httpx.TransportError as exc:
            raise ZuoraConnectionError(
                f"Could not reach Zuora at {request.url.host} ({type(exc).__name__})",
                track_id=track_id,
            ) from exc
        logger.debug(
            "Zuora %s %s -> %d in %.0f ms (track %s, request %s, ratelimit-remaining %s)",
            request.method,
            request.url.path,
            response.status_code,
            (self._timer() - started) * 1000,
            track_id,
            response.headers.get("Zuora-Request-Id"),
            response.headers.get("RateLimit-Remaining"),
        )
        return response


def _fail_chunk(
    failed: dict[str, ResendFailure],
    chunk: Sequence[str],
    exc: ZuoraError,
    index: int,
    kind: str,
    track_id: str,
) -> None:
    """Earlier chunks were resent: report a later one as failed rather than lose them."""
    logger.warning(
        "Resend chunk %d of %s failed: %s (track %s)", index, kind, exc.message, track_id
    )
    reason = ResendFailure(code=type(exc).__name__, message=exc.message)
    failed.update(dict.fromkeys(chunk, reason))


class _RetryableDownload(Exception):
    """A result-file fetch that may work if tried again (timeout, connection error, 5xx, 429)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- status mapping (the one place) ----------------------------------------------------------------


def _raise_for_status(response: httpx.Response, track_id: str | None) -> None:
    """Raise the ZuoraError a response stands for; return for a 2xx that is not `success: false`."""
    status = response.status_code
    request = response.request
    what = f"{request.method} {request.url.path}"
    if 200 <= status < 300:
        reasons = _failure_reasons(response)
        if reasons is not None:
            raise _reasons_error(reasons, response, what, track_id)
        return
    body = body_text(response)
    reasons = _reasons_of(json_or_none(response))
    detail = "; ".join(r.message for r in reasons if r.message)
    suffix = f": {detail}" if detail else ""
    if status == 401:
        raise ZuoraAuthError(
            "Zuora rejected the bot's access token (401); check ZUORA_CLIENT_ID / "
            "ZUORA_CLIENT_SECRET",
            status_code=status,
            track_id=track_id,
            reasons=reasons,
            body=body,
        )
    if status == 403:
        raise ZuoraAuthError(
            _forbidden_message(request.url.path),
            status_code=status,
            track_id=track_id,
            reasons=reasons,
            body=body,
        )
    if status == 404:
        raise ZuoraNotFoundError(
            f"Zuora found nothing at {what}{suffix}",
            status_code=status,
            track_id=track_id,
            reasons=reasons,
            body=body,
        )
    if status == 429:
        raise ZuoraRateLimitError(
            f"Zuora is throttling the bot (429 on {what}); try again shortly",
            retry_after=_seconds(response.headers.get("Retry-After")),
            track_id=track_id,
            reasons=reasons,
            body=body,
        )
    if status >= 500:
        raise ZuoraServerError(
            f"Zuora failed on its side ({status} on {what})",
            status_code=status,
            track_id=track_id,
            reasons=reasons,
            body=body,
        )
    raise ZuoraStatusError(
        f"Zuora answered {status} to {what}{suffix}",
        status_code=status,
        track_id=track_id,
        reasons=reasons,
        body=body,
    )


def _reasons_error(
    reasons: tuple[ZuoraReason, ...], response: httpx.Response, what: str, track_id: str | None
) -> ZuoraStatusError:
    """The error for HTTP 200 with success=false, by the category in the codes' last two digits."""
    categories = {reason.code[-2:] for reason in reasons if reason.code}
    detail = "; ".join(r.message for r in reasons if r.message) or "no reason given"
    common: dict[str, Any] = {
        "status_code": response.status_code,
        "track_id": track_id,
        "reasons": reasons,
        "body": body_text(response),
    }
    if "40" in categories:
        return ZuoraNotFoundError(f"Zuora found nothing for {what}: {detail}", **common)
    if "70" in categories:
        return ZuoraRateLimitError(f"Zuora is over its concurrency limit: {detail}", **common)
    if "61" in categories:
        return ZuoraServerError(f"Zuora had a temporary error: {detail}", **common)
    if categories & {"10", "11"}:
        return ZuoraAuthError(f"Zuora refused {what}: {detail}", **common)
    return ZuoraStatusError(f"Zuora could not do {what}: {detail}", **common)


def _forbidden_message(path: str) -> str:
    if path.endswith("/resend"):
        return (
            "Zuora refused the resend (403): the Zuora API user needs "
            "'Events & Notifications Resend Access'"
        )
    if "/notification-history/" in path:
        return (
            "Zuora refused to list notification history (403): the Zuora API user needs "
            "'Events & Notifications View Access'"
        )
    return "Zuora refused the request (403): the Zuora API user lacks a permission it needs"


def _failure_reasons(response: httpx.Response) -> tuple[ZuoraReason, ...] | None:
    """Zuora's reasons when a 2xx body says `"success": false`, else None."""
    content = response.content
    if not content or not _SUCCESS_FALSE.search(content):
        return None
    body = json_or_none(response)
    if not isinstance(body, dict) or body.get("success") is not False:
        return None
    return _reasons_of(body) or (ZuoraReason(code="", message="Zuora reported success=false"),)


def _reasons_of(body: object) -> tuple[ZuoraReason, ...]:
    """Reasons from any of Zuora's error shapes: reasons[], Errors[], {code, message}, {message}."""
    if not isinstance(body, dict):
        return ()
    items = body.get("reasons") or body.get("Errors")
    if not isinstance(items, list):
        items = [body] if ("message" in body or "Message" in body) else []
    reasons = []
    for item in items:
        if isinstance(item, dict):
            code = item.get("code", item.get("Code"))
            message = item.get("message", item.get("Message"))
            reasons.append(
                ZuoraReason(
                    code="" if code is None else str(code),
                    message="" if message is None else str(message)[:500],
                )
            )
    return tuple(reasons)


# -- small helpers ---------------------------------------------------------------------------------


def wire_time(moment: datetime, tz: tzinfo) -> str:
    """`yyyy-MM-ddTHH:mm:ss` in the tenant's zone: no offset and no fraction.

    A fraction is rounded up: history times are whole seconds, so for the half-open [start, end)
    rounding both ends up selects exactly the same records and never lengthens a 3-day window.
    """
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        utc = utc.replace(microsecond=0) + timedelta(seconds=1)
    return utc.astimezone(tz).strftime(WIRE_TIME)


def chunk_idempotency_key(key: str, kind: str, index: int, ids: Sequence[str]) -> str:
    """A stable Idempotency-Key for one resend chunk, derived from the caller's key and the chunk."""
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{kind}\n{index}\n{digest}\n{key}"))


def _static_headers(settings: ZuoraSettings) -> dict[str, str]:
    headers = {"Accept": "application/json", "Accept-Encoding": "gzip"}
    if settings.entity_id:
        headers["Zuora-Entity-Ids"] = settings.entity_id
    if settings.org_ids:
        headers["Zuora-Org-Ids"] = ",".join(
            part.strip() for part in settings.org_ids.split(",") if part.strip()
        )
    return headers


def _check_paging(page: int, page_size: int) -> None:
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ZuoraInputError(f"Page must be a whole number from 1, got {page!r}")
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise ZuoraInputError(f"Page size must be a whole number, got {page_size!r}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ZuoraInputError(f"Page size must be 1 to {MAX_PAGE_SIZE}, got {page_size}")


def _check_window(start: datetime, end: datetime) -> None:
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        raise ZuoraInputError("start and end must be datetimes")
    if start.tzinfo is None or end.tzinfo is None:
        raise ZuoraInputError("start and end must be timezone-aware datetimes")
    if start >= end:
        raise ZuoraInputError(f"start ({start.isoformat()}) must be before end ({end.isoformat()})")


def _window(start: datetime, end: datetime) -> TimeWindow:
    _check_window(start, end)
    return TimeWindow(start=start.astimezone(UTC), end=end.astimezone(UTC), label="")


def _record_time(record: CalloutHistory | EmailHistory) -> datetime:
    return record.create_time if isinstance(record, CalloutHistory) else record.send_time


R = TypeVar("R", CalloutHistory, EmailHistory)


def _clip(page: Page[R], piece: TimeWindow, when: Callable[[R], datetime]) -> Page[R]:
    """Keep the records inside the half-open slice so neighbouring slices never both return one."""
    kept = [item for item in page.items if piece.start <= when(item) < piece.end]
    if len(kept) == len(page.items):
        return page
    return Page(items=kept, page=page.page, has_more=page.has_more)


def _account_key(what: str, account: Account, window: TimeWindow) -> tuple[Hashable, ...]:
    return (what, account.id, account.number, window.start, window.end)


def _callout_order(record: CalloutHistory) -> tuple[datetime, int]:
    return record.create_time, record.attempted_num or 0


def _keep_latest(latest: dict[Hashable, CalloutHistory], record: CalloutHistory) -> None:
    """Keep one callout per event: the newest attempt (Trap 1: dedupe on <Event.ID>)."""
    key: Hashable = (
        record.event_id
        or record.id
        or (
            record.create_time,
            record.event_category,
            record.notification,
            record.request_url,
            record.attempted_num,
        )
    )
    current = latest.get(key)
    if current is None or _callout_order(record) > _callout_order(current):
        latest[key] = record


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _header(response: httpx.Response | None, name: str) -> str | None:
    return response.headers.get(name) if response is not None else None


def _retry_after_of(exc: Exception) -> str | None:
    if isinstance(exc, ZuoraRateLimitError) and exc.retry_after is not None:
        return str(exc.retry_after)
    return None


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _outcome(exc: Exception) -> str:
    if isinstance(exc, ZuoraStatusError):
        return f"status {exc.status_code} ({type(exc).__name__})"
    return type(exc).__name__


__all__ = ["ZuoraClient", "build_http_client", "chunk_idempotency_key", "wire_time"]
