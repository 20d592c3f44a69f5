"""Grouping failures by cause: endpoints with IDs folded, mail errors without addresses, the fold of
a stream into per-cause counters, and the text sparkline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.outages.causes import (
    OutageScan,
    callout_cause,
    email_cause,
    endpoint_of,
    hourly_series,
    normalise_mail_error,
    sparkline,
)
from bot.zuora.models import CalloutHistory, EmailHistory

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def callout(
    url: str, code: object, at: datetime = T0, account: str = "A1", **extra: object
) -> CalloutHistory:
    return CalloutHistory.model_validate(
        {
            "createTime": at,
            "requestUrl": url,
            "responseCode": code,
            "eventContext": {"<Account.ID>": account},
            **extra,
        }
    )


def email(
    error: str | None, at: datetime = T0, account: str = "A1", **extra: object
) -> EmailHistory:
    return EmailHistory.model_validate(
        {"sendTime": at, "errorMessage": error, "accountId": account, **extra}
    )


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        (
            "https://Hooks.Acme.example/zuora/invoice?token=s3cret#x",
            "hooks.acme.example/zuora/invoice",
        ),
        (
            "https://user:pw@api.example:8443/v2/orders/123456/notify",
            "api.example:8443/v2/orders/*/notify",
        ),
        ("https://api.example/acct/8a1738f73d9c172411e20b8f6b0d549b", "api.example/acct/*"),
        ("https://api.example/", "api.example/"),
        ("", "(no URL)"),
        ("http://[::1", "(unreadable URL)"),
    ],
)
def test_endpoint_folds_ids_and_drops_secrets(url: str, endpoint: str) -> None:
    assert endpoint_of(url) == endpoint


def test_callouts_to_one_endpoint_and_code_share_a_cause() -> None:
    a, label = callout_cause(callout("https://h.example/orders/1/hook?sig=a", 503))
    b, _ = callout_cause(callout("https://h.example/orders/2/hook?sig=b", "503"))
    c, _ = callout_cause(callout("https://h.example/orders/2/hook", 500))
    silent, silent_label = callout_cause(callout("https://h.example/orders/2/hook", -1))
    assert a == b and a != c and a.id == b.id and len(a.id) == 10
    assert label == "h.example/orders/*/hook → HTTP 503"
    assert silent_label.endswith("→ no response")


@pytest.mark.parametrize(
    ("error", "normalised"),
    [
        (
            "550 5.1.1 <ap@tailspin.example>: Recipient address rejected: User unknown",
            "550 5.1.1 recipient address rejected: user unknown",
        ),
        (
            "550-5.1.1 The email account that you tried to reach (billing@acme.example) does not exist",
            "550 5.1.1 the email account that you tried to reach ( ) does not exist",
        ),
        (
            "421 4.7.0 Try again later, closing connection. [id 83h2k3]",
            "421 4.7.0 try again later, closing connection",
        ),
        ("Mailbox full for x@y.example", "mailbox full for"),
        (None, "no error text from the mail server"),
    ],
)
def test_mail_errors_lose_addresses_and_numbers(error: str | None, normalised: str) -> None:
    assert normalise_mail_error(error) == normalised


def test_the_same_bounce_for_two_recipients_is_one_cause() -> None:
    first, _ = email_cause(email("550 5.1.1 <a@x.example>: Recipient address rejected"))
    second, _ = email_cause(email("550 5.1.1 <b@y.example>: Recipient address rejected"))
    other, _ = email_cause(email("552 5.2.2 <b@y.example>: Mailbox full"))
    assert first == second != other


def test_scan_counts_accounts_times_ids_and_sorts_biggest_then_newest() -> None:
    scan = OutageScan()
    url = "https://down.example/hook"
    for i in range(5):
        scan.add_callout(
            callout(url, 503, T0 + timedelta(minutes=20 * i), account=f"A{i % 3}", id=f"C{i:09d}")
        )
    scan.add_callout(callout(url, 503, T0 + timedelta(hours=3), account="A9"))  # no REST id
    scan.add_email(email("550 5.1.1 <a@x.example>: User unknown", T0 + timedelta(hours=5), id="E1"))
    scan.add_email(email("550 5.1.1 <b@x.example>: User unknown", T0 + timedelta(hours=6), id="E2"))

    down, bounce = scan.groups()

    assert scan.callouts == 6 and scan.emails == 2
    assert down.count == 6 and down.account_count == 4
    assert down.first_at == T0 and down.last_at == T0 + timedelta(hours=3)
    assert down.ids == [f"C{i:09d}" for i in range(5)] and down.unresolved == 1
    assert hourly_series(down, T0, T0 + timedelta(hours=3)) == [3, 2, 0, 1]
    assert bounce.count == 2 and bounce.ids == ["E1", "E2"]
    assert scan.group(down.cause.id) is down and scan.group("nope") is None


def test_sparkline_scales_and_buckets() -> None:
    assert sparkline([0, 1, 2, 4, 8]) == " ▁▂▄█"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([]) == ""
    assert len(sparkline([1] * 168, width=24)) == 24


def test_scan_memo_stays_bounded_and_agrees_with_fresh_causes() -> None:
    from bot.outages.causes import CAUSE_MEMO_SIZE

    scan = OutageScan()
    for i in range(CAUSE_MEMO_SIZE + 10):
        scan.add_callout(callout(f"https://h{i}.example/hook", 503))
        scan.add_callout(callout(f"https://h{i}.example/hook", 503))
    assert len(scan._memo) <= CAUSE_MEMO_SIZE
    assert scan.cause_count == CAUSE_MEMO_SIZE + 10
    assert all(g.count == 2 for g in scan.groups())
