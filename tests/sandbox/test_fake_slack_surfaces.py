"""Fake Slack's views.publish and conversations.open refuse what Slack refuses; the event is signed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_slack_surfaces import app_home_opened_body, signed_event_headers

HOME = {"type": "home", "blocks": [{"type": "divider"}]}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeSlack]:
    with FakeSlack(clock=clock).start() as started:
        yield started


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(base_url=fake.base_url, token=fake.token)  # no retry handlers: see the 429


def _error(call) -> SlackApiError:  # type: ignore[no-untyped-def]
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value


def test_views_publish_stores_the_view_and_answers_a_fresh_hash(
    fake: FakeSlack, client: WebClient
) -> None:
    first = client.views_publish(user_id="U1", view=HOME)["view"]
    second = client.views_publish(user_id="U1", view=HOME, hash=first["hash"])["view"]
    assert first["hash"] != second["hash"] and second["type"] == "home"
    assert fake.surfaces.home_view("U1") == second
    assert fake.surfaces.home_view("U2") is None


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"user_id": "", "view": HOME}, "invalid_arguments"),
        ({"user_id": "U1", "view": {"type": "modal", "blocks": []}}, "invalid_arguments"),
        (
            {"user_id": "U1", "view": {"type": "home", "blocks": [{"type": "divider"}] * 101}},
            "invalid_arguments",
        ),
        ({"user_id": "U1", "view": HOME, "hash": "1.stale"}, "hash_conflict"),
    ],
)
def test_views_publish_refuses_what_slack_refuses(
    fake: FakeSlack, client: WebClient, kwargs: dict, error: str
) -> None:
    refused = _error(lambda: client.views_publish(**kwargs))
    assert refused.response["error"] == error
    assert fake.surfaces.home_view("U1") is None


def test_a_home_of_exactly_100_blocks_is_accepted(client: WebClient) -> None:
    view = {"type": "home", "blocks": [{"type": "divider"}] * 100}
    assert client.views_publish(user_id="U1", view=view)["ok"] is True


def test_views_publish_is_rate_limited_per_user_with_retry_after(
    fake: FakeSlack, client: WebClient, clock: Clock
) -> None:
    for _ in range(fake.surfaces.per_minute):
        client.views_publish(user_id="U1", view=HOME)
    limited = _error(lambda: client.views_publish(user_id="U1", view=HOME))
    assert limited.response.status_code == 429 and limited.response["error"] == "ratelimited"
    assert int(limited.response.headers["Retry-After"]) >= 1
    assert client.views_publish(user_id="U2", view=HOME)["ok"] is True  # per user
    clock.now += 61
    assert client.views_publish(user_id="U1", view=HOME)["ok"] is True


def test_conversations_open_gives_one_dm_channel_per_user(client: WebClient) -> None:
    first = client.conversations_open(users="U0ALICE")["channel"]["id"]
    assert first == client.conversations_open(users="U0ALICE")["channel"]["id"]
    assert (
        first.startswith("D") and first != client.conversations_open(users="U0BOB")["channel"]["id"]
    )
    assert _error(lambda: client.conversations_open(users="")).response["error"] == (
        "users_list_not_supplied"
    )
    assert _error(lambda: client.conversations_open(users="U0BOT0001")).response["error"] == (
        "cannot_dm_bot"
    )


def test_app_home_opened_is_an_event_callback_signed_like_slack() -> None:
    body = app_home_opened_body(user_id="U1", team_id="T9", view={"hash": "1.2"})
    headers = signed_event_headers("secret", body)
    envelope = json.loads(body)
    assert envelope["type"] == "event_callback" and envelope["team_id"] == "T9"
    assert envelope["event"] == {**envelope["event"], "type": "app_home_opened", "tab": "home"}
    assert envelope["event"]["view"]["hash"] == "1.2"
    assert SignatureVerifier("secret").is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
