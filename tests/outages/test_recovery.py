"""Is the cause over? The pure decision from deliveries, which records count as deliveries to a
cause's place, the bounded cached read behind it, and its words on the card."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.actions import ActionId
from bot.outages.causes import OutageScan
from bot.outages.recovery import (
    Delivery,
    NoNewsYet,
    Recovered,
    RecoveryUnknown,
    StillFailing,
    callout_deliveries,
    decide,
    email_deliveries,
)
from bot.outages.recovery_cards import ago, recovery_line, recovery_text
from bot.outages.recovery_read import (
    CALLOUT_PAGES,
    EMAIL_ACCOUNTS,
    EMAIL_PAGES,
    RECOVERY_LOOKBACK,
    RecoveryReads,
)
from bot.zuora.client.history import Recent
from bot.zuora.errors import ZuoraConnectionError
from bot.zuora.models import CalloutHistory, EmailHistory
from tests.support.zuora_fakes import ManualTimer

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
URL = "https://hooks.acme.example/zuora/accounts/{n}/events"


def callout(at: datetime, code: object, n: int = 1, url: str = URL) -> CalloutHistory:
    return CalloutHistory.model_validate(
        {
            "createTime": at,
            "requestUrl": url.format(n=n),
            "responseCode": code,
            "eventContext": {"<Account.ID>": f"acct{n}"},
        }
    )


def email(at: datetime, to: str, *, ok: bool, account: str = "acct1") -> EmailHistory:
    return EmailHistory.model_validate(
        {
            "sendTime": at,
            "toEmail": to,
            "accountId": account,
            "result": "OK" if ok else "Failed",
            "errorMessage": None if ok else f"550 5.1.1 <{to}>... User unknown",
        }
    )


def test_decide_a_success_after_the_last_failure_is_recovered_at_the_first_such_success() -> None:
    seen = [
        Delivery(NOW - 3 * HOUR, ok=True),  # before the last failure: does not count
        Delivery(NOW - 2 * HOUR, ok=False),
        Delivery(NOW - 30 * timedelta(minutes=1), ok=True),
        Delivery(NOW - 90 * timedelta(minutes=1), ok=True),
    ]
    assert decide(NOW - 4 * HOUR, seen, recent_since=NOW - HOUR) == Recovered(
        NOW - timedelta(minutes=90)
    )


def test_decide_a_recent_failure_with_no_success_after_it_is_still_failing() -> None:
    seen = [Delivery(NOW - 2 * HOUR, ok=True), Delivery(NOW - timedelta(minutes=2), ok=False)]
    assert decide(NOW - 3 * HOUR, seen, recent_since=NOW - HOUR) == StillFailing(
        NOW - timedelta(minutes=2)
    )
    # The scan's own last failure counts even when the read saw nothing.
    assert decide(NOW - timedelta(minutes=5), [], recent_since=NOW - HOUR) == StillFailing(
        NOW - timedelta(minutes=5)
    )


def test_decide_an_old_failure_and_nothing_since_is_no_news() -> None:
    assert decide(NOW - 5 * HOUR, [], recent_since=NOW - HOUR) == NoNewsYet(NOW - 5 * HOUR)
    assert decide(None, [], recent_since=NOW - HOUR) == NoNewsYet(None)
    assert decide(None, [Delivery(NOW, ok=True)], recent_since=NOW - HOUR) == Recovered(NOW)


def test_callout_deliveries_are_the_endpoints_with_2xx_as_success() -> None:
    scan = OutageScan().add_all([callout(NOW - 5 * HOUR, -1)])
    (group,) = scan.groups()
    records = [
        callout(NOW - HOUR, 200, n=7),  # same endpoint (ids fold), success
        callout(NOW - HOUR, "503", n=8),  # same endpoint, another failure
        callout(NOW, 200, url="https://other.example/hook"),  # elsewhere: ignored
    ]
    assert callout_deliveries(group, records) == [
        Delivery(NOW - HOUR, ok=True),
        Delivery(NOW - HOUR, ok=False),
    ]


def test_callout_deliveries_of_a_cause_failing_with_200_trust_no_200() -> None:
    # Zuora set to parse response bodies records failed 200s (trap 8): a 200 proves nothing.
    (group,) = OutageScan().add_all([callout(NOW - 5 * HOUR, 200)]).groups()
    assert callout_deliveries(group, [callout(NOW, 200)]) == [Delivery(NOW, ok=False)]


def test_email_deliveries_are_those_to_the_causes_domains() -> None:
    bounce = email(NOW - 5 * HOUR, "ap@northwind.example", ok=False)
    (group,) = OutageScan().add_all(emails=[bounce]).groups()
    assert dict(group.domains) == {"northwind.example": 1}
    records = [
        email(NOW - HOUR, "Billing <AR@Northwind.Example>", ok=True),
        email(NOW, "ap@elsewhere.example", ok=True),
        email(NOW - 2 * HOUR, "x@elsewhere.example, ap@northwind.example", ok=False),
    ]
    assert email_deliveries(group.domains, records) == [
        Delivery(NOW - HOUR, ok=True),
        Delivery(NOW - 2 * HOUR, ok=False),
    ]


class Source:
    """Records the recovery reads and answers from lists (or raises)."""

    def __init__(
        self,
        callouts: list[CalloutHistory] | None = None,
        emails: dict[str, list[EmailHistory]] | None = None,
        error: Exception | None = None,
    ) -> None:
        self.callouts = callouts or []
        self.emails = emails or {}
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def recent_callouts(self, **kwargs: Any) -> Recent[CalloutHistory]:
        self.calls.append({"kind": "callout", **kwargs})
        if self.error:
            raise self.error
        return Recent(self.callouts, complete=True)

    def recent_emails(self, **kwargs: Any) -> Recent[EmailHistory]:
        self.calls.append({"kind": "email", **kwargs})
        if self.error:
            raise self.error
        return Recent(self.emails.get(kwargs["account_id"], []), complete=True)


def test_callout_read_starts_at_the_last_failure_and_is_cached_a_minute() -> None:
    (group,) = OutageScan().add_all([callout(NOW - 5 * HOUR, -1)]).groups()
    source = Source([callout(NOW - 4 * HOUR, 204, n=3), callout(NOW - 3 * HOUR, 200, n=4)])
    timer = ManualTimer()
    reads = RecoveryReads(source, now=lambda: NOW, timer=timer)

    assert reads.check(group, track_id="t") == Recovered(NOW - 4 * HOUR)
    assert reads.check(group, track_id="t") == Recovered(NOW - 4 * HOUR)
    (call,) = source.calls
    assert call["start"] == NOW - 5 * HOUR and call["end"] == NOW + timedelta(seconds=1)
    assert call["max_pages"] == CALLOUT_PAGES
    timer.advance(61)
    reads.check(group, track_id="t")
    assert len(source.calls) == 2, "read again once the minute is over"


def test_old_cause_reads_only_the_lookback() -> None:
    (group,) = OutageScan().add_all([callout(NOW - 30 * HOUR, -1)]).groups()
    source = Source()
    assert RecoveryReads(source, now=lambda: NOW).check(group, track_id="t") == NoNewsYet(
        NOW - 30 * HOUR
    )
    assert source.calls[0]["start"] == NOW - RECOVERY_LOOKBACK


def test_email_read_is_per_recent_account_bounded() -> None:
    bounces = [
        email(NOW - (10 - n) * HOUR, f"ap{n}@northwind.example", ok=False, account=f"acct{n}")
        for n in range(6)
    ]
    (group,) = OutageScan().add_all(emails=bounces).groups()
    late = email(NOW - timedelta(minutes=3), "ap5@northwind.example", ok=False, account="acct5")
    source = Source(emails={"acct5": [late]})

    found = RecoveryReads(source, now=lambda: NOW).check(group, track_id="t")

    assert found == StillFailing(NOW - timedelta(minutes=3))
    assert [c["account_id"] for c in source.calls] == ["acct5", "acct4", "acct3"]
    assert len(source.calls) == EMAIL_ACCOUNTS
    assert all(c["max_pages"] == EMAIL_PAGES for c in source.calls)
    assert all(c["start"] == NOW - 5 * HOUR for c in source.calls), "from the last failure"


def test_zuora_not_answering_is_unknown_and_not_cached() -> None:
    (group,) = OutageScan().add_all([callout(NOW - HOUR, -1)]).groups()
    source = Source(error=ZuoraConnectionError("Zuora did not answer"))
    reads = RecoveryReads(source, now=lambda: NOW)

    assert isinstance(reads.check(group, track_id="t"), RecoveryUnknown)
    source.error = None
    assert reads.check(group, track_id="t") == StillFailing(NOW - HOUR)


@pytest.mark.parametrize(
    ("delta", "said"),
    [
        (timedelta(seconds=30), "just now"),
        (timedelta(minutes=2), "2 min ago"),
        (timedelta(hours=5), "5 h ago"),
        (timedelta(days=3), "3 days ago"),
    ],
)
def test_ago_reads_naturally(delta: timedelta, said: str) -> None:
    assert ago(delta) == said


def test_recovery_words_on_the_card_and_in_plain_text() -> None:
    at = datetime(2026, 12, 2, 11, 42, tzinfo=UTC)
    line = recovery_line(Recovered(at), "callout", NOW)
    assert "Recovered at <!date^" in line and "|11:42 UTC>: safe to replay" in line
    assert recovery_text(Recovered(at), "callout", NOW) == "Recovered at 11:42 UTC: safe to replay"
    failing = StillFailing(NOW - timedelta(minutes=2))
    assert recovery_text(failing, "email", NOW) == (
        "Still failing, last failure 2 min ago: a replay now will probably fail again"
    )
    assert "*Still failing" in recovery_line(failing, "email", NOW)
    assert recovery_text(NoNewsYet(None), "callout", NOW) == (
        "Unknown: no delivery to this endpoint since its last failure"
    )
    assert "mail domain" in recovery_text(NoNewsYet(None), "email", NOW)
    assert "Recovery unknown (Zuora didn't answer)" in recovery_line(
        RecoveryUnknown("x"), "callout", NOW
    )
    assert ActionId.OUTAGE_REPLAY_ANYWAY.value == "zuora.outage_replay_anyway"


def test_card_still_failing_cause_replays_anyway_behind_the_warning_others_resend_as_before() -> (
    None
):
    from bot.outages.cards import build_outages_card
    from bot.zuora.models import TimeWindow

    failures = [callout(NOW - HOUR, -1), callout(NOW - HOUR, 503, url="https://b.example/x")]
    scan = OutageScan().add_all(failures)
    down, back = scan.groups()
    window = TimeWindow.ending_at(NOW, timedelta(hours=24), "24h")
    recovery = {
        down.cause.id: StillFailing(NOW - timedelta(minutes=2)),
        back.cause.id: Recovered(NOW - timedelta(minutes=20)),
    }

    card = build_outages_card(scan, window, recovery=recovery, now=NOW).as_payload()

    accessories = {
        b["text"]["text"].split("\n")[0]: b["accessory"] for b in card["blocks"] if "accessory" in b
    }
    anyway = next(a for label, a in accessories.items() if "hooks.acme" in label)
    assert anyway["action_id"] == ActionId.OUTAGE_REPLAY_ANYWAY.value
    assert anyway["text"]["text"] == "Replay anyway (1)"
    assert anyway["confirm"]["title"]["text"] == "Still failing: replay anyway?"
    assert anyway["confirm"]["text"]["text"].startswith(
        "Last failure 2 min ago: a replay now will probably fail again."
    )
    assert "current template" in anyway["confirm"]["text"]["text"]
    assert anyway["confirm"]["confirm"]["text"] == "Replay anyway"
    resend = next(a for label, a in accessories.items() if "b.example" in label)
    assert resend["action_id"] == ActionId.OUTAGE_REPLAY.value
    assert anyway["value"] != resend["value"]
    texts = [b["text"]["text"] for b in card["blocks"] if "accessory" in b]
    assert any("Recovered at" in t and "safe to replay" in t for t in texts)
