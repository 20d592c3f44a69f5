"""`/zuora alerts` through signed dispatch: subscribe, list and unsubscribe, the allow-list, usage errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack_fixtures import Harness, all_text, dispatch_harness

CHANNEL = "C0001"  # the channel slash_command_body sends from
ALERTS = "C0ALERTS"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path, allowed_users="U0ALLOWED") as started:
        started.slack.set_channel(CHANNEL, name="billing-ops", is_member=True)
        started.slack.set_channel(ALERTS, name="alerts", is_member=True)
        yield started


def _answer(harness: Harness, text: str, *, user_id: str = "U0ALLOWED") -> dict[str, Any]:
    """The message that settles a command: the post after the ack, else the ack itself."""
    reply = harness.command(text, user_id=user_id)
    assert reply.status == 200
    posts = harness.posts(reply.response_url)
    assert all(post.get("replace_original") is not True for post in posts)
    return posts[-1] if posts else reply.ack


def test_alerts_subscribe_stores_and_confirms(harness: Harness) -> None:
    reply = harness.command(
        f"alerts subscribe <#{ALERTS}|alerts> threshold 7 per 20 minutes kind callouts",
        user_id="U0ALLOWED",
    )
    assert "Checking your access" in reply.ack["text"]  # the receipt acks first
    answer = harness.posts(reply.response_url)[-1]
    assert "Subscribed: spike alert #" in answer["text"]
    (sub,) = harness.deps.store.list_alert_subscriptions()
    assert (sub.channel_id, sub.threshold, sub.minutes, sub.kind) == (ALERTS, 7, 20, "callouts")
    assert sub.created_by == "U0ALLOWED"


def test_alerts_subscribe_defaults_to_this_channel(harness: Harness) -> None:
    _answer(harness, "alerts subscribe")
    (sub,) = harness.deps.store.list_alert_subscriptions()
    assert (sub.channel_id, sub.threshold, sub.minutes, sub.kind) == (CHANNEL, 10, 15, "all")


def test_alerts_subscribe_needs_the_allow_list(harness: Harness) -> None:
    answer = _answer(harness, "alerts subscribe threshold 5 per 10m", user_id="U0STRANGER")
    assert "allow-list" in all_text(answer) and "Nothing was subscribed" in all_text(answer)
    assert harness.deps.store.list_alert_subscriptions() == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("alerts subscribe threshold 0 per 10 minutes", "out of range"),
        ("alerts subscribe threshold many per 10 minutes", "needs a number of failures"),
        ("alerts subscribe threshold 5 per 2 minutes", "5 to 1440 minutes"),
        ("alerts subscribe threshold 5", "over how long"),
        ("alerts subscribe kind faxes", "is not a kind"),
        ("alerts subscribe threshhold 5 per 10 minutes", "does not understand"),
        ("alerts unsubscribe x", "is not an alert id"),
        ("alerts", "What should alerts do"),
    ],
)
def test_alerts_bad_command_text_is_a_usage_error(harness: Harness, text: str, says: str) -> None:
    reply = harness.command(text, user_id="U0ALLOWED")
    assert says in all_text(reply.ack)
    assert harness.posts(reply.response_url) == []
    assert harness.deps.store.list_alert_subscriptions() == []


def test_alerts_subscribe_to_an_unknown_channel_is_refused(harness: Harness) -> None:
    answer = _answer(harness, "alerts subscribe <#C0NOWHERE|gone>")
    assert "can't see that channel" in all_text(answer)
    assert harness.deps.store.list_alert_subscriptions() == []


def test_alerts_list_and_unsubscribe(harness: Harness) -> None:
    assert "No spike alerts yet" in all_text(_answer(harness, "alerts list"))
    _answer(harness, "alerts subscribe threshold 3 per 30 minutes kind emails")
    (sub,) = harness.deps.store.list_alert_subscriptions()
    listed = _answer(harness, "alerts list", user_id="U0ANYONE")  # anyone may list
    assert f"#{sub.id}: 3 or more failed emails of one cause within 30 minutes" in all_text(listed)
    denied = _answer(harness, f"alerts unsubscribe {sub.id}", user_id="U0ANYONE")
    assert "allow-list" in all_text(denied)
    assert harness.deps.store.list_alert_subscriptions()
    gone = _answer(harness, f"alerts unsubscribe {sub.id}")
    assert f"#{sub.id} unsubscribed" in all_text(gone)
    assert harness.deps.store.list_alert_subscriptions() == []
    again = _answer(harness, f"alerts unsubscribe {sub.id}")  # a repeat: already gone, said so
    assert f"Spike alert #{sub.id} was already unsubscribed" in all_text(again)
    unknown = _answer(harness, f"alerts unsubscribe {sub.id + 100}")
    assert f"no spike alert #{sub.id + 100}" in all_text(unknown)
