"""bot.failures.preview: what a bulk resend sends and leaves out, grouped, in a confirm's 300 chars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.failures.preview import (
    CONFIRM_TEXT_CHARS,
    Resent,
    callout_preview,
    email_preview,
    preview_text,
)
from bot.failures.retry_policy import RetryLimits, RetryRule
from bot.zuora.models import CalloutHistory, EmailHistory

NOW = datetime(2026, 5, 11, 10, 0, tzinfo=UTC)
RULE = RetryRule(RetryLimits(3, timedelta(minutes=30), "settings"), NOW)


def callout(n: int, code: int, attempts: int = 3, *, with_id: bool = True) -> CalloutHistory:
    return CalloutHistory.model_validate(
        {
            "id": f"{n:032x}" if with_id else None,
            "createTime": (NOW - timedelta(minutes=5)).isoformat(),
            "responseCode": code,
            "attemptedNum": attempts,
        }
    )


def test_callout_preview_groups_what_is_left_out() -> None:
    callouts = [
        callout(1, 503, 1),  # Zuora still retries
        callout(2, -2000, 1),  # invalid body
        callout(3, 500),  # exhausted: sent
        callout(4, 404, 1),  # never retried: sent
        callout(5, 500),  # already resent
        callout(6, 500, with_id=False),  # no resend id
    ]
    resent = [Resent(f"{5:032x}", "U0ALICE", NOW - timedelta(minutes=3))]

    preview = callout_preview(callouts, RULE, resent=resent)

    assert (preview.send, preview.retrying, preview.invalid_body, preview.no_id) == (2, 1, 1, 1)
    assert [r.user_id for r in preview.already] == ["U0ALICE"]
    assert preview.left_out == 4
    assert preview.reasons() == [
        "1 Zuora still retries",
        "1 with an invalid custom body (-2000)",
        "1 already resent (last by U0ALICE at 09:57 UTC)",
        "1 without a resend ID",
    ]


def test_callout_preview_includes_retried_ones_when_asked() -> None:
    preview = callout_preview([callout(1, 503, 1), callout(2, 500)], RULE, include_retrying=True)

    assert (preview.send, preview.retrying) == (2, 0)


def test_email_preview_counts_ids_and_resent() -> None:
    emails = [
        EmailHistory.model_validate({"id": "e1", "sendTime": NOW.isoformat()}),
        EmailHistory.model_validate({"sendTime": NOW.isoformat()}),
    ]

    preview = email_preview(emails, resent=[Resent("e1", "U0BOB", NOW)])

    assert (preview.send, preview.no_id, len(preview.already)) == (0, 1, 1)


def test_preview_text_names_the_template_caveat_and_fits_a_confirm() -> None:
    preview = callout_preview([callout(1, 503, 1), callout(2, 500)], RULE)

    text = preview_text(preview, lead="x" * 400, hint="zuora-ops replay --include-retrying")

    assert len(text) <= CONFIRM_TEXT_CHARS
    assert "Sends 1. Left out: 1 Zuora still retries." in text
    assert text.endswith("From/To/Cc/Bcc/Reply-To.")
    assert text.startswith("xxx")


def test_preview_text_says_only_the_lead_and_caveat_when_nothing_is_left_out() -> None:
    text = preview_text(callout_preview([callout(2, 500)], RULE), lead="Resend 1?")

    assert text == (
        "Resend 1? Resend uses the current template for callout auth and email "
        "From/To/Cc/Bcc/Reply-To."
    )
