"""The gate in front of Bolt: a bounded body, UTF-8, and a verified Slack signature, or no entry.

Bolt verifies signatures too, but inside its dispatch: a malformed timestamp makes that check raise,
and the unverified body then reaches the error handler, which would post to the body's response_url.
So every POST to /slack/events passes here first, before Bolt parses anything:

1. a declared Content-Length over the limit is refused with 413 without reading a byte; a body
   without one (chunked, or an unknown length) is read at most limit + 1 bytes;
2. a body that is not UTF-8 gets 400 (Bolt would raise on it);
3. the `v0` signature (docs.slack.dev/authentication/verifying-requests-from-slack) must verify:
   timestamp all digits and within five minutes, HMAC-SHA256 compared in constant time; else 401.

Only then does Bolt get the request, with the body already read, and Bolt verifies it again. Slack's
`ssl_check` pings carry no signature: they are answered 200 here and never reach Bolt.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.parse import parse_qs

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
#: Slack's own window for a request's timestamp; older or newer requests are refused.
MAX_CLOCK_SKEW_SECONDS = 300
_READ_CHUNK = 64 * 1024
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_SSL_CHECK_KEYS = {"ssl_check", "token"}


@dataclass(frozen=True)
class Refusal:
    """Why a request does not get past the gate: the HTTP status and a short JSON-able reason."""

    status: str
    error: str


@dataclass(frozen=True)
class Admitted:
    """A request that passed: its body bytes (already read) for Bolt."""

    body: bytes


@dataclass(frozen=True)
class SslCheck:
    """Slack's unsigned `ssl_check=1` ping: answered 200 here, nothing else happens."""


Verdict = Refusal | Admitted | SslCheck


class RequestGate:
    """Reads and verifies one request to /slack/events (see the module docstring)."""

    def __init__(
        self,
        signing_secret: str,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not signing_secret:
            raise ValueError("the request gate needs the signing secret")
        self._secret = signing_secret.encode()
        self._limit = max_body_bytes
        self._clock = clock

    def check(self, environ: dict[str, Any]) -> Verdict:
        """The verdict on one WSGI request; reads at most max_body_bytes + 1 bytes of its body."""
        body = self._read_body(environ)
        if isinstance(body, Refusal):
            return body
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return Refusal("400 Bad Request", "the body is not UTF-8")
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE")
        if timestamp is None and signature is None and _is_ssl_check(text):
            return SslCheck()
        problem = signature_problem(self._secret, body, timestamp, signature, now=self._clock())
        if problem:
            return Refusal("401 Unauthorized", problem)
        return Admitted(body)

    def _read_body(self, environ: dict[str, Any]) -> bytes | Refusal:
        too_large = Refusal("413 Content Too Large", f"the body is over {self._limit} bytes")
        declared = _declared_length(environ)
        if declared is not None and declared > self._limit:
            return too_large
        stream = environ.get("wsgi.input")
        if stream is None:
            return b""
        want = declared if declared is not None else self._limit + 1
        chunks: list[bytes] = []
        got = 0
        while got < want:
            chunk = stream.read(min(_READ_CHUNK, want - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > self._limit:
            return too_large
        return b"".join(chunks)


def signature_problem(
    secret: bytes, body: bytes, timestamp: object, signature: object, *, now: float | None
) -> str | None:
    """Why `body` with these header values is not a request Slack signed now; None if it is.

    `now=None` checks the signature alone, for code running after the gate already checked the
    timestamp's age (a listener may fail minutes after its request arrived).
    """
    if not isinstance(timestamp, str) or not _TIMESTAMP.fullmatch(timestamp):
        return "missing or malformed X-Slack-Request-Timestamp"
    if now is not None and abs(now - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        return "X-Slack-Request-Timestamp is more than five minutes away"
    if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
        return "missing or malformed X-Slack-Signature"
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return "the signature does not match"
    return None


def _declared_length(environ: dict[str, Any]) -> int | None:
    """Content-Length when it is a plain number and the body is not chunked; else None."""
    if "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower():
        return None
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not raw or not raw.isascii() or not raw.isdigit():
        return None
    return int(raw)


def _is_ssl_check(text: str) -> bool:
    """`ssl_check=1` (with at most Slack's token beside it), as Slack's certificate ping sends."""
    if len(text) > 512:
        return False
    fields = parse_qs(text, keep_blank_values=True)
    return fields.get("ssl_check") == ["1"] and set(fields) <= _SSL_CHECK_KEYS


def admitted_environ(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    """A copy of `environ` whose input is the already-read body, for Bolt to read again."""
    return {**environ, "wsgi.input": BytesIO(body), "CONTENT_LENGTH": str(len(body))}


def refusal_body(refusal: Refusal) -> dict[str, Any]:
    """The JSON body of a refusal: never a traceback, never an echo of the request."""
    return {"ok": False, "error": refusal.error}
