"""Tests for the audit card: entries counted in words, within Slack's limits, no foreign tokens."""

from __future__ import annotations

from bot.audit.cards import build_audit_card
from bot.slack.message import SlackMessage
from bot.store import ResendAuditEntry
from tests.support.cards import (
    NOW,
    assert_no_foreign_tokens,
    assert_within_slack_limits,
    history_id,
    mrkdwn_texts,
)


def test_build_audit_card_counts_entries_in_words():
    def entry(n: int) -> ResendAuditEntry:
        return ResendAuditEntry(
            id=n,
            requested_at=NOW,
            team_id="T1",
            user_id="U0ALLOWED",
            account_key="A00000001",
            kind="email",
            ids=(history_id(n, "e"),),
            track_id=f"zops-{n}",
            dedup_key=f"d{n}",
            status="succeeded",
            outcome={},
            error=None,
            finished_at=NOW,
            audit_channel=None,
            audit_ts=None,
        )

    def summary(message: SlackMessage) -> str:
        return message.blocks[1]["elements"][0]["text"]

    one = build_audit_card([entry(1)], total=1, offset=0, account=None)
    assert summary(one) == "1 entry · Newest first · kept permanently"
    assert one.text == "Resend audit trail: 1 entry"
    page = build_audit_card([entry(n) for n in range(10)], total=37, offset=10, account=None)
    assert summary(page) == "Entries 11–20 of 37 · Newest first · kept permanently"
    last = build_audit_card([entry(36)], total=37, offset=36, account="A-<!here>")
    assert summary(last) == "Entry 37 of 37 · Newest first · kept permanently"
    assert last.text == "Resend audit trail · A-&lt;!here&gt;: 37 entries"
    empty = build_audit_card([], total=0, offset=0, account="<!channel>")
    assert empty.text == "No resends recorded for &lt;!channel&gt; yet."
    for message in (one, page, last, empty):
        assert_within_slack_limits(message)
        for text in [message.text, *mrkdwn_texts(message)]:
            assert_no_foreign_tokens(text)
