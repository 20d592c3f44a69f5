"""Alerts that don't shout (issue 19): thread replies, the edit switch, mutes from the alert's own menu,
muted causes on `/zuora outages` and in the digest; on SQLite and PostgreSQL.

The production App gets signed block_actions and commands (Bolt's dispatch, as in tests/scenario); the
clock's checks run against the fake Zuora and the fake Slack (real HTTP on 127.0.0.1) with a settable
clock shared by all three. Nothing sleeps for real.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient

from bot.alerts.quiet import REPLY_EVENT_TYPE, REPLY_KEY_FIELD
from bot.alerts.service import run_alert_checks
from bot.app import create_app
from bot.core.actions import ActionId
from bot.deps import Deps, build_deps
from bot.digest.service import run_due_digests
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_requests import block_actions_body, sign, slash_command_body
from bot.settings import AlertSettings
from bot.slack.io import retry_handlers
from bot.store import NewAlertSubscription, NewSubscription
from tests.alerts.test_service import ALERTS, CHECK, QUIET, START, Clock, ClockDeps, Tenant_
from tests.support.crash_doubles import Crash, CrashingSlack
from tests.support.db_urls import database
from tests.support.stack_fixtures import all_text

ALLOWED = "U0ALLOWED"
THREAD_EVERY = timedelta(minutes=10)
JsonDict = dict[str, Any]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


@dataclass
class Bot:
    """The App and its Deps over the fakes, with the clock's check and Slack's requests at hand."""

    deps: Deps
    app: App
    slack: FakeSlack
    clock: Clock
    tenant: Tenant_

    def check(self, owner: str = "clock") -> list[str]:
        actions = run_alert_checks(
            self.deps, self.clock.now(), owner=owner, clock=self.clock.now, sleep=lambda _s: None
        )
        return [action.outcome for action in actions]

    def fail_and_check(self, count: int = 1) -> list[str]:
        """`count` new failures half a minute ago, a check interval later, then a check."""
        self.tenant.fail(*[self.clock.now() - timedelta(seconds=30)] * count)
        self.clock.advance(CHECK)
        return self.check()

    def dispatch(self, body: bytes) -> int:
        headers: dict[str, Any] = dict(
            sign(self.deps.settings.slack.signing_secret.get_secret_value(), body, int(time.time()))
        )
        return self.app.dispatch(BoltRequest(body=body.decode(), headers=headers)).status

    def command(self, text: str, user_id: str = ALLOWED) -> JsonDict:
        """Run `/zuora <text>` from the alerts channel; the answer posted after the ack."""
        url = self.slack.response_url("cmd", kind="command")
        body = slash_command_body(text=text, response_url=url, user_id=user_id, channel_id=ALERTS)
        assert self.dispatch(body) == 200
        return self.slack.responses(url)[-1]

    def pick(
        self,
        choice: str,
        *,
        user_id: str = ALLOWED,
        message: JsonDict | None = None,
        value: str | None = None,
    ) -> JsonDict:
        """Pick a Mute choice ('1h', '24h', 'rec') or 'Unmute' on the alert; what the clicker is told."""
        message = message or self.alert()
        element = mute_element(message, choice)
        url = self.slack.response_url(
            "click", kind="interaction", channel=ALERTS, message_ts=str(message["ts"])
        )
        picked = value if value is not None else element["value"]
        body = block_actions_body(
            action_id=element["action_id"],
            block_id=element["block_id"],
            response_url=url,
            user_id=user_id,
            channel_id=ALERTS,
            message={"ts": message["ts"], "text": message.get("text", ""), "blocks": []},
            message_ts=str(message["ts"]),
            value=picked if choice == "Unmute" else None,
            selected_option=None if choice == "Unmute" else {"text": {}, "value": picked},
        )
        assert self.dispatch(body) == 200
        (told,) = self.slack.responses(url)
        assert told.get("replace_original") is not True  # the clicker alone, the alert left alone
        return told

    def alert(self) -> JsonDict:
        """The newest top-level message in the alerts channel."""
        return [m for m in self.slack.messages(ALERTS) if "thread_ts" not in m][-1]

    def replies(self) -> list[JsonDict]:
        return [m for m in self.slack.messages(ALERTS) if "thread_ts" in m]


def mute_element(message: JsonDict, choice: str) -> JsonDict:
    """The alert's Mute option for `choice` (with its select's ids), or its Unmute button."""
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if choice == "Unmute" and element.get("action_id") == ActionId.ALERT_UNMUTE:
                return {**element, "block_id": block["block_id"]}
            if element.get("action_id") == ActionId.ALERT_MUTE:
                for option in element["options"]:
                    if f'"d":"{choice}"' in option["value"]:
                        return {
                            "action_id": element["action_id"],
                            "block_id": block["block_id"],
                            "value": option["value"],
                        }
    raise AssertionError(f"no {choice} control on {all_text(message)[:300]}")


@pytest.fixture
def bot(db_url: str, make_settings: Any) -> Iterator[Bot]:
    clock = Clock()
    tenant = Tenant_(clock)
    tenant.zuora.start()
    slack = FakeSlack(clock=clock.unix).start()
    slack.set_channel(ALERTS, name="alerts", is_member=True)
    settings = make_settings(
        slack={"bot_token": slack.token, "api_url": slack.base_url},
        zuora={
            "base_url": tenant.zuora.base_url,
            "client_id": tenant.zuora.client_id,
            "client_secret": tenant.zuora.client_secret,
            "tenant_timezone": "UTC",
        },
        store={"database_url": db_url},
        digest={"post_interval": 0},
    )
    alert = AlertSettings(
        _env_file=None,
        check_interval=CHECK.total_seconds(),
        quiet_period=QUIET.total_seconds(),
        thread_interval=THREAD_EVERY.total_seconds(),
    )
    deps = build_deps(settings.model_copy(update={"alert": alert}), now=clock.now)
    try:
        yield Bot(deps, create_app(deps, process_before_response=True), slack, clock, tenant)
    finally:
        deps.close()
        slack.stop()
        tenant.zuora.stop()


def subscribe(bot: Bot) -> int:
    return bot.deps.store.add_alert_subscription(
        NewAlertSubscription(
            team_id="T0001",
            channel_id=ALERTS,
            created_by=ALLOWED,
            created_at=START - timedelta(days=1),
            threshold=3,
            minutes=15,
            kind="callouts",
        )
    ).id


def open_alert(bot: Bot) -> int:
    """A subscription and its first alert (3 failures); the subscription's id."""
    sub_id = subscribe(bot)
    bot.tenant.fail(*[bot.clock.now() - timedelta(minutes=m) for m in (9, 6, 2)])
    assert bot.check() == ["posted"]
    return sub_id


# --- thread replies ----------------------------------------------------------------------------


def test_growth_is_one_bounded_thread_reply_and_the_alert_is_still_edited(bot: Bot) -> None:
    open_alert(bot)
    parent = bot.alert()
    assert bot.fail_and_check(2) == ["updated"]  # 5 minutes: the alert edited, no reply yet
    assert "Spike: 5 failed callouts" in bot.alert()["text"] and bot.replies() == []
    assert bot.fail_and_check(3) == ["updated", "replied"]  # 10 minutes since the post: one reply
    (reply,) = bot.replies()
    assert reply["thread_ts"] == parent["ts"]
    assert reply["text"] == "now 8 failures across 1 account (+5 since 09:30 UTC)"
    assert reply["metadata"]["event_type"] == REPLY_EVENT_TYPE
    assert reply["metadata"]["event_payload"][REPLY_KEY_FIELD].endswith(":r1")
    assert "Spike: 8 failed callouts" in bot.alert()["text"]
    call = bot.slack.calls("chat.postMessage")[-1]
    assert call.params["reply_broadcast"] in (False, "false", "0")
    assert bot.fail_and_check() == ["updated"]  # within 10 minutes of the reply: edit only
    assert bot.fail_and_check() == ["updated", "replied"]
    assert bot.replies()[-1]["text"].startswith("now 10 failures across 1 account (+2 since ")
    assert len([m for m in bot.slack.messages(ALERTS) if "thread_ts" not in m]) == 1


def test_edit_switch_keeps_growth_in_place(bot: Bot) -> None:
    sub_id = open_alert(bot)
    refused = bot.command(f"alerts updates {sub_id} edit", user_id="U0STRANGER")
    assert "allow-list" in all_text(refused)
    assert bot.deps.store.alert_update_mode(sub_id) == "thread"
    assert "not `thread` or `edit`" not in all_text(bot.command(f"alerts updates {sub_id} edit"))
    assert bot.deps.store.alert_update_mode(sub_id) == "edit"
    for _ in range(3):
        assert bot.fail_and_check(2) == ["updated"]
    assert bot.replies() == []
    assert "Spike: 9 failed callouts" in bot.alert()["text"]
    unknown = bot.command(f"alerts updates {sub_id + 50} thread")
    assert f"no active spike alert #{sub_id + 50}" in all_text(unknown)


def test_a_thread_reply_interrupted_after_posting_is_found_not_posted_twice(bot: Bot) -> None:
    open_alert(bot)
    client = WebClient(
        token=bot.slack.token, base_url=bot.slack.base_url, retry_handlers=retry_handlers()
    )
    dying = ClockDeps(bot.deps.settings, bot.deps.service, bot.deps.store, CrashingSlack(client))
    bot.fail_and_check(2)
    bot.tenant.fail(bot.clock.now() - timedelta(seconds=30))
    bot.clock.advance(CHECK)
    dying.slack.crash = "after"
    with pytest.raises(Crash):
        run_alert_checks(dying, bot.clock.now(), owner="dying", clock=bot.clock.now)
    assert len(bot.replies()) == 1  # Slack took it; the record says 'posting'
    bot.clock.advance(CHECK)  # past ALERT_CLAIM_LEASE: another clock takes the reply over
    assert "replied" in bot.check(owner="taker")
    assert len(bot.replies()) == 1
    incident = bot.deps.store.list_alert_incidents()[0]
    rows = bot.deps.store.list_thread_replies(incident.id)
    assert [(row.seq, row.state) for row in rows] == [(0, "posted"), (1, "posted")]
    assert rows[1].message_ts == bot.replies()[0]["ts"]


# --- mutes ---------------------------------------------------------------------------------------


def test_mute_one_hour_silences_updates_then_they_resume(bot: Bot) -> None:
    open_alert(bot)
    told = bot.pick("1h")
    assert "Muted" in told["text"]
    muted = bot.alert()
    assert f"Muted* by <@{ALLOWED}> until <!date^" in all_text(muted)
    (mute,) = bot.deps.store.active_mutes("T0001", bot.clock.now()).values()
    assert (mute.muted_by, mute.muted_at) == (ALLOWED, bot.clock.now())
    assert mute.until == bot.clock.now() + timedelta(hours=1)
    mute_element(muted, "Unmute")  # the menu became an Unmute button
    edits, posts = len(bot.slack.calls("chat.update")), len(bot.slack.calls("chat.postMessage"))
    for _ in range(11):  # 55 minutes of growth: counted, never shown
        assert bot.fail_and_check() == []
    assert len(bot.slack.calls("chat.update")) == edits
    assert len(bot.slack.calls("chat.postMessage")) == posts
    assert bot.deps.store.list_alert_incidents()[0].count == 14
    assert bot.fail_and_check() == ["updated", "replied"]  # the hour is over
    shown = all_text(bot.alert())
    assert "Spike: 15 failed callouts" in bot.alert()["text"] and "Muted*" not in shown
    assert bot.replies()[-1]["text"].startswith("now 15 failures across 1 account (+12 since ")


def test_unmute_from_the_alert_resumes_at_once(bot: Bot) -> None:
    open_alert(bot)
    bot.pick("24h")
    assert bot.fail_and_check() == []
    assert "Unmuted" in bot.pick("Unmute")["text"]
    assert "Muted*" not in all_text(bot.alert())
    assert bot.fail_and_check() == ["updated", "replied"]  # 10 minutes since the post
    (mute,) = bot.deps.store.list_cause_mutes(
        "T0001", bot.deps.store.list_alert_incidents()[0].cause_id
    )
    assert (mute.unmuted_by, mute.end_reason) == (ALLOWED, "unmuted")


def test_until_recovered_mute_ends_when_the_alert_recovers(bot: Bot) -> None:
    open_alert(bot)
    bot.pick("rec")
    assert bot.fail_and_check() == []
    bot.clock.advance(QUIET)
    assert bot.check() == ["recovered"]
    assert "Recovered: 4 failed callouts" in bot.alert()["text"]
    cause = bot.deps.store.list_alert_incidents()[0].cause_id
    (mute,) = bot.deps.store.list_cause_mutes("T0001", cause)
    assert mute.end_reason == "recovered" and mute.until is None
    assert bot.deps.store.active_mutes("T0001", bot.clock.now()) == {}
    # The next spike of that cause is alerted again.
    bot.tenant.fail(*[bot.clock.now() - timedelta(minutes=m) for m in (3, 2, 1)])
    assert bot.check() == ["posted"]


def test_a_muted_cause_is_still_on_outages_and_in_the_digest(bot: Bot) -> None:
    open_alert(bot)
    bot.pick("1h")
    outages = all_text(bot.command("outages 24h"))
    assert "4 callouts" in outages or "3 callouts" in outages
    assert f":no_bell: muted by <@{ALLOWED}> until <!date^" in outages
    bot.deps.store.add_subscription(
        NewSubscription(
            team_id="T0001",
            channel_id=ALERTS,
            created_by=ALLOWED,
            created_at=START - timedelta(days=1),
            hour=9,
            minute=0,
            timezone="UTC",
            accounts=(),
            kind="all",
            quiet=False,
        )
    )
    run_due_digests(bot.deps, bot.clock.now(), force=True, owner="digest", sleep=lambda _s: None)
    digest = bot.alert()
    assert "Zuora failures" in all_text(digest)
    assert "Muted alert causes" in all_text(digest)
    assert f"muted by <@{ALLOWED}> until <!date^" in all_text(digest)


def test_a_stranger_cannot_mute(bot: Bot) -> None:
    open_alert(bot)
    edits = len(bot.slack.calls("chat.update"))
    told = bot.pick("1h", user_id="U0STRANGER")
    assert "allow-list" in all_text(told) and "Nothing was muted" in all_text(told)
    assert bot.deps.store.active_mutes(None, bot.clock.now()) == {}
    assert len(bot.slack.calls("chat.update")) == edits


@pytest.mark.parametrize(
    ("forge", "says"),
    [
        ('{"v":1,"i":999,"c":"aaaaaaaaaa","d":"1h"}', "does not belong to an alert"),
        ("not json", "out of date"),
        ('{"v":1,"i":1,"c":"aaaaaaaaaa","d":"1h"}', "does not belong to an alert"),
        ('{"v":1,"i":1,"c":"aaaaaaaaaa","d":"forever"}', "out of date"),
    ],
)
def test_a_forged_mute_click_changes_nothing(bot: Bot, forge: str, says: str) -> None:
    open_alert(bot)
    edits = len(bot.slack.calls("chat.update"))
    told = bot.pick("1h", value=forge)
    assert says in all_text(told).lower() or says in all_text(told)
    assert bot.deps.store.active_mutes(None, bot.clock.now()) == {}
    assert len(bot.slack.calls("chat.update")) == edits


def test_a_mute_click_on_another_message_or_a_recovered_alert_changes_nothing(bot: Bot) -> None:
    open_alert(bot)
    alert = bot.alert()
    elsewhere = {**alert, "ts": "1781083800.000001"}
    told = bot.pick("1h", message=elsewhere, value=mute_element(alert, "1h")["value"])
    assert "does not belong to an alert" in all_text(told)
    bot.clock.advance(QUIET + CHECK)
    assert bot.check() == ["recovered"]
    told = bot.pick("1h", message=alert, value=mute_element(alert, "1h")["value"])
    assert "already recovered" in all_text(told)
    assert bot.deps.store.active_mutes(None, bot.clock.now()) == {}


def test_a_refused_thread_reply_is_given_up_and_the_next_counts_from_the_last_shown(
    bot: Bot,
) -> None:
    open_alert(bot)
    bot.fail_and_check()
    bot.slack.fail_next("chat.postMessage", status=200, retry_after=None, error="is_archived")
    assert bot.fail_and_check() == ["updated", "refused"]
    assert bot.replies() == []
    for _ in range(2):
        bot.fail_and_check()
    assert bot.replies()[-1]["text"].startswith(
        "now 7 failures across 1 account (+4 since 09:30 UTC)"
    )
