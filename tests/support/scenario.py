"""Helpers of the signed-dispatch scenario tests: action ids, the words of refusals, ids the sandbox
Zuora fails or resends, and the confirm card of `/zuora resend`."""

from __future__ import annotations

from tests.support.stack_fixtures import Harness, JsonDict

RESEND_EMAIL = "zuora.resend_email"
RESEND_CONFIRM = "zuora.resend_confirm"
ALREADY_HANDLED = "Already handled"
DENIED = "You are not on the resend allow-list"
STALE = "This button is from an older card"
LOADING = "Resend IDs are still loading"


def failing_email(harness: Harness) -> tuple[str, str, str]:
    """An email history id Zuora refuses to resend, with the code and message it answers."""
    email_ids = {email.id for email in harness.tenant.emails}
    history_id, failure = next(
        (key, failure)
        for key, failure in sorted(harness.tenant.resend_failures.items())
        if key in email_ids
    )
    return history_id, failure.code, failure.message


def resendable_email(harness: Harness) -> str:
    """A failed email id Zuora resends without complaint."""
    return next(
        email.id
        for email in harness.tenant.emails
        if email.failed and email.id not in harness.tenant.resend_failures
    )


def confirm_card(harness: Harness, ids: list[str]) -> JsonDict:
    """`/zuora resend <ids>`: the confirm card from the ack, checking nothing was resent yet."""
    reply = harness.command("resend " + " ".join(ids))
    assert reply.status == 200
    assert harness.resends() == []
    return reply.ack
