"""The loopback fake Slack and the request builders behave like Slack, seen through real slack_sdk clients."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.sandbox.fake_slack import RESPONSE_URL_LIFETIME, RESPONSE_URL_MAX_USES, FakeSlack
from bot.sandbox.slack_requests import (
    block_actions_body,
    checkbox_action_body,
    checkbox_option,
    checkboxes_state,
    sign,
    slash_command_body,
)

SECRET = "test-signing-secret"
NOW = 1_700_000_000


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the sleeps slack_sdk's retry handlers ask for instead of sleeping."""
    recorded: list[float] = []
    monkeypatch.setattr(builtin_handlers, "time", SimpleNamespace(sleep=recorded.append))
    return recorded


def client_for(fake: FakeSlack, **kwargs: object) -> WebClient:
    return WebClient(base_url=fake.base_url, token=fake.token, **kwargs)  # type: ignore[arg-type]


def signed_request(body: bytes, secret: str, timestamp: int) -> BoltRequest:
    headers: dict[str, str | Sequence[str]] = {**sign(secret, body, timestamp)}
    return BoltRequest(body=body.decode(), headers=headers)


def payload_of(body: bytes) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(parse_qs(body.decode())["payload"][0])
    return payload


def test_fake_slack_post_and_update_round_trip(fake: FakeSlack) -> None:
    client = client_for(fake)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*2 failures*"}}]

    first = client.chat_postMessage(channel="C1", text="2 failures", blocks=blocks)
    second = client.chat_postMessage(channel="C1", text="next", thread_ts=first["ts"])
    updated = client.chat_update(channel="C1", ts=first["ts"], text="Resent by <@U1>", blocks=[])

    assert first["channel"] == "C1"
    assert float(second["ts"]) > float(first["ts"])
    assert updated["ts"] == first["ts"]
    stored = fake.messages("C1")
    assert [m["ts"] for m in stored] == [first["ts"], second["ts"]]
    assert stored[0]["text"] == "Resent by <@U1>"
    assert stored[0]["blocks"] == []
    assert "edited" in stored[0]
    assert stored[1]["thread_ts"] == first["ts"]
    assert fake.calls("chat.postMessage")[0].params["blocks"] == blocks
    assert fake.calls("chat.postMessage")[0].headers["Authorization"] == f"Bearer {fake.token}"


def test_fake_slack_decodes_blocks_sent_as_form_field(fake: FakeSlack) -> None:
    blocks = [{"type": "divider"}]

    client_for(fake).api_call(
        "chat.postMessage", data={"channel": "C1", "text": "t", "blocks": json.dumps(blocks)}
    )

    assert fake.calls("chat.postMessage")[0].params["blocks"] == blocks
    assert fake.messages("C1")[0]["blocks"] == blocks


def test_fake_slack_update_of_unknown_message_fails(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as caught:
        client_for(fake).chat_update(channel="C1", ts="1.000001", text="x")

    assert caught.value.response["error"] == "message_not_found"


def test_fake_slack_rejects_wrong_token_and_unknown_method(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as bad_token:
        WebClient(base_url=fake.base_url, token="xoxb-wrong").auth_test()
    with pytest.raises(SlackApiError) as unknown:
        client_for(fake).api_call("nope.method")
    identity = client_for(fake).auth_test()

    assert bad_token.value.response["error"] == "invalid_auth"
    assert unknown.value.response["error"] == "unknown_method"
    assert (identity["team_id"], identity["user_id"], identity["bot_id"]) == (
        fake.team_id,
        fake.bot_user_id,
        fake.bot_id,
    )


def test_fake_slack_scripted_429_raises_without_retry_handler(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", retry_after=7)

    with pytest.raises(SlackApiError) as caught:
        client_for(fake, retry_handlers=[]).chat_postMessage(channel="C1", text="hi")

    assert caught.value.response.status_code == 429
    assert caught.value.response["error"] == "ratelimited"
    assert caught.value.response.headers["retry-after"] == "7"
    assert fake.messages("C1") == []


def test_fake_slack_429_is_retried_by_rate_limit_handler(
    fake: FakeSlack, sleeps: list[float]
) -> None:
    fake.fail_next("chat.postMessage", retry_after=2)
    client = client_for(fake, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])

    response = client.chat_postMessage(channel="C1", text="hi")

    assert response["ok"] is True
    assert len(fake.calls("chat.postMessage")) == 2
    assert len(sleeps) == 1 and 2 <= sleeps[0] < 3
    assert len(fake.messages("C1")) == 1


def test_fake_slack_usergroups_users_list(fake: FakeSlack) -> None:
    fake.set_usergroup("S1", ["U1", "U2"])
    client = client_for(fake)

    members = client.usergroups_users_list(usergroup="S1")
    with pytest.raises(SlackApiError) as caught:
        client.usergroups_users_list(usergroup="S404")

    assert members["users"] == ["U1", "U2"]
    assert caught.value.response["error"] == "no_such_subgroup"


def test_fake_slack_not_in_channel_unless_public_and_chat_write_public(fake: FakeSlack) -> None:
    fake.set_channel("C9", name="billing-ops", is_member=False)
    fake.set_channel("G9", name="secret", is_member=False, is_private=True)
    client = client_for(fake)

    with pytest.raises(SlackApiError) as not_member:
        client.chat_postMessage(channel="C9", text="digest")
    info = client.conversations_info(channel="C9")
    fake.chat_write_public = True
    public = client.chat_postMessage(channel="C9", text="digest")
    with pytest.raises(SlackApiError) as private:
        client.chat_postMessage(channel="G9", text="digest")
    with pytest.raises(SlackApiError) as unknown:
        client.conversations_info(channel="C404")

    assert not_member.value.response["error"] == "not_in_channel"
    assert info["channel"]["is_member"] is False
    assert info["channel"]["name"] == "billing-ops"
    assert public["ok"] is True
    assert private.value.response["error"] == "not_in_channel"
    assert unknown.value.response["error"] == "channel_not_found"


def test_fake_slack_response_url_allows_five_uses(fake: FakeSlack) -> None:
    url = fake.response_url("click")
    webhook = WebhookClient(url)

    answers = [
        webhook.send(text=f"step {i}", replace_original=True)
        for i in range(RESPONSE_URL_MAX_USES + 1)
    ]

    assert [(a.status_code, a.body) for a in answers[:-1]] == [(200, "ok")] * 5
    assert (answers[-1].status_code, answers[-1].body) == (404, "used_url")
    bodies = fake.responses(url)
    assert [b["text"] for b in bodies] == [f"step {i}" for i in range(5)]
    assert all(b["replace_original"] is True for b in bodies)
    assert len(fake.calls("response_url")) == 6


def test_fake_slack_command_response_url_never_replaces_or_deletes(fake: FakeSlack) -> None:
    url = fake.response_url("cmd", kind="command")
    webhook = WebhookClient(url)

    webhook.send(text="card one", replace_original=False)
    webhook.send(text="card two", replace_original=True)
    webhook.send_dict({"delete_original": True})

    # As Slack's staff describe it (slackapi/bolt-python#1268, slackapi/bolt-js#2287).
    assert fake.effects(url) == ["posted", "posted", "ignored"]
    assert [m["text"] for m in fake.shown(url)] == ["card one", "card two"]


def test_fake_slack_click_response_url_replaces_and_deletes_its_ephemeral_card(
    fake: FakeSlack,
) -> None:
    url = fake.response_url("click")
    webhook = WebhookClient(url)

    webhook.send(text="Resending…", replace_original=True)
    webhook.send(text="resent", replace_original=True)
    webhook.send(text="only you", replace_original=False)

    assert fake.effects(url) == ["replaced", "replaced", "posted"]
    assert [m["text"] for m in fake.shown(url)] == ["resent", "only you"]
    webhook.send_dict({"delete_original": True})
    assert [m["text"] for m in fake.shown(url)] == ["only you"]


def test_fake_slack_click_response_url_on_a_channel_message_edits_that_message(
    fake: FakeSlack,
) -> None:
    client = client_for(fake)
    posted = client.chat_postMessage(channel="C1", text="digest", blocks=[{"type": "divider"}])
    url = fake.response_url("click", channel="C1", message_ts=posted["ts"])

    WebhookClient(url).send(text="one account's outcome", replace_original=True)

    (shown,) = fake.messages("C1")
    assert shown["text"] == "one account's outcome" and "blocks" not in shown
    assert "edited" in shown
    WebhookClient(url).send_dict({"delete_original": True})
    assert fake.messages("C1") == []


def test_fake_slack_response_url_expires_after_thirty_minutes() -> None:
    now = [1000.0]
    with FakeSlack(clock=lambda: now[0]) as fake:
        url = fake.response_url("click")
        webhook = WebhookClient(url)
        now[0] += RESPONSE_URL_LIFETIME
        in_time = webhook.send(text="still fine", replace_original=False)
        now[0] += 1
        late = webhook.send(text="too late", replace_original=False)

    assert (in_time.status_code, late.status_code, late.body) == (200, 404, "expired_url")
    assert [m["text"] for m in fake.shown(url)] == ["still fine"]


def test_fake_slack_response_url_429_is_retried_by_webhook_client(
    fake: FakeSlack, sleeps: list[float]
) -> None:
    url = fake.response_url("retry")
    fake.fail_next("response_url", status=429, retry_after=1, error="rate_limited")
    webhook = WebhookClient(url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])

    answer = webhook.send(text="done", response_type="ephemeral", delete_original=False)

    assert (answer.status_code, answer.body) == (200, "ok")
    assert len(sleeps) == 1
    assert fake.responses(url) == [
        {"text": "done", "response_type": "ephemeral", "delete_original": False}
    ]


def test_fake_slack_wait_for_wakes_on_call(fake: FakeSlack) -> None:
    client = client_for(fake)
    timer = threading.Timer(0.05, lambda: client.chat_postMessage(channel="C1", text="late"))
    timer.start()
    started = time.monotonic()

    arrived = fake.wait_for(lambda: len(fake.messages("C1")) == 1, timeout=5)
    never = fake.wait_for(lambda: len(fake.messages("C1")) == 2, timeout=0.05)
    timer.join()

    assert arrived is True
    assert never is False
    assert time.monotonic() - started < 2


def test_fake_slack_ephemeral_users_info_and_latency(fake: FakeSlack) -> None:
    fake.set_user("U7", name="bob", tz="Europe/Paris")
    client = client_for(fake)

    ephemeral = client.chat_postEphemeral(channel="C1", user="U7", text="only you")
    user = client.users_info(user="U7")
    fake.latency = 0.1
    started = time.monotonic()
    client.auth_test()
    elapsed = time.monotonic() - started

    assert ephemeral["message_ts"]
    assert fake.messages("C1") == []
    assert (user["user"]["name"], user["user"]["tz"]) == ("bob", "Europe/Paris")
    assert elapsed >= 0.1


def test_fake_slack_reset_forgets_calls_and_messages(fake: FakeSlack) -> None:
    client_for(fake).chat_postMessage(channel="C1", text="hi")

    fake.reset()

    assert fake.calls() == []
    assert fake.messages("C1") == []


def test_sign_is_accepted_by_signature_verifier() -> None:
    body = slash_command_body(text="help", response_url="https://hooks.example/r/1")
    headers = sign(SECRET, body, NOW)

    valid = SignatureVerifier(SECRET, clock=FixedClock(NOW + 10))
    wrong_secret = SignatureVerifier("another-secret", clock=FixedClock(NOW))
    stale = SignatureVerifier(SECRET, clock=FixedClock(NOW + 301))

    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert valid.is_valid_request(body, headers) is True
    assert wrong_secret.is_valid_request(body, headers) is False
    assert stale.is_valid_request(body, headers) is False
    assert valid.is_valid_request(body + b"&x=1", headers) is False


def test_slash_command_body_has_every_slack_field() -> None:
    body = slash_command_body(text="failures A00000001 7d", response_url="https://r.example/1")

    fields = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}

    assert set(fields) == {
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    }
    assert fields["command"] == "/zuora"
    assert fields["text"] == "failures A00000001 7d"
    assert b"command=%2Fzuora" in body


def test_block_actions_body_ephemeral_and_message_containers() -> None:
    message = {"type": "message", "ts": "1700000000.000100", "text": "card", "blocks": []}

    ephemeral = payload_of(
        block_actions_body(action_id="a", value="v", block_id="b", response_url="https://r/1")
    )
    in_channel = payload_of(
        block_actions_body(
            action_id="a", value="v", block_id="b", response_url="https://r/1", message=message
        )
    )

    assert ephemeral["container"]["is_ephemeral"] is True
    assert "message" not in ephemeral
    assert in_channel["container"] == {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": "C0001",
        "is_ephemeral": False,
    }
    assert in_channel["message"] == message
    assert in_channel["actions"] == [
        {
            "action_id": "a",
            "block_id": "b",
            "text": {"type": "plain_text", "text": "Button", "emoji": True},
            "type": "button",
            "action_ts": "1700000000.000001",
            "value": "v",
        }
    ]
    assert in_channel["enterprise"] is None
    assert in_channel["state"] == {"values": {}}


def test_checkbox_action_body_reports_selection_in_action_and_state() -> None:
    options = [checkbox_option("E1"), checkbox_option("E2")]

    payload = payload_of(
        checkbox_action_body(
            action_id="pick", block_id="rows", response_url="https://r/1", selected_options=options
        )
    )

    assert payload["actions"][0]["type"] == "checkboxes"
    assert payload["actions"][0]["selected_options"] == options
    assert payload["state"] == {"values": checkboxes_state("rows", "pick", options)}


def test_signed_bodies_dispatch_through_bolt_and_respond_reaches_fake(fake: FakeSlack) -> None:
    app = App(client=client_for(fake), signing_secret=SECRET, process_before_response=True)
    seen: list[str] = []

    @app.command("/zuora")
    def on_command(ack, command, respond):  # type: ignore[no-untyped-def]
        ack()
        seen.append(command["text"])
        respond(text="working", replace_original=False)

    @app.action("resend")
    def on_click(ack, body, respond):  # type: ignore[no-untyped-def]
        ack()
        seen.append(body["actions"][0]["value"])
        respond(text="resent", replace_original=True)

    command_url, click_url = fake.response_url("cmd"), fake.response_url("click")
    now = int(time.time())
    command = slash_command_body(text="status", response_url=command_url)
    click = block_actions_body(
        action_id="resend", value="E1", block_id="row", response_url=click_url
    )

    first = app.dispatch(signed_request(command, SECRET, now))
    second = app.dispatch(signed_request(click, SECRET, now))
    forged = app.dispatch(signed_request(click, "not-the-secret", now))

    assert (first.status, second.status, forged.status) == (200, 200, 401)
    assert seen == ["status", "E1"]
    assert fake.responses(command_url) == [{"text": "working", "replace_original": False}]
    assert fake.responses(click_url) == [{"text": "resent", "replace_original": True}]


def test_fake_slack_history_returns_metadata_only_when_asked() -> None:
    with FakeSlack() as fake:
        client = WebClient(token=fake.token, base_url=fake.base_url)
        first = client.chat_postMessage(
            channel="C1",
            text="digest",
            metadata={"event_type": "zuora_ops_digest", "event_payload": {"digest_key": "1:x"}},
        )
        second = client.chat_postMessage(channel="C1", text="later")
        assert "metadata" not in first["message"]

        plain = client.conversations_history(channel="C1")
        assert [m["ts"] for m in plain["messages"]] == [second["ts"], first["ts"]]
        assert all("metadata" not in m for m in plain["messages"])
        full = client.conversations_history(channel="C1", include_all_metadata=True)
        assert full["messages"][1]["metadata"] == {
            "event_type": "zuora_ops_digest",
            "event_payload": {"digest_key": "1:x"},
        }
        assert float(first["ts"]) < float(second["ts"])


def test_fake_slack_history_bounds_and_pages_like_slack() -> None:
    with FakeSlack() as fake:
        client = WebClient(token=fake.token, base_url=fake.base_url)
        ts = [client.chat_postMessage(channel="C1", text=f"m{n}")["ts"] for n in range(5)]

        exclusive = client.conversations_history(channel="C1", oldest=ts[1], latest=ts[3])
        assert [m["ts"] for m in exclusive["messages"]] == [ts[2]]
        inclusive = client.conversations_history(
            channel="C1", oldest=ts[1], latest=ts[3], inclusive=True
        )
        assert [m["ts"] for m in inclusive["messages"]] == [ts[3], ts[2], ts[1]]
        page = client.conversations_history(channel="C1", limit=2)
        assert page["has_more"] is True and [m["ts"] for m in page["messages"]] == ts[:2:-1]
        rest = client.conversations_history(
            channel="C1", limit=2, cursor=page["response_metadata"]["next_cursor"]
        )
        assert [m["ts"] for m in rest["messages"]] == [ts[2], ts[1]]
        fake.set_channel("C2", is_member=False, is_private=True)
        with pytest.raises(SlackApiError) as refused:
            client.conversations_history(channel="C2")
        assert refused.value.response["error"] == "not_in_channel"


def test_fake_slack_delayed_reply_makes_the_change_first() -> None:
    import httpx

    with FakeSlack() as fake:
        fake.delay_replies("chat.postMessage", 30)
        done = threading.Event()

        def post() -> None:
            httpx.post(
                f"{fake.base_url}chat.postMessage",
                json={"channel": "C1", "text": "hi"},
                headers={"Authorization": f"Bearer {fake.token}"},
            )
            done.set()

        threading.Thread(target=post, daemon=True).start()
        assert fake.wait_for(lambda: len(fake.messages("C1")) == 1, timeout=5)
        assert not done.wait(timeout=0.2)  # stored, but the poster has not heard back yet
        fake.delay_replies("chat.postMessage", 0)  # lowering the delay releases the held answer
        assert done.wait(timeout=5)
