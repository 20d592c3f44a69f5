"""Spike alerts: the clock's check against the fake Zuora and the fake Slack with a settable clock, on
SQLite and PostgreSQL.

A crash is a BaseException raised around chat.postMessage (the clock "dies"); a second clock is another
Store on the same database with its own Slack client. Nothing sleeps for real.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.alerts.cards import AlertCard, build_alert
from bot.alerts.service import ALERT_EVENT_TYPE, run_alert_checks
from bot.clock import run_clock
from bot.core.actions import ActionId, OutageRef, decode_value
from bot.failures.service import NotificationService
from bot.outages.causes import callout_cause
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import FakeAccount, FakeCallout, Tenant
from bot.settings import AlertSettings, Settings
from bot.slack.io import retry_handlers
from bot.slack.message import check_limits
from bot.store import AlertSpike, AlertSubscription, NewAlertSubscription
from bot.store.database import Store
from bot.zuora.client import ZuoraClient
from bot.zuora.models import CalloutHistory
from tests.support.crash_doubles import Crash, CrashingSlack
from tests.support.db_urls import database
from tests.support.stack_fixtures import all_text, button, buttons, mrkdwn_texts

ALERTS = "C0ALERTS"
START = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)
CHECK = timedelta(minutes=5)
QUIET = timedelta(minutes=30)
LEASE = timedelta(seconds=120)
HOOK = "https://hooks.acme.example/zuora/orders/{n}/notify?a=1&b=<x>"


# --- the check ---------------------------------------------------------------------------------


class Clock:
    """A settable UTC clock shared by the bot, the fake Zuora and the fake Slack's timestamps."""

    def __init__(self) -> None:
        self.current = START
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self.current

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.current += delta

    def unix(self) -> float:
        return self.now().timestamp()


@dataclass(frozen=True)
class ClockDeps:
    """One clock process: settings, its own Zuora client, Store and Slack client."""

    settings: Settings
    service: NotificationService
    store: Store
    slack: Any


class Tenant_:
    """The fake Zuora tenant with one account; failures are added by hand at chosen times."""

    def __init__(self, clock: Clock) -> None:
        self.account = FakeAccount(id=secrets.token_hex(16), number="A00000001", name="Acme")
        self.tenant = Tenant(now=START, accounts=[self.account], timezone="UTC")
        self.zuora = FakeZuora(self.tenant, clock=clock.now)

    def fail(
        self, *times: datetime, endpoint: int = 1, code: int = 503, url: str | None = None
    ) -> None:
        for at in times:
            default = (
                HOOK.format(n=1000 + len(self.tenant.callouts))
                if endpoint == 1
                else f"https://other{endpoint}.example/hook"
            )
            self.tenant.add_callout(
                FakeCallout(
                    id=secrets.token_hex(16),
                    create_time=at,
                    event_category=1210,
                    notification="Invoice Posted",
                    request_url=url or default,
                    response_code=code,
                    attempted_num=3,
                    response_content="Service Unavailable",
                    event_id=secrets.token_hex(16),
                    object_id=secrets.token_hex(16),
                    account=self.account,
                )
            )
        self.zuora.reindex()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake_slack(clock: Clock) -> Iterator[FakeSlack]:
    with FakeSlack(clock=clock.unix) as server:
        server.set_channel(ALERTS, name="alerts", is_member=True)
        yield server


@pytest.fixture
def tenant(clock: Clock) -> Iterator[Tenant_]:
    built = Tenant_(clock)
    built.zuora.start()
    try:
        yield built
    finally:
        built.zuora.stop()


@pytest.fixture
def clocks(
    db_url: str, make_settings: Any, fake_slack: FakeSlack, tenant: Tenant_, clock: Clock
) -> Iterator[Callable[..., ClockDeps]]:
    """Build clock processes: each its own Store, Zuora client and Slack client on the one database."""
    built: list[ClockDeps] = []

    def build(*, crash: str | None = None) -> ClockDeps:
        settings = make_settings(
            zuora={
                "base_url": tenant.zuora.base_url,
                "client_id": tenant.zuora.client_id,
                "client_secret": tenant.zuora.client_secret,
                "tenant_timezone": "UTC",
            },
            store={"database_url": db_url},
            digest={"post_interval": 0},
        )
        settings = settings.model_copy(
            update={
                "alert": AlertSettings(
                    _env_file=None,
                    check_interval=CHECK.total_seconds(),
                    quiet_period=QUIET.total_seconds(),
                    claim_lease=LEASE.total_seconds(),
                )
            }
        )
        client = WebClient(
            token=fake_slack.token, base_url=fake_slack.base_url, retry_handlers=retry_handlers()
        )
        deps = ClockDeps(
            settings=settings,
            service=NotificationService(ZuoraClient.from_settings(settings.zuora), now=clock.now),
            store=Store.from_url(db_url),
            slack=CrashingSlack(client, crash),
        )
        built.append(deps)
        return deps

    yield build
    for deps in built:
        deps.service.close()
        deps.store.close()


def subscribe(store: Store, *, threshold: int = 3, minutes: int = 15) -> int:
    return store.add_alert_subscription(
        NewAlertSubscription(
            team_id="T0001",
            channel_id=ALERTS,
            created_by="U0001",
            created_at=START - timedelta(days=1),
            threshold=threshold,
            minutes=minutes,
            kind="callouts",
        )
    ).id


def check(deps: ClockDeps, clock: Clock, owner: str = "clock-a") -> list[Any]:
    return run_alert_checks(deps, clock.now(), owner=owner, clock=clock.now, sleep=lambda _s: None)


def minutes_ago(clock: Clock, *minutes: float) -> list[datetime]:
    return [clock.now() - timedelta(minutes=m) for m in minutes]


def posts(fake_slack: FakeSlack) -> list[Any]:
    return fake_slack.calls("chat.postMessage")


def updates(fake_slack: FakeSlack) -> list[Any]:
    return fake_slack.calls("chat.update")


def replay_ref(message: dict[str, Any]) -> OutageRef:
    return decode_value(button(message, ActionId.OUTAGE_REPLAY.value)["value"], OutageRef)


def test_alert_spike_posts_once_then_grows_by_update(clocks, clock, tenant, fake_slack):
    deps = clocks()
    sub_id = subscribe(deps.store)
    tenant.fail(*minutes_ago(clock, 9, 6, 2))
    (action,) = check(deps, clock)
    assert action.outcome == "posted"

    (message,) = fake_slack.messages(ALERTS)
    assert message["ts"] == action.message_ts
    assert message["metadata"]["event_type"] == ALERT_EVENT_TYPE
    assert "Spike: 3 failed callouts" in message["text"]
    text = all_text(message)
    assert "hooks.acme.example/zuora/orders/*/notify → HTTP 503" in text
    assert "Accounts affected*\n1" in text and "<!date^" in text
    ref = replay_ref(message)
    cause, _ = callout_cause(
        CalloutHistory.model_validate(
            {"createTime": START, "requestUrl": HOOK.format(n=42), "responseCode": 503}
        )
    )
    assert (ref.c, ref.n) == (cause.id, 3)
    assert ref.start <= clock.now() - timedelta(minutes=9) and ref.end > clock.now() - timedelta(
        minutes=2
    )
    resend = button(message, ActionId.OUTAGE_REPLAY.value)
    assert resend["text"]["text"] == "Resend all 3"
    assert "3 failed callouts" in resend["confirm"]["text"]["text"]
    assert "1 account" in resend["confirm"]["text"]["text"]

    # Two more failures: the next check updates the same message, posts nothing new.
    tenant.fail(*minutes_ago(clock, 1, 0.5))
    clock.advance(CHECK)
    (action,) = check(deps, clock)
    assert action.outcome == "updated"
    assert len(posts(fake_slack)) == 1
    (update,) = updates(fake_slack)
    assert update.params["ts"] == message["ts"]
    (message,) = fake_slack.messages(ALERTS)
    assert "Spike: 5 failed callouts" in message["text"]
    assert replay_ref(message).n == 5
    (incident,) = deps.store.list_alert_incidents(sub_id)
    assert (incident.state, incident.count, incident.seq) == ("open", 5, 1)

    # A second check within the same interval (another clock tick) neither posts nor updates.
    tenant.fail(clock.now() - timedelta(seconds=10))
    assert check(deps, clock) == []
    assert len(updates(fake_slack)) == 1 and len(posts(fake_slack)) == 1


def test_alert_quiet_below_threshold_posts_nothing(clocks, clock, tenant, fake_slack):
    deps = clocks()
    subscribe(deps.store, threshold=3, minutes=15)
    tenant.fail(*minutes_ago(clock, 40, 20, 1))  # three failures, but only one in the last 15 min
    tenant.fail(*minutes_ago(clock, 5, 1), endpoint=2)  # another cause: two, below the threshold
    assert check(deps, clock) == []
    clock.advance(CHECK)
    assert check(deps, clock) == []
    assert posts(fake_slack) == [] and fake_slack.messages(ALERTS) == []


def test_alert_spike_already_over_when_first_seen_posts_nothing(clocks, clock, tenant, fake_slack):
    deps = clocks()
    subscribe(deps.store, threshold=3, minutes=24 * 60)
    tenant.fail(*minutes_ago(clock, 300, 299, 298))  # a spike that ended five hours ago
    assert check(deps, clock) == [], "an alert would call history 'ongoing'"
    assert posts(fake_slack) == []
    tenant.fail(*minutes_ago(clock, 3, 2, 1))  # a live spike of the same cause does alert
    (posted,) = check(deps, clock)
    assert posted.outcome == "posted"


def test_alert_recovers_in_place_and_a_new_spike_is_a_new_post(clocks, clock, tenant, fake_slack):
    deps = clocks()
    sub_id = subscribe(deps.store)
    tenant.fail(*minutes_ago(clock, 3, 2, 1))
    (posted,) = check(deps, clock)
    last_failure = clock.now() - timedelta(minutes=1)

    outcomes = []
    while clock.now() < last_failure + QUIET + CHECK:
        clock.advance(CHECK)
        outcomes += [a.outcome for a in check(deps, clock)]
    assert outcomes == ["recovered"]
    (message,) = fake_slack.messages(ALERTS)
    assert message["ts"] == posted.message_ts
    assert "Recovered: 3 failed callouts" in message["text"]
    assert "Recovered" in all_text(message) and buttons(message, ActionId.OUTAGE_REPLAY.value)
    assert len(posts(fake_slack)) == 1
    (incident,) = deps.store.list_alert_incidents(sub_id)
    assert incident.state == "recovered" and incident.shown_state == "recovered"

    # The same cause spikes again: a new incident, a new message; the old one stays recovered.
    tenant.fail(*minutes_ago(clock, 4, 3, 2, 1))
    clock.advance(CHECK)
    (again,) = check(deps, clock)
    assert again.outcome == "posted" and again.message_ts != posted.message_ts
    first, second = fake_slack.messages(ALERTS)
    assert "Recovered" in first["text"] and "Spike: 4 failed callouts" in second["text"]
    assert [i.seq for i in deps.store.list_alert_incidents(sub_id)] == [1, 2]


def test_alert_two_clocks_on_one_database_post_once(clocks, clock, tenant, fake_slack):
    a, b = clocks(), clocks()
    subscribe(a.store)
    tenant.fail(*minutes_ago(clock, 5, 4, 3, 2))
    barrier = threading.Barrier(2)
    results: dict[str, list[Any]] = {}

    def run(name: str, deps: ClockDeps) -> None:
        barrier.wait(timeout=10)
        results[name] = check(deps, clock, owner=name)

    threads = [threading.Thread(target=run, args=(n, d)) for n, d in (("a", a), ("b", b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    outcomes = sorted(action.outcome for actions in results.values() for action in actions)
    assert outcomes == ["posted"]
    assert len(fake_slack.messages(ALERTS)) == 1

    # Both keep checking as the spike grows: one update per check between them, never a new post;
    # one thread reply between them once ALERT_THREAD_INTERVAL (10 minutes) has passed.
    for expected in (["updated"], ["updated", "replied"], ["updated"]):
        tenant.fail(clock.now() - timedelta(seconds=30))
        clock.advance(CHECK)
        done = check(a, clock, owner="a") + check(b, clock, owner="b")
        assert [action.outcome for action in done] == expected
    parents = [call for call in posts(fake_slack) if "thread_ts" not in call.params]
    assert len(parents) == 1 and len(updates(fake_slack)) == 3
    assert len(posts(fake_slack)) == 2  # the alert and its one thread reply
    assert "Spike: 7 failed callouts" in fake_slack.messages(ALERTS)[0]["text"]


def test_alert_restart_mid_incident_updates_instead_of_reposting(clocks, clock, tenant, fake_slack):
    first = clocks()
    sub_id = subscribe(first.store)
    tenant.fail(*minutes_ago(clock, 3, 2, 1))
    check(first, clock, owner="first")
    first.store.close()

    restarted = clocks()  # a new process: nothing remembered but the database
    tenant.fail(clock.now())
    clock.advance(CHECK)
    (action,) = check(restarted, clock, owner="restarted")
    assert action.outcome == "updated"
    assert len(posts(fake_slack)) == 1
    (message,) = fake_slack.messages(ALERTS)
    assert "Spike: 4 failed callouts" in message["text"]
    (incident,) = restarted.store.list_alert_incidents(sub_id)
    assert incident.count == 4


def test_alert_crash_after_post_is_found_in_slack_not_posted_again(
    clocks, clock, tenant, fake_slack
):
    dying = clocks(crash="after")
    sub_id = subscribe(dying.store)
    tenant.fail(*minutes_ago(clock, 3, 2, 1))
    with pytest.raises(Crash):
        check(dying, clock, owner="dying")
    assert len(fake_slack.messages(ALERTS)) == 1
    (incident,) = dying.store.list_alert_incidents(sub_id)
    assert incident.state == "posting"

    heir = clocks()
    assert check(heir, clock, owner="heir") == []  # the dead clock's lease has not lapsed
    clock.advance(CHECK)
    tenant.fail(clock.now() - timedelta(minutes=1))
    actions = check(heir, clock, owner="heir")
    assert [a.outcome for a in actions] == ["found"]
    (message,) = fake_slack.messages(ALERTS)
    assert actions[0].message_ts == message["ts"]
    history = fake_slack.calls("conversations.history")
    assert [c.params.get("include_all_metadata") for c in history] == ["1"]
    # The next check brings the found message up to date, in place.
    clock.advance(CHECK)
    assert [a.outcome for a in check(heir, clock, owner="heir")] == ["updated"]
    (message,) = fake_slack.messages(ALERTS)
    assert "Spike: 4 failed callouts" in message["text"]
    assert len(posts(fake_slack)) == 1


def test_alert_crash_before_post_is_posted_by_the_next_clock(clocks, clock, tenant, fake_slack):
    dying = clocks(crash="before")
    subscribe(dying.store)
    tenant.fail(*minutes_ago(clock, 3, 2, 1))
    with pytest.raises(Crash):
        check(dying, clock, owner="dying")
    assert fake_slack.messages(ALERTS) == []

    heir = clocks()
    clock.advance(CHECK)
    actions = check(heir, clock, owner="heir")
    assert [a.outcome for a in actions] == ["posted"]
    assert len(fake_slack.messages(ALERTS)) == 1
    assert len(fake_slack.calls("conversations.history")) == 1  # checked first, found nothing
    clock.advance(CHECK)
    assert [a.outcome for a in check(heir, clock, owner="heir")] == []
    assert len(posts(fake_slack)) == 1


def test_alert_message_escapes_the_cause(clocks, clock, tenant, fake_slack):
    deps = clocks()
    subscribe(deps.store, threshold=2)
    evil = "https://evil.example/<!channel>&x/<@U0BOSS>"
    tenant.fail(*minutes_ago(clock, 2, 1), url=evil, code=500)
    (action,) = check(deps, clock)
    assert action.outcome == "posted"
    (message,) = fake_slack.messages(ALERTS)
    for text in mrkdwn_texts(message):
        assert "<!channel>" not in text and "<@U0BOSS>" not in text
    assert "&lt;!channel&gt;&amp;x" in all_text(message)


def test_alert_unverifiable_interrupted_post_is_never_posted_again(
    clocks, clock, tenant, fake_slack
):
    dying = clocks(crash="before")
    sub_id = subscribe(dying.store)
    tenant.fail(*minutes_ago(clock, 3, 2, 1))
    with pytest.raises(Crash):
        check(dying, clock, owner="dying")

    heir = clocks()
    clock.advance(CHECK)
    fake_slack.fail_next("conversations.history", status=200, error="missing_scope")
    assert [a.outcome for a in check(heir, clock, owner="heir")] == ["unconfirmed"]
    assert fake_slack.messages(ALERTS) == []
    # The spike goes on: still one incident, counted, never posted; it recovers without a message.
    tenant.fail(clock.now() - timedelta(minutes=1))
    clock.advance(CHECK)
    assert check(heir, clock, owner="heir") == []
    (incident,) = heir.store.list_alert_incidents(sub_id)
    assert (incident.state, incident.count) == ("unconfirmed", 4)
    clock.advance(QUIET)
    check(heir, clock, owner="heir")
    (incident,) = heir.store.list_alert_incidents(sub_id)
    assert incident.state == "recovered"
    assert posts(fake_slack) == []


def test_alert_refused_post_is_tried_again_next_check(clocks, clock, tenant, fake_slack):
    deps = clocks()
    sub_id = subscribe(deps.store)
    tenant.fail(*minutes_ago(clock, 3, 2, 1))
    fake_slack.fail_next("chat.postMessage", status=200, error="not_in_channel")
    (action,) = check(deps, clock)
    assert (action.outcome, action.detail) == ("failed", "not_in_channel")
    assert fake_slack.messages(ALERTS) == []
    clock.advance(CHECK)
    (action,) = check(deps, clock)
    assert action.outcome == "posted"
    assert len(fake_slack.messages(ALERTS)) == 1
    (incident,) = deps.store.list_alert_incidents(sub_id)
    assert (incident.state, incident.seq) == ("open", 1)


def test_alert_unsubscribed_mid_incident_still_recovers(clocks, clock, tenant, fake_slack):
    deps = clocks()
    sub_id = subscribe(deps.store)
    tenant.fail(*minutes_ago(clock, 3, 2, 1))
    check(deps, clock)
    assert deps.store.remove_alert_subscription(sub_id, team_id="T0001")
    clock.advance(QUIET + CHECK)
    assert [a.outcome for a in check(deps, clock)] == ["recovered"]
    (message,) = fake_slack.messages(ALERTS)
    assert "Recovered" in message["text"]
    tenant.fail(*minutes_ago(clock, 3, 2, 1))  # a new spike: nobody subscribes any more
    clock.advance(CHECK)
    assert check(deps, clock) == []
    assert len(posts(fake_slack)) == 1


def test_alert_store_opens_each_spike_once_and_counts_growth_once(clocks, clock):
    deps = clocks()
    sub_id = subscribe(deps.store)
    spike = AlertSpike(
        count=3,
        accounts=frozenset({"a1"}),
        first_at=START - timedelta(minutes=3),
        last_at=START - timedelta(minutes=1),
        hourly={START.replace(minute=0): 3},
    )
    opened = [
        deps.store.open_alert_incident(
            sub_id,
            cause_id="abcdefghij",
            seq=1,
            cause_kind="callout",
            label="x",
            spike=spike,
            owner=owner,
            now=START,
        )
        for owner in ("a", "b")
    ]
    assert opened[0] is not None and opened[1] is None
    more = AlertSpike(
        count=2,
        accounts=frozenset({"a2"}),
        first_at=START,
        last_at=START + timedelta(minutes=1),
        hourly={START.replace(minute=0): 2},
    )
    grown = deps.store.grow_alert_incident(opened[0].id, seen_last_at=spike.last_at, spike=more)
    assert grown is not None and (grown.count, grown.accounts) == (5, ("a1", "a2"))
    assert grown.hourly == {START.replace(minute=0): 5}
    # A second clock that read the same last failure adds nothing.
    assert (
        deps.store.grow_alert_incident(opened[0].id, seen_last_at=spike.last_at, spike=more) is None
    )
    assert deps.store.get_alert_incident(opened[0].id).count == 5


def test_clock_runs_the_alert_check(clocks, clock, tenant, fake_slack):
    deps = clocks()
    subscribe(deps.store)
    tenant.fail(*minutes_ago(clock, 3, 2, 1))
    stop = threading.Event()

    @dataclass(frozen=True)
    class WithNow:
        settings: Settings
        service: NotificationService
        store: Store
        slack: Any

        def now(self) -> datetime:
            return clock.now()

    ticks = []

    def wait(seconds: float) -> None:
        ticks.append(clock.now())
        clock.advance(timedelta(seconds=seconds))
        if len(ticks) >= 7:
            stop.set()

    clocked = WithNow(deps.settings, deps.service, deps.store, deps.slack)
    run_clock(clocked, stop, owner="clock", wait=wait)  # type: ignore[arg-type]
    assert len(posts(fake_slack)) == 1  # first tick: posted; no new failure, so no update after
    assert updates(fake_slack) == []


def _alert_card(**fields: Any) -> AlertCard:
    """An open alert card of subscription 1 at START; `fields` override its cause and counts."""
    sub = AlertSubscription(
        id=1,
        team_id="T1",
        channel_id=ALERTS,
        created_by="U1",
        created_at=START,
        threshold=5,
        minutes=15,
        kind="all",
    )
    base: dict[str, Any] = {
        "cause_id": "abcdefghij",
        "cause_kind": "email",
        "label": "550 5.1.1 user unknown",
        "state": "open",
        "count": 42,
        "account_count": 7,
        "first_at": START - timedelta(hours=1),
        "last_at": START,
        "hourly": {},
        "quiet_minutes": 30,
        "now": START,
    }
    return AlertCard(subscription=sub, **(base | fields))


def test_build_alert_keeps_within_slack_limits_with_a_huge_cause() -> None:
    card = _alert_card(
        label="<&>" * 5000,
        count=123456,
        account_count=999,
        first_at=START - timedelta(days=3),
        hourly={START.replace(minute=0) - timedelta(hours=h): h for h in range(80)},
    )
    message = build_alert(card)
    check_limits(message)
    payload = message.as_payload()
    assert "Resend all 123456" in all_text(payload)
    assert all("<&>" not in text for text in mrkdwn_texts(payload))


@pytest.mark.parametrize("kind", ["callout", "email"])
def test_build_alert_resend_all_confirm_previews_the_replay(kind: str) -> None:
    card = _alert_card(cause_kind=kind, label="https://hooks.example.com/zuora → 503")
    payload = build_alert(card).as_payload()
    buttons = [
        e
        for b in payload["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if "confirm" in e
    ]
    confirm = buttons[0]["confirm"]["text"]["text"]

    assert "current template" in confirm
    assert ("Zuora still retries" in confirm) is (kind == "callout")
    check_limits(build_alert(card))
