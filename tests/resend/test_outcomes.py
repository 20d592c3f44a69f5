"""The "did it work?" rule (a guess, bot.resend.outcomes): which new record is a resend's, and what
it says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.resend.outcome_cards import summary, verdict
from bot.resend.outcomes import apply_records, callout_match, email_match
from bot.store.watch_records import WatchItem
from bot.zuora.models import CalloutHistory, EmailHistory

T0 = datetime(2026, 12, 6, 10, 2, tzinfo=UTC)
ORIGINAL_ID = "a" * 32


def email(
    at: datetime, *, result: str = "OK", error: str | None = None, **over: Any
) -> EmailHistory:
    fields = {
        "id": "e" * 32,
        "accountId": "b" * 32,
        "eventCategory": 1110,
        "toEmail": "ap@x.example",
        "subject": "Invoice INV1 is available",
        "sendTime": at.replace(tzinfo=None).isoformat(),
        "result": result,
        "errorMessage": error,
        **over,
    }
    return EmailHistory.model_validate(fields)


def callout(at: datetime, code: int, **over: Any) -> CalloutHistory:
    fields = {
        "id": "c" * 32,
        "createTime": at.replace(tzinfo=None).isoformat(),
        "eventCategory": 1210,
        "eventContext": {"<Event.ID>": "ev1"},
        "requestUrl": "https://hooks.x.example/zuora",
        "responseCode": code,
        **over,
    }
    return CalloutHistory.model_validate(fields)


def item(record: EmailHistory | CalloutHistory) -> WatchItem:
    match = email_match(record) if isinstance(record, EmailHistory) else callout_match(record)
    return WatchItem(ORIGINAL_ID, match=match)


def test_email_delivered_by_a_new_ok_record_after_the_resend() -> None:
    original = email(T0 - timedelta(hours=1), result="Failed", error="550 5.1.1 user unknown")
    (done,) = apply_records(
        [item(original)], [original, email(T0 + timedelta(seconds=5))], since=T0
    )
    assert (done.state, done.at) == ("delivered", T0 + timedelta(seconds=5))
    assert summary([done], plain=True) == "delivered 10:02 UTC"


def test_the_newest_matching_record_decides_and_the_original_never_counts() -> None:
    original = email(T0, result="Failed", error="550", id=ORIGINAL_ID)
    records = [
        original,
        email(
            T0 + timedelta(seconds=5),
            result="Failed",
            error="550 5.1.1 <ap@x.example>... User unknown",
        ),
    ]
    (done,) = apply_records([item(original)], records, since=T0)
    assert (done.state, done.detail) == ("failed", "550 5.1.1 User unknown")


def test_another_recipient_or_subject_is_not_the_resend() -> None:
    original = email(T0 - timedelta(hours=1))
    others = [
        email(T0 + timedelta(seconds=5), toEmail="other@x.example"),
        email(T0 + timedelta(seconds=5), subject="Invoice INV2 is available"),
        email(T0 - timedelta(seconds=1)),  # before the resend
    ]
    (done,) = apply_records([item(original)], others, since=T0)
    assert done.state == "pending"
    assert verdict([done]) == "none" and summary([done]) == "no outcome yet"


def test_callout_matched_by_event_id_and_url_2xx_delivered() -> None:
    original = callout(T0 - timedelta(hours=1), 503)
    moved = callout(T0 + timedelta(seconds=5), 200, requestUrl="https://elsewhere.example/")
    (pending,) = apply_records([item(original)], [moved], since=T0)
    assert pending.state == "pending", "same event, another endpoint: not this resend"
    (done,) = apply_records([item(original)], [callout(T0 + timedelta(seconds=5), 204)], since=T0)
    assert done.state == "delivered"
    (failed,) = apply_records([item(original)], [callout(T0 + timedelta(seconds=5), -1)], since=T0)
    assert (failed.state, failed.detail) == ("failed", "no response (-1)")


def test_unfound_original_never_matches() -> None:
    (done,) = apply_records(
        [WatchItem(ORIGINAL_ID, match={})], [email(T0 + timedelta(seconds=5))], since=T0
    )
    assert done.state == "pending"
