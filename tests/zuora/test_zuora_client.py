"""ZuoraClient over MockTransport: request shape, paging, windows, matching, errors, retries."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.zuora.client import ZuoraClient, build_http_client
from bot.zuora.client.history import wire_time
from bot.zuora.client.transport import RATE_LIMIT_RETRIES
from bot.zuora.errors import (
    ZuoraAuthError,
    ZuoraConnectionError,
    ZuoraInputError,
    ZuoraNotFoundError,
    ZuoraRateLimitError,
    ZuoraResponseValidationError,
    ZuoraServerError,
    ZuoraStatusError,
    ZuoraTimeoutError,
)
from bot.zuora.models import Account, TimeWindow
from tests.support.zuora_fakes import (
    ACCOUNT_ID,
    ACCOUNT_NUMBER,
    BASE_URL,
    NOW,
    TRACK,
    HistoryApi,
    ManualTimer,
    Router,
    Sleeps,
    callout,
    days_ago,
    email,
    query,
    zuora_settings,
)

CALLOUTS = "/v1/notification-history/callout"
EMAILS = "/v1/notification-history/email"
ACCOUNT = Account(id=ACCOUNT_ID, number=ACCOUNT_NUMBER, name="Acme Corp", status="Active")
WEEK = TimeWindow(start=days_ago(7), end=NOW, label="7d")


def account_body(**basic: object) -> dict[str, object]:
    info = {
        "id": ACCOUNT_ID,
        "accountNumber": ACCOUNT_NUMBER,
        "name": "Acme Corp",
        "status": "Active",
        **basic,
    }
    return {"basicInfo": info, "billingAndPayment": {"currency": "USD"}, "success": True}


# -- request shape ---------------------------------------------------------------------------------


def test_callout_page_request_shape(
    make_client: Callable[..., ZuoraClient], router: Router, history: HistoryApi
) -> None:
    client = make_client(entity_id="ent-1", org_ids="org-a, org-b")
    start = datetime(2026, 5, 11, 16, 0, 0, 250000, tzinfo=UTC)
    end = datetime(2026, 5, 11, 17, 0, 0, 500000, tzinfo=UTC)
    client.list_callout_history(start=start, end=end, page=3, track_id=TRACK)
    (request,) = router.api_requests(CALLOUTS)
    assert str(request.url).startswith(BASE_URL + CALLOUTS + "?")
    assert query(request) == {
        "startTime": "2026-05-11T09:00:01",  # Los Angeles is UTC-7 in May; fractions rounded up
        "endTime": "2026-05-11T10:00:01",
        "failedOnly": "true",
        "includeResponseContent": "false",
        "page": "3",
        "pageSize": "40",
    }
    headers = request.headers
    assert headers["Zuora-Track-Id"] == TRACK
    assert headers["Accept"] == "application/json"
    assert headers["Accept-Encoding"] == "gzip"
    assert headers["Zuora-Entity-Ids"] == "ent-1"
    assert headers["Zuora-Org-Ids"] == "org-a,org-b"
    assert headers["Authorization"] == "Bearer token-1"


def test_entity_headers_absent_when_unset(
    client: ZuoraClient, router: Router, history: HistoryApi
) -> None:
    client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)
    (request,) = router.api_requests()
    assert "Zuora-Entity-Ids" not in request.headers
    assert "Zuora-Org-Ids" not in request.headers


def test_email_page_request_shape(client: ZuoraClient, router: Router, history: HistoryApi) -> None:
    client.list_email_history(
        account_id=ACCOUNT_ID,
        start=days_ago(3),
        end=NOW,
        page=1,
        track_id=TRACK,
        failed_only=False,
        page_size=10,
    )
    (request,) = router.api_requests(EMAILS)
    assert query(request) == {
        "accountId": ACCOUNT_ID,
        "startTime": "2026-05-08T10:00:00",
        "endTime": "2026-05-11T10:00:00",
        "failedOnly": "false",
        "page": "1",
        "pageSize": "10",
    }


def test_time_format_uses_tenant_zone(
    make_client: Callable[..., ZuoraClient], router: Router, history: HistoryApi
) -> None:
    client = make_client(tenant_timezone="Asia/Kolkata")
    client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)
    assert query(router.api_requests()[0])["endTime"] == "2026-05-11T22:30:00"


def test_wire_time_converts_from_any_zone() -> None:
    moment = datetime(2026, 1, 15, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert wire_time(moment, ZoneInfo("America/Los_Angeles")) == "2026-01-15T03:00:00"


@pytest.mark.parametrize(
    "bad",
    [
        {"start": datetime(2026, 5, 1), "end": NOW},
        {"start": NOW, "end": days_ago(1)},
        {"start": days_ago(1), "end": NOW, "page": 0},
        {"start": days_ago(1), "end": NOW, "page_size": 41},
        {"start": days_ago(1), "end": NOW, "page_size": 0},
    ],
)
def test_list_rejects_bad_arguments_without_request(
    client: ZuoraClient, router: Router, bad: dict[str, object]
) -> None:
    args: dict[str, object] = {"page": 1, **bad}
    with pytest.raises(ZuoraInputError):
        client.list_callout_history(track_id=TRACK, **args)  # type: ignore[arg-type]
    assert router.requests == []


def test_list_email_history_refuses_more_than_three_days(
    client: ZuoraClient, router: Router
) -> None:
    with pytest.raises(ZuoraInputError):
        client.list_email_history(
            account_id=None, start=days_ago(3.5), end=NOW, page=1, track_id=TRACK
        )
    assert router.requests == []


def test_build_http_client_explicit_config() -> None:
    settings = zuora_settings(connect_timeout=3, read_timeout=15, max_concurrency=6)
    http = build_http_client(settings)
    try:
        assert http.timeout.connect == 3 and http.timeout.read == 15
        assert http.timeout.write is not None and http.timeout.pool is not None
        assert str(http.base_url).rstrip("/") == BASE_URL
        assert http.headers["Accept"] == "application/json"
        assert http.headers["Accept-Encoding"] == "gzip"
        pool = http._transport._pool  # type: ignore[attr-defined]
        assert pool._max_connections == 8
    finally:
        http.close()


def test_from_settings_owns_and_closes_http_client() -> None:
    client = ZuoraClient.from_settings(zuora_settings())
    client.close()
    assert client._http.is_closed


# -- parsing ---------------------------------------------------------------------------------------


def test_get_account_reads_basic_info(client: ZuoraClient, router: Router) -> None:
    router.route("GET", "/v1/accounts/A00000001")(
        lambda r: httpx.Response(200, json=account_body(Region__c="NA", extra={"x": 1}))
    )
    assert client.get_account("A00000001", track_id=TRACK) == ACCOUNT


def test_get_account_unknown_key_is_not_found(client: ZuoraClient, router: Router) -> None:
    router.route("GET", "/v1/accounts/A404")(
        lambda r: httpx.Response(
            200,
            json={
                "success": False,
                "processId": "P1",
                "reasons": [{"code": 50000040, "message": "Cannot find entity by key: 'A404'."}],
            },
        )
    )
    with pytest.raises(ZuoraNotFoundError) as caught:
        client.get_account("A404", track_id=TRACK)
    assert caught.value.key == "A404"
    assert "A404" in str(caught.value)
    assert caught.value.reasons[0].code == "50000040"


@pytest.mark.parametrize("status", [400, 404, 422])
def test_get_account_4xx_is_not_found(client: ZuoraClient, router: Router, status: int) -> None:
    router.route("GET", "/v1/accounts/A1")(lambda r: httpx.Response(status, json={"message": "x"}))
    with pytest.raises(ZuoraNotFoundError) as caught:
        client.get_account("A1", track_id=TRACK)
    assert caught.value.key == "A1"
    assert caught.value.status_code == status


def test_get_account_403_stays_auth_error(client: ZuoraClient, router: Router) -> None:
    router.route("GET", "/v1/accounts/A1")(
        lambda r: httpx.Response(403, json={"code": 50000011, "message": "no"})
    )
    with pytest.raises(ZuoraAuthError):
        client.get_account("A1", track_id=TRACK)


def test_get_account_bad_body_is_validation_error(client: ZuoraClient, router: Router) -> None:
    router.route("GET", "/v1/accounts/A1")(
        lambda r: httpx.Response(200, json={"basicInfo": {"name": "x"}, "success": True})
    )
    with pytest.raises(ZuoraResponseValidationError):
        client.get_account("A1", track_id=TRACK)


def test_history_tolerates_unknown_fields_and_loose_types(
    client: ZuoraClient, history: HistoryApi
) -> None:
    history.callouts.append(
        callout(
            days_ago(0.5),
            attempted="3",
            responseCode="-1",
            eventCategory="1210",
            brandNewField={"x": [1]},
        )
    )
    history.callouts.append(
        callout(
            days_ago(0.4),
            event_id="ev2",
            attempted=5,
            responseCode=405,
            eventCategory="user.notification:Usage",
        )
    )
    page = client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)
    first, second = page.items
    assert (first.attempted_num, first.response_code, first.event_category) == (3, "-1", "1210")
    assert (second.attempted_num, second.response_code) == (5, "405")
    assert second.event_category == "user.notification:Usage"
    assert first.create_time.tzinfo is not None
    assert first.create_time == days_ago(0.5).replace(microsecond=0)


def test_history_times_parsed_in_tenant_zone(client: ZuoraClient, router: Router) -> None:
    router.route("GET", EMAILS)(
        lambda r: httpx.Response(
            200,
            json={
                "emailHistories": [email(NOW) | {"sendTime": "2026-05-11T10:02:47"}],
                "success": True,
            },
        )
    )
    page = client.list_email_history(
        account_id=None, start=days_ago(1), end=NOW, page=1, track_id=TRACK
    )
    assert page.items[0].send_time == datetime(2026, 5, 11, 17, 2, 47, tzinfo=UTC)


def test_history_bad_record_is_validation_error(client: ZuoraClient, router: Router) -> None:
    router.route("GET", CALLOUTS)(
        lambda r: httpx.Response(
            200, json={"calloutHistories": [{"createTime": "not a time"}], "success": True}
        )
    )
    with pytest.raises(ZuoraResponseValidationError) as caught:
        client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)
    assert isinstance(caught.value.__cause__, Exception)


@pytest.mark.parametrize("body", [b"<html>proxy</html>", b"[1, 2]", b'{"calloutHistories": 3}'])
def test_history_non_json_or_wrong_shape_is_validation_error(
    client: ZuoraClient, router: Router, body: bytes
) -> None:
    router.route("GET", CALLOUTS)(lambda r: httpx.Response(200, content=body))
    with pytest.raises(ZuoraResponseValidationError):
        client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)


def test_gzip_response_is_decoded(client: ZuoraClient, router: Router) -> None:
    payload = json.dumps({"emailHistories": [email(days_ago(1))] * 30, "success": True}).encode()
    router.route("GET", EMAILS)(
        lambda r: httpx.Response(
            200, content=gzip.compress(payload), headers={"Content-Encoding": "gzip"}
        )
    )
    page = client.list_email_history(
        account_id=None, start=days_ago(2), end=NOW, page=1, track_id=TRACK
    )
    assert len(page.items) == 30


# -- pagination and windows ------------------------------------------------------------------------


def test_pagination_requests_next_page_on_base_url(
    make_client: Callable[..., ZuoraClient], router: Router, history: HistoryApi
) -> None:
    client = make_client(max_concurrency=1)  # no speculation: the exact sequence shows
    history.next_page_host = "https://internal.zuora.corp:8443/apps"
    history.callouts.extend(
        callout(days_ago(0.5) + timedelta(seconds=i), event_id=f"ev{i}") for i in range(95)
    )
    records = list(client.iter_callout_history(start=days_ago(1), end=NOW, track_id=TRACK))
    assert len(records) == 95
    requests = router.api_requests()
    assert [query(r)["page"] for r in requests] == ["1", "2", "3"]
    assert all(r.url.host == "rest.test.zuora.example" for r in router.requests)
    assert all(query(r)["pageSize"] == "40" for r in requests)


def test_speculative_pages_past_the_end_are_dropped(
    make_client: Callable[..., ZuoraClient], router: Router, history: HistoryApi
) -> None:
    client = make_client(max_concurrency=4)
    history.callouts.extend(
        callout(days_ago(0.5) + timedelta(seconds=i), event_id=f"ev{i}") for i in range(95)
    )
    records = list(client.iter_callout_history(start=days_ago(1), end=NOW, track_id=TRACK))
    assert sorted(r.event_id or "" for r in records) == sorted(f"ev{i}" for i in range(95))
    pages = sorted(int(query(r)["page"]) for r in router.api_requests())
    assert pages[:3] == [1, 2, 3]
    assert max(pages) < 3 + 4  # speculation stays within max_concurrency of the last page


def test_page_has_more_follows_next_page_presence(client: ZuoraClient, history: HistoryApi) -> None:
    history.callouts.extend(callout(days_ago(0.5), event_id=f"e{i}") for i in range(41))
    first = client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)
    second = client.list_callout_history(start=days_ago(1), end=NOW, page=2, track_id=TRACK)
    assert (first.page, first.has_more, len(first.items)) == (1, True, 40)
    assert (second.page, second.has_more, len(second.items)) == (2, False, 1)


def test_email_window_split_three_three_one(
    client: ZuoraClient, router: Router, history: HistoryApi
) -> None:
    list(
        client.iter_email_history(account_id=ACCOUNT_ID, start=days_ago(7), end=NOW, track_id=TRACK)
    )
    spans = sorted(
        (query(r)["startTime"], query(r)["endTime"]) for r in router.api_requests(EMAILS)
    )
    assert spans == [
        ("2026-05-04T10:00:00", "2026-05-07T10:00:00"),
        ("2026-05-07T10:00:00", "2026-05-10T10:00:00"),
        ("2026-05-10T10:00:00", "2026-05-11T10:00:00"),
    ]


def test_callout_window_split_into_days(
    client: ZuoraClient, router: Router, history: HistoryApi
) -> None:
    list(client.iter_callout_history(start=days_ago(2.5), end=NOW, track_id=TRACK))
    assert len(router.api_requests(CALLOUTS)) == 3


def test_slice_boundaries_never_duplicate_records(client: ZuoraClient, history: HistoryApi) -> None:
    boundary = days_ago(4)  # the end of the first 3-day slice
    history.emails.append(email(boundary, subject="on the boundary"))
    history.emails.append(email(NOW, subject="at the window end"))
    records = list(
        client.iter_email_history(account_id=ACCOUNT_ID, start=days_ago(7), end=NOW, track_id=TRACK)
    )
    assert [r.subject for r in records] == ["on the boundary"]


def test_iteration_order_is_deterministic(
    make_client: Callable[..., ZuoraClient], history: HistoryApi, router: Router
) -> None:
    router.latency = 0.002
    history.callouts.extend(
        callout(days_ago(6.9) + timedelta(minutes=17 * i), event_id=f"e{i}") for i in range(500)
    )
    runs = [
        [
            r.event_id
            for r in make_client(max_concurrency=c).iter_callout_history(
                start=days_ago(7), end=NOW, track_id=TRACK
            )
        ]
        for c in (1, 8, 8)
    ]
    assert runs[0] == runs[1] == runs[2]
    assert len(set(runs[0])) == 500


def test_page_cap_raises_validation_error(client: ZuoraClient, router: Router) -> None:
    client.max_pages = 3
    router.route("GET", CALLOUTS)(
        lambda r: httpx.Response(
            200, json={"calloutHistories": [], "nextPage": "https://x/next", "success": True}
        )
    )
    with pytest.raises(ZuoraResponseValidationError, match="3 pages"):
        list(client.iter_callout_history(start=days_ago(0.5), end=NOW, track_id=TRACK))


def test_iterator_validates_before_first_next(client: ZuoraClient, router: Router) -> None:
    with pytest.raises(ZuoraInputError):
        client.iter_email_history(account_id="../x", start=days_ago(1), end=NOW, track_id=TRACK)
    with pytest.raises(ZuoraInputError):
        client.iter_callout_history(start=NOW, end=days_ago(1), track_id=TRACK)
    assert router.requests == []


# -- an account's failures -------------------------------------------------------------------------


def test_failed_callouts_match_account_context_variants(
    client: ZuoraClient, history: HistoryApi
) -> None:
    t = days_ago(1)
    history.callouts.extend(
        [
            callout(t, event_id="by-id", number=None),
            callout(t + timedelta(seconds=1), event_id="by-number", account_id=None),
            callout(
                t + timedelta(seconds=2),
                event_id="billing",
                number=None,
                context_key="<BillingAccount.ID>",
            ),
            callout(
                t + timedelta(seconds=3),
                event_id="odd-case",
                number=None,
                context_key="<Account.Id>",
            ),
            callout(t + timedelta(seconds=4), event_id="as-string", as_string=True),
            callout(
                t + timedelta(seconds=5), event_id="tenant-event", account_id=None, number=None
            ),
            callout(
                t + timedelta(seconds=6), event_id="other", account_id="f" * 32, number="A00000002"
            ),
        ]
    )
    found = client.failed_callouts_for(ACCOUNT, WEEK, track_id=TRACK)
    assert [c.event_id for c in found] == ["as-string", "odd-case", "billing", "by-number", "by-id"]


def test_failed_callouts_dedupe_on_event_keeping_latest(
    client: ZuoraClient, router: Router, history: HistoryApi
) -> None:
    t = days_ago(2)
    history.callouts.extend(
        [
            callout(t, event_id="e1", attempted=1),
            callout(t + timedelta(minutes=5), event_id="e1", attempted=2),
            callout(t + timedelta(minutes=10), event_id="e1", attempted="3"),
            callout(t + timedelta(minutes=1), event_id="e2", attempted=1),
            callout(days_ago(6), event_id="e3", attempted=3),
        ]
    )
    found = client.failed_callouts_for(ACCOUNT, WEEK, track_id=TRACK)
    assert [(c.event_id, c.attempted_num) for c in found] == [("e1", 3), ("e2", 1), ("e3", 3)]
    assert all(query(r)["includeResponseContent"] == "false" for r in router.api_requests(CALLOUTS))
    assert all(query(r)["failedOnly"] == "true" for r in router.api_requests())


def test_failed_emails_filtered_sorted_and_deduplicated(
    client: ZuoraClient, router: Router, history: HistoryApi
) -> None:
    history.emails.extend(
        [
            email(days_ago(6), subject="old"),
            email(days_ago(1), subject="new"),
            email(days_ago(1), subject="new"),  # identical natural key
            email(days_ago(2), subject="mid", id="abc"),
            email(days_ago(2), subject="mid again", id="abc"),  # same id
            email(days_ago(1), subject="someone else", account_id="f" * 32),
        ]
    )
    found = client.failed_emails_for(ACCOUNT, WEEK, track_id=TRACK)
    assert [e.subject for e in found] == ["new", "mid", "old"]
    assert all(query(r)["accountId"] == ACCOUNT_ID for r in router.api_requests(EMAILS))
    assert len(router.api_requests(EMAILS)) == 3


def test_failures_for_returns_both(client: ZuoraClient, history: HistoryApi) -> None:
    history.callouts.append(callout(days_ago(1)))
    history.emails.append(email(days_ago(1)))
    callouts, emails = client.failures_for(ACCOUNT, WEEK, track_id=TRACK)
    assert len(callouts) == 1 and len(emails) == 1


def test_get_callout_response_fetches_content_on_demand(
    client: ZuoraClient, router: Router, history: HistoryApi
) -> None:
    at = days_ago(1).replace(microsecond=0)
    history.callouts.extend(
        [
            callout(at, event_id="e1", attempted=1, responseContent="first"),
            callout(at, event_id="e1", attempted=2, responseContent="second"),
            callout(at, event_id="e2", responseContent="other event"),
        ]
    )
    found = client.get_callout_response(ACCOUNT, at, "e1", track_id=TRACK)
    assert found is not None and found.response_content == "second"
    (request,) = router.api_requests()
    assert query(request)["includeResponseContent"] == "true"
    assert query(request)["failedOnly"] == "false"
    assert client.get_callout_response(ACCOUNT, at, "missing", track_id=TRACK) is None


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (50000040, ZuoraNotFoundError),
        ("50000070", ZuoraRateLimitError),
        (50000061, ZuoraServerError),
        (58730020, ZuoraStatusError),
        (50000011, ZuoraAuthError),
    ],
)
def test_success_false_maps_by_reason_category(
    make_client: Callable[..., ZuoraClient], router: Router, code: object, error: type[Exception]
) -> None:
    client = make_client(max_retries=0)
    router.route("GET", CALLOUTS)(
        lambda r: httpx.Response(
            200,
            json={
                "success": False,
                "processId": "P",
                "reasons": [{"code": code, "message": "nope"}],
            },
        )
    )
    with pytest.raises(error) as caught:
        client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)
    assert type(caught.value) is error
    assert caught.value.reasons[0].code == str(code)  # type: ignore[attr-defined]
    assert caught.value.track_id == TRACK  # type: ignore[attr-defined]


def test_success_false_temporary_is_retried(
    client: ZuoraClient, router: Router, sleeps: Sleeps, history: HistoryApi
) -> None:
    calls: list[int] = []
    original = router.routes[("GET", CALLOUTS)]

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(
                200, json={"success": False, "reasons": [{"code": 50000061, "message": "later"}]}
            )
        return original(request)

    router.route("GET", CALLOUTS)(flaky)
    client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)
    assert len(calls) == 2 and len(sleeps.calls) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ZuoraStatusError),
        (403, ZuoraAuthError),
        (404, ZuoraNotFoundError),
        (429, ZuoraRateLimitError),
        (500, ZuoraServerError),
        (503, ZuoraServerError),
    ],
)
def test_status_maps_to_error(
    make_client: Callable[..., ZuoraClient], router: Router, status: int, error: type[Exception]
) -> None:
    client = make_client(max_retries=0)
    router.route("GET", CALLOUTS)(
        lambda r: httpx.Response(status, json={"reasons": [{"code": 1, "message": "why"}]})
    )
    with pytest.raises(error) as caught:
        client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)
    assert type(caught.value) is error
    assert caught.value.status_code == status  # type: ignore[attr-defined]


def test_403_on_history_names_view_permission(
    make_client: Callable[..., ZuoraClient], router: Router
) -> None:
    router.route("GET", CALLOUTS)(lambda r: httpx.Response(403, json={"code": 1, "message": "x"}))
    with pytest.raises(ZuoraAuthError, match="View Access"):
        make_client().list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)


def test_get_is_retried_on_503_then_succeeds(
    client: ZuoraClient,
    router: Router,
    sleeps: Sleeps,
    history: HistoryApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    original = router.routes[("GET", CALLOUTS)]
    answers = iter([httpx.Response(503, headers={"Retry-After": "1"}), httpx.Response(502)])
    router.route("GET", CALLOUTS)(lambda r: next(answers, None) or original(r))
    with caplog.at_level(logging.WARNING, logger="bot.zuora.client"):
        client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)
    assert len(router.api_requests()) == 3
    assert sleeps.calls[0] == 1.0
    assert 0.5 <= sleeps.calls[1] <= 1.0  # equal jitter of the second back-off step
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "retry 1 of 2" in warnings[0] and "503" in warnings[0] and TRACK in warnings[0]


def test_5xx_backs_off_briefly_even_when_ratelimit_reset_is_sent(
    client: ZuoraClient, router: Router, sleeps: Sleeps, history: HistoryApi
) -> None:
    # Zuora sends RateLimit-Reset on every answer; waiting it out is only right for a 429.
    original = router.routes[("GET", CALLOUTS)]
    answers = iter([httpx.Response(503, headers={"RateLimit-Reset": "60"})])
    router.route("GET", CALLOUTS)(lambda r: next(answers, None) or original(r))
    client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)
    assert len(sleeps.calls) == 1
    assert sleeps.calls[0] <= 0.5


def test_get_retries_exhausted_raise_last_error(
    client: ZuoraClient, router: Router, sleeps: Sleeps
) -> None:
    router.route("GET", CALLOUTS)(lambda r: httpx.Response(429, headers={"RateLimit-Reset": "3"}))
    with pytest.raises(ZuoraRateLimitError):
        client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)
    # A throttled call gets the longer rate-limit budget: it slows down before it gives up.
    assert len(router.api_requests()) == 1 + RATE_LIMIT_RETRIES
    assert sleeps.calls == [3.0] * RATE_LIMIT_RETRIES


def test_4xx_is_not_retried(client: ZuoraClient, router: Router, sleeps: Sleeps) -> None:
    router.route("GET", CALLOUTS)(lambda r: httpx.Response(400, json={"message": "bad"}))
    with pytest.raises(ZuoraStatusError):
        client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)
    assert len(router.api_requests()) == 1 and sleeps.calls == []


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (httpx.ConnectTimeout, ZuoraTimeoutError),
        (httpx.ReadTimeout, ZuoraTimeoutError),
        (httpx.ConnectError, ZuoraConnectionError),
        (httpx.RemoteProtocolError, ZuoraConnectionError),
    ],
)
def test_transport_errors_translated_with_cause(
    make_client: Callable[..., ZuoraClient],
    router: Router,
    sleeps: Sleeps,
    exc: type[httpx.TransportError],
    error: type[Exception],
) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return router(request)
        raise exc("boom", request=request)

    client = make_client(handler=broken)
    with pytest.raises(error) as caught:
        client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)
    assert isinstance(caught.value.__cause__, exc)
    assert len(sleeps.calls) == 2  # GETs retry connection errors


def test_request_logs_debug_line(
    client: ZuoraClient, router: Router, history: HistoryApi, caplog: pytest.LogCaptureFixture
) -> None:
    original = router.routes[("GET", CALLOUTS)]

    def with_headers(request: httpx.Request) -> httpx.Response:
        response = original(request)
        response.headers["Zuora-Request-Id"] = "req-42"
        response.headers["RateLimit-Remaining"] = "4999"
        return response

    router.route("GET", CALLOUTS)(with_headers)
    with caplog.at_level(logging.DEBUG, logger="bot.zuora.client"):
        client.list_callout_history(start=days_ago(1), end=NOW, page=1, track_id=TRACK)
    (line,) = [r.getMessage() for r in caplog.records if "req-42" in r.getMessage()]
    assert "GET /v1/notification-history/callout -> 200" in line
    assert TRACK in line and "4999" in line and " ms" in line


# -- concurrency and cache -------------------------------------------------------------------------


def test_concurrency_bound_holds_across_scans(
    make_client: Callable[..., ZuoraClient], router: Router, history: HistoryApi
) -> None:
    import threading

    router.latency = 0.01
    history.callouts.extend(
        callout(days_ago(13.9) + timedelta(minutes=9 * i), event_id=f"e{i}") for i in range(2000)
    )
    client = make_client(max_concurrency=3)
    counts: list[int] = []

    def scan() -> None:
        counts.append(
            sum(1 for _ in client.iter_callout_history(start=days_ago(14), end=NOW, track_id=TRACK))
        )

    threads = [threading.Thread(target=scan) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert counts == [2000, 2000, 2000]
    assert router.max_in_flight == 3


def test_cache_serves_repeats_until_ttl(
    make_client: Callable[..., ZuoraClient], router: Router, history: HistoryApi, timer: ManualTimer
) -> None:
    client = make_client(cache_ttl=30)
    router.route("GET", "/v1/accounts/A00000001")(
        lambda r: httpx.Response(200, json=account_body())
    )
    history.callouts.append(callout(days_ago(1)))
    for _ in range(3):
        client.get_account("A00000001", track_id=TRACK)
        client.failed_callouts_for(ACCOUNT, WEEK, track_id=TRACK)
    assert len(router.api_requests("/v1/accounts/A00000001")) == 1
    scans = len(router.api_requests(CALLOUTS))
    assert scans == 7
    client.get_account(ACCOUNT_ID, track_id=TRACK)  # cached under the id too
    assert len(router.api_requests("/v1/accounts/A00000001")) == 1
    timer.advance(31)
    client.get_account("A00000001", track_id=TRACK)
    client.failed_callouts_for(ACCOUNT, WEEK, track_id=TRACK)
    assert len(router.api_requests("/v1/accounts/A00000001")) == 2
    assert len(router.api_requests(CALLOUTS)) == 14


def test_forget_drops_cached_failures(
    make_client: Callable[..., ZuoraClient], router: Router, history: HistoryApi
) -> None:
    client = make_client(cache_ttl=30)
    history.callouts.append(callout(days_ago(1)))
    client.failures_for(ACCOUNT, WEEK, track_id=TRACK)
    client.failed_callouts_for(ACCOUNT, WEEK, track_id=TRACK)
    client.failed_emails_for(ACCOUNT, WEEK, track_id=TRACK)
    assert len(router.api_requests()) == 10  # one combined scan: 7 callout + 3 email slices
    client.forget(ACCOUNT, WEEK)
    history.callouts.append(callout(days_ago(2), event_id="new"))
    assert len(client.failed_callouts_for(ACCOUNT, WEEK, track_id=TRACK)) == 2
    assert len(router.api_requests()) == 17


def test_cache_returns_copies(make_client: Callable[..., ZuoraClient], history: HistoryApi) -> None:
    client = make_client(cache_ttl=30)
    history.callouts.append(callout(days_ago(1)))
    first = client.failed_callouts_for(ACCOUNT, WEEK, track_id=TRACK)
    first.clear()
    assert len(client.failed_callouts_for(ACCOUNT, WEEK, track_id=TRACK)) == 1


def test_cache_disabled_with_zero_ttl(client: ZuoraClient, router: Router) -> None:
    router.route("GET", "/v1/accounts/A00000001")(
        lambda r: httpx.Response(200, json=account_body())
    )
    client.get_account("A00000001", track_id=TRACK)
    client.get_account("A00000001", track_id=TRACK)
    assert len(router.api_requests()) == 2


def test_errors_are_not_cached(make_client: Callable[..., ZuoraClient], router: Router) -> None:
    client = make_client(cache_ttl=30, max_retries=0)
    answers = iter([httpx.Response(500), httpx.Response(200, json=account_body())])
    router.route("GET", "/v1/accounts/A00000001")(lambda r: next(answers))
    with pytest.raises(ZuoraServerError):
        client.get_account("A00000001", track_id=TRACK)
    assert client.get_account("A00000001", track_id=TRACK).id == ACCOUNT_ID


def test_closed_client_refuses_scans(client: ZuoraClient, history: HistoryApi) -> None:
    client.close()
    with pytest.raises(RuntimeError):
        list(client.iter_callout_history(start=days_ago(1), end=NOW, track_id=TRACK))
