"""A callout row's line about Zuora's own retries, and whether the row keeps its resend controls.

A callout Zuora still retries gets no Resend (nor checkbox): a resend now would deliver it twice.
A -2000 (invalid custom body) gets none either: Zuora never sent it, and a resend builds the same
body from the history, so it fails the same way until the template is fixed.
"""

from __future__ import annotations

from bot.failures.retry_policy import RetryRule, RetryState, classify
from bot.slack.mrkdwn import code, date_token
from bot.zuora.models import CalloutHistory

TEMPLATE_CAVEAT = (
    "Resend uses the current template for callout auth and email From/To/Cc/Bcc/Reply-To."
)


def retry_state(callout: CalloutHistory, rule: RetryRule | None) -> RetryState | None:
    """The callout's retry state, or None when the card does not judge retries."""
    return None if rule is None else classify(callout, rule)


def keeps_resend(callout: CalloutHistory, rule: RetryRule | None) -> bool:
    """Whether the row may carry a Resend and a checkbox (not retried by Zuora, body valid)."""
    state = retry_state(callout, rule)
    return state is None or state.resendable


def retry_line(state: RetryState | None, *, short: bool = False) -> str | None:
    """`:repeat: Zuora retries it (attempt 2 of 3, next after ~10:32)` and the like; None: nothing.

    `short` is for the card's smallest budgets: the state in a few words.
    """
    if state is None:
        return None
    if short:
        return _SHORT.get(state.kind)
    when = (
        date_token(state.next_after, "{time}", state.next_after.strftime("%H:%M UTC"))
        if state.next_after is not None
        else ""
    )
    if state.kind == "retrying":
        return (
            f":repeat: Zuora retries it (attempt {state.attempt} of {state.limit}, "
            f"next after ~{when})"
        )
    if state.kind == "overdue":
        return (
            f":information_source: Zuora was due to retry it after ~{when} "
            f"(attempt {state.attempt} of {state.limit}); taken as given up"
        )
    if state.kind == "never":
        return f":no_entry_sign: Zuora won't retry this ({code(state.code, 16)})"
    if state.kind == "invalid_body":
        return (
            ":warning: Never sent: the template's custom body is invalid (-2000). "
            "Fix the template; a resend would fail the same way."
        )
    return None


_SHORT = {
    "retrying": ":repeat: Zuora retries it",
    "never": ":no_entry_sign: no Zuora retry",
    "invalid_body": ":warning: invalid body (-2000)",
}
