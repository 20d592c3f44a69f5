"""Data Query in the Zuora client: submit, poll with back-off, fetch the result file without auth.

Most tests run the client against the sandbox Zuora over real loopback HTTP (its result files are
served by a second server on another port); the back-off and timeout tests use a MockTransport and a
manual clock so they take no real time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.sandbox.fake_dataquery import DOCUMENTED_COLUMNS as FAKE_COLUMNS
from bot.sandbox.fake_dataquery import callout_create_time
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import Tenant, build_tenant
from bot.zuora.client import ZuoraClient, build_http_client
from bot.zuora.dataquery import (
    CALLOUT_TABLE,
    DOCUMENTED_COLUMNS,
    EMAIL_TABLE,
    columns_from_show,
    ids_query,
    ids_query_accounts,
    parse_result,
    parse_rows,
    parse_utc,
    poll_delays,
    sample_row_query,
    show_columns_query,
    utc_literal,
    validate_zuora_id,
)
from bot.zuora.errors import ZuoraInputError, ZuoraQueryError
from bot.zuora.models import TimeWindow
from tests.support.dataquery import job_body, manual_client
from tests.support.zuora_fakes import ManualTimer, Router, Sleeps, settings_for

NOW = datetime(2026, 5, 11, 17, 0, tzinfo=UTC)
LA = ZoneInfo("America/Los_Angeles")
TRACK = "zops-dq-test"


@pytest.fixture(scope="module")
def tenant() -> Tenant:
    return build_tenant(seed=5, now=NOW)


@pytest.fixture
def fake(tenant: Tenant) -> Iterator[FakeZuora]:
    with FakeZuora(tenant, clock=lambda: NOW) as server:
        yield server


class RecordingSleep:
    """A real (short) sleep that records what the client asked for."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


ALL_EMAIL_COLUMNS = {name.lower() for name in DOCUMENTED_COLUMNS[EMAIL_TABLE]}
ALL_CALLOUT_COLUMNS = {name.lower() for name in DOCUMENTED_COLUMNS[CALLOUT_TABLE]}
PAD = timedelta(seconds=10)


def email_query_for(tenant: Tenant, days: float = 2) -> str:
    big = tenant.big_account
    assert big is not None
    window = TimeWindow.ending_at(NOW, timedelta(days=days), f"{days}d")
    return ids_query(EMAIL_TABLE, big.id, window, ALL_EMAIL_COLUMNS, pad=PAD)


# -- against the sandbox Zuora ----------------------------------------------------------------------


def test_run_query_polls_until_completed_and_returns_the_rows(
    fake: FakeZuora, tenant: Tenant
) -> None:
    fake.set_query_delay(0.4)
    sleep = RecordingSleep()
    settings = settings_for(fake)
    with (
        build_http_client(settings) as http,
        ZuoraClient(http, settings, sleep=sleep) as client,
    ):
        rows = client.run_query(email_query_for(tenant), track_id=TRACK)

    big = tenant.big_account
    assert big is not None
    start = NOW - timedelta(days=2) - PAD
    expected = {
        e.id
        for e in tenant.emails
        if e.account_id == big.id and e.send_time >= start and e.result != "OK"
    }
    assert {row["id"] for row in rows} == expected and expected
    assert set(rows[0]) == {"id", "accountid", "at_utc", "eventcategory", "to", "subject", "status"}
    assert {row["status"] for row in rows} == {"Failed"}
    assert all(str(row["at_utc"]).endswith("Z") for row in rows)
    polls = [r for r in fake.requests("/query/jobs/") if r.method == "GET"]
    assert len(polls) == len(sleep.calls) >= 2, "one status poll after each back-off sleep"
    assert sleep.calls == sorted(sleep.calls) and sleep.calls[0] < sleep.calls[-1]
    submitted = fake.requests("/query/jobs")[0]
    assert submitted.method == "POST"
    assert submitted.json() == {
        "query": email_query_for(tenant),
        "outputFormat": "JSON",
        "compression": "NONE",
        "output": {"target": "S3"},
    }
    assert submitted.headers["authorization"].startswith("Bearer ")
    assert submitted.headers["zuora-track-id"] == TRACK


def test_result_file_comes_from_the_second_port_without_authorization(
    fake: FakeZuora, tenant: Tenant
) -> None:
    with ZuoraClient.from_settings(settings_for(fake)) as client:
        rows = client.run_query(email_query_for(tenant), track_id=TRACK)

    assert rows
    files = fake.data_file_requests()
    assert len(files) == 1 and files[0].status == 200
    assert fake.data_file_auth_headers_seen() == []
    assert "zuora-track-id" not in files[0].headers
    assert "zuora-entity-ids" not in files[0].headers
    assert urlsplit(fake.files_base_url).port != urlsplit(fake.base_url).port
    # Every Zuora API call did carry the token.
    assert all(r.headers.get("authorization") for r in fake.requests("/query/"))


def test_failed_job_raises_zuora_query_error_with_zuoras_reason(
    fake: FakeZuora, tenant: Tenant
) -> None:
    fake.fail_next_query("Query timed out after 600 seconds")
    with (
        ZuoraClient.from_settings(settings_for(fake)) as client,
        pytest.raises(ZuoraQueryError, match="failed: Query timed out after 600 seconds") as info,
    ):
        client.run_query(email_query_for(tenant), track_id=TRACK)

    assert info.value.track_id == TRACK
    assert fake.data_file_requests() == []


def test_unsupported_query_fails_with_the_engines_message(fake: FakeZuora) -> None:
    with (
        ZuoraClient.from_settings(settings_for(fake)) as client,
        pytest.raises(ZuoraQueryError, match="does not exist"),
    ):
        client.run_query("SELECT Id FROM nosuchtable", track_id=TRACK)


def test_overdue_job_times_out_and_is_cancelled(fake: FakeZuora, tenant: Tenant) -> None:
    fake.set_query_delay(30)
    started = time.monotonic()
    with (
        ZuoraClient.from_settings(settings_for(fake, query_timeout=0.4)) as client,
        pytest.raises(ZuoraQueryError, match=r"did not finish within 0\.4 s"),
    ):
        client.run_query(email_query_for(tenant), track_id=TRACK)

    assert time.monotonic() - started < 3
    cancels = [r for r in fake.requests("/query/jobs/") if r.method == "DELETE"]
    assert len(cancels) == 1 and cancels[0].status == 200
    assert fake.data_file_requests() == []


def test_expired_result_file_is_a_query_error(fake: FakeZuora, tenant: Tenant) -> None:
    fake.expire_data_files()
    with (
        ZuoraClient.from_settings(settings_for(fake)) as client,
        pytest.raises(ZuoraQueryError, match=r"HTTP 403 AccessDenied"),
    ):
        client.run_query(email_query_for(tenant), track_id=TRACK)

    assert len(fake.data_file_requests()) == 1, "a 403 is not retried"


def test_csv_output_is_parsed_with_its_header(fake: FakeZuora, tenant: Tenant) -> None:
    big = tenant.big_account
    assert big is not None
    window = TimeWindow.ending_at(NOW, timedelta(days=1), "1d")
    with ZuoraClient.from_settings(settings_for(fake)) as client:
        result = client.query(
            ids_query(CALLOUT_TABLE, big.id, window, ALL_CALLOUT_COLUMNS, pad=PAD),
            track_id=TRACK,
            output_format="CSV",
        )

    start, end = window.start - PAD, window.end + PAD
    expected = {
        c.id
        for c in tenant.callouts
        if c.account_id == big.id
        and start <= callout_create_time(c) < end
        and not str(c.response_code).startswith("2")
    }
    assert {row["id"] for row in result.rows} == expected and expected
    assert result.columns == (
        "id",
        "accountid",
        "at_utc",
        "objectid",
        "eventcategory",
        "attemptnumber",
        "responsecode",
    )


def test_polling_backs_off_up_to_a_cap_and_stops_at_the_timeout() -> None:
    router, timer, sleeps = Router(), ManualTimer(), Sleeps()
    router.route("POST", "/query/jobs")(
        lambda _: httpx.Response(200, json=job_body("j1", "submitted"))
    )
    router.route("GET", "/query/jobs/j1")(
        lambda _: httpx.Response(200, json=job_body("j1", "in_progress"))
    )
    router.route("DELETE", "/query/jobs/j1")(
        lambda _: httpx.Response(200, json=job_body("j1", "cancelled"))
    )
    files = httpx.MockTransport(lambda _: httpx.Response(500))
    client = manual_client(router, files, timer, sleeps, query_timeout=12)

    with pytest.raises(ZuoraQueryError, match="did not finish within 12 s"):
        client.run_query("SELECT Id FROM notificationhistoryemail", track_id=TRACK)
    client.close()

    assert sleeps.calls[:4] == pytest.approx([0.25, 0.375, 0.5625, 0.84375])
    assert max(sleeps.calls) == 1.0
    assert sum(sleeps.calls) == pytest.approx(12.0), "never sleeps past the deadline"
    assert len(router.api_requests("/query/jobs/j1")) == len(sleeps.calls) + 1  # polls + DELETE


def test_completed_job_without_a_file_and_cancelled_job_are_errors() -> None:
    router, timer, sleeps = Router(), ManualTimer(), Sleeps()
    answers = iter(["completed", "cancelled"])
    router.route("POST", "/query/jobs")(
        lambda _: httpx.Response(200, json=job_body("j2", next(answers)))
    )
    files = httpx.MockTransport(lambda _: httpx.Response(200, content=b""))
    client = manual_client(router, files, timer, sleeps)

    with pytest.raises(ZuoraQueryError, match="without a result file"):
        client.run_query("SELECT Id FROM notificationhistoryemail", track_id=TRACK)
    with pytest.raises(ZuoraQueryError, match="Data Query job cancelled"):
        client.run_query("SELECT Id FROM notificationhistoryemail", track_id=TRACK)
    client.close()


def test_result_file_is_retried_after_a_5xx_and_sent_without_auth() -> None:
    router, timer, sleeps = Router(), ManualTimer(), Sleeps()
    url = "https://example.s3.us-west-2.amazonaws.com/files/j3.json?X-Amz-Signature=abc"
    router.route("POST", "/query/jobs")(
        lambda _: httpx.Response(200, json=job_body("j3", "completed", dataFile=url))
    )
    seen: list[httpx.Request] = []

    def s3(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(503, content=b"<Error><Code>SlowDown</Code></Error>")
        return httpx.Response(200, content=b'{"id": "a1"}\n{"id": "a2"}\n')

    client = manual_client(router, httpx.MockTransport(s3), timer, sleeps)
    rows = client.run_query("SELECT Id FROM notificationhistoryemail", track_id=TRACK)
    client.close()

    assert rows == [{"id": "a1"}, {"id": "a2"}]
    assert len(seen) == 2 and len(sleeps.calls) == 1
    assert all("authorization" not in r.headers and "zuora-track-id" not in r.headers for r in seen)


# -- query builders and result parsing --------------------------------------------------------------


def test_email_query_names_only_documented_columns_and_utc_literals_with_an_offset() -> None:
    account = "8AD08C0F7B3E4A1B017B4F2A9C1E2D3F"
    window = TimeWindow(
        start=datetime(2026, 11, 1, 7, 0, tzinfo=UTC),  # 00:00 PDT
        end=datetime(2026, 11, 2, 8, 0, tzinfo=UTC),  # 00:00 PST
        label="25h",
    )
    query = ids_query(EMAIL_TABLE, account, window, ALL_EMAIL_COLUMNS, pad=PAD)

    assert query == (
        "SELECT Id, AccountId, to_iso8601(CreatedOn AT TIME ZONE 'UTC') AS at_utc, "
        'EventCategory, "To", Subject, Status '
        "FROM notificationhistoryemail WHERE AccountId = '8ad08c0f7b3e4a1b017b4f2a9c1e2d3f' "
        "AND CreatedOn >= TIMESTAMP '2026-11-01 06:59:50.000 +00:00' "
        "AND CreatedOn < TIMESTAMP '2026-11-02 08:00:10.000 +00:00' "
        "AND Status <> 'OK'"
    )


def test_callout_query_matches_on_what_both_sides_have() -> None:
    window = TimeWindow.ending_at(NOW, timedelta(hours=24), "24h")
    query = ids_query(
        CALLOUT_TABLE, "8ad08c0f7b3e4a1b017b4f2a9c1e2d3f", window, ALL_CALLOUT_COLUMNS, pad=PAD
    )
    assert query.startswith(
        "SELECT Id, AccountId, to_iso8601(CreateTime AT TIME ZONE 'UTC') AS at_utc, "
        "ObjectId, EventCategory, AttemptNumber, ResponseCode FROM notificationhistorycallout "
    )
    assert "EventId" not in query and "CreatedOn" not in query


def test_builder_columns_are_exactly_zuoras_documented_lists() -> None:
    """The bot's list and the sandbox's tables are both Zuora's documented columns, in order."""
    assert DOCUMENTED_COLUMNS[EMAIL_TABLE] == tuple(
        "Id AccountId ContactId NotificationId ObjectId CreatedOn CreatedById EventCategory "
        "EventName Subject To Cc Bcc ReplyTo Sender Status ErrorMessage".split()
    )
    assert DOCUMENTED_COLUMNS[CALLOUT_TABLE] == tuple(
        "Id AccountId ContactId NotificationId ObjectId EventCategory RequestUrl ResponseCode "
        "ResponseContent CreateTime AttemptLimit AttemptNumber".split()
    )
    for table, names in DOCUMENTED_COLUMNS.items():
        assert tuple(c.name for c in FAKE_COLUMNS[table]) == names


def test_query_leaves_out_match_columns_the_tenant_lacks_and_refuses_without_required_ones() -> (
    None
):
    window = TimeWindow.ending_at(NOW, timedelta(hours=24), "24h")
    account = "8ad08c0f7b3e4a1b017b4f2a9c1e2d3f"
    without_subject = ALL_EMAIL_COLUMNS - {"subject", "to"}
    query = ids_query(EMAIL_TABLE, account, window, without_subject, pad=PAD)
    assert "Subject" not in query and '"To"' not in query and "EventCategory" in query
    with pytest.raises(ZuoraQueryError, match="has no CreatedOn column"):
        ids_query(EMAIL_TABLE, account, window, ALL_EMAIL_COLUMNS - {"createdon"}, pad=PAD)
    # Without its outcome column a lookup cannot keep to failed rows: it refuses to run.
    with pytest.raises(ZuoraQueryError, match="has no Status column"):
        ids_query(EMAIL_TABLE, account, window, ALL_EMAIL_COLUMNS - {"status"}, pad=PAD)
    with pytest.raises(ZuoraQueryError, match="has no ResponseCode column"):
        ids_query(CALLOUT_TABLE, account, window, ALL_CALLOUT_COLUMNS - {"responsecode"}, pad=PAD)


def test_callout_query_keeps_to_non_2xx_rows_whatever_the_code_column_type() -> None:
    window = TimeWindow.ending_at(NOW, timedelta(hours=24), "24h")
    account = "8ad08c0f7b3e4a1b017b4f2a9c1e2d3f"
    query = ids_query(CALLOUT_TABLE, account, window, ALL_CALLOUT_COLUMNS, pad=PAD)
    many = ids_query_accounts(
        CALLOUT_TABLE, [account, "8a" + "0" * 30], window, ALL_CALLOUT_COLUMNS, pad=PAD
    )

    for sql in (query, many):
        assert sql.endswith(" AND CAST(ResponseCode AS varchar) NOT LIKE '2__'")


@pytest.mark.parametrize(
    "hostile",
    [
        "A00000001",
        "8ad08c0f7b3e4a1b017b4f2a9c1e2d3f' OR '1'='1",
        "8ad08c0f7b3e4a1b017b4f2a9c1e2d3",
        "8ad08c0f7b3e4a1b017b4f2a9c1e2d3g",
        "8ad08c0f7b3e4a1b017b4f2a9c1e2d3f\n",
        "",
    ],
)
def test_query_builders_refuse_anything_but_an_object_id(hostile: str) -> None:
    window = TimeWindow.ending_at(NOW, timedelta(days=1), "1d")
    for table, columns in ((EMAIL_TABLE, ALL_EMAIL_COLUMNS), (CALLOUT_TABLE, ALL_CALLOUT_COLUMNS)):
        with pytest.raises(ZuoraInputError):
            ids_query(table, hostile, window, columns, pad=PAD)
    with pytest.raises(ZuoraInputError):
        validate_zuora_id(hostile)


def test_query_builders_accept_a_uuid_account_id() -> None:
    window = TimeWindow.ending_at(NOW, timedelta(days=1), "1d")
    uuid_id = "8AD08C0F-7B3E-4A1B-017B-4F2A9C1E2D3F"
    query = ids_query(EMAIL_TABLE, uuid_id, window, ALL_EMAIL_COLUMNS, pad=PAD)
    assert "AccountId = '8ad08c0f-7b3e-4a1b-017b-4f2a9c1e2d3f'" in query


def test_utc_literal_states_the_offset_and_needs_an_aware_datetime() -> None:
    with pytest.raises(ZuoraInputError):
        utc_literal(datetime(2026, 5, 11, 9, 0))
    pacific = datetime(2026, 5, 11, 9, 0, 0, 250_000, tzinfo=LA)
    assert utc_literal(pacific) == "TIMESTAMP '2026-05-11 16:00:00.250 +00:00'"
    assert utc_literal(pacific.astimezone(ZoneInfo("Asia/Tokyo"))) == utc_literal(pacific)


def test_show_columns_and_sample_row_queries() -> None:
    assert show_columns_query(EMAIL_TABLE) == "SHOW COLUMNS FROM notificationhistoryemail"
    assert sample_row_query(CALLOUT_TABLE) == "SELECT * FROM notificationhistorycallout LIMIT 1"
    with pytest.raises(ZuoraInputError):
        show_columns_query("account; DROP TABLE x")
    assert columns_from_show([{"column": "Id"}, {"column": "to"}]) == {"id", "to"}
    with pytest.raises(ZuoraQueryError):
        columns_from_show([])


def test_parse_rows_reads_json_lines_arrays_csv_and_gzip() -> None:
    import gzip

    lines = b'{"Id": "a1", "SendTime": "2026-05-11 09:00:00"}\n\n{"Id": "a2"}\n'
    assert parse_rows(lines) == [{"id": "a1", "sendtime": "2026-05-11 09:00:00"}, {"id": "a2"}]
    assert parse_rows(json.dumps([{"ID": "b1"}]).encode()) == [{"id": "b1"}]
    assert parse_rows(gzip.compress(lines))[1] == {"id": "a2"}
    assert parse_rows(b"Id,ToEmail\r\nc1,\r\nc2,x@y\r\n", "CSV") == [
        {"id": "c1", "toemail": None},
        {"id": "c2", "toemail": "x@y"},
    ]
    assert parse_rows(b"") == []


def test_parse_utc_reads_iso_forms_as_utc_and_rejects_display_text() -> None:
    expected = datetime(2026, 5, 11, 16, 0, tzinfo=UTC)
    assert parse_utc("2026-05-11T16:00:00.000Z") == expected
    assert parse_utc("2026-05-11T16:00:00+00:00") == expected
    assert parse_utc("2026-05-11T09:00:00-07:00") == expected
    assert parse_utc("2026-05-11T16:00:00.000") == expected  # asked for UTC: zone-less is UTC
    assert parse_utc("2026-05-11 16:00:00.000 UTC") is None
    assert parse_utc("") is None and parse_utc(None) is None


def test_csv_header_names_columns_even_without_rows() -> None:
    result = parse_result(b"Id,AccountId,To\r\n", "CSV")
    assert result.columns == ("id", "accountid", "to") and result.rows == []


def test_poll_delays_grow_to_the_cap() -> None:
    delays = poll_delays(first=0.5, factor=2, cap=3)
    assert [next(delays) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
