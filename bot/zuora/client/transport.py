"""The client's base: one httpx.Client, its lifecycle, credentials, and `_request`, the one choke point.

Every Zuora call goes through `_request`: it adds the tenant headers and Zuora-Track-Id, sends under
the adaptive in-flight limit, retries, translates httpx errors and maps statuses to the ZuoraError
tree (`status.raise_for_status`). The concern modules build on this class.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from random import random as _uniform
from typing import Any, Self

import httpx

from bot.core.closing import ClosesOnExit
from bot.zuora.auth import TokenStatus, ZuoraOAuth
from bot.zuora.cache import ReadCache
from bot.zuora.client.status import raise_for_status
from bot.zuora.errors import (
    ZuoraClosedError,
    ZuoraConnectionError,
    ZuoraError,
    ZuoraRateLimitError,
    ZuoraResponseValidationError,
    ZuoraStatusError,
    ZuoraTimeoutError,
)
from bot.zuora.limiter import AdaptiveLimiter
from bot.zuora.retry import (
    SAFE_METHODS,
    RetryPolicy,
    compute_delay,
    may_have_reached,
    should_retry,
    unknown_outcome,
)
from bot.zuora.settings import ZuoraSettings
from bot.zuora.track import validate_track_id

logger = logging.getLogger(__name__)

CLOSE_GRACE = 5.0  # seconds close() waits for other threads' requests in flight
RATE_LIMIT_RETRIES = 6  # retries of a throttled call (429); other failures get ZUORA_MAX_RETRIES


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


class Transport(ClosesOnExit):
    """Sends Zuora calls with retries and limits, and owns the client's threads and connections."""

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
    def from_settings(cls, settings: ZuoraSettings) -> Self:
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

    def __enter__(self) -> Self:
        return self

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
                    raise_for_status(response, track_id)
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


def _static_headers(settings: ZuoraSettings) -> dict[str, str]:
    headers = {"Accept": "application/json", "Accept-Encoding": "gzip"}
    if settings.entity_id:
        headers["Zuora-Entity-Ids"] = settings.entity_id
    if settings.org_ids:
        headers["Zuora-Org-Ids"] = ",".join(
            part.strip() for part in settings.org_ids.split(",") if part.strip()
        )
    return headers


def _header(response: httpx.Response | None, name: str) -> str | None:
    return response.headers.get(name) if response is not None else None


def _retry_after_of(exc: Exception) -> str | None:
    if isinstance(exc, ZuoraRateLimitError) and exc.retry_after is not None:
        return str(exc.retry_after)
    return None


def _outcome(exc: Exception) -> str:
    if isinstance(exc, ZuoraStatusError):
        return f"status {exc.status_code} ({type(exc).__name__})"
    return type(exc).__name__
