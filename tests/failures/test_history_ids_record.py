"""The right record: Data Query lookups keep to failed rows, and a value missing on either side of a
match is a mismatch, so a lagging row's look-alike never lends a row its id.

The service tests run the real NotificationService and ZuoraClient over loopback HTTP against a
small hand-made sandbox tenant whose Data Query can be told to lag behind the REST history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.actions import ActionId
from bot.failures.cards import build_failures_card
from bot.failures.id_matching import (
    DELIVERED_LOOKALIKE,
    MISSING,
    NO_MATCH,
    assign_ids,
    index_rows,
    match_records,
    unmatchable,
)
from bot.failures.results import AccountFailures
from bot.failures.service import NotificationService
from bot.sandbox.fake_dataquery import CALLOUT_TABLE, EMAIL_TABLE, Query, QueryError, Table
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import FakeAccount, FakeCallout, FakeEmail, Tenant
from bot.settings import ZuoraSettings
from bot.zuora.client import ZuoraClient
from bot.zuora.models import Account, CalloutHistory, EmailHistory, TimeWindow

NOW = datetime(2026, 5, 11, 17, 0, tzinfo=UTC)
AT = datetime(2026, 5, 11, 15, 0, tzinfo=UTC)
DAY = timedelta(days=1)
TRACK = "zops-record-test"
UI_URL = "https://apisandbox.zuora.com"
ACCOUNT = FakeAccount(id="8a" + "1" * 30, number="A00000001", name="Acme Corp")
OTHER = FakeAccount(id="8a" + "2" * 30, number="A00000002", name="Other Inc")
FAILED_EMAIL = "8ae" + "0" * 28 + "1"
DELIVERED_EMAIL = "8ae" + "0" * 28 + "2"
BARE_CALLOUT = "8ac" + "0" * 28 + "1"
OTHER_INVOICE_CALLOUT = "8ac" + "0" * 28 + "2"
TOLERANCE = timedelta(seconds=10)


def email(id_: str, when: datetime, *, result: str) -> FakeEmail:
    return FakeEmail(
        id=id_,
        send_time=when,
        account_id=ACCOUNT.id,
        event_category=1110,
        notification="Invoice Posted",
        to_email="billing@acme.example",
        subject="Invoice INV00001234 is available",
        error_message=None if result == "OK" else "550 5.1.1 User unknown",
        result=result,
    )


def callout(
    id_: str, when: datetime, object_id: str, *, context: dict[str, str] | None = None
) -> FakeCallout:
    return FakeCallout(
        id=id_,
        create_time=when,
        event_category=1110,
        notification="Invoice Posted",
        request_url="https://hooks.acme.example/zuora/invoice",
        response_code=500,
        attempted_num=1,
        response_content="oops",
        event_id="8ab" + id_[3:],
        object_id=object_id,
        account=ACCOUNT,
        context_override=context,
    )


@pytest.fixture
def tenant() -> Tenant:
    """A failed email with a delivered twin 4 s later, and two invoices' failed callouts."""
    bare_context = {"<Account.ID>": ACCOUNT.id, "<Event.ID>": "8ab" + BARE_CALLOUT[3:]}
    return Tenant(
        now=NOW,
        accounts=[ACCOUNT, OTHER],
        emails=[
            email(FAILED_EMAIL, AT, result="Failed"),
            email(DELIVERED_EMAIL, AT + timedelta(seconds=4), result="OK"),
        ],
        callouts=[
            # Zuora's record lacks <Object.ID>; its Data Query row has one.
            callout(BARE_CALLOUT, AT, "8a0b" + "1" * 28, context=bare_context),
            # Another invoice's failed callout 3 s later, whose REST record is fine.
            callout(OTHER_INVOICE_CALLOUT, AT + timedelta(seconds=3), "8a0b" + "2" * 28),
        ],
        rest_ids=False,
    )


@pytest.fixture
def service_and_fake(tenant: Tenant) -> Iterator[tuple[NotificationService, FakeZuora]]:
    fake = FakeZuora(tenant, clock=lambda: NOW).start()
    settings = ZuoraSettings(
        _env_file=None,  # type: ignore[call-arg]
        base_url=fake.base_url,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        result_file_hosts=fake.files_base_url,
        retry_max_delay=0.05,
    )
    service = NotificationService(ZuoraClient.from_settings(settings), now=lambda: NOW)
    yield service, fake
    service.close()
    fake.stop()


def lookups(fake: FakeZuora, table: str) -> list[str]:
    """The ID lookups the sandbox received for one table (schema queries left out)."""
    return [
        q for q in fake.queries_submitted if q.startswith("SELECT Id,") and f"FROM {table} " in q
    ]


def row_texts(failures: AccountFailures) -> tuple[str, list[str]]:
    """The card as JSON text, and its rows' resend controls ("email"/"callout" per Resend)."""
    message = build_failures_card(failures, ui_url=UI_URL)
    resends: list[str] = []
    for block in message.blocks:
        accessory = block.get("accessory") or {}
        if accessory.get("action_id") == ActionId.RESEND_EMAIL:
            resends.append("email")
        for option in accessory.get("options", []):
            if option["text"]["text"] == "Resend":
                resends.append("callout")
    return json.dumps(message.blocks), resends


# -- through the sandbox ----------------------------------------------------------------------------


def test_lagging_row_email_gets_no_id_from_its_delivered_twin(
    service_and_fake: tuple[NotificationService, FakeZuora],
) -> None:
    service, fake = service_and_fake
    fake.lag_data_query(FAILED_EMAIL)  # Data Query has not caught up with the failed email yet

    failures = service.failures_for(ACCOUNT.number, DAY, "1d", track_id=TRACK)

    [row] = failures.emails
    assert row.id is None and row.id_problem == NO_MATCH
    text, actions = row_texts(failures)
    assert DELIVERED_EMAIL not in text and "email" not in actions
    assert "No resend ID: no Data Query record matches it yet" in text
    [query] = lookups(fake, "notificationhistoryemail")
    assert query.endswith(" AND Status <> 'OK'")


def test_lagging_row_email_gets_its_own_id_once_data_query_catches_up(
    service_and_fake: tuple[NotificationService, FakeZuora],
) -> None:
    service, fake = service_and_fake

    failures = service.failures_for(ACCOUNT.number, DAY, "1d", track_id=TRACK)

    assert [e.id for e in failures.emails] == [FAILED_EMAIL]


def test_only_failed_callout_rows_are_queried(
    service_and_fake: tuple[NotificationService, FakeZuora], tenant: Tenant
) -> None:
    service, fake = service_and_fake
    delivered = callout("8ac" + "0" * 28 + "3", AT + timedelta(seconds=1), "8a0b" + "3" * 28)
    delivered.response_code, delivered.failed = 200, False
    tenant.add_callout(delivered)
    fake.reindex()

    service.failures_for(ACCOUNT.number, DAY, "1d", track_id=TRACK)

    [query] = lookups(fake, "notificationhistorycallout")
    assert query.endswith(" AND CAST(ResponseCode AS varchar) NOT LIKE '2__'")
    rows = fake_rows(fake, query)
    assert delivered.id not in rows and OTHER_INVOICE_CALLOUT in rows


def fake_rows(fake: FakeZuora, query: str) -> set[str]:
    """The ids the sandbox's Data Query answers `query` with (run again through the client)."""
    settings = ZuoraSettings(
        _env_file=None,  # type: ignore[call-arg]
        base_url=fake.base_url,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        result_file_hosts=fake.files_base_url,
    )
    with ZuoraClient.from_settings(settings) as client:
        return {str(row["id"]) for row in client.run_query(query, track_id=TRACK)}


def test_callout_without_object_id_gets_no_button_and_says_why(
    service_and_fake: tuple[NotificationService, FakeZuora],
) -> None:
    service, fake = service_and_fake
    fake.lag_data_query(BARE_CALLOUT)

    failures = service.failures_for(ACCOUNT.number, DAY, "1d", track_id=TRACK)

    by_event = {c.event_id: c for c in failures.callouts}
    bare = by_event["8ab" + BARE_CALLOUT[3:]]
    other = by_event["8ab" + OTHER_INVOICE_CALLOUT[3:]]
    assert bare.id is None and bare.id_problem == MISSING.format(fields="<Object.ID>")
    assert other.id == OTHER_INVOICE_CALLOUT  # the other invoice keeps its own id, once
    text, actions = row_texts(failures)
    assert actions.count("callout") == 1
    assert "No resend ID: Zuora's record has no &lt;Object.ID&gt;" in text


# -- matching rules -----------------------------------------------------------------------------------


ACME = Account(id=ACCOUNT.id, number=ACCOUNT.number, name=ACCOUNT.name)
WINDOW = TimeWindow.ending_at(NOW, DAY, "1d")
CALLOUT_COLUMNS = {
    "id",
    "accountid",
    "createtime",
    "objectid",
    "eventcategory",
    "attemptnumber",
    "responsecode",
}
EMAIL_COLUMNS = {"id", "accountid", "createdon", "eventcategory", "to", "subject", "status"}


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def rest_callout(context: dict[str, str], code: object = 500) -> CalloutHistory:
    return CalloutHistory.model_validate(
        {
            "createTime": AT,
            "eventContext": {"<Account.ID>": ACME.id, **context},
            "eventCategory": 1110,
            "attemptedNum": 1,
            "responseCode": code,
        }
    )


def callout_row(id_: str, object_id: str | None, code: str = "500") -> dict[str, object]:
    return {
        "id": id_,
        "accountid": ACME.id,
        "at_utc": iso(AT + timedelta(seconds=3)),
        "objectid": object_id,
        "eventcategory": "1110",
        "attemptnumber": 1,
        "responsecode": code,
    }


def test_matching_callout_without_object_id_never_takes_another_invoices_id() -> None:
    records = [rest_callout({})]
    found = index_rows(
        "callout", [callout_row(OTHER_INVOICE_CALLOUT, "8a0b" + "2" * 28)], CALLOUT_COLUMNS
    )

    [match] = match_records(records, found, tolerance=TOLERANCE)

    assert match.id is None and match.problem == MISSING.format(fields="<Object.ID>")


def test_matching_a_row_missing_a_value_disqualifies_it() -> None:
    records = [rest_callout({"<Object.ID>": "8a0b" + "2" * 28})]
    found = index_rows("callout", [callout_row(OTHER_INVOICE_CALLOUT, None)], CALLOUT_COLUMNS)

    [match] = match_records(records, found, tolerance=TOLERANCE)

    assert match.id is None and match.problem == NO_MATCH


def test_matching_email_status_must_agree() -> None:
    record = EmailHistory.model_validate(
        {
            "accountId": ACME.id,
            "sendTime": AT,
            "eventCategory": 1110,
            "toEmail": "billing@acme.example",
            "subject": "s",
            "result": "Failed",
        }
    )
    base = {
        "accountid": ACME.id,
        "eventcategory": "1110",
        "to": "billing@acme.example",
        "subject": "s",
    }
    rows = [
        {"id": DELIVERED_EMAIL, "at_utc": iso(AT + timedelta(seconds=4)), "status": "OK"} | base,
        {"id": "8ae" + "0" * 28 + "9", "at_utc": iso(AT), "status": None} | base,
    ]
    failures = AccountFailures(account=ACME, window=WINDOW, callouts=[], emails=[record])

    matched = assign_ids(
        failures,
        {"email": index_rows("email", rows, EMAIL_COLUMNS)},
        tolerance=TOLERANCE,
        override=False,
    )

    assert matched.emails[0].id is None and matched.emails[0].id_problem == NO_MATCH


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        (
            EmailHistory.model_validate(
                {"sendTime": AT, "eventCategory": 1110, "subject": "s", "result": "Failed"}
            ),
            MISSING.format(fields="recipient"),
        ),
        (
            EmailHistory.model_validate(
                {"sendTime": AT, "eventCategory": 1110, "toEmail": "a@x", "subject": "s"}
            ),
            MISSING.format(fields="result"),
        ),
        (
            rest_callout({"<Object.ID>": "o1"}, code=None),
            MISSING.format(fields="response code"),
        ),
        (rest_callout({}, code=None), MISSING.format(fields="<Object.ID> or response code")),
        (rest_callout({"<Object.ID>": "o1"}, code=200), DELIVERED_LOOKALIKE.format(code="200")),
        (rest_callout({"<Object.ID>": "o1"}, code=500), None),
    ],
)
def test_unmatchable_names_what_the_record_lacks(
    record: EmailHistory | CalloutHistory, problem: str | None
) -> None:
    columns = EMAIL_COLUMNS if isinstance(record, EmailHistory) else CALLOUT_COLUMNS
    used = index_rows(
        "email" if isinstance(record, EmailHistory) else "callout", [], columns
    ).columns

    assert unmatchable(record, used) == problem


def test_sandbox_data_query_casts_to_varchar_and_matches_like_patterns(tenant: Tenant) -> None:
    tables = {name: Table(name) for name in (EMAIL_TABLE, CALLOUT_TABLE)}
    tenant.callouts[1].response_code = 204
    casted = Query(
        "SELECT Id FROM notificationhistorycallout "
        "WHERE CAST(AttemptNumber AS varchar) LIKE '1' AND CAST(ResponseCode AS varchar) NOT LIKE '2__'",
        tables,
    )

    assert [row["id"] for row in casted.run(tenant.callouts)] == [BARE_CALLOUT]
    with pytest.raises(QueryError, match="Cannot apply operator: integer LIKE varchar"):
        Query("SELECT Id FROM notificationhistorycallout WHERE AttemptNumber LIKE '1'", tables)
