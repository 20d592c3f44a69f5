"""OAuth client-credentials auth for httpx: one cached token, fetched once, refreshed once on a 401."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from bot.zuora.errors import (
    ZuoraAuthError,
    ZuoraRateLimitError,
    ZuoraResponseValidationError,
    ZuoraServerError,
    ZuoraStatusError,
)
from bot.zuora.settings import ZuoraSettings

logger = logging.getLogger(__name__)

TOKEN_PATH = "/oauth/token"
CREDENTIALS_REJECTED = (
    "Zuora rejected the OAuth client credentials (ZUORA_CLIENT_ID / ZUORA_CLIENT_SECRET)"
)
# Refresh this long before Zuora expires the token (or 10% of its life, whichever is shorter).
REFRESH_MARGIN = 300.0
DEFAULT_EXPIRES_IN = 3599.0


@dataclass(frozen=True)
class TokenStatus:
    """Whether a usable token is cached and how many seconds Zuora will still accept it."""

    has_token: bool
    expires_in: float | None


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float
    expires_at: float


class ZuoraOAuth(httpx.Auth):
    """Adds `Authorization: Bearer …` from a token fetched with the client-credentials grant.

    The token is cached until shortly before it expires and fetched once even when many threads need it
    at the same moment (a lock, checked twice). A 401 from any call refreshes the token once and replays
    the request once; a second 401 is returned to the caller. The token and secret are never logged.
    """

    def __init__(
        self,
        *,
        token_url: str,
        client_id: SecretStr,
        client_secret: SecretStr,
        timer: Callable[[], float] = time.monotonic,
        refresh_margin: float = REFRESH_MARGIN,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._timer = timer
        self._margin = refresh_margin
        self._lock = threading.Lock()
        self._token: _Token | None = None

    @classmethod
    def from_settings(
        cls, settings: ZuoraSettings, *, timer: Callable[[], float] = time.monotonic
    ) -> ZuoraOAuth:
        """Auth for the tenant and credentials in `settings`."""
        return cls(
            token_url=settings.base_url.rstrip("/") + TOKEN_PATH,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            timer=timer,
        )

    def __repr__(self) -> str:
        return f"ZuoraOAuth(token_url={self._token_url!r}, has_token={self._usable() is not None})"

    def token_status(self) -> TokenStatus:
        """The cached token's state, for `/zuora status` (never the token itself)."""
        token = self._token
        if token is None:
            return TokenStatus(has_token=False, expires_in=None)
        now = self._timer()
        return TokenStatus(
            has_token=now < token.refresh_at, expires_in=max(token.expires_at - now, 0.0)
        )

    def invalidate(self) -> None:
        """Forget the cached token; the next call fetches a new one."""
        with self._lock:
            self._token = None

    def ensure_token(
        self,
        send: Callable[[httpx.Request], httpx.Response],
        *,
        track_id: str | None,
        timeout: httpx.Timeout,
    ) -> TokenStatus:
        """Fetch a token through `send` unless a usable one is cached; return the token status."""
        if self._usable() is None:
            with self._lock:
                if self._usable() is None:
                    flow = self._fetch_flow(track_id, timeout.as_dict())
                    request = next(flow)
                    try:
                        flow.send(send(request))
                    except StopIteration:
                        pass
        return self.token_status()

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Authorise `request`; on a 401, refresh the token once and replay the request once."""
        track_id = request.headers.get("Zuora-Track-Id")
        timeout = request.extensions.get("timeout")
        token = self._usable()
        if token is None:
            with self._lock:
                token = self._usable()
                if token is None:
                    token = yield from self._fetch_flow(track_id, timeout)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        response.read()
        with self._lock:
            current = self._usable()
            if current is None or current == token:  # nobody refreshed it meanwhile
                logger.info(
                    "Zuora answered 401; refreshing the OAuth token once (track %s)", track_id
                )
                self._token = None
                current = yield from self._fetch_flow(track_id, timeout)
        request.headers["Authorization"] = f"Bearer {current}"
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Not supported: the bot's Zuora client is synchronous (the lock is a threading.Lock)."""
        raise NotImplementedError("ZuoraOAuth supports httpx.Client only")
        yield request  # pragma: no cover - makes this an async generator

    def _usable(self) -> str | None:
        token = self._token
        if token is not None and self._timer() < token.refresh_at:
            return token.value
        return None

    def _fetch_flow(
        self, track_id: str | None, timeout: Any
    ) -> Generator[httpx.Request, httpx.Response, str]:
        """Yield the token request, read the answer, cache and return the token (lock held)."""
        headers = {"Accept": "application/json"}
        if track_id:
            headers["Zuora-Track-Id"] = track_id
        request = httpx.Request(
            "POST",
            self._token_url,
            headers=headers,
            data={
                "client_id": self._client_id.get_secret_value(),
                "client_secret": self._client_secret.get_secret_value(),
                "grant_type": "client_credentials",
            },
            extensions={"timeout": timeout} if timeout else {},
        )
        logger.debug("Fetching a Zuora OAuth token (track %s)", track_id)
        response = yield request
        response.read()
        value, expires_in = _read_token(response, track_id)
        now = self._timer()
        margin = min(self._margin, expires_in * 0.1)
        self._token = _Token(
            value, refresh_at=now + expires_in - margin, expires_at=now + expires_in
        )
        logger.info("Fetched a Zuora OAuth token, valid for %.0f s", expires_in)
        return value


def _read_token(response: httpx.Response, track_id: str | None) -> tuple[str, float]:
    """The access token and its lifetime from a token response, or the matching ZuoraError."""
    status = response.status_code
    if status in (400, 401, 403):
        raise ZuoraAuthError(CREDENTIALS_REJECTED, status_code=status, track_id=track_id)
    if status == 429:
        raise ZuoraRateLimitError(
            "Zuora throttled the OAuth token request (429)",
            retry_after=_float(response.headers.get("Retry-After")),
            track_id=track_id,
        )
    if status >= 500:
        raise ZuoraServerError(
            f"Zuora's OAuth token endpoint failed ({status})", status_code=status, track_id=track_id
        )
    if status != 200:
        raise ZuoraStatusError(
            f"Zuora's OAuth token endpoint answered {status}", status_code=status, track_id=track_id
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise ZuoraResponseValidationError(
            "Zuora's OAuth token response is not JSON", track_id=track_id
        ) from exc
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ZuoraResponseValidationError(
            "Zuora's OAuth token response has no access_token", track_id=track_id
        )
    expires_in = _float(body.get("expires_in"))
    if expires_in is None or expires_in <= 0:
        expires_in = DEFAULT_EXPIRES_IN
    return token, expires_in


def _float(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
