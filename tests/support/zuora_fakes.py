"""Test doubles for the Zuora client tests: settings, a manual clock, a routing MockTransport."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx

from bot.sandbox.fake_zuora import FakeZuora
from bot.settings import ZuoraSettings

BASE_URL = "https://rest.test.zuora.example"
CLIENT_ID = "4c1a6a3e-5d2b-4c5e-9f1a-2b3c4d5e6f70"
CLIENT_SECRET = "s3cr3t-zuora-client-value"
ACCOUNT_ID = "8ad08c0f7b3e4a1b017b4f2a9c1e2d3f"
ACCOUNT_NUMBER = "A00000001"
TRACK = "zops-test-0001"
LA = ZoneInfo("America/Los_Angeles")


class ManualTimer:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Sleeps:
    """An injected sleep that records the waits instead of waiting."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


Handler = Callable[[httpx.Request], httpx.Response]


class Router:
    """A MockTransport handler: answers /oauth/token itself, routes the rest by (method, path).

    Records every request; counts requests in flight (thread-safe) so tests can check the bound.
    """

    def __init__(self, *, latency: float = 0.0) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[httpx.Request] = []
        self.token_responses: list[httpx.Response] = []
        self.tokens_issued = 0
        self.token_delay = 0.0
        self.latency = latency
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes[(method, path)] = handler
            return handler

        return register

    def api_requests(self, path: str | None = None) -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if r.url.path != "/oauth/token" and (path is None or r.url.path == path)
        ]

    def token_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/oauth/token"]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
        if request.url.path == "/oauth/token":
            return self._token(request)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            handler = self.routes.get((request.method, request.url.path))
            if handler is None:
                return httpx.Response(404, json={"message": "no route"})
            return handler(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _token(self, request: httpx.Request) -> httpx.Response:
        if self.token_delay:
            time.sleep(self.token_delay)
        with self._lock:
            if self.token_responses:
                return self.token_responses.pop(0)
            self.tokens_issued += 1
            number = self.tokens_issued
        return httpx.Response(
            200,
            json={
                "access_token": f"token-{number}",
                "expires_in": 3599,
                "token_type": "bearer",
                "scope": "entity.1",
                "jti": f"jti-{number}",
            },
        )


def wire(moment: datetime, zone: ZoneInfo = LA) -> str:
    """A tenant-local zone-less time as Zuora writes it."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def parse_wire(text: str, zone: ZoneInfo = LA) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=zone).astimezone(UTC)


def query(request: httpx.Request) -> dict[str, str]:
    return {
        k: v[0] for k, v in parse_qs(request.url.query.decode(), keep_blank_values=True).items()
    }


class HistoryApi:
    """Serves notification-history lists from in-memory records the way Zuora pages them."""

    def __init__(self, router: Router, *, zone: ZoneInfo = LA) -> None:
        self.callouts: list[dict[str, Any]] = []
        self.emails: list[dict[str, Any]] = []
        self.zone = zone
        self.next_page_host = "https://localhost:8080/apps"
        router.route("GET", "/v1/notification-history/callout")(self._callouts)
        router.route("GET", "/v1/notification-history/email")(self._emails)

    def _callouts(self, request: httpx.Request) -> httpx.Response:
        return self._page(request, self.callouts, "createTime", "calloutHistories")

    def _emails(self, request: httpx.Request) -> httpx.Response:
        q = query(request)
        records = self.emails
        if "accountId" in q:
            records = [r for r in records if r.get("accountId") == q["accountId"]]
        return self._page(request, records, "sendTime", "emailHistories")

    def _page(
        self, request: httpx.Request, records: list[dict[str, Any]], time_key: str, list_key: str
    ) -> httpx.Response:
        q = query(request)
        start, end = parse_wire(q["startTime"], self.zone), parse_wire(q["endTime"], self.zone)
        failed_only = q.get("failedOnly", "true") == "true"
        chosen = [
            r
            for r in records
            if start <= parse_wire(r[time_key], self.zone) <= end
            and (not failed_only or r.get("_failed", True))
        ]
        page, size = int(q["page"]), int(q["pageSize"])
        items = chosen[(page - 1) * size : page * size]
        body: dict[str, Any] = {
            list_key: [{k: v for k, v in r.items() if not k.startswith("_")} for r in items],
            "success": True,
        }
        if page * size < len(chosen):
            body["nextPage"] = f"{self.next_page_host}/v1/x?page={page + 1}&pageSize={size}"
        return httpx.Response(200, json=body)


def callout(
    at: datetime,
    *,
    event_id: str = "ev1",
    account_id: str | None = ACCOUNT_ID,
    number: str | None = ACCOUNT_NUMBER,
    attempted: int | str = 3,
    context_key: str = "<Account.ID>",
    as_string: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """A callout-history record as Zuora sends it."""
    context: dict[str, Any] = {"<Event.ID>": event_id, "<Event.Category>": "InvoicePosted"}
    if account_id is not None:
        context[context_key] = account_id
    if number is not None:
        context["<Account.Number>"] = number
    record: dict[str, Any] = {
        "attemptedNum": attempted,
        "createTime": wire(at),
        "eventCategory": 1110,
        "eventContext": json.dumps(context) if as_string else context,
        "notification": "Invoice Posted",
        "requestMethod": "POST",
        "requestUrl": "https://hooks.acme.example/zuora",
        "responseCode": 500,
    }
    record.update(extra)
    return record


def email(at: datetime, *, account_id: str = ACCOUNT_ID, **extra: Any) -> dict[str, Any]:
    """An email-history record as Zuora sends it."""
    record: dict[str, Any] = {
        "accountId": account_id,
        "bcc": None,
        "cc": None,
        "errorMessage": "550 5.1.1 User unknown",
        "eventCategory": 1110,
        "fromEmail": "no-reply@vendor.example",
        "notification": "Invoice Posted",
        "replyTo": "support@vendor.example",
        "result": "Failed",
        "sendTime": wire(at),
        "subject": "Invoice INV00001234 is available",
        "toEmail": "billing@acme.example",
    }
    record.update(extra)
    return record


def zuora_settings(**overrides: Any) -> ZuoraSettings:
    values: dict[str, Any] = {
        "base_url": BASE_URL,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "cache_ttl": 0,
    }
    values.update(overrides)
    return ZuoraSettings(_env_file=None, **values)


NOW = datetime(2026, 5, 11, 17, 0, tzinfo=UTC)


def days_ago(days: float, *, now: datetime = NOW) -> datetime:
    return now - timedelta(days=days)


def settings_for(fake: FakeZuora, **overrides: object) -> ZuoraSettings:
    """Client settings pointing at a loopback FakeZuora: no cache, short retry waits."""
    values: dict[str, object] = {
        "base_url": fake.base_url,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "cache_ttl": 0,
        "retry_max_delay": 0.05,
        "result_file_hosts": fake.files_base_url,
    }
    values.update(overrides)
    return ZuoraSettings(_env_file=None, **values)  # type: ignore[arg-type]
