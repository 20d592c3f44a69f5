"""The fake Slack's chat.unfurl and the link_shared / message_action bodies, seen through slack_sdk and
Bolt as Slack documents them (reference/methods/chat.unfurl, events/link_shared, shortcut payloads)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_slack_links import (
    SharedMessage,
    link_shared_body,
    message_action_body,
    sign_json,
    slack_text,
    user_message,
)
from bot.sandbox.slack_requests import sign

SECRET = "test-signing-secret"
LINK = "https://www.zuora.com/apps/CustomerAccount.do?method=view&id=abc"
UNFURL = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Acme"}}]}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack().start() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-fake-token", base_url=slack.base_url)


def shared(slack: FakeSlack, source: str = "conversations_history") -> SharedMessage:
    return slack.links.share(
        f"look {LINK} and https://other.example/x", domains=("zuora.com",), source=source
    )


def bolt_app(slack: FakeSlack) -> App:
    client = WebClient(token="xoxb-fake-token", base_url=slack.base_url)
    return App(client=client, signing_secret=SECRET, process_before_response=True)


def error_of(client: WebClient, **kwargs: Any) -> str:
    with pytest.raises(SlackApiError) as caught:
        client.chat_unfurl(**kwargs)
    return str(caught.value.response["error"])


def test_share_keeps_only_links_on_registered_domains_with_the_domain_matched(
    slack: FakeSlack,
) -> None:
    message = shared(slack)

    assert message.links == [{"domain": "zuora.com", "url": LINK}]
    assert message.text == f"look <{LINK.replace('&', '&amp;')}> and <https://other.example/x>"


def test_chat_unfurl_by_channel_and_ts_attaches_and_a_repeat_replaces(
    slack: FakeSlack, client: WebClient
) -> None:
    message = shared(slack)

    client.chat_unfurl(channel=message.channel, ts=message.ts, unfurls={LINK: UNFURL})
    client.chat_unfurl(channel=message.channel, ts=message.ts, unfurls={LINK: {"text": "v2"}})

    assert slack.links.unfurls(message) == {LINK: {"text": "v2"}}


def test_chat_unfurl_by_unfurl_id_and_source(slack: FakeSlack, client: WebClient) -> None:
    message = shared(slack, source="composer")

    client.chat_unfurl(unfurl_id=message.unfurl_id, source="composer", unfurls={LINK: UNFURL})

    assert slack.links.unfurls(message) == {LINK: UNFURL}
    assert message.channel == "COMPOSER"


def test_chat_unfurl_accepts_unfurls_as_json_text_in_a_form(
    slack: FakeSlack, client: WebClient
) -> None:
    message = shared(slack)

    client.api_call(
        "chat.unfurl",
        data={"channel": message.channel, "ts": message.ts, "unfurls": json.dumps({LINK: UNFURL})},
    )

    assert slack.links.unfurls(message) == {LINK: UNFURL}


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"ts": "1.2"}, "missing_channel"),
        ({"channel": "C0001"}, "missing_ts"),
        ({"channel": "C0NOWHERE", "ts": "1.2"}, "cannot_find_channel"),
        ({"channel": "C0001", "ts": "1.2"}, "cannot_find_message"),
        ({"unfurl_id": "nope", "source": "composer"}, "cannot_unfurl_url"),
        ({"unfurl_id": "x", "source": "somewhere"}, "invalid_arguments"),
    ],
)
def test_chat_unfurl_refuses_a_bad_target(
    slack: FakeSlack, client: WebClient, arguments: dict[str, str], error: str
) -> None:
    shared(slack)

    assert error_of(client, unfurls={LINK: UNFURL}, **arguments) == error


def test_chat_unfurl_refuses_bad_unfurls(slack: FakeSlack, client: WebClient) -> None:
    message = shared(slack)
    target = {"channel": message.channel, "ts": message.ts}

    assert error_of(client, **target) == "missing_unfurls"
    assert error_of(client, unfurls={LINK: "text"}, **target) == "invalid_unfurls_format"  # type: ignore[dict-item]
    assert error_of(client, unfurls={LINK: {"nothing": 1}}, **target) == "cannot_parse_attachment"
    other = "https://other.example/x"
    assert error_of(client, unfurls={other: UNFURL}, **target) == "cannot_unfurl_message"
    assert slack.links.unfurls(message) == {}


def test_chat_unfurl_needs_the_bot_token(slack: FakeSlack) -> None:
    message = shared(slack)
    stranger = WebClient(token="xoxb-someone-else", base_url=slack.base_url)

    assert error_of(stranger, channel=message.channel, ts=message.ts, unfurls={LINK: UNFURL}) == (
        "invalid_auth"
    )


def test_link_shared_body_is_a_signed_event_bolt_routes_to_its_listener(slack: FakeSlack) -> None:
    message = shared(slack)
    body = link_shared_body(message)
    seen: list[dict[str, Any]] = []
    app = bolt_app(slack)
    app.event("link_shared")(lambda event: seen.append(event))

    headers = sign_json(SECRET, body, int(time.time()))
    reply = app.dispatch(BoltRequest(body=body.decode(), headers=headers))

    assert reply.status == 200
    (event,) = seen
    assert event["links"] == [{"domain": "zuora.com", "url": LINK}]
    assert (event["channel"], event["message_ts"], event["unfurl_id"]) == (
        message.channel,
        message.ts,
        message.unfurl_id,
    )
    assert json.loads(body)["type"] == "event_callback"


def test_message_action_body_is_a_signed_shortcut_bolt_routes_by_callback_id(
    slack: FakeSlack,
) -> None:
    message = shared(slack)
    body = message_action_body(
        user_message(message), callback_id="cb", response_url="https://hooks.example/r"
    )
    seen: list[dict[str, Any]] = []
    app = bolt_app(slack)

    def listener(ack: Any, shortcut: dict[str, Any]) -> None:
        ack()
        seen.append(shortcut)

    app.shortcut("cb")(listener)
    reply = app.dispatch(
        BoltRequest(body=body.decode(), headers=sign(SECRET, body, int(time.time())))
    )

    assert reply.status == 200
    (shortcut,) = seen
    assert shortcut["type"] == "message_action"
    assert shortcut["message"]["text"] == message.text
    assert shortcut["response_url"] == "https://hooks.example/r"
    assert set(parse_qs(body.decode())) == {"payload"}


def test_slack_text_escapes_and_wraps_urls() -> None:
    assert slack_text("a < b & https://x.example/?a=1&b=2") == (
        "a &lt; b &amp; <https://x.example/?a=1&amp;b=2>"
    )
