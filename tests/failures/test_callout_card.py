"""Tests for the callout details card: a snapshot, huge content truncated and escaped, a callout without
content or id."""

from __future__ import annotations

from bot.failures.callout_card import build_callout_details
from tests.support.cards import assert_within_slack_limits, make_account, make_callout


def test_build_callout_details_snapshot(snapshot):
    message = build_callout_details(make_callout(0), account=make_account())
    assert message.as_payload() == snapshot


def test_build_callout_details_truncates_and_escapes_huge_content():
    callout = make_callout(0, responseContent="<html>" + "<b>&</b>" * 5000)
    message = build_callout_details(callout, account=make_account())
    assert_within_slack_limits(message)
    content = message.blocks[-1]["text"]["text"]
    assert content.startswith("*Response content*\n```\n&lt;html&gt;")
    assert content.endswith("…\n```")


def test_build_callout_details_without_content_or_id():
    callout = make_callout(0, with_id=False, responseContent=None, responseCode=None)
    message = build_callout_details(callout, account=make_account())
    assert "Zuora kept no response body" in message.blocks[-1]["text"]["text"]
    assert "no response" in message.text
