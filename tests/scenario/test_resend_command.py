"""`/zuora resend <ids>` through Bolt's dispatch: a confirm card first, the resend and its audit only
on the confirm button.

The production App (`create_app`) runs against the sandbox Zuora and the fake Slack over loopback HTTP.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.scenario import RESEND_CONFIRM, confirm_card, failing_email, resendable_email
from tests.support.stack_fixtures import Harness, all_text, button, dispatch_harness


def test_app_resend_command_resends_only_on_the_confirm_button(harness: Harness) -> None:
    history_id = resendable_email(harness)
    confirm = confirm_card(harness, [history_id])
    assert history_id in all_text(confirm)

    cancel = harness.click(button(confirm, "zuora.resend_cancel"))
    assert "Nothing was resent" in harness.posts(cancel.response_url)[0]["text"]
    assert harness.resends() == []

    click = harness.click(button(confirm, RESEND_CONFIRM))

    assert harness.posts(click.response_url)[-1]["text"].startswith("1 of 1 email resent")
    assert harness.resends() == [("email", (history_id,))]


def test_app_audit_channel_gets_one_message_and_the_outcome_in_its_thread(
    tmp_path: Path,
) -> None:
    with dispatch_harness(tmp_path, audit_channel="C0AUDIT") as harness:
        bad, code, _ = failing_email(harness)
        good = resendable_email(harness)
        confirm = confirm_card(harness, [good, bad])

        harness.click(button(confirm, RESEND_CONFIRM), user_id="U0ALICE")

        announcement, reply = harness.slack.messages("C0AUDIT")
        assert "thread_ts" not in announcement
        assert "<@U0ALICE> asked Zuora to resend 2 emails" in announcement["text"]
        assert reply["thread_ts"] == announcement["ts"]
        assert "1 of 2 resent" in reply["text"] and bad in reply["text"] and code in reply["text"]
        (entry,) = harness.deps.store.list_resends()
        assert (entry.audit_channel, entry.audit_ts) == ("C0AUDIT", announcement["ts"])
