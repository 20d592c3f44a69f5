"""A fake Zuora REST API served over real loopback HTTP, for tests, benchmarks and the offline demo.

It follows Zuora's documented REST API: OAuth client-credentials tokens, account lookup, the callout and
email notification-history lists (tenant-local times, pageSize <= 40, the 3-day email window, a
``nextPage`` pointing at an internal host), both resend endpoints with Idempotency-Key replay, and the
Data Query job API whose result files are served by a second "S3" server on another port. Tests steer
it with fault scripting (``fail_next``), latency, ``set_down`` and ``expire_tokens`` and inspect it
through the request log, ``max_in_flight`` and the resend counters.

Run standalone (prints one JSON line with base_url and credentials, serves until SIGTERM/SIGINT)::

    python -m bot.sandbox.fake_zuora --port 0 --latency 0.05 --seed 7 --callouts-per-day 2000
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import hmac
import json
import logging
import re
import secrets
import signal
import socketserver
import sys
import threading
import time
import uuid
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from bot.core.closing import StopsOnExit
from bot.sandbox.fake_dataquery import (
    CALLOUT_TABLE,
    EMAIL_TABLE,
    Query,
    QueryError,
    Table,
    render_rows,
)
from bot.sandbox.redelivery import Redeliveries
from bot.sandbox.tenant import (
    CALLOUT_NOT_FOUND,
    EMAIL_NOT_FOUND,
    FakeAccount,
    FakeCallout,
    FakeEmail,
    ResendFailure,
    Tenant,
    build_bulk_tenant,
    build_tenant,
    parse_wire_time,
)

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_PAGE_SIZE = 40
DEFAULT_PAGE_SIZE = 20
MAX_RESEND_IDS = 1000
EMAIL_WINDOW = timedelta(days=3)
GZIP_THRESHOLD = 1000
#: Zuora's own sample nextPage points at this internal host; clients must not follow it.
NEXT_PAGE_BASE = "https://localhost:8080/apps"
AUTH_ERROR: dict[str, Any] = {"message": "Authentication error"}
_MAX_BODY = 16 * 1024 * 1024
_TRACK_ID_FORBIDDEN = re.compile(r"[:;\"']")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")

#: Zuora's per-tenant Data Query limits: 5 running and 10 queued jobs, shared by every integration.
MAX_RUNNING_QUERIES = 5
MAX_QUEUED_QUERIES = 10
#: Guess: the body of the 429 Zuora answers beyond those limits (the status code is documented).
QUERY_LIMIT_BODY: dict[str, Any] = {
    "code": 429,
    "message": "Too many query jobs: a tenant may run 5 and queue 10 at a time.",
}

JsonBody = dict[str, Any] | list[Any]
HistoryKind = Literal["callout", "email"]


@dataclass
class RecordedRequest:
    """One request the fake received (headers lower-cased; ``at`` is time.monotonic()).

    Headers and body stay out of the repr: they hold bearer tokens and the client secret.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    at: float
    status: int | None = None

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class ResendCall:
    """One call to a resend endpoint and what the fake answered."""

    kind: HistoryKind
    ids: tuple[str, ...]
    idempotency_key: str | None
    track_id: str | None
    status: int
    failed: Mapping[str, ResendFailure]
    replayed: bool
    at: float


@dataclass
class _Fault:
    path_prefix: str
    status: int
    body: JsonBody | str | bytes | None
    headers: dict[str, str]
    remaining: int
    delay: float
    query: dict[str, str] = field(default_factory=dict)  # only requests with these parameters


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    hang_up: bool = False  # close the connection without writing anything (the answer is lost)


@dataclass
class _QueryJob:
    id: str
    query: str
    output_format: str
    compression: str
    created: float
    created_on: datetime
    fail_reason: str | None
    file_name: str = ""
    file_body: bytes = b""
    rows: int = 0
    cancelled: bool = False


def _json_response(
    status: int, payload: JsonBody, headers: dict[str, str] | None = None
) -> _Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return _Response(status, body, dict(headers or {}))


def _reasons(status: int, code: int, message: str) -> _Response:
    """Zuora's v1 error envelope: success=false, processId and a reasons list."""
    return _json_response(
        status,
        {
            "success": False,
            "processId": secrets.token_hex(8).upper(),
            "reasons": [{"code": code, "message": message}],
        },
    )


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _parse_bool(text: str | None, default: bool) -> bool:
    if text is None:
        return default
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ValueError(text)


def _accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        token, _, params = part.strip().partition(";")
        if token.strip().lower() in ("gzip", "*") and params.replace(" ", "") != "q=0":
            return True
    return False


R = TypeVar("R", FakeCallout, FakeEmail)


class _HistoryIndex(Generic[R]):
    """Time-sorted lists of one history kind, pre-split by failed flag, account and category."""

    def __init__(
        self,
        records: Sequence[R],
        time_of: Callable[[R], datetime],
        account_of: Callable[[R], str | None],
    ) -> None:
        self.time_of: Callable[[R], datetime] = time_of
        self.account_of: Callable[[R], str | None] = account_of
        self.by_id: dict[str, R] = {}
        self.lists: dict[tuple[bool, str | None, str | None], list[R]] = {}
        lists = self.lists
        for record in records:  # records arrive oldest first, so every list stays sorted
            self.by_id[record.id] = record
            acct = account_of(record)
            cat = str(record.event_category)
            for failed_only in (False, True) if record.failed else (False,):
                lists.setdefault((failed_only, None, None), []).append(record)
                if acct is not None:
                    lists.setdefault((failed_only, acct, None), []).append(record)
                lists.setdefault((failed_only, None, cat), []).append(record)

    def _base(self, failed_only: bool, account_id: str | None, category: str | None) -> list[R]:
        """The most selective precomputed list (account beats category)."""
        if account_id is not None:
            return self.lists.get((failed_only, account_id, None), [])
        if category is not None:
            return self.lists.get((failed_only, None, category), [])
        return self.lists.get((failed_only, None, None), [])

    def window(
        self,
        *,
        start: datetime,
        end: datetime,
        failed_only: bool,
        account_id: str | None = None,
        category: str | None = None,
        object_id: str | None = None,
    ) -> Iterator[R]:
        """Matching records with start <= time < end, newest first."""
        base = self._base(failed_only, account_id, category)
        extra_category = category if account_id is not None else None
        lo = bisect_left(base, start, key=self.time_of)
        hi = bisect_left(base, end, key=self.time_of)
        for i in range(hi - 1, lo - 1, -1):
            record = base[i]
            if extra_category is not None and str(record.event_category) != extra_category:
                continue
            if object_id is not None and record.object_id != object_id:
                continue
            yield record

    def page(
        self,
        *,
        start: datetime,
        end: datetime,
        failed_only: bool,
        page: int,
        size: int,
        account_id: str | None = None,
        category: str | None = None,
        object_id: str | None = None,
    ) -> tuple[list[R], bool]:
        """One page (newest first) and whether another page follows.

        Costs O(log n + size) when only the indexed filters apply, else O(page * size).
        """
        skip = (page - 1) * size
        if object_id is None and (account_id is None or category is None):
            base = self._base(failed_only, account_id, category)
            lo = bisect_left(base, start, key=self.time_of)
            hi = bisect_left(base, end, key=self.time_of)
            top = hi - skip
            if top <= lo:
                return [], False
            bottom = max(lo, top - size)
            return base[bottom:top][::-1], bottom > lo
        out: list[R] = []
        matches = self.window(
            start=start,
            end=end,
            failed_only=failed_only,
            account_id=account_id,
            category=category,
            object_id=object_id,
        )
        for n, record in enumerate(matches):
            if n < skip:
                continue
            if len(out) == size:
                return out, True
            out.append(record)
        return out, False


def _callout_time(record: FakeCallout) -> datetime:
    return record.create_time


def _callout_account(record: FakeCallout) -> str | None:
    return record.account_id


def _email_time(record: FakeEmail) -> datetime:
    return record.send_time


def _email_account(record: FakeEmail) -> str | None:
    return record.account_id


# ---------------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    """Loopback threading server that knows its FakeZuora."""

    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, port: int, handler: type[BaseHTTPRequestHandler], app: FakeZuora) -> None:
        self.app = app
        super().__init__((HOST, port), handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS lookup of the host name."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = HOST
        self.server_port = self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client hang-ups are routine here (timeouts, set_down); keep them out of stderr."""
        logger.debug("fake zuora: error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, hands it to the FakeZuora, writes the answer."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeZuora/1.0"
    sys_version = ""
    disable_nagle_algorithm = True  # otherwise delayed ACKs add ~40 ms to every response

    @property
    def app(self) -> FakeZuora:
        server = self.server
        assert isinstance(server, _Server)
        return server.app

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake zuora: " + format, *args)

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            return None
        if size < 0 or size > _MAX_BODY:
            return None
        body = self.rfile.read(size)
        if self.headers.get("Content-Encoding", "").lower() == "gzip" and body:
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                return None
        return body

    def _serve(self) -> None:
        app = self.app
        if app.is_down:
            self.close_connection = True
            return  # hang up without a response, like an unreachable host
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._write(_json_response(400, {"message": "Unreadable request body"}), None, "")
            return
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=unquote(parts.path),
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            at=time.monotonic(),
        )
        response = app._handle(request)
        if response.hang_up:
            self.close_connection = True
            return  # the work is done but the answer never leaves: the client sees a dropped line
        self._write(response, request, request.headers.get("accept-encoding", ""))

    def _write(self, response: _Response, request: RecordedRequest | None, encoding: str) -> None:
        body = response.body
        headers = dict(response.headers)
        if (
            len(body) > GZIP_THRESHOLD
            and _accepts_gzip(encoding)
            and "Content-Encoding" not in headers
        ):
            body = gzip.compress(body, compresslevel=5, mtime=0)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        if request is not None:
            request.status = response.status
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_PATCH = _serve
    do_DELETE = _serve


class _FilesHandler(_Handler):
    """The "S3" side: serves Data Query result files by presigned URL."""

    server_version = "AmazonS3"

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=unquote(parts.path),
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=b"",
            at=time.monotonic(),
        )
        self._read_body()
        response = self.app._serve_file(request)
        self._write(response, request, "")

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_PATCH = _serve
    do_DELETE = _serve


def _s3_error(status: int, code: str, message: str) -> _Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    ).encode()
    return _Response(status, body, content_type="application/xml")


# ---------------------------------------------------------------------------------------------
# The fake itself
# ---------------------------------------------------------------------------------------------


class FakeZuora(StopsOnExit):
    """A loopback Zuora tenant: real HTTP, scripted faults, inspectable state.

    Windows are half-open (startTime <= t < endTime) in the tenant's zone; the email 3-day rule
    compares real elapsed time. "Now" defaults to ``tenant.now`` plus the time since start().
    """

    def __init__(
        self,
        tenant: Tenant,
        *,
        latency: float = 0.0,
        token_ttl: int = 3599,
        client_id: str = "6b1f0c52-3a55-4c2e-9d7e-7f1a2b3c4d5e",
        client_secret: str | None = None,
        query_delay: float = 0.0,
        resend_delay: float = 0.0,
        concurrency_limit: int | None = None,
        rate_limit: int | None = None,
        clock: Callable[[], datetime] | None = None,
        hidden_columns: Mapping[str, Collection[str]] | None = None,
        show_columns: bool = True,
    ) -> None:
        self.tenant = tenant
        #: Columns this tenant's Data Query lacks, per table (e.g. RequestUrl under BYOK).
        self.hidden_columns: dict[str, tuple[str, ...]] = {
            table: tuple(names) for table, names in (hidden_columns or {}).items()
        }
        #: Whether SHOW COLUMNS works (when not, a client must fall back to a one-row query).
        self.show_columns = show_columns
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(30)
        self.token_ttl = token_ttl
        self._latency = latency
        self._query_delay = query_delay
        self._resend_delay = resend_delay
        self._concurrency_limit = concurrency_limit
        self._rate_limit = rate_limit
        self._clock = clock
        self._started_at = time.monotonic()
        self._lock = threading.Lock()
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._down = False
        self._tokens: dict[str, float] = {}
        self._token_requests = 0
        self._log: list[RecordedRequest] = []
        self._file_log: list[RecordedRequest] = []
        self._file_auth_headers: list[str] = []
        self._files_expired = False
        self._faults: list[_Fault] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._rate_window = -1
        self._rate_count = 0
        self._resend_calls: list[ResendCall] = []
        self._resend_counts: dict[str, int] = {}
        self._idempotent: dict[tuple[str, str], _Response] = {}
        self._idempotent_running: set[tuple[str, str]] = set()
        self._lost_answers: list[int | None] = []
        self._jobs: dict[str, _QueryJob] = {}
        self._query_failures: list[str] = []
        self._queries_submitted: list[str] = []
        self._max_active_queries = 0
        self._dq_lagging: set[str] = set()
        self._sign_key = secrets.token_bytes(16)
        self._ahead = timedelta(0)
        #: Accepted resends' new history records, added once due (bot.sandbox.redelivery).
        self.redeliveries = Redeliveries(tenant)
        self.reindex()

    def __repr__(self) -> str:
        port = self._servers[0].server_port if self._servers else None
        return f"FakeZuora(port={port}, accounts={len(self.tenant.accounts)})"

    # -- lifecycle ------------------------------------------------------------------------------

    def reindex(self) -> None:
        """Rebuild the lookup indexes after changing ``tenant`` records by hand."""
        tenant = self.tenant
        tenant.sort()
        self._zone = tenant.zone
        self._accounts: dict[str, FakeAccount] = {}
        for acct in tenant.accounts:
            self._accounts[acct.number] = acct
            self._accounts[acct.id] = acct
        self._callouts = _HistoryIndex(tenant.callouts, _callout_time, _callout_account)
        self._emails = _HistoryIndex(tenant.emails, _email_time, _email_account)

    def start(self, *, port: int = 0, files_port: int = 0) -> FakeZuora:
        """Bind both servers on 127.0.0.1 and serve them from daemon threads."""
        if self._servers:
            raise RuntimeError("FakeZuora already started")
        self._servers = [_Server(port, _Handler, self), _Server(files_port, _FilesHandler, self)]
        self._started_at = time.monotonic()
        for server, name in zip(self._servers, ("fake-zuora", "fake-zuora-files"), strict=True):
            thread = threading.Thread(
                target=server.serve_forever, args=(0.05,), name=name, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        logger.info("fake zuora serving at %s (files at %s)", self.base_url, self.files_base_url)
        return self

    def stop(self) -> None:
        """Stop serving and close both listening sockets."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> FakeZuora:
        return self.start() if not self._servers else self

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the REST API (no trailing slash)."""
        if not self._servers:
            raise RuntimeError("FakeZuora is not started")
        return f"http://{HOST}:{self._servers[0].server_port}"

    @property
    def files_base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the second ("S3") server that serves query results."""
        if not self._servers:
            raise RuntimeError("FakeZuora is not started")
        return f"http://{HOST}:{self._servers[1].server_port}"

    def now(self) -> datetime:
        """The fake's current time (aware UTC)."""
        if self._clock is not None:
            return self._clock().astimezone(UTC) + self._ahead
        return (
            self.tenant.now + timedelta(seconds=time.monotonic() - self._started_at) + self._ahead
        )

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (so a resend's new record comes due without waiting)."""
        with self._lock:
            self._ahead += timedelta(seconds=seconds)

    # -- knobs ----------------------------------------------------------------------------------

    def set_latency(self, seconds: float) -> None:
        """Sleep this long in every request before answering (requests overlap)."""
        self._latency = seconds

    def set_down(self, down: bool) -> None:
        """While down, every request is answered by closing the connection."""
        self._down = down

    @property
    def is_down(self) -> bool:
        """Whether set_down(True) is in effect."""
        return self._down

    def set_query_delay(self, seconds: float) -> None:
        """Wall-clock seconds a new Data Query job takes to finish."""
        self._query_delay = seconds

    def set_resend_delay(self, seconds: float) -> None:
        """How long a resend holds its Idempotency-Key (a same-key retry meanwhile gets 409)."""
        self._resend_delay = seconds

    def expire_tokens(self) -> None:
        """Expire every issued token so the next call gets 401 and the client must refresh."""
        with self._lock:
            self._tokens.clear()

    def fail_next(
        self,
        path_prefix: str,
        *,
        status: int,
        body: JsonBody | str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        delay: float = 0.0,
        query: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests whose path starts with ``path_prefix`` with ``status``.

        ``body`` defaults to what Zuora sends for that status; a str/bytes body is sent as text/html
        (a gateway error page). ``delay`` adds a sleep first (to trip client timeouts). ``query``
        narrows the fault to requests carrying those parameter values (e.g. failedOnly=false).
        """
        with self._lock:
            self._faults.append(
                _Fault(
                    path_prefix, status, body, dict(headers or {}), times, delay, dict(query or {})
                )
            )

    def lose_next_resend_answers(self, *, times: int = 1, status: int | None = None) -> None:
        """Carry out the next ``times`` resends, then lose their answers.

        ``status`` None hangs up without a word (a connection dropped after the request was sent);
        a status (e.g. 502) answers that instead, like a gateway that gave up on a backend which
        did the work. Either way the resend happened and its answer is stored under the
        Idempotency-Key, so a same-key retry gets Zuora's stored answer and nothing twice.
        """
        with self._lock:
            self._lost_answers.extend([status] * times)

    def fail_next_query(self, reason: str) -> None:
        """Make the next submitted Data Query job end ``failed`` with this errorMessage."""
        with self._lock:
            self._query_failures.append(reason)

    def lag_data_query(self, *history_ids: str, lagging: bool = True) -> None:
        """Keep these records out of Data Query (its rows lag REST) until called with lagging=False."""
        with self._lock:
            if lagging:
                self._dq_lagging.update(history_ids)
            else:
                self._dq_lagging.difference_update(history_ids)

    @property
    def resends_in_flight(self) -> int:
        """Resend requests with an Idempotency-Key that the fake is holding right now."""
        with self._lock:
            return len(self._idempotent_running)

    @property
    def queries_submitted(self) -> list[str]:
        """The text of every Data Query job submitted (accepted or refused), oldest first."""
        with self._lock:
            return list(self._queries_submitted)

    @property
    def query_jobs_submitted(self) -> int:
        """How many Data Query jobs were submitted (accepted or refused)."""
        with self._lock:
            return len(self._queries_submitted)

    @property
    def max_active_queries(self) -> int:
        """The most Data Query jobs that were running or queued at once."""
        with self._lock:
            return self._max_active_queries

    def expire_data_files(self, expired: bool = True) -> None:
        """Make the files server answer 403 "Request has expired" like an old presigned URL."""
        self._files_expired = expired

    # -- observability ---------------------------------------------------------------------------

    def requests(self, path_prefix: str | None = None) -> list[RecordedRequest]:
        """Requests received so far (oldest first), optionally only those under a path."""
        with self._lock:
            log = list(self._log)
        if path_prefix is None:
            return log
        return [r for r in log if r.path.startswith(path_prefix)]

    def reset_log(self) -> None:
        """Forget recorded requests, the in-flight peak and recorded resend calls."""
        with self._lock:
            self._log.clear()
            self._file_log.clear()
            self._max_in_flight = self._in_flight
            self._resend_calls.clear()

    @property
    def max_in_flight(self) -> int:
        """The most requests this fake was serving at once."""
        return self._max_in_flight

    @property
    def token_requests(self) -> int:
        """How many POST /oauth/token calls arrived (good or bad credentials)."""
        return self._token_requests

    def resend_calls(self, kind: HistoryKind | None = None) -> list[ResendCall]:
        """Every resend call (including idempotent replays), oldest first."""
        with self._lock:
            calls = list(self._resend_calls)
        return [c for c in calls if kind is None or c.kind == kind]

    def resend_counts(self) -> dict[str, int]:
        """How many times each history id was actually resent (replays do not count)."""
        with self._lock:
            return dict(self._resend_counts)

    def resent(self, history_id: str) -> int:
        """How many times this history id was actually resent."""
        with self._lock:
            return self._resend_counts.get(history_id, 0)

    def data_file_auth_headers_seen(self) -> list[str]:
        """Authorization header values the files server received (should stay empty)."""
        with self._lock:
            return list(self._file_auth_headers)

    def data_file_requests(self) -> list[RecordedRequest]:
        """Requests the files server received."""
        with self._lock:
            return list(self._file_log)

    # -- request pipeline ----------------------------------------------------------------------

    def _handle(self, request: RecordedRequest) -> _Response:
        with self._lock:
            self._log.append(request)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            in_flight = self._in_flight
        try:
            if self._latency > 0:
                time.sleep(self._latency)
            response = self._answer(request, in_flight)
        except Exception:  # a bug in the fake must still produce an answer
            logger.exception("fake zuora failed on %s %s", request.method, request.path)
            response = _reasons(500, 50000060, "Fake Zuora internal error")
        finally:
            with self._lock:
                self._in_flight -= 1
        self._decorate(request, response)
        return response

    def _decorate(self, request: RecordedRequest, response: _Response) -> None:
        headers = response.headers
        headers.setdefault("Zuora-Request-Id", str(uuid.uuid4()))
        track = request.headers.get("zuora-track-id")
        if track is not None and _valid_track_id(track):
            headers["Zuora-Track-Id"] = track
        limit = self._rate_limit or 50_000
        with self._lock:
            remaining = max(0, limit - self._rate_count)
            in_flight = self._in_flight
        headers.setdefault("RateLimit-Limit", f"{limit};window=60")
        headers.setdefault("RateLimit-Remaining", str(remaining))
        headers.setdefault("RateLimit-Reset", str(60 - int(time.monotonic()) % 60))
        concurrency = self._concurrency_limit or 40
        headers.setdefault("Concurrency-Limit-Type", "Default")
        headers.setdefault("Concurrency-Limit-Limit", str(concurrency))
        headers.setdefault("Concurrency-Limit-Remaining", str(max(0, concurrency - in_flight)))

    def _take_fault(self, path: str, query: Mapping[str, list[str]]) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                wanted = fault.query.items()
                if path.startswith(fault.path_prefix) and all(
                    _first(query, name) == value for name, value in wanted
                ):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _count_rate(self) -> bool:
        """Count this request in the per-minute window; False when over an enforced limit."""
        window = int(time.monotonic() // 60)
        with self._lock:
            if window != self._rate_window:
                self._rate_window, self._rate_count = window, 0
            self._rate_count += 1
            return self._rate_limit is None or self._rate_count <= self._rate_limit

    def _answer(self, request: RecordedRequest, in_flight: int) -> _Response:
        path = request.path.rstrip("/") or "/"
        fault = self._take_fault(path, request.query)
        if fault is not None:
            if fault.delay > 0:
                time.sleep(fault.delay)
            return _fault_response(fault)
        if path == "/oauth/token":
            return self._oauth(request)
        if not self._count_rate():
            return _json_response(
                429,
                {"code": "REQUEST_EXCEEDED_LIMIT", "message": "Your request rate exceeded limit"},
                {"Retry-After": str(60 - int(time.monotonic()) % 60)},
            )
        if self._concurrency_limit is not None and in_flight > self._concurrency_limit:
            return _json_response(
                429,
                {"code": "REQUEST_EXCEEDED_LIMIT", "message": "Too many concurrent requests"},
            )
        if not self._authorized(request):
            return _json_response(401, AUTH_ERROR)
        track = request.headers.get("zuora-track-id")
        if track is not None and not _valid_track_id(track):
            return _reasons(
                400,
                90000020,
                "Zuora-Track-Id must be at most 64 US-ASCII characters without : ; \" or '.",
            )
        return self._route(request, path)

    def _route(self, request: RecordedRequest, path: str) -> _Response:
        method = request.method
        routes: dict[str, tuple[str, Callable[[RecordedRequest], _Response]]] = {
            "/v1/notification-history/callout": ("GET", self._callout_history),
            "/v1/notification-history/email": ("GET", self._email_history),
            "/notifications/email-histories/resend": ("POST", self._resend_emails),
            "/notifications/callout-histories/resend": ("POST", self._resend_callouts),
        }
        if path in routes:
            allowed, handler = routes[path]
            if method != allowed:
                return _json_response(405, {"message": "Method Not Allowed"})
            return handler(request)
        if path.startswith("/v1/accounts/") and path.count("/") == 3:
            if method != "GET":
                return _json_response(405, {"message": "Method Not Allowed"})
            return self._account(path.rsplit("/", 1)[1])
        if path == "/query/jobs":
            if method == "POST":
                return self._submit_query(request)
            if method == "GET":
                return self._list_queries()
            return _json_response(405, {"message": "Method Not Allowed"})
        if path.startswith("/query/jobs/") and path.count("/") == 3:
            job_id = path.rsplit("/", 1)[1]
            if method == "GET":
                return self._get_query(job_id)
            if method == "DELETE":
                return self._cancel_query(job_id)
            return _json_response(405, {"message": "Method Not Allowed"})
        return _json_response(404, {"message": "no Route matched with those values"})

    # -- auth -----------------------------------------------------------------------------------

    def _oauth(self, request: RecordedRequest) -> _Response:
        with self._lock:
            self._token_requests += 1
        if request.method != "POST":
            return _json_response(405, {"message": "Method Not Allowed"})
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        grant = _first(form, "grant_type")
        if grant != "client_credentials":
            return _json_response(
                400, {"error": "unsupported_grant_type", "message": "Invalid grant type"}
            )
        client_id, secret = _first(form, "client_id"), _first(form, "client_secret")
        if client_id is None or secret is None:
            return _json_response(400, {"error": "invalid_request", "message": "Missing client"})
        good = hmac.compare_digest(client_id.encode(), self.client_id.encode()) and (
            hmac.compare_digest(secret.encode(), self.client_secret.encode())
        )
        if not good:
            return _json_response(401, AUTH_ERROR)
        token = secrets.token_hex(16)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl
        return _json_response(
            200,
            {
                "access_token": token,
                "expires_in": self.token_ttl,
                "jti": str(uuid.uuid4()),
                "scope": "entity.1a2b3c4d-0000-0000-0000-000000000000 platform.write "
                "service.events.read service.notifications.write tenant.9999",
                "token_type": "bearer",
            },
        )

    def _authorized(self, request: RecordedRequest) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        with self._lock:
            expiry = self._tokens.get(token.strip())
        return expiry is not None and expiry > time.monotonic()

    # -- accounts and history lists -------------------------------------------------------------

    def _account(self, key: str) -> _Response:
        acct = self._accounts.get(key)
        if acct is None:
            return _reasons(200, 50000040, f"Cannot find entity by key: '{key}'.")
        return _json_response(200, acct.to_wire())

    def _window(
        self, request: RecordedRequest, *, max_span: timedelta | None
    ) -> tuple[datetime, datetime] | _Response:
        end_text = _first(request.query, "endTime")
        start_text = _first(request.query, "startTime")
        try:
            end = parse_wire_time(end_text, self._zone) if end_text else self.now()
        except ValueError:
            return _reasons(
                400, 58730020, f"Invalid endTime '{end_text}': use yyyy-MM-ddTHH:mm:ss."
            )
        try:
            start = (
                parse_wire_time(start_text, self._zone) if start_text else end - timedelta(days=1)
            )
        except ValueError:
            return _reasons(
                400, 58730020, f"Invalid startTime '{start_text}': use yyyy-MM-ddTHH:mm:ss."
            )
        if start > end:
            return _reasons(400, 58730020, "startTime must be earlier than endTime.")
        if max_span is not None and end - start > max_span:
            return _reasons(
                400,
                58730020,
                "The time range between startTime and endTime cannot exceed 3 days.",
            )
        return start, end

    def _paging(self, request: RecordedRequest) -> tuple[int, int] | _Response:
        size_text = _first(request.query, "pageSize")
        page_text = _first(request.query, "page")
        try:
            size = int(size_text) if size_text is not None else DEFAULT_PAGE_SIZE
            page = int(page_text) if page_text is not None and size_text is not None else 1
        except ValueError:
            return _reasons(400, 58730020, "page and pageSize must be integers.")
        if size > MAX_PAGE_SIZE:
            return _reasons(
                400, 58730020, f"pageSize must be less than or equal to {MAX_PAGE_SIZE}."
            )
        if size < 1 or page < 1:
            return _reasons(400, 58730020, "page and pageSize must be greater than 0.")
        return page, size

    def _filters(self, request: RecordedRequest) -> tuple[bool, str | None] | _Response:
        try:
            failed_only = _parse_bool(_first(request.query, "failedOnly"), True)
        except ValueError:
            return _reasons(400, 58730020, "failedOnly must be true or false.")
        category = _first(request.query, "eventCategory")
        return failed_only, (category or None)

    def _next_page(self, kind: str, request: RecordedRequest, page: int, size: int) -> str:
        params: dict[str, str] = {"page": str(page + 1), "pageSize": str(size)}
        for name, values in request.query.items():
            if name not in params and values:
                params[name] = values[0]
        return f"{NEXT_PAGE_BASE}/v1/notification-history/{kind}?{urlencode(params)}"

    def _release_redeliveries(self) -> None:
        """Add the new records of resends that are due by now (then reindex)."""
        originals: dict[str, FakeCallout | FakeEmail] = {
            **self._callouts.by_id,
            **self._emails.by_id,
        }
        if self.redeliveries.release(self.now(), originals):
            with self._lock:
                self.reindex()

    def _callout_history(self, request: RecordedRequest) -> _Response:
        self._release_redeliveries()
        window = self._window(request, max_span=None)
        paging = self._paging(request)
        filters = self._filters(request)
        for problem in (window, paging, filters):
            if isinstance(problem, _Response):
                return problem
        assert not isinstance(window, _Response) and not isinstance(paging, _Response)
        assert not isinstance(filters, _Response)
        (start, end), (page, size), (failed_only, category) = window, paging, filters
        include_content = _parse_bool(_first(request.query, "includeResponseContent"), False)
        records, more = self._callouts.page(
            start=start,
            end=end,
            failed_only=failed_only,
            page=page,
            size=size,
            category=category,
            object_id=_first(request.query, "objectId") or None,
        )
        zone, with_ids = self._zone, self.tenant.rest_ids
        body: dict[str, Any] = {
            "calloutHistories": [
                r.to_wire(zone, include_response_content=include_content, include_id=with_ids)
                for r in records
            ]
        }
        if more:
            body["nextPage"] = self._next_page("callout", request, page, size)
        body["success"] = True
        return _json_response(200, body)

    def _email_history(self, request: RecordedRequest) -> _Response:
        self._release_redeliveries()
        window = self._window(request, max_span=EMAIL_WINDOW)
        paging = self._paging(request)
        filters = self._filters(request)
        for problem in (window, paging, filters):
            if isinstance(problem, _Response):
                return problem
        assert not isinstance(window, _Response) and not isinstance(paging, _Response)
        assert not isinstance(filters, _Response)
        (start, end), (page, size), (failed_only, category) = window, paging, filters
        records, more = self._emails.page(
            start=start,
            end=end,
            failed_only=failed_only,
            page=page,
            size=size,
            account_id=_first(request.query, "accountId") or None,
            category=category,
            object_id=_first(request.query, "objectId") or None,
        )
        zone, with_ids = self._zone, self.tenant.rest_ids
        body: dict[str, Any] = {
            "emailHistories": [r.to_wire(zone, include_id=with_ids) for r in records]
        }
        if more:
            body["nextPage"] = self._next_page("email", request, page, size)
        body["success"] = True
        return _json_response(200, body)

    # -- resend ---------------------------------------------------------------------------------

    def _resend_emails(self, request: RecordedRequest) -> _Response:
        return self._resend("email", request)

    def _resend_callouts(self, request: RecordedRequest) -> _Response:
        return self._resend("callout", request)

    def _resend(self, kind: HistoryKind, request: RecordedRequest) -> _Response:
        key = request.headers.get("idempotency-key")
        track = request.headers.get("zuora-track-id")
        if key is not None and (not key or len(key) > 255):
            return _reasons(400, 58740020, "Idempotency-Key must be 1 to 255 characters.")
        slot = (kind, key) if key is not None else None
        try:
            ids = json.loads(request.body or b"null")
        except ValueError:
            ids = None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return _reasons(400, 58740020, "The request body must be a JSON array of id strings.")
        if slot is not None:
            with self._lock:
                stored = self._idempotent.get(slot)
                if stored is not None:
                    self._resend_calls.append(
                        ResendCall(
                            kind, tuple(ids), key, track, stored.status, {}, True, time.monotonic()
                        )
                    )
                    return _Response(stored.status, stored.body, dict(stored.headers))
                if slot in self._idempotent_running:
                    return _reasons(
                        409, 58740050, "A request with this Idempotency-Key is still in progress."
                    )
                self._idempotent_running.add(slot)
        try:
            if not ids:
                return _reasons(400, 58740022, "At least one history id is required.")
            if len(ids) > MAX_RESEND_IDS:
                return _reasons(
                    400, 58740020, f"You can resend at most {MAX_RESEND_IDS} histories at a time."
                )
            if self._resend_delay > 0:
                time.sleep(self._resend_delay)
            known: Mapping[str, object] = (
                self._emails.by_id if kind == "email" else self._callouts.by_id
            )
            missing = EMAIL_NOT_FOUND if kind == "email" else CALLOUT_NOT_FOUND
            failed: dict[str, ResendFailure] = {}
            with self._lock:
                for history_id in ids:
                    failure = self.tenant.resend_failures.get(history_id)
                    if failure is None and history_id not in known:
                        failure = missing
                    if failure is not None:
                        failed[history_id] = failure
                    else:
                        self._resend_counts[history_id] = self._resend_counts.get(history_id, 0) + 1
                        self.redeliveries.schedule(kind, history_id, at=self.now())
                if not failed:
                    response = _Response(202)
                else:
                    all_failed = set(ids) <= failed.keys()
                    response = _json_response(
                        400 if all_failed else 202, {k: v.to_wire() for k, v in failed.items()}
                    )
                self._resend_calls.append(
                    ResendCall(
                        kind,
                        tuple(ids),
                        key,
                        track,
                        response.status,
                        failed,
                        False,
                        time.monotonic(),
                    )
                )
                if slot is not None:
                    self._idempotent[slot] = _Response(response.status, response.body)
                if self._lost_answers:
                    lost = self._lost_answers.pop(0)
                    if lost is None:
                        return _Response(0, hang_up=True)
                    return _json_response(lost, _default_fault_body(lost))
            return response
        finally:
            if slot is not None:
                with self._lock:
                    self._idempotent_running.discard(slot)

    # -- data query -----------------------------------------------------------------------------

    def _submit_query(self, request: RecordedRequest) -> _Response:
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _json_response(400, {"code": 400, "message": "query is required"})
        output_format = str(body.get("outputFormat", "")).upper()
        if output_format not in ("JSON", "CSV"):
            return _json_response(
                400, {"code": 400, "message": "outputFormat must be JSON or CSV in this fake"}
            )
        compression = str(body.get("compression", "NONE")).upper()
        if compression not in ("NONE", "GZIP"):
            return _json_response(
                400, {"code": 400, "message": "compression must be NONE or GZIP in this fake"}
            )
        output = body.get("output")
        if not isinstance(output, dict) or str(output.get("target", "")).upper() != "S3":
            return _json_response(400, {"code": 400, "message": "output.target must be S3"})
        query_text: str = body["query"]
        now = time.monotonic()
        with self._lock:
            self._queries_submitted.append(query_text)
            active = sum(1 for job in self._jobs.values() if self._active(job, now))
            if active >= MAX_RUNNING_QUERIES + MAX_QUEUED_QUERIES:
                return _json_response(429, QUERY_LIMIT_BODY)
            self._max_active_queries = max(self._max_active_queries, active + 1)
            fail_reason = self._query_failures.pop(0) if self._query_failures else None
        if fail_reason is None and re.search(r"\bFAIL_ME\b", query_text):
            fail_reason = "Query failed: FAIL_ME was requested by the test"
        job = _QueryJob(
            id=str(uuid.uuid4()),
            query=query_text,
            output_format=output_format,
            compression=compression,
            created=now,
            created_on=datetime.now(UTC),
            fail_reason=fail_reason,
        )
        if fail_reason is None:
            try:
                self._execute(job)
            except QueryError as exc:
                job.fail_reason = str(exc)
        with self._lock:
            self._jobs[job.id] = job
        return _json_response(200, {"data": self._job_json(job)})

    def _active(self, job: _QueryJob, now: float) -> bool:
        """Whether a job still counts against the running/queued limits (called under the lock)."""
        return not job.cancelled and now - job.created < self._query_delay

    def _tables(self) -> dict[str, Table]:
        """The two history tables as this tenant's Data Query shows them."""
        return {
            name: Table(name, self.hidden_columns.get(name, ()))
            for name in (EMAIL_TABLE, CALLOUT_TABLE)
        }

    def _execute(self, job: _QueryJob) -> None:
        query = Query(job.query, self._tables())
        if query.show_columns and not self.show_columns:
            raise QueryError("line 1:1: mismatched input 'SHOW'. Expecting: 'SELECT', 'WITH'")
        index: _HistoryIndex[Any] = (
            self._emails if query.table.name == EMAIL_TABLE else self._callouts
        )
        account = query.account_filter()
        records: Sequence[Any]
        if account is not None:
            records = index.lists.get((False, account, None), [])
        else:
            records = index.lists.get((False, None, None), [])
        with self._lock:
            lagging = set(self._dq_lagging)
        if lagging:
            records = [record for record in records if record.id not in lagging]
        rows = query.run(records)
        data = render_rows(rows, query.labels(), job.output_format)
        ext = "json" if job.output_format == "JSON" else "csv"
        if job.compression == "GZIP":
            data = gzip.compress(data, mtime=0)
            ext += ".gz"
        job.file_name = f"{job.id}.{ext}"
        job.file_body = data
        job.rows = len(rows)

    def _status(self, job: _QueryJob) -> str:
        if job.cancelled:
            return "cancelled"
        elapsed = time.monotonic() - job.created
        if elapsed < self._query_delay / 3:
            return "submitted"
        if elapsed < self._query_delay:
            return "in_progress"
        return "failed" if job.fail_reason is not None else "completed"

    def _presign(self, name: str) -> str:
        signature = hmac.new(self._sign_key, name.encode(), hashlib.sha256).hexdigest()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        params = urlencode(
            {
                "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                "X-Amz-Credential": f"AKIAFAKEFAKEFAKE/{stamp[:8]}/us-west-2/s3/aws4_request",
                "X-Amz-Date": stamp,
                "X-Amz-Expires": "604800",
                "X-Amz-SignedHeaders": "host",
                "X-Amz-Signature": signature,
            }
        )
        return f"{self.files_base_url}/files/{quote(name)}?{params}"

    def _job_json(self, job: _QueryJob, *, status: str | None = None) -> dict[str, Any]:
        status = status or "submitted"
        out: dict[str, Any] = {
            "id": job.id,
            "query": job.query,
            "queryStatus": status,
            "outputFormat": job.output_format,
            "compression": job.compression,
            "output": {"target": "S3"},
            "sourceData": "LIVE",
            "useIndexJoin": False,
            "remainingRetries": 3,
            "createdBy": hashlib.sha256(self.client_id.encode()).hexdigest(),
            "createdOn": job.created_on.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "updatedOn": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        }
        if status == "completed":
            out["dataFile"] = self._presign(job.file_name)
            out["outputRows"] = job.rows
            out["processingTime"] = int(self._query_delay * 1000)
        elif status == "failed":
            out["errorCode"] = "QUERY_FAILED"
            out["errorMessage"] = job.fail_reason
        return out

    def _get_query(self, job_id: str) -> _Response:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return _json_response(
                404, {"code": 50000040, "message": f"Query job {job_id} not found"}
            )
        return _json_response(200, {"data": self._job_json(job, status=self._status(job))})

    def _list_queries(self) -> _Response:
        with self._lock:
            jobs = list(self._jobs.values())
        return _json_response(
            200, {"data": [self._job_json(j, status=self._status(j)) for j in jobs]}
        )

    def _cancel_query(self, job_id: str) -> _Response:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return _json_response(
                404, {"code": 50000040, "message": f"Query job {job_id} not found"}
            )
        status = self._status(job)
        if status in ("completed", "failed"):
            return _json_response(
                400, {"code": 58000030, "message": f"Query job is already {status}"}
            )
        job.cancelled = True
        return _json_response(200, {"data": self._job_json(job, status="cancelled")})

    def _serve_file(self, request: RecordedRequest) -> _Response:
        auth = request.headers.get("authorization")
        with self._lock:
            self._file_log.append(request)
            if auth is not None:
                self._file_auth_headers.append(auth)
        if auth is not None:
            response = _s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be specified",
            )
        elif request.method != "GET":
            response = _s3_error(405, "MethodNotAllowed", "The specified method is not allowed")
        else:
            response = self._file_body(request)
        request.status = response.status
        return response

    def _file_body(self, request: RecordedRequest) -> _Response:
        if self._files_expired:
            return _s3_error(403, "AccessDenied", "Request has expired")
        name = request.path.removeprefix("/files/")
        with self._lock:
            job = next((j for j in self._jobs.values() if j.file_name == name), None)
        if job is None or not name:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        expected = hmac.new(self._sign_key, name.encode(), hashlib.sha256).hexdigest()
        given = _first(request.query, "X-Amz-Signature") or ""
        if not hmac.compare_digest(given, expected):
            return _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        return _Response(200, job.file_body, content_type="application/octet-stream")


def _valid_track_id(track: str) -> bool:
    return len(track) <= 64 and track.isascii() and not _TRACK_ID_FORBIDDEN.search(track)


def _fault_response(fault: _Fault) -> _Response:
    body = fault.body
    if body is None:
        body = _default_fault_body(fault.status)
    if isinstance(body, str | bytes):
        raw = body.encode() if isinstance(body, str) else body
        return _Response(fault.status, raw, dict(fault.headers), content_type="text/html")
    return _json_response(fault.status, body, fault.headers)


def _default_fault_body(status: int) -> JsonBody:
    if status == 401:
        return dict(AUTH_ERROR)
    if status == 403:
        return {"code": 90000010, "message": "Permission denied"}
    if status == 429:
        return {"message": "You have exceeded the limit of requests per minute"}
    if status == 409:
        return {
            "success": False,
            "reasons": [{"code": 58740050, "message": "The request is still in progress."}],
        }
    return {
        "success": False,
        "processId": secrets.token_hex(8).upper(),
        "reasons": [{"code": 50000061 if status >= 500 else 50000020, "message": f"HTTP {status}"}],
    }


# ---------------------------------------------------------------------------------------------
# Standalone entry point
# ---------------------------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Serve a fake Zuora tenant on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--files-port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--now", help="tenant 'now' as ISO 8601 with offset (default: real now)")
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--callouts-per-day", type=int, default=60)
    parser.add_argument("--emails-per-day", type=int, default=40)
    parser.add_argument("--big-account-emails", type=int, default=120)
    parser.add_argument("--bulk-callouts", type=int, help="use build_bulk_tenant with N callouts")
    parser.add_argument("--bulk-emails", type=int, default=0)
    parser.add_argument("--no-rest-ids", action="store_true", help="omit id from REST records")
    parser.add_argument("--outage", action="store_true", help="add the sandbox outage (not bulk)")
    parser.add_argument("--timezone", default="America/Los_Angeles")
    parser.add_argument("--token-ttl", type=int, default=3599)
    parser.add_argument("--query-delay", type=float, default=2.0)
    parser.add_argument("--concurrency-limit", type=int)
    parser.add_argument("--client-id", default="6b1f0c52-3a55-4c2e-9d7e-7f1a2b3c4d5e")
    parser.add_argument("--client-secret")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Build a tenant, serve it, print one JSON line of connection details, wait for a signal."""
    args = _build_parser().parse_args(argv)
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    if now.tzinfo is None:
        raise SystemExit("--now needs a UTC offset")
    if args.bulk_callouts is not None:
        tenant = build_bulk_tenant(
            seed=args.seed,
            now=now,
            callouts=args.bulk_callouts,
            emails=args.bulk_emails,
            accounts=args.accounts,
            days=args.days,
            rest_ids=not args.no_rest_ids,
            timezone=args.timezone,
        )
    else:
        tenant = build_tenant(
            seed=args.seed,
            now=now,
            accounts=args.accounts,
            days=args.days,
            callouts_per_day=args.callouts_per_day,
            emails_per_day=args.emails_per_day,
            big_account_emails=args.big_account_emails,
            rest_ids=not args.no_rest_ids,
            timezone=args.timezone,
            outage=args.outage,
        )
    fake = FakeZuora(
        tenant,
        latency=args.latency,
        token_ttl=args.token_ttl,
        client_id=args.client_id,
        client_secret=args.client_secret,
        query_delay=args.query_delay,
        concurrency_limit=args.concurrency_limit,
    )
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    fake.start(port=args.port, files_port=args.files_port)
    try:
        # CLI output: the one line the parent process reads to find the fake.
        sys.stdout.write(
            json.dumps(
                {
                    "base_url": fake.base_url,
                    "client_id": fake.client_id,
                    "client_secret": fake.client_secret,
                    "files_base_url": fake.files_base_url,
                    "timezone": tenant.timezone,
                    "accounts": len(tenant.accounts),
                    "callouts": len(tenant.callouts),
                    "emails": len(tenant.emails),
                }
            )
            + "\n"
        )
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    raise SystemExit(main())
