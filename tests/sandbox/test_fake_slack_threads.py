"""The fake Slack's threads: chat.postMessage with thread_ts, and conversations.replies, as Slack documents
them (a thread_ts naming no top-level message of the channel is refused: a written-down guess)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.fake_slack import FakeSlack

CHANNEL = "C0ALERTS"
METADATA = {"event_type": "zuora_ops_alert_reply", "event_payload": {"reply_key": "k:r1"}}


@pytest.fixture
def slack() -> Iterator[tuple[FakeSlack, WebClient]]:
    with FakeSlack() as fake:
        fake.set_channel(CHANNEL, name="alerts", is_member=True)
        yield fake, WebClient(token=fake.token, base_url=fake.base_url)


def test_a_thread_reply_is_recorded_under_its_parent_and_kept_out_of_history(slack) -> None:
    fake, client = slack
    parent = client.chat_postMessage(channel=CHANNEL, text="Spike")["ts"]
    reply = client.chat_postMessage(
        channel=CHANNEL, text="now 5", thread_ts=parent, reply_broadcast=False, metadata=METADATA
    )
    assert reply["message"]["thread_ts"] == parent
    history = client.conversations_history(channel=CHANNEL)["messages"]
    assert [m["ts"] for m in history] == [parent]
    thread = client.conversations_replies(channel=CHANNEL, ts=parent)["messages"]
    assert [m["ts"] for m in thread] == [parent, reply["ts"]]
    assert "metadata" not in thread[1]
    thread = client.conversations_replies(channel=CHANNEL, ts=parent, include_all_metadata=True)
    assert thread["messages"][1]["metadata"] == METADATA
    assert [m.get("thread_ts") for m in fake.messages(CHANNEL)] == [None, parent]


def test_a_reply_to_no_message_or_to_a_reply_is_refused(slack) -> None:
    fake, client = slack
    parent = client.chat_postMessage(channel=CHANNEL, text="Spike")["ts"]
    reply = client.chat_postMessage(channel=CHANNEL, text="now 5", thread_ts=parent)["ts"]
    for thread_ts in ("1700000000.000001", reply):
        with pytest.raises(SlackApiError) as refused:
            client.chat_postMessage(channel=CHANNEL, text="x", thread_ts=thread_ts)
        assert refused.value.response["error"] == "thread_not_found"
    with pytest.raises(SlackApiError) as refused:
        client.conversations_replies(channel=CHANNEL, ts="1700000000.000001")
    assert refused.value.response["error"] == "thread_not_found"
    assert len(fake.messages(CHANNEL)) == 2


def test_replies_are_paged_and_bounded_by_oldest(slack) -> None:
    _fake, client = slack
    parent = client.chat_postMessage(channel=CHANNEL, text="Spike")["ts"]
    replies = [
        client.chat_postMessage(channel=CHANNEL, text=f"r{n}", thread_ts=parent)["ts"]
        for n in range(3)
    ]
    first = client.conversations_replies(channel=CHANNEL, ts=parent, limit=2)
    assert first["has_more"] and [m["ts"] for m in first["messages"]] == [parent, replies[0]]
    cursor = first["response_metadata"]["next_cursor"]
    rest = client.conversations_replies(channel=CHANNEL, ts=parent, limit=2, cursor=cursor)
    assert not rest["has_more"] and [m["ts"] for m in rest["messages"]] == replies[1:]
    late = client.conversations_replies(channel=CHANNEL, ts=parent, oldest=replies[1])
    assert [m["ts"] for m in late["messages"]] == [parent, replies[2]]
