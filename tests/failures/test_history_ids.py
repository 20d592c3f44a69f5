"""Resend IDs: matching Data Query rows to history records, the service's lookup modes and waits,
and the tenant time zone (3-day email slices and window conversion across DST in Los Angeles).

Service tests run the real NotificationService and ZuoraClient against the sandbox Zuora over
loopback HTTP, with tenants that do and do not put `id` in their REST records.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.failures.history_ids import HistoryIdResolver
from bot.failures.id_matching import (
    AMBIGUOUS,
    DELIVERED_LOOKALIKE,
    NO_MATCH,
    SHARED,
    HistoryIds,
    assign_ids,
    index_rows,
)
from bot.failures.results import AccountFailures
from bot.failures.service import NotificationService
from bot.sandbox.fake_zuora import FakeZuora, RecordedRequest
from bot.sandbox.tenant import Tenant, build_tenant
from bot.settings import ZuoraSettings
from bot.zuora.client import ZuoraClient
from bot.zuora.models import Account, CalloutHistory, EmailHistory, NotificationKind, TimeWindow

NOW = datetime(2026, 5, 11, 17, 0, tzinfo=UTC)
LA = ZoneInfo("America/Los_Angeles")
TRACK = "zops-ids-test"
BIG = "A00000001"
DAY = timedelta(days=1)
EMAIL_SLICE = timedelta(days=3)
JOBS = "/query/jobs"


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tenant_without_ids() -> Tenant:
    return build_tenant(seed=3, now=NOW, rest_ids=False)


@pytest.fixture(scope="module")
def tenant_with_ids() -> Tenant:
    return build_tenant(seed=3, now=NOW, rest_ids=True)


ServiceFactory = Callable[..., tuple[NotificationService, FakeZuora]]


@pytest.fixture
def make_service() -> Iterator[ServiceFactory]:
    """Start a sandbox Zuora for `tenant` and a real service on it; settings overrides by keyword."""
    started: list[tuple[NotificationService, FakeZuora]] = []

    def build(
        tenant: Tenant, *, fake_options: dict[str, Any] | None = None, **overrides: object
    ) -> tuple[NotificationService, FakeZuora]:
        fake = FakeZuora(tenant, clock=lambda: NOW, **(fake_options or {})).start()
        values: dict[str, object] = {
            "base_url": fake.base_url,
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "retry_max_delay": 0.05,
            "result_file_hosts": fake.files_base_url,
        }
        values.update(overrides)
        settings = ZuoraSettings(_env_file=None, **values)  # type: ignore[arg-type]
        service = NotificationService(ZuoraClient.from_settings(settings), now=lambda: NOW)
        started.append((service, fake))
        return service, fake

    yield build
    for service, fake in started:
        service.close()
        fake.stop()


def wire_email(**fields: object) -> EmailHistory:
    """An email history record from wire-named fields."""
    return EmailHistory.model_validate(fields)


def wire_callout(**fields: object) -> CalloutHistory:
    """A callout history record from wire-named fields."""
    return CalloutHistory.model_validate(fields)


TOLERANCE = timedelta(seconds=10)
EMAIL_COLUMNS = {"id", "accountid", "createdon", "eventcategory", "to", "subject"}
CALLOUT_COLUMNS = {
    "id",
    "accountid",
    "createtime",
    "objectid",
    "eventcategory",
    "attemptnumber",
    "responsecode",
}


def jobs_submitted(fake: FakeZuora) -> list[RecordedRequest]:
    """The ID lookups submitted (SHOW COLUMNS and one-row schema queries left out)."""
    return [
        r
        for r in fake.requests(JOBS)
        if r.method == "POST" and r.path == JOBS and r.json()["query"].startswith("SELECT Id,")
    ]


def schema_jobs(fake: FakeZuora) -> list[str]:
    """The schema queries submitted: SHOW COLUMNS, or the one-row fallback."""
    queries = [
        r.json()["query"] for r in fake.requests(JOBS) if r.method == "POST" and r.path == JOBS
    ]
    return [q for q in queries if not q.startswith("SELECT Id,")]


def true_email_ids(tenant: Tenant, failures: AccountFailures) -> dict[tuple[datetime, str], str]:
    """The tenant's own id of each listed email, by (send time, subject)."""
    window, account = failures.window, failures.account
    return {
        (e.send_time, e.subject): e.id
        for e in tenant.emails
        if e.account_id == account.id and e.failed and window.start <= e.send_time < window.end
    }


def true_callout_ids(
    tenant: Tenant, failures: AccountFailures, *, data_query: bool = True
) -> dict[str, str | None]:
    """The id each listed callout should get, by <Event.ID>: the tenant's own, or (through Data
    Query) None for a callout Zuora failed with a 2xx answer, which looks delivered there."""
    window, account = failures.window, failures.account
    return {
        c.event_id: None if data_query and str(c.response_code).startswith("2") else c.id
        for c in tenant.callouts
        if c.account_id == account.id and c.failed and window.start <= c.create_time < window.end
    }


def assert_ids_are_the_tenants(
    tenant: Tenant, failures: AccountFailures, *, data_query: bool = True
) -> None:
    emails = true_email_ids(tenant, failures)
    callouts = true_callout_ids(tenant, failures, data_query=data_query)
    assert failures.emails and failures.callouts
    assert {(e.send_time, e.subject): e.id for e in failures.emails} == emails
    assert {c.event_id: c.id for c in failures.callouts} == callouts
    assert all(e.resendable for e in failures.emails)
    for callout in failures.callouts:
        if callouts[callout.event_id] is None:
            assert callout.id_problem == DELIVERED_LOOKALIKE.format(code=callout.response_code)
        else:
            assert callout.resendable


# -- tenants with and without REST ids ------------------------------------------------------------


def test_service_auto_uses_rest_ids_without_any_data_query(
    make_service: ServiceFactory, tenant_with_ids: Tenant
) -> None:
    service, fake = make_service(tenant_with_ids)

    failures = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK, defer_ids=True)

    assert_ids_are_the_tenants(tenant_with_ids, failures, data_query=False)
    assert not failures.ids_pending and failures.ids_error is None
    assert fake.requests("/query") == []


def test_service_auto_resolves_missing_ids_with_one_job_per_table(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    service, fake = make_service(tenant_without_ids)

    failures = service.failures_for(BIG, 5 * DAY, "5d", track_id=TRACK)

    assert_ids_are_the_tenants(tenant_without_ids, failures)
    queries = [r.json()["query"] for r in jobs_submitted(fake)]
    assert len(queries) == 2
    assert {q.split(" FROM ")[1].split()[0] for q in queries} == {
        "notificationhistoryemail",
        "notificationhistorycallout",
    }
    account = tenant_without_ids.account(BIG)
    assert account is not None
    assert all(f"AccountId = '{account.id}'" in q for q in queries)
    assert fake.data_file_auth_headers_seen() == []


def test_service_rest_mode_never_queries(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    service, fake = make_service(tenant_without_ids, history_ids="rest")

    failures = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK, defer_ids=True)

    assert failures.emails and not any(e.id for e in failures.emails)
    assert not failures.ids_pending and failures.ids_error is None
    assert fake.requests("/query") == []


def test_service_data_query_mode_queries_even_when_rest_has_ids(
    make_service: ServiceFactory, tenant_with_ids: Tenant
) -> None:
    service, fake = make_service(tenant_with_ids, history_ids="data-query")

    failures = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK)

    assert_ids_are_the_tenants(tenant_with_ids, failures)
    assert len(jobs_submitted(fake)) == 2


def test_data_query_mode_replaces_rest_ids_and_drops_unmatched_ones() -> None:
    account = Account(id="8a" + "0" * 30, number="A1", name="Acme")
    at = datetime(2026, 5, 11, 16, 0, tzinfo=UTC)
    window = TimeWindow.ending_at(NOW, DAY, "1d")
    emails = [
        wire_email(id="RESTID0001", sendTime=at, subject="one", toEmail="a@x", eventCategory=1110),
        wire_email(id="RESTID0002", sendTime=at, subject="two", toEmail="a@x", eventCategory=1110),
    ]
    rows = [
        {"id": "DQID00000001", "accountid": account.id, "at_utc": "2026-05-11T15:59:58.120Z"}
        | {"eventcategory": "1110", "to": "a@x", "subject": "one"}
    ]
    failures = AccountFailures(account=account, window=window, callouts=[], emails=emails)
    found: dict[NotificationKind, HistoryIds] = {"email": index_rows("email", rows, EMAIL_COLUMNS)}

    replaced = assign_ids(failures, found, tolerance=TOLERANCE, override=True)
    kept = assign_ids(failures, found, tolerance=TOLERANCE, override=False)

    assert [e.id for e in replaced.emails] == ["DQID00000001", None]
    assert replaced.emails[1].id_problem == NO_MATCH
    assert [e.id for e in kept.emails] == ["RESTID0001", "RESTID0002"]


# -- waiting, updating, failing -------------------------------------------------------------------


def test_slow_ids_leave_the_card_pending_then_arrive_through_the_callback(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    service, fake = make_service(tenant_without_ids, id_wait=0.2)
    fake.set_query_delay(1.0)
    delivered: list[AccountFailures] = []
    arrived = threading.Event()

    def deliver(updated: AccountFailures) -> None:
        delivered.append(updated)
        arrived.set()

    first = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK, defer_ids=True)
    coming = service.when_ids_resolved(first, deliver, track_id=TRACK)

    assert first.ids_pending and first.ids_error is None
    assert not any(e.id for e in first.emails) and not any(c.id for c in first.callouts)
    assert coming is True
    assert arrived.wait(10), "the resolved failures were never delivered"
    assert len(delivered) == 1
    updated = delivered[0]
    assert not updated.ids_pending and updated.ids_error is None
    assert_ids_are_the_tenants(tenant_without_ids, updated)
    assert [e.send_time for e in updated.emails] == [e.send_time for e in first.emails]
    assert len(jobs_submitted(fake)) == 2, "the callback reused the running lookup"


def test_without_defer_the_service_waits_for_slow_ids(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    service, fake = make_service(tenant_without_ids, id_wait=0.1)
    fake.set_query_delay(0.6)

    failures = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK)

    assert not failures.ids_pending
    assert_ids_are_the_tenants(tenant_without_ids, failures)


def test_resolved_failures_need_no_update(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    service, _ = make_service(tenant_without_ids)
    failures = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK, defer_ids=True)

    assert not failures.ids_pending

    def unexpected(updated: AccountFailures) -> None:
        pytest.fail("no update was due")

    assert service.when_ids_resolved(failures, unexpected, track_id=TRACK) is False


def test_a_failed_job_becomes_ids_error_and_is_retried_next_time(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    service, fake = make_service(tenant_without_ids)
    service.id_source(track_id=TRACK)  # learn the columns first: the lookup's own job fails
    fake.fail_next_query("Query exceeded the 300 s limit")

    failed = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK, defer_ids=True)

    assert failed.ids_error is not None and "Query exceeded the 300 s limit" in failed.ids_error
    assert not failed.ids_pending
    assert failed.emails and not any(e.id for e in failed.emails)
    assert not any(c.id for c in failed.callouts)

    again = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK, defer_ids=True)

    assert again.ids_error is None
    assert_ids_are_the_tenants(tenant_without_ids, again)
    assert len(jobs_submitted(fake)) == 3, "only the failed table is queried again"


def test_pending_then_failing_lookup_delivers_the_error(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    service, fake = make_service(tenant_without_ids, id_wait=0.1)
    service.id_source(track_id=TRACK)  # learn the columns first: the lookup's own job fails
    fake.set_query_delay(0.6)
    fake.fail_next_query("Insufficient Data Query capacity")
    delivered: list[AccountFailures] = []
    arrived = threading.Event()

    def deliver(updated: AccountFailures) -> None:
        delivered.append(updated)
        arrived.set()

    first = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK, defer_ids=True)
    service.when_ids_resolved(first, deliver, track_id=TRACK)

    assert first.ids_pending
    assert arrived.wait(10)
    assert delivered[0].ids_error is not None
    assert "Insufficient Data Query capacity" in delivered[0].ids_error
    assert not delivered[0].ids_pending


# -- the cache: refresh, paging and resend-all reuse the lookup ------------------------------------


def test_card_reads_reuse_the_lookup_for_the_same_window(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    service, fake = make_service(tenant_without_ids)
    failures = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK)
    card = failures.card_ref

    paged = service.failures_on_card(card, track_id=TRACK, fresh=False, defer_ids=True)
    refreshed = service.failures_on_card(card, track_id=TRACK, fresh=True, defer_ids=True)
    resend_all = service.failures_on_card(card, track_id=TRACK, fresh=True)

    for again in (paged, refreshed, resend_all):
        assert not again.ids_pending
        assert_ids_are_the_tenants(tenant_without_ids, again)
    assert len(jobs_submitted(fake)) == 2


def test_refresh_looks_again_when_new_rows_are_not_covered(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    service, fake = make_service(tenant_without_ids)
    failures = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK)
    card = failures.card_ref
    newest = max(
        (e for e in tenant_without_ids.emails if e.account_id == failures.account.id),
        key=lambda e: e.send_time,
    )
    late = dataclasses.replace(
        newest,
        id="8a" + "f" * 30,
        send_time=failures.window.end - timedelta(seconds=5),
        subject="Arrived after the first lookup",
        result="Failed",
        error_message="550 5.1.1 User unknown",
    )
    tenant_without_ids.add_email(late)
    fake.reindex()
    try:
        paged = service.failures_on_card(card, track_id=TRACK, fresh=False)
        refreshed = service.failures_on_card(card, track_id=TRACK, fresh=True)
    finally:
        tenant_without_ids.emails.remove(late)
        fake.reindex()

    assert len(jobs_submitted(fake)) >= 3
    assert paged.emails == failures.emails, "paging reads the cached rows and ids"
    new_row = next(e for e in refreshed.emails if e.subject == late.subject)
    assert new_row.id == late.id


def test_rest_ids_mean_no_data_query_job_whatever_earlier_cards_saw(
    make_service: ServiceFactory,
) -> None:
    tenant = build_tenant(seed=3, now=NOW, rest_ids=False)
    service, fake = make_service(tenant)
    earlier = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK)
    assert jobs_submitted(fake), "the first card's rows had no ids, so it looked them up"
    assert_ids_are_the_tenants(tenant, earlier)
    tenant.rest_ids = True  # the same tenant now lists ids (REST disproves "no ids")
    fake.reset_log()
    submitted_before = fake.query_jobs_submitted

    for account in ("A00000002", "A00000003", BIG):
        failures = service.failures_for(account, 7 * DAY, "7d", track_id=TRACK, defer_ids=True)
        assert not failures.ids_pending and failures.ids_error is None
        assert all(e.id for e in failures.emails) and all(c.id for c in failures.callouts)

    assert fake.requests("/query") == []
    assert fake.query_jobs_submitted == submitted_before


def test_columns_are_learned_once_with_show_columns_and_cached(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    service, fake = make_service(tenant_without_ids)
    service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK)
    service.failures_for("A00000002", 2 * DAY, "2d", track_id=TRACK)

    assert sorted(schema_jobs(fake)) == [
        "SHOW COLUMNS FROM notificationhistorycallout",
        "SHOW COLUMNS FROM notificationhistoryemail",
    ]


def test_without_show_columns_a_one_row_query_names_the_columns(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    service, fake = make_service(tenant_without_ids, fake_options={"show_columns": False})

    failures = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK)

    assert_ids_are_the_tenants(tenant_without_ids, failures)
    assert sorted(q for q in schema_jobs(fake) if q.startswith("SELECT")) == [
        "SELECT * FROM notificationhistorycallout LIMIT 1",
        "SELECT * FROM notificationhistoryemail LIMIT 1",
    ]


def test_a_tenant_without_some_match_columns_still_gets_ids(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    hidden = {
        "notificationhistoryemail": ("Subject", "EventCategory"),
        "notificationhistorycallout": ("RequestUrl", "AttemptNumber"),  # BYOK hides RequestUrl
    }
    service, fake = make_service(tenant_without_ids, fake_options={"hidden_columns": hidden})

    failures = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK)
    status = service.id_source(track_id=TRACK)

    queries = [r.json()["query"] for r in jobs_submitted(fake)]
    assert queries and not any("Subject" in q or "AttemptNumber" in q for q in queries)
    assert_ids_are_the_tenants(tenant_without_ids, failures)
    email_table = next(t for t in status.tables if t.table == "notificationhistoryemail")
    assert "subject" not in email_table.columns and "to" in email_table.columns
    assert email_table.missing == () and email_table.error is None


def test_status_reports_the_id_source_columns_and_match_counts(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    service, fake = make_service(tenant_without_ids)
    failures = service.failures_for(BIG, 2 * DAY, "2d", track_id=TRACK)

    status = service.id_source(track_id=TRACK)

    assert status.mode == "auto" and status.rest_ids_seen is False
    tables = {t.table: t for t in status.tables}
    assert set(tables["notificationhistoryemail"].columns) == {
        "id",
        "accountid",
        "contactid",
        "notificationid",
        "objectid",
        "createdon",
        "createdbyid",
        "eventcategory",
        "eventname",
        "subject",
        "to",
        "cc",
        "bcc",
        "replyto",
        "sender",
        "status",
        "errormessage",
    }
    assert "createtime" in tables["notificationhistorycallout"].columns
    assert all(t.source == "SHOW COLUMNS" and t.error is None for t in status.tables)
    assert status.stats["email"].matched == len(failures.emails)
    lookalikes = [c for c in failures.callouts if c.response_code.startswith("2")]
    assert status.stats["callout"].matched == len(failures.callouts) - len(lookalikes)
    assert status.stats["callout"].unmatched == len(lookalikes)
    assert schema_jobs(fake).count("SHOW COLUMNS FROM notificationhistoryemail") == 2


def test_status_says_when_the_columns_cannot_be_learned(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    service, fake = make_service(tenant_without_ids)
    fake.fail_next_query("Insufficient Data Query capacity")
    fake.fail_next_query("Insufficient Data Query capacity")
    fake.fail_next_query("Insufficient Data Query capacity")
    fake.fail_next_query("Insufficient Data Query capacity")

    status = service.id_source(track_id=TRACK)

    assert status.rest_ids_seen is None
    assert all(
        t.error is not None and "Insufficient Data Query capacity" in t.error for t in status.tables
    )


def test_lookups_never_run_more_jobs_than_the_process_budget(
    make_service: ServiceFactory, tenant_without_ids: Tenant
) -> None:
    service, fake = make_service(tenant_without_ids, max_query_jobs=2)
    fake.set_query_delay(0.3)
    accounts = [f"A{n:08d}" for n in range(2, 8)]
    threads = [
        threading.Thread(
            target=service.failures_for, args=(a, 2 * DAY, "2d"), kwargs={"track_id": TRACK}
        )
        for a in accounts
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(jobs_submitted(fake)) >= len(accounts)
    assert fake.max_active_queries <= 2


def test_matching_emails_needs_one_record_each_way_within_the_tolerance() -> None:
    account = Account(id="8A" + "1" * 30, number="A1", name="Acme")
    at = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)  # 01:30 PDT, the first of two 01:30s
    later = at + timedelta(hours=1)  # 01:30 PST: the same wall clock, an hour apart
    window = TimeWindow.ending_at(NOW, DAY, "1d")

    def email(when: datetime, subject: str, to: str = "a@x") -> EmailHistory:
        return wire_email(
            accountId=account.id, sendTime=when, subject=subject, toEmail=to, eventCategory="1110"
        )

    def row(
        id_: str, when: datetime, subject: str, to: str = "a@x", **extra: object
    ) -> dict[str, object]:
        iso = when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        base: dict[str, object] = {"id": id_, "accountid": account.id.lower(), "at_utc": iso}
        return base | {"eventcategory": "1110", "to": to, "subject": subject} | extra

    emails = [
        email(at, "first"),
        email(later, "first"),
        email(at, "twins"),
        email(at, "x", "b@x"),
        email(at, "late"),
        email(at, "Shared"),
        email(at + timedelta(seconds=4), "shared"),
    ]
    rows = [
        row("ID00000001", at - timedelta(seconds=2.5), "first"),  # CreatedOn before sendTime
        row("ID00000002", later - timedelta(seconds=1), "FIRST"),  # case differs
        row("ID00000003", at, "twins"),
        row("ID00000004", at - timedelta(seconds=1), "twins"),  # two records fit one row
        row("ID00000005", at, "x", to="c@x"),  # another recipient
        row("ID00000006", at - timedelta(seconds=11), "late"),  # beyond the 10 s tolerance
        row("ID00000007", at + timedelta(seconds=2), "shared"),  # fits both "shared" rows
        row("bad id!", at, "x", to="b@x"),
    ]
    failures = AccountFailures(account=account, window=window, callouts=[], emails=emails)

    matched = assign_ids(
        failures,
        {"email": index_rows("email", rows, EMAIL_COLUMNS)},
        tolerance=TOLERANCE,
        override=False,
    )

    ids = [e.id for e in matched.emails]
    assert ids == ["ID00000001", "ID00000002", None, None, None, None, None]
    problems = [e.id_problem for e in matched.emails]
    assert problems[:2] == [None, None]
    assert problems[2] == AMBIGUOUS.format(count=2)
    assert problems[3] == NO_MATCH and problems[4] == NO_MATCH
    assert problems[5] == SHARED and problems[6] == SHARED


def test_matching_callouts_uses_object_category_attempt_code_and_time() -> None:
    account = Account(id="8a" + "2" * 30, number="A1", name="Acme")
    window = TimeWindow.ending_at(NOW, DAY, "1d")
    at = datetime(2026, 5, 11, 16, 0, 5, tzinfo=UTC)

    def callout(obj: str, attempt: int, code: int) -> CalloutHistory:
        context = {"<Object.ID>": obj, "<Account.ID>": account.id, "<Event.ID>": "ignored"}
        return wire_callout(
            createTime=at,
            eventContext=context,
            eventCategory=1210,
            attemptedNum=attempt,
            responseCode=code,
        )

    def row(id_: str, obj: str, attempt: int, code: str) -> dict[str, object]:
        when = (at + timedelta(seconds=0.4)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return {
            "id": id_,
            "accountid": account.id,
            "at_utc": when,
            "objectid": obj,
            "eventcategory": "1210",
            "attemptnumber": attempt,
            "responsecode": code,
        }

    callouts = [callout("obj1", 1, 500), callout("obj1", 2, 500), callout("obj2", 1, 503)]
    rows = [
        row("CID0000001", "obj1", 1, "500"),
        row("CID0000002", "obj1", 2, "500"),
        row("CID0000003", "obj2", 1, "500"),  # another response code: not this attempt
        row("CID0000004", "obj3", 1, "503"),
    ]
    failures = AccountFailures(account=account, window=window, callouts=callouts, emails=[])

    matched = assign_ids(
        failures,
        {"callout": index_rows("callout", rows, CALLOUT_COLUMNS)},
        tolerance=TOLERANCE,
        override=False,
    )

    assert [c.id for c in matched.callouts] == ["CID0000001", "CID0000002", None]
    assert matched.callouts[2].id_problem == NO_MATCH
    assert matched.callouts[0].resendable and not matched.callouts[2].resendable


def test_rows_keep_rest_ids_and_no_other_row_takes_them() -> None:
    account = Account(id="8a" + "4" * 30, number="A1", name="Acme")
    at = datetime(2026, 5, 11, 16, 0, tzinfo=UTC)
    emails = [
        wire_email(id="IDREST0001", sendTime=at, subject="s", toEmail="a@x", eventCategory=1110),
        wire_email(sendTime=at, subject="s", toEmail="a@x", eventCategory=1110),
    ]
    same = {"subject": "s", "to": "a@x", "eventcategory": "1110"}
    rows = [
        {"id": "IDREST0001", "at_utc": "2026-05-11T16:00:00.000Z"} | same,
        {"id": "IDDQ000002", "at_utc": "2026-05-11T15:59:59.000Z"} | same,
    ]
    failures = AccountFailures(
        account=account, window=TimeWindow.ending_at(NOW, DAY, "1d"), callouts=[], emails=emails
    )
    matched = assign_ids(
        failures,
        {"email": index_rows("email", rows, EMAIL_COLUMNS)},
        tolerance=TOLERANCE,
        override=False,
    )
    assert [e.id for e in matched.emails] == ["IDREST0001", "IDDQ000002"]


def test_resolver_kinds_follow_the_mode() -> None:
    class Stub:
        settings = ZuoraSettings(_env_file=None, client_id="id-1", client_secret="secret-1")

    account = Account(id="8a" + "3" * 30, number="A1", name="Acme")
    at = datetime(2026, 5, 11, 16, 0, tzinfo=UTC)
    with_id = wire_email(id="RESTID0001", sendTime=at)
    without = wire_callout(createTime=at)
    failures = AccountFailures(
        account=account,
        window=TimeWindow.ending_at(NOW, DAY, "1d"),
        callouts=[without],
        emails=[with_id],
    )

    def kinds(mode: str) -> frozenset[str]:
        resolver = HistoryIdResolver(Stub(), mode=mode)  # type: ignore[arg-type]
        return frozenset(resolver.kinds_needed(failures))

    assert kinds("auto") == {"callout"}
    assert kinds("data-query") == {"callout", "email"}
    assert kinds("rest") == frozenset()


# -- tenant time zone -----------------------------------------------------------------------------


def local_span(piece: TimeWindow) -> timedelta:
    start = piece.start.astimezone(LA).replace(tzinfo=None)
    end = piece.end.astimezone(LA).replace(tzinfo=None)
    return end - start


def assert_slices_cover(window: TimeWindow, pieces: list[TimeWindow]) -> None:
    assert pieces[0].start == window.start and pieces[-1].end == window.end
    assert all(a.end == b.start for a, b in zip(pieces, pieces[1:], strict=False))


def test_split_across_spring_forward_keeps_every_slice_within_three_local_days() -> None:
    # 2026-03-08 02:00 PST -> 03:00 PDT in Los Angeles.
    window = TimeWindow(
        start=datetime(2026, 3, 6, 20, 0, tzinfo=UTC),  # 12:00 PST
        end=datetime(2026, 3, 16, 19, 0, tzinfo=UTC),
        label="10d",
    )

    naive = window.split(EMAIL_SLICE)
    pieces = window.split(EMAIL_SLICE, tz=LA)

    assert local_span(naive[0]) == EMAIL_SLICE + timedelta(hours=1), "the bug being fixed"
    assert_slices_cover(window, pieces)
    assert all(p.end - p.start <= EMAIL_SLICE for p in pieces)
    assert all(local_span(p) <= EMAIL_SLICE for p in pieces)
    assert pieces[0].end - pieces[0].start == EMAIL_SLICE - timedelta(hours=1)
    assert local_span(pieces[0]) == EMAIL_SLICE


def test_split_across_fall_back_never_exceeds_three_days_on_either_clock() -> None:
    # 2026-11-01 02:00 PDT -> 01:00 PST: the local clock repeats an hour.
    window = TimeWindow(
        start=datetime(2026, 10, 30, 19, 0, tzinfo=UTC),  # 12:00 PDT
        end=datetime(2026, 11, 9, 20, 0, tzinfo=UTC),
        label="10d",
    )

    pieces = window.split(EMAIL_SLICE, tz=LA)

    assert_slices_cover(window, pieces)
    assert all(p.end - p.start <= EMAIL_SLICE for p in pieces)
    assert all(local_span(p) <= EMAIL_SLICE for p in pieces)
    # Real time is the tighter limit here: the slice over the change is 3 days, 71 local hours.
    assert pieces[0].end - pieces[0].start == EMAIL_SLICE
    assert local_span(pieces[0]) == EMAIL_SLICE - timedelta(hours=1)


def test_split_with_slices_shorter_than_the_jump_still_covers_the_window() -> None:
    window = TimeWindow(
        start=datetime(2026, 3, 8, 9, 0, tzinfo=UTC),  # 01:00 PST
        end=datetime(2026, 3, 8, 12, 0, tzinfo=UTC),
        label="3h",
    )

    pieces = window.split(timedelta(minutes=30), tz=LA)

    assert_slices_cover(window, pieces)
    assert all(p.end - p.start <= timedelta(minutes=30) for p in pieces)


def window_params(fake: FakeZuora, path: str) -> list[tuple[str, str]]:
    """The distinct (startTime, endTime) pairs the fake received on `path`, oldest first."""
    found = {(r.query["startTime"][0], r.query["endTime"][0]) for r in fake.requests(path)}
    return sorted(found)


@pytest.mark.parametrize(
    ("now", "change"),
    [
        (datetime(2026, 3, 12, 19, 0, tzinfo=UTC), "spring forward"),
        (datetime(2026, 11, 4, 20, 0, tzinfo=UTC), "fall back"),
    ],
)
def test_client_windows_are_sent_on_the_tenant_clock_across_dst(now: datetime, change: str) -> None:
    tenant = build_tenant(seed=9, now=now, days=8, callouts_per_day=20, emails_per_day=30)
    window = TimeWindow.ending_at(now, timedelta(days=7), "7d")
    with FakeZuora(tenant, clock=lambda: now) as fake:
        settings = ZuoraSettings(
            _env_file=None,
            base_url=fake.base_url,
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            cache_ttl=0,
        )
        with ZuoraClient.from_settings(settings) as client:
            account = client.get_account(BIG, track_id=TRACK)
            callouts, emails = client.failures_for(account, window, track_id=TRACK)

        spans = window_params(fake, "/v1/notification-history/email")

    fmt = "%Y-%m-%dT%H:%M:%S"
    assert spans[0][0] == window.start.astimezone(LA).strftime(fmt), change
    assert spans[-1][1] == window.end.astimezone(LA).strftime(fmt)
    for start, end in spans:
        local = datetime.strptime(end, fmt) - datetime.strptime(start, fmt)
        real = tenant.from_local(end) - tenant.from_local(start)
        assert local <= EMAIL_SLICE and real <= EMAIL_SLICE, (start, end)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    expected = {
        e.id
        for e in tenant.emails
        if e.account_id == account.id and e.failed and window.start <= e.send_time < window.end
    }
    assert {e.id for e in emails} == expected and expected
    assert len(emails) == len(expected), "no email lost or listed twice at the change"
