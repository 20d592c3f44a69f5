"""Tests for the digest: streaming summary, comparison, and the once-a-day runner over a real store and fake Slack."""

from __future__ import annotations

import copy
import gc
import logging
import threading
import tracemalloc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import Mock

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.digest.posting import DigestMemory
from bot.digest.service import message_lines, render_results, run_due_digests
from bot.digest.summary import (
    MAX_KEYS_PER_COUNTER,
    OTHER_KEY,
    compare,
    error_class,
    restrict,
    summarize,
)
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.io import retry_handlers
from bot.store import NewSubscription
from bot.store.database import Store
from bot.zuora.errors import ZuoraNotFoundError, ZuoraServerError
from bot.zuora.models import Account, CalloutHistory, EmailHistory, TimeWindow

NOW = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)
WINDOW = TimeWindow.ending_at(NOW, timedelta(hours=24), "24h")
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)
ACC1 = "2c92c0f87a3b4e21017a3c5d6e7f0001"
ACC2 = "2c92c0f87a3b4e21017a3c5d6e7f0002"
OWNER = "test:1"


# --- factories ---------------------------------------------------------------------------------


def callout(
    at: datetime = NOW - timedelta(hours=1),
    *,
    context: dict[str, Any] | None = None,
    category: str = "1110",
    code: Any = 500,
) -> CalloutHistory:
    return CalloutHistory.model_validate(
        {
            "createTime": at,
            "eventCategory": category,
            "eventContext": context or {},
            "responseCode": code,
        }
    )


def acct(
    account_id: str | None = ACC1, number: str | None = "A00000001", name: str | None = "Acme"
):
    context = {}
    if account_id:
        context["<Account.ID>"] = account_id
    if number:
        context["<Account.Number>"] = number
    if name:
        context["<Account.Name>"] = name
    return context


def email(
    at: datetime = NOW - timedelta(hours=2),
    *,
    account_id: str | None = ACC1,
    error: str | None = "550 5.1.1 <x@acme.example>: Recipient address rejected",
    notification: str = "Invoice Posted Email",
) -> EmailHistory:
    return EmailHistory.model_validate(
        {
            "sendTime": at,
            "accountId": account_id,
            "errorMessage": error,
            "notification": notification,
            "result": "Failed",
        }
    )


def untouchable() -> Iterator[Any]:
    raise AssertionError("this iterator must not be read")
    yield  # pragma: no cover - makes this a generator


# --- summarize ---------------------------------------------------------------------------------


def test_summarize_counts_per_account_event_and_code():
    summary = summarize(
        [
            callout(context=acct()),
            callout(context=acct(), code=405, category="2110"),
            callout(context=acct(ACC2, "A00000002", "Globex")),
        ],
        [email(), email(error="552 5.2.2 Mailbox full"), email(account_id=ACC2)],
        window=WINDOW,
    )
    assert (summary.total_callouts, summary.total_emails, summary.total) == (3, 3, 6)
    first, second = summary.accounts
    assert (first.account_id, first.account_number, first.account_name) == (
        ACC1,
        "A00000001",
        "Acme",
    )
    assert (first.callouts, first.emails, first.failures) == (2, 2, 4)
    assert first.callout_events == (("Invoice Posted", 1), ("Payment Declined", 1))
    assert first.email_events == (("Invoice Posted Email", 2),)
    assert first.events == (
        ("Invoice Posted Email", 2),
        ("Invoice Posted", 1),
        ("Payment Declined", 1),
    )
    assert first.response_codes == (("405", 1), ("500", 1))
    assert first.email_errors == (("550 5.1.1", 1), ("552 5.2.2", 1))
    assert first.last_failure_at == NOW - timedelta(hours=1)
    assert (second.account_id, second.account_name, second.failures) == (ACC2, "Globex", 2)


def test_summarize_matches_accounts_by_id_number_and_billing_account():
    summary = summarize(
        [
            # Seen by number first; the id turns up later and the two entries merge.
            callout(context={"<Account.Number>": "A00000001"}),
            callout(context={"<BillingAccount.ID>": ACC1, "<BillingAccount.Number>": "A00000001"}),
            callout(context={"<Account.Id>": ACC1.upper()}),
            callout(context={"<Account.Number>": "A00000001"}),  # after the mapping is known
            callout(context={"<Account.Number>": "A00000099", "<Account.Name>": "Only number"}),
        ],
        [email(account_id=ACC1)],
        window=WINDOW,
    )
    assert [(a.account_id, a.account_number, a.failures) for a in summary.accounts] == [
        (ACC1, "A00000001", 5),
        (None, "A00000099", 1),
    ]
    assert summary.accounts[1].account_name == "Only number"


def test_summarize_counts_tenant_level_events_separately():
    summary = summarize(
        [callout(context={"<Event.ID>": "e1"}, category="1410"), callout(context=acct())],
        [email(account_id=None)],
        window=WINDOW,
    )
    assert (summary.total_callouts, summary.total_emails) == (2, 1)
    assert len(summary.accounts) == 1
    assert (summary.tenant.callouts, summary.tenant.emails) == (1, 1)
    assert summary.tenant.callout_events == (("Bill Run Completion", 1),)


def test_summarize_of_one_kind_does_not_read_the_other():
    callouts_only = summarize(
        [callout(context=acct())], untouchable(), window=WINDOW, kind="callouts"
    )
    assert (callouts_only.total_callouts, callouts_only.total_emails) == (1, 0)
    emails_only = summarize(untouchable(), [email()], window=WINDOW, kind="emails")
    assert (emails_only.total_callouts, emails_only.total_emails) == (0, 1)
    assert emails_only.accounts[0].callout_events == ()


def test_summarize_filters_accounts_by_id_or_number():
    callouts = [callout(context=acct()), callout(context=acct(ACC2, "A00000002", "Globex"))]
    emails = [email(account_id=ACC1), email(account_id=ACC2), email(account_id=None)]
    by_number = summarize(callouts, emails, window=WINDOW, accounts=frozenset({"a00000002"}))
    assert [a.account_id for a in by_number.accounts] == [ACC2]
    # The email carries only the id; it matches through the number the callout revealed.
    assert (by_number.total_callouts, by_number.total_emails) == (1, 1)
    assert by_number.tenant.failures == 0  # tenant events belong to no filtered account
    by_id = summarize(callouts, emails, window=WINDOW, accounts=frozenset({ACC1}))
    assert [a.account_number for a in by_id.accounts] == ["A00000001"]
    none = summarize(callouts, emails, window=WINDOW, accounts=frozenset({"A404"}))
    assert none.is_empty and none.accounts == ()


def test_summarize_ignores_records_outside_the_window():
    summary = summarize(
        [
            callout(WINDOW.start - timedelta(seconds=1), context=acct()),
            callout(WINDOW.start, context=acct()),
        ],
        [email(WINDOW.end)],
        window=WINDOW,
    )
    assert (summary.total_callouts, summary.total_emails, summary.outside_window) == (1, 0, 2)


def test_summarize_caps_distinct_keys_per_counter():
    summary = summarize(
        [callout(context=acct(), code=f"code-{n}") for n in range(500)], [], window=WINDOW
    )
    codes = dict(summary.accounts[0].response_codes)
    assert len(codes) == MAX_KEYS_PER_COUNTER + 1
    assert codes[OTHER_KEY] == 500 - MAX_KEYS_PER_COUNTER
    assert sum(codes.values()) == 500


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("550 5.1.1 <x@y.example>: Recipient address rejected: User unknown", "550 5.1.1"),
        ("552-5.2.2 Mailbox full", "552 5.2.2"),
        ("421 Service not available", "421"),
        ("Remote server said: 5.7.1 Message rejected", "5.7.1"),
        ("Invalid email address: someone@example", "Invalid email address"),
        ("Connection timed out (after 30s)", "Connection timed out"),
        ("@@@ 123", OTHER_KEY),
        ("", "no error message"),
        (None, "no error message"),
    ],
)
def test_error_class_table(message, expected):
    assert error_class(message) == expected


def test_summarize_streams_100000_records_in_small_memory():
    accounts = [f"2c92c0f87a3b4e21017a3c5d6e7f{n:04x}" for n in range(50)]
    callout_templates = [
        callout(
            NOW - timedelta(seconds=n + 1),
            context=acct(accounts[n % 50], f"A{n % 50:08d}", f"Customer {n % 50}"),
            category=("1110", "2110", "1210")[n % 3],
            code=500 + n % 4,
        )
        for n in range(150)
    ]
    email_templates = [
        email(
            NOW - timedelta(seconds=n + 1),
            account_id=accounts[n % 50],
            error=f"55{n % 3} 5.1.{n % 3} no",
        )
        for n in range(50)
    ]
    consumed = 0

    # Every record is a fresh object (a shallow copy), so keeping them would show in the peak.
    def callouts() -> Iterator[CalloutHistory]:
        nonlocal consumed
        for n in range(90_000):
            consumed += 1
            yield copy.copy(callout_templates[n % 150])

    def emails() -> Iterator[EmailHistory]:
        nonlocal consumed
        for n in range(10_000):
            consumed += 1
            yield copy.copy(email_templates[n % 50])

    gc.collect()
    tracemalloc.start()
    try:
        summary = summarize(callouts(), emails(), window=WINDOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert consumed == 100_000
    assert (summary.total_callouts, summary.total_emails, len(summary.accounts)) == (
        90_000,
        10_000,
        50,
    )
    assert sum(a.failures for a in summary.accounts) == 100_000
    # Holding 100,000 records (even as a list of references) would take megabytes; the fold stays tiny.
    assert peak < 500_000, f"peak {peak} bytes"


def test_compare_reports_change_against_the_day_before():
    today = summarize([callout(context=acct())] * 5, [email()] * 2, window=WINDOW)
    before_window = TimeWindow(
        start=WINDOW.start - timedelta(hours=24), end=WINDOW.start, label="24h"
    )
    before_at = WINDOW.start - timedelta(hours=3)
    yesterday = summarize(
        [callout(before_at, context=acct())] * 2, [email(before_at)] * 6, window=before_window
    )
    delta = compare(today, yesterday)
    assert (delta.callouts_before, delta.emails_before) == (2, 6)
    assert (delta.callouts_change, delta.emails_change, delta.total_change) == (3, -4, -1)


def test_compare_refuses_summaries_of_different_filters():
    today = summarize([], [], window=WINDOW, kind="emails")
    with pytest.raises(ValueError):
        compare(today, summarize([], [], window=WINDOW, kind="all"))


def test_restrict_cuts_a_full_summary_like_a_filtered_summarize():
    callouts = [
        callout(context=acct()),
        callout(context=acct(ACC2, "A00000002", "Globex")),
        callout(),
    ]
    emails = [email(), email(account_id=ACC2), email(account_id=None)]
    full = summarize(callouts, emails, window=WINDOW)
    for accounts in (frozenset(), frozenset({"A00000001"}), frozenset({ACC2})):
        for kind in ("callouts", "all"):
            direct = summarize(callouts, emails, window=WINDOW, accounts=accounts, kind=kind)
            assert restrict(full, accounts=accounts, kind=kind) == direct
    # An emails-only summarize never reads callouts, so it cannot learn that A00000001 is ACC1;
    # cut from the full scan, the email is found by number.
    assert summarize(
        callouts, emails, window=WINDOW, accounts=frozenset({"A00000001"}), kind="emails"
    ).is_empty
    by_number = restrict(full, accounts=frozenset({"A00000001"}), kind="emails")
    assert [(a.account_id, a.emails, a.callouts) for a in by_number.accounts] == [(ACC1, 1, 0)]
    with pytest.raises(ValueError):
        restrict(restrict(full, kind="callouts"), kind="emails")


# --- the runner --------------------------------------------------------------------------------


class FakeService:
    """Tenant scans from lists; records each scan; can fail."""

    def __init__(
        self, callouts: Iterable[CalloutHistory] = (), emails: Iterable[EmailHistory] = ()
    ):
        self.callouts = list(callouts)
        self.emails = list(emails)
        self.scans: list[tuple[str, TimeWindow, str]] = []
        self.fail = False
        self.accounts = {
            "A00000001": Account(id=ACC1, number="A00000001", name="Acme"),
            "A00000002": Account(id=ACC2, number="A00000002", name="Globex"),
        }
        self.lookups: list[str] = []
        self._lock = threading.Lock()

    def get_account(self, key: str, *, track_id: str) -> Account:
        self.lookups.append(key)
        if key not in self.accounts:
            raise ZuoraNotFoundError(
                f"Cannot find entity by key: {key!r}", key=key, track_id=track_id
            )
        return self.accounts[key]

    def _record(self, kind: str, window: TimeWindow, track_id: str) -> None:
        with self._lock:
            self.scans.append((kind, window, track_id))

    def iter_failed_callouts(
        self, window: TimeWindow, *, track_id: str
    ) -> Iterator[CalloutHistory]:
        self._record("callouts", window, track_id)
        return self._iterate(self.callouts, window, lambda c: c.create_time)

    def iter_failed_emails(self, window: TimeWindow, *, track_id: str) -> Iterator[EmailHistory]:
        self._record("emails", window, track_id)
        return self._iterate(self.emails, window, lambda e: e.send_time)

    def _iterate(self, records, window, when):
        if self.fail:
            raise ZuoraServerError("Zuora answered 503", status_code=503)
        for record in records:
            if window.start <= when(record) < window.end:
                yield record


@dataclass(frozen=True)
class DigestTestDeps:
    settings: Any
    service: FakeService
    store: Store
    slack: Any


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    db = Store.from_url(f"sqlite:///{tmp_path}/s.db")
    yield db
    db.close()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def slack(fake_slack) -> WebClient:
    return WebClient(
        token=fake_slack.token, base_url=fake_slack.base_url, retry_handlers=retry_handlers()
    )


@pytest.fixture
def busy_service() -> FakeService:
    return FakeService(
        [callout(context=acct()), callout(context=acct(ACC2, "A00000002", "Globex"), code=404)],
        [email(), email(NOW - timedelta(hours=30))],  # the second is from the day before
    )


@pytest.fixture
def make_deps(make_settings, store, slack):
    def build(service: FakeService, *, slack_client: Any = None, **digest: Any) -> DigestTestDeps:
        settings = make_settings(digest={"post_interval": 1.0, **digest})
        return DigestTestDeps(settings, service, store, slack_client or slack)

    return build


def subscribe(store: Store, channel: str = "C0001", **overrides: Any):
    values: dict[str, Any] = {
        "team_id": "T0001",
        "channel_id": channel,
        "created_by": "U0001",
        "created_at": LONG_AGO,
        "hour": 9,
        "minute": 0,
        "timezone": "UTC",
    }
    return store.add_subscription(NewSubscription(**{**values, **overrides}))


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def run(deps, now=NOW, **kwargs):
    kwargs.setdefault("owner", OWNER)
    kwargs.setdefault("sleep", Sleeps())
    return run_due_digests(deps, now, **kwargs)


def test_run_due_digests_posts_once_per_subscription_per_local_day(
    make_deps, store, fake_slack, busy_service
):
    deps = make_deps(busy_service)
    sub_a = subscribe(store, "C0001")
    sub_b = subscribe(store, "C0002", kind="emails")
    first = run(deps)
    assert sorted((r.subscription.id, r.status) for r in first) == [
        (sub_a.id, "posted"),
        (sub_b.id, "posted"),
    ]
    assert run(deps, NOW + timedelta(minutes=1)) == []
    assert run(deps, NOW + timedelta(hours=14)) == []  # 23:30 the same day
    assert len(fake_slack.messages("C0001")) == 1
    assert len(fake_slack.messages("C0002")) == 1
    runs = store.list_digest_runs(sub_a.id)
    assert [(r.status, r.message_ts) for r in runs] == [
        ("posted", fake_slack.messages("C0001")[0]["ts"])
    ]
    posted = fake_slack.messages("C0001")[0]
    assert posted["text"].startswith(
        "Zuora failures in the last 24h: 2 failed callouts and 1 failed email"
    )
    # The next local day posts again.
    assert [r.status for r in run(deps, NOW + timedelta(days=1))] == ["posted", "posted"]
    assert len(fake_slack.messages("C0001")) == 2


def test_run_due_digests_scans_zuora_once_per_window_for_all_subscriptions(
    make_deps, store, busy_service
):
    deps = make_deps(busy_service)
    for channel in ("C0001", "C0002", "C0003"):
        subscribe(store, channel)
    subscribe(store, "C0004", kind="callouts")
    subscribe(store, "C0005", accounts=("A00000002",), kind="emails")
    results = run(deps)
    assert len(results) == 5
    kinds = sorted((kind, window.end - window.start) for kind, window, _ in busy_service.scans)
    # Today and the day before, each kind once, whatever the number of subscriptions.
    assert kinds == [("callouts", timedelta(hours=24))] * 2 + [("emails", timedelta(hours=24))] * 2
    today_end = max(window.end for _, window, _ in busy_service.scans)
    assert today_end == NOW.replace(second=0)
    assert all(track_id.startswith("zops-digest-") for _, _, track_id in busy_service.scans)


def test_run_due_digests_scans_nothing_when_nothing_is_due(make_deps, store, busy_service):
    deps = make_deps(busy_service)
    subscribe(store, hour=10)
    assert run(deps) == []
    assert busy_service.scans == []


def test_run_due_digests_scans_only_the_kind_subscriptions_need(make_deps, store, busy_service):
    deps = make_deps(busy_service)
    subscribe(store, kind="callouts")
    run(deps)
    assert {kind for kind, _, _ in busy_service.scans} == {"callouts"}


def test_run_due_digests_skips_the_day_before_when_nothing_failed(make_deps, store):
    service = FakeService()
    deps = make_deps(service)
    subscribe(store)
    run(deps)
    assert {window.end for _, window, _ in service.scans} == {NOW.replace(second=0)}


def test_run_due_digests_quiet_subscription_with_nothing_failed_posts_nothing(
    make_deps, store, fake_slack
):
    deps = make_deps(FakeService())
    quiet = subscribe(store, "C0001", quiet=True)
    loud = subscribe(store, "C0002")
    results = {r.subscription.id: r for r in run(deps)}
    assert results[quiet.id].status == "skipped"
    assert fake_slack.messages("C0001") == []
    assert store.list_digest_runs(quiet.id)[0].status == "skipped"
    # Not quiet: one short all-clear line.
    assert results[loud.id].status == "posted"
    (message,) = fake_slack.messages("C0002")
    assert message["text"] == "No failed Zuora notifications in the last 24h."
    assert len(message["blocks"]) == 1
    assert run(deps, NOW + timedelta(minutes=5)) == []


def test_run_due_digests_one_failing_channel_does_not_stop_the_others(
    make_deps, store, fake_slack, busy_service, caplog
):
    fake_slack.set_channel("C0BAD", is_member=False)
    deps = make_deps(busy_service)
    first = subscribe(store, "C0001")
    bad = subscribe(store, "C0BAD")
    last = subscribe(store, "C0003")
    with caplog.at_level(logging.WARNING, logger="bot.digest.posting"):
        results = {r.subscription.id: r for r in run(deps)}
    assert results[bad.id].status == "failed"
    assert results[bad.id].error == "not_in_channel"
    assert (results[first.id].status, results[last.id].status) == ("posted", "posted")
    assert len(fake_slack.messages("C0001")) == len(fake_slack.messages("C0003")) == 1
    assert any(
        "C0BAD" in r.getMessage() and "not_in_channel" in r.getMessage() for r in caplog.records
    )
    (failed_run,) = store.list_digest_runs(bad.id)
    assert (failed_run.status, failed_run.detail) == ("failed", "not_in_channel")
    # Someone invites the bot; the next tick retries only the failed one.
    fake_slack.set_channel("C0BAD", is_member=True)
    retry = run(deps, NOW + timedelta(minutes=1))
    assert [(r.subscription.id, r.status) for r in retry] == [(bad.id, "posted")]
    assert len(fake_slack.messages("C0BAD")) == 1
    assert len(fake_slack.messages("C0001")) == 1


def test_run_due_digests_with_mock_web_client_reports_channel_errors(
    make_deps, store, busy_service
):
    client = Mock(spec=WebClient)

    def post(*, channel: str, text: str, blocks: list, metadata: dict) -> SlackResponse:
        assert text and blocks
        assert metadata["event_type"] == "zuora_ops_digest"
        if channel == "C0GONE":
            raise SlackApiError("channel_not_found", {"ok": False, "error": "channel_not_found"})
        return {"ok": True, "ts": "1.000100"}

    client.chat_postMessage.side_effect = post
    deps = make_deps(busy_service, slack_client=client)
    subscribe(store, "C0GONE")
    subscribe(store, "C0001")
    results = run(deps)
    assert [(r.subscription.channel_id, r.status, r.error) for r in results] == [
        ("C0GONE", "failed", "channel_not_found"),
        ("C0001", "posted", None),
    ]
    assert client.chat_postMessage.call_count == 2


def test_run_due_digests_rate_limited_post_is_retried(make_deps, store, fake_slack, busy_service):
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=0)
    deps = make_deps(busy_service)
    subscribe(store)
    (result,) = run(deps)
    assert result.status == "posted"
    assert len(fake_slack.calls("chat.postMessage")) == 2
    assert len(fake_slack.messages("C0001")) == 1


def test_run_due_digests_posts_once_when_two_clocks_run_at_once(
    make_deps, store, fake_slack, busy_service
):
    deps = make_deps(busy_service)
    subs = [subscribe(store, f"C000{n}") for n in range(1, 5)]
    barrier = threading.Barrier(2)
    results: list[list] = []
    errors: list[BaseException] = []

    def clock(owner: str) -> None:
        try:
            barrier.wait()
            results.append(run(deps, owner=owner))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=clock, args=(f"clock-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    posted = [r for batch in results for r in batch if r.status == "posted"]
    assert sorted(r.subscription.id for r in posted) == [s.id for s in subs]
    for sub in subs:
        assert len(fake_slack.messages(sub.channel_id)) == 1


def test_run_due_digests_dry_run_claims_and_posts_nothing(
    make_deps, store, fake_slack, busy_service
):
    deps = make_deps(busy_service)
    sub = subscribe(store)
    quiet = subscribe(store, "C0002", quiet=True, accounts=("A404",))
    results = {r.subscription.id: r for r in run(deps, dry_run=True)}
    assert results[sub.id].status == "dry_run"
    assert results[sub.id].message is not None
    assert results[quiet.id].status == "skipped"
    assert fake_slack.calls("chat.postMessage") == []
    assert store.list_digest_runs(sub.id) == []
    # Nothing was claimed, so the real run still posts.
    assert [r.status for r in run(deps) if r.subscription.id == sub.id] == ["posted"]


def test_run_due_digests_force_posts_before_time_but_still_once_a_day(
    make_deps, store, fake_slack, busy_service
):
    deps = make_deps(busy_service)
    subscribe(store, hour=18)
    early = NOW.replace(hour=6)
    assert run(deps, early) == []
    assert [r.status for r in run(deps, early, force=True)] == ["posted"]
    assert run(deps, early, force=True) == []
    assert run(deps, NOW.replace(hour=19)) == []
    assert len(fake_slack.messages("C0001")) == 1


def test_run_due_digests_catches_up_the_same_day_but_not_the_next(
    make_deps, store, fake_slack, busy_service
):
    deps = make_deps(busy_service)
    subscribe(store, hour=9, timezone="America/Los_Angeles")  # 16:00 UTC in June
    # The clock was down from 15:00 to 22:00 UTC: the first tick after it comes back posts.
    assert [r.status for r in run(deps, datetime(2026, 6, 10, 22, 0, tzinfo=UTC))] == ["posted"]
    # Down again over the whole next (local) day's post time: back at 08:00 LA on the 12th.
    assert run(deps, datetime(2026, 6, 12, 15, 0, tzinfo=UTC)) == []
    assert len(fake_slack.messages("C0001")) == 1


def test_run_due_digests_zuora_failure_marks_runs_failed_for_retry(
    make_deps, store, fake_slack, busy_service, caplog
):
    busy_service.fail = True
    deps = make_deps(busy_service)
    sub = subscribe(store)
    with caplog.at_level(logging.WARNING, logger="bot.digest.service"):
        (result,) = run(deps)
    assert result.status == "failed" and "Zuora" in (result.error or "")
    assert store.list_digest_runs(sub.id)[0].status == "failed"
    assert fake_slack.calls("chat.postMessage") == []
    busy_service.fail = False
    assert [r.status for r in run(deps, NOW + timedelta(minutes=1))] == ["posted"]


def test_run_due_digests_paces_posts_to_one_channel(make_deps, store, busy_service):
    deps = make_deps(busy_service, post_interval=1.5)
    subscribe(store, "C0001", kind="callouts")
    subscribe(store, "C0001", kind="emails")
    subscribe(store, "C0002")
    sleeps = Sleeps()
    results = run(deps, sleep=sleeps)
    assert [r.subscription.channel_id for r in results] == ["C0001", "C0002", "C0001"]
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 1.5


def test_run_due_digests_ignores_removed_subscriptions(make_deps, store, fake_slack, busy_service):
    deps = make_deps(busy_service)
    sub = subscribe(store)
    assert store.remove_subscription(sub.id, team_id="T0001")
    assert run(deps) == []
    assert fake_slack.calls("chat.postMessage") == []


def test_run_due_digests_skips_a_row_with_an_unknown_time_zone(
    make_deps, store, fake_slack, busy_service, tmp_path
):
    from sqlalchemy import create_engine, update

    from bot.store.tables import digest_subscriptions

    deps = make_deps(busy_service)
    broken = subscribe(store, "C0001")
    fine = subscribe(store, "C0002")
    engine = create_engine(f"sqlite:///{tmp_path}/s.db")
    with engine.begin() as conn:
        conn.execute(
            update(digest_subscriptions)
            .where(digest_subscriptions.c.id == broken.id)
            .values(timezone="Mars/Olympus_Mons")
        )
    engine.dispose()
    for force in (False, True):
        assert [r.subscription.id for r in run(deps, force=force)] == (
            [fine.id] if not force else []
        )
    assert fake_slack.messages("C0001") == []


def test_digest_memory_backs_off_failed_runs_and_skips_finished_ones(
    make_deps, store, fake_slack, busy_service
):
    fake_slack.set_channel("C0BAD", is_member=False)
    deps = make_deps(busy_service)
    bad = subscribe(store, "C0BAD")
    good = subscribe(store, "C0001")
    memory = DigestMemory()
    assert {r.status for r in run(deps, memory=memory)} == {"failed", "posted"}
    scans = len(busy_service.scans)
    # Within the pause: nothing is tried, Zuora is not scanned again.
    assert run(deps, NOW + timedelta(minutes=1), memory=memory) == []
    assert len(busy_service.scans) == scans
    # After it: the failed run is tried again (and fails again: the next pause doubles).
    assert [r.subscription.id for r in run(deps, NOW + timedelta(minutes=2), memory=memory)] == [
        bad.id
    ]
    assert run(deps, NOW + timedelta(minutes=5), memory=memory) == []
    fake_slack.set_channel("C0BAD", is_member=True)
    assert [r.status for r in run(deps, NOW + timedelta(minutes=6), memory=memory)] == ["posted"]
    assert len(fake_slack.messages("C0001")) == 1
    assert good.id != bad.id


def test_render_results_prints_readable_lines(make_deps, store, busy_service):
    deps = make_deps(busy_service)
    subscribe(store)
    results = run(deps, dry_run=True)
    text = render_results(results)
    assert text.startswith("=== Digest #1 → C0001 (2026-06-10): dry_run")
    assert "Zuora failures · last 24h" in text
    assert "[Open failures]" in text
    assert message_lines(results[0].message)[0] == "Zuora failures · last 24h"
    assert render_results([]) == "No digest is due.\n"


def test_run_due_digests_finds_emails_of_an_account_named_by_number(make_deps, store, fake_slack):
    # No callout pairs A00000002 with its id; the runner asks Zuora once.
    service = FakeService([], [email(account_id=ACC2), email(account_id=ACC1)])
    deps = make_deps(service)
    sub = subscribe(store, kind="emails", accounts=("A00000002",))
    (result,) = run(deps)
    assert result.status == "posted"
    assert result.message is not None
    assert result.message.text.startswith(
        "Zuora failures in the last 24h: 1 failed email across 1 account"
    )
    assert ACC2 in str(result.message.blocks)
    assert service.lookups == ["A00000002"]
    assert store.list_digest_runs(sub.id)[0].status == "posted"


def test_run_due_digests_unknown_account_is_logged_and_matches_nothing(
    make_deps, store, fake_slack, busy_service, caplog
):
    deps = make_deps(busy_service)
    subscribe(store, accounts=("A404",))
    with caplog.at_level(logging.WARNING, logger="bot.digest.service"):
        (result,) = run(deps)
    assert result.status == "posted"
    assert (
        fake_slack.messages("C0001")[0]["text"] == "No failed Zuora notifications in the last 24h."
    )
    assert any("A404" in record.getMessage() for record in caplog.records)


# --- `zuora-ops digest` and a tick by hand over the sandbox ---------------------------------------


def test_cli_digest_without_settings_exits_2(capsys):
    from bot.cli import main

    assert main(["digest", "--dry-run"]) == 2
    assert "SLACK_BOT_TOKEN" in capsys.readouterr().err


@pytest.fixture
def sandbox(monkeypatch, tmp_path):
    """Fake Zuora and fake Slack on 127.0.0.1, and the environment the CLI and the clock read."""
    from bot.sandbox.fake_env import fakes_env
    from bot.sandbox.fake_zuora import FakeZuora
    from bot.sandbox.tenant import build_tenant

    tenant = build_tenant(seed=7, now=datetime.now(UTC), accounts=8, days=2)
    with FakeZuora(tenant).start() as zuora, FakeSlack(token="xoxb-digest-main-test") as slack:
        env = {
            **fakes_env(
                slack,
                zuora,
                bot_token="xoxb-digest-main-test",
                signing_secret="8f742231b10e8888abcd99yyyzzz85a5",
                timezone=tenant.timezone,
            ),
            "DATABASE_URL": f"sqlite:///{tmp_path}/main.db",
            "DIGEST_POST_INTERVAL": "0",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        db = Store.from_url(env["DATABASE_URL"])
        try:
            # Due at 23:59 UTC: only --force makes it due (unless the test runs in that minute).
            subscribe(db, "C0DIGEST", hour=23, minute=59)
        finally:
            db.close()
        yield slack


def tick_by_hand() -> list[Any]:
    """One forced tick with the deps the entry points build from the environment (posts for real)."""
    from bot.deps import build_deps
    from bot.settings import Settings

    deps = build_deps(Settings.load())
    try:
        return run_due_digests(deps, deps.now(), force=True, owner="test:by-hand")
    finally:
        deps.close()


def test_cli_digest_dry_run_prints_the_messages_and_posts_nothing(sandbox, capsys):
    from bot.cli import main

    assert main(["digest", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("=== Digest #1 → C0DIGEST (")
    assert "Zuora failures · last 24h" in out
    assert sandbox.calls("chat.postMessage") == []


def test_cli_digest_force_posts_once_a_day_and_reports_failures(sandbox):
    from bot.cli import main

    assert main(["digest", "--force"]) == 0
    assert len(sandbox.messages("C0DIGEST")) == 1
    assert main(["digest", "--force"]) == 0  # already posted today: nothing to do
    assert len(sandbox.calls("chat.postMessage")) == 1


def test_cli_digest_exits_1_when_a_channel_fails(sandbox):
    from bot.cli import main

    sandbox.set_channel("C0DIGEST", is_member=False)
    assert main(["digest", "--force"]) == 1
    assert sandbox.messages("C0DIGEST") == []
