"""Every /zuora path acks before anything that can wait: the store, Slack's Web API, Zuora.

The digest tests run in Bolt's default mode (as on gunicorn), where dispatch returns at the ack,
with the fake Slack answering usergroups.users.list with 429 and Retry-After: the ack must come
back before the Retry-After elapses, and the one answer through response_url after it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import Mock
from urllib.parse import parse_qs

import pytest
from slack_bolt import Ack
from slack_bolt.error import BoltError

from bot.app import create_app
from bot.core.command_text import parse_zuora_command
from bot.sandbox.slack_requests import slash_command_body
from bot.store.database import Store
from handlers.commands import run_command
from tests.support.stack_fixtures import BIG_ACCOUNT, Harness, all_text, dispatch_harness

CHANNEL = "C0001"  # the channel slash_command_body sends from
GROUP = "S0BILLING"
MEMBER = "U0MEMBER"
OUTSIDER = "U0OUTSIDER"
RETRY_AFTER = 2  # seconds; Slack sends whole seconds
DENIED = "You are not on the resend allow-list"


class CountingStore:
    """The real Store, counting every method called on it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attr(*args, **kwargs)

        return counted


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path, allowed_users=GROUP) as started:
        started.slack.set_channel(CHANNEL, name="billing-ops", is_member=True)
        started.slack.set_usergroup(GROUP, [MEMBER])
        yield started


@pytest.fixture
def default_mode(tmp_path: Path) -> Iterator[Harness]:
    """The App as gunicorn runs it: dispatch returns as soon as the listener acks."""
    with dispatch_harness(tmp_path, process_before_response=False, allowed_users=GROUP) as started:
        started.slack.set_channel(CHANNEL, name="billing-ops", is_member=True)
        started.slack.set_usergroup(GROUP, [MEMBER])
        yield started


def _command_body(harness: Harness, text: str, user_id: str) -> dict[str, Any]:
    url = harness.slack.response_url("cmd")
    raw = slash_command_body(text=text, response_url=url, user_id=user_id)
    return {key: values[0] for key, values in parse_qs(raw.decode()).items()}


@pytest.mark.parametrize(
    "text",
    [
        "help",
        f"failures {BIG_ACCOUNT}",
        "status",
        "resend 2c92c0f87a3b4e21017a3c5d6e7f8091",
        "audit",
        f"audit {BIG_ACCOUNT}",
        "digest list",
        "digest preview",
        "digest subscribe",
        "digest unsubscribe 1",
    ],
)
def test_command_acks_before_the_store_slack_or_zuora(harness: Harness, text: str) -> None:
    store = CountingStore(harness.deps.store)
    deps = dataclasses.replace(harness.deps, store=store)  # type: ignore[arg-type]
    seen: list[tuple[list[str], list[str], int]] = []
    ack = Mock(spec=Ack)
    ack.side_effect = lambda *a, **k: seen.append(
        (
            list(store.calls),
            [call.method for call in harness.slack.calls()],
            len(harness.zuora.requests()),
        )
    )
    body = _command_body(harness, text, MEMBER)

    run_command(deps, parse_zuora_command(text), body, ack)

    ack.assert_called_once()
    assert seen == [([], [], 0)], "the store, Slack or Zuora was used before the ack"


def test_command_digest_subscribe_checks_the_group_only_after_the_ack(harness: Harness) -> None:
    ack = Mock(spec=Ack)
    ack.side_effect = lambda *a, **k: seen.append(len(harness.slack.calls("usergroups.users.list")))
    seen: list[int] = []
    body = _command_body(harness, "digest subscribe", MEMBER)

    run_command(harness.deps, parse_zuora_command("digest subscribe"), body, ack)

    assert seen == [0]
    assert len(harness.slack.calls("usergroups.users.list")) == 1
    (answer,) = harness.posts(body["response_url"])
    assert answer["text"].startswith("Subscribed: digest #")


@pytest.mark.parametrize(
    ("user_id", "said", "subscriptions"),
    [
        pytest.param(MEMBER, "Subscribed: digest #", 1, id="group-member"),
        pytest.param(OUTSIDER, DENIED, 0, id="outsider"),
    ],
)
def test_command_digest_subscribe_acks_before_a_rate_limited_group_check(
    default_mode: Harness, user_id: str, said: str, subscriptions: int
) -> None:
    harness = default_mode
    harness.slack.fail_next("usergroups.users.list", status=429, retry_after=RETRY_AFTER)
    started = time.monotonic()

    reply = harness.command("digest subscribe", user_id=user_id)

    acked_in = time.monotonic() - started
    assert reply.status == 200
    assert reply.ack["text"] == (
        "Checking your access, the channel and the accounts; the answer follows below."
    )
    assert acked_in < RETRY_AFTER, (
        f"ack took {acked_in:.2f} s, the 429's Retry-After is {RETRY_AFTER} s"
    )
    (answer,) = harness.wait_posts(reply.response_url, 1, timeout=RETRY_AFTER + 10)
    assert time.monotonic() - started >= RETRY_AFTER, "the answer came after waiting out the 429"
    assert said in all_text(answer)
    assert answer["response_type"] == "ephemeral"
    # A command's response_url never replaces the ack (bolt-python#1268): the answer is its own post.
    assert answer["replace_original"] is False
    lookups = harness.slack.calls("usergroups.users.list")
    assert [call.params["usergroup"] for call in lookups] == [GROUP, GROUP]  # 429, then the retry
    assert len(harness.deps.store.list_subscriptions()) == subscriptions
    # One post settles the command: nothing else follows the answer.
    assert not harness.slack.wait_for(lambda: len(harness.posts(reply.response_url)) > 1, 0.3)


def test_command_digest_denial_says_what_did_not_happen(harness: Harness) -> None:
    harness.command("digest subscribe kind emails", user_id=MEMBER)
    (sub,) = harness.deps.store.list_subscriptions()

    subscribe = harness.command("digest subscribe kind callouts", user_id=OUTSIDER)
    unsubscribe = harness.command(f"digest unsubscribe {sub.id}", user_id=OUTSIDER)

    (refused,) = harness.posts(subscribe.response_url)
    assert DENIED in refused["text"] and "Nothing was subscribed." in refused["text"]
    assert "a Zuora Ops admin" in refused["text"]
    (kept,) = harness.posts(unsubscribe.response_url)
    assert DENIED in kept["text"] and f"Digest #{sub.id} was not removed." in kept["text"]
    assert harness.deps.store.list_subscriptions() == [sub]


# --- Bolt's auth.test ---------------------------------------------------------------------------


def test_command_first_request_of_an_unverified_app_calls_auth_test(
    default_mode: Harness,
) -> None:
    # Why the entry points verify at boot: otherwise Bolt asks Slack before the first ack.
    reply = default_mode.command("help")

    assert reply.status == 200
    assert len(default_mode.slack.calls("auth.test")) == 1


def test_command_app_verified_at_boot_acks_without_asking_slack(default_mode: Harness) -> None:
    app = create_app(default_mode.deps, verify_token=True)
    assert len(default_mode.slack.calls("auth.test")) == 1, "auth.test runs at boot"
    booted = dataclasses.replace(default_mode, app=app)
    default_mode.slack.fail_next("auth.test", status=429, retry_after=RETRY_AFTER, times=5)
    started = time.monotonic()

    reply = booted.command("help")

    assert time.monotonic() - started < RETRY_AFTER
    assert reply.status == 200
    assert "/zuora" in all_text(reply.ack)
    assert len(default_mode.slack.calls("auth.test")) == 1


def test_command_app_boot_refuses_a_token_slack_rejects(default_mode: Harness) -> None:
    default_mode.slack.fail_next("auth.test", status=200, retry_after=None, error="invalid_auth")

    with pytest.raises(BoltError, match="invalid_auth"):
        create_app(default_mode.deps, verify_token=True)


def test_command_app_boot_without_slack_warns_and_verifies_on_first_request(
    default_mode: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    default_mode.slack.stop()

    with caplog.at_level(logging.WARNING, logger="bot.app"):
        app = create_app(default_mode.deps, verify_token=True)

    assert app is not None
    assert "auth.test failed at boot" in caplog.text
    assert default_mode.stack.bot_token not in caplog.text
