"""A resend click on the sandbox tenant, for the tests that drive a real resend through the stack."""

from __future__ import annotations

from bot.resend.service import ResendClick
from bot.sandbox.stack import SandboxStack
from bot.zuora.models import Account


def failed_email_click(
    stack: SandboxStack, *, key: str, track_id: str, labelled: bool = True
) -> ResendClick:
    """A click resending one failed email of A00000002 that the sandbox Zuora resends when asked."""
    tenant = stack.tenant
    assert tenant is not None
    account = tenant.account("A00000002")
    assert account is not None
    email = next(
        e
        for e in tenant.emails
        if e.account_id == account.id and e.failed and e.id not in tenant.resend_failures
    )
    labels = {email.id: "1. ap@example.com · Invoice"} if labelled else {}
    return ResendClick(
        team_id="T0001",
        user_id="U0001",
        kind="email",
        ids=(email.id,),
        dedup_key=key,
        track_id=track_id,
        account=Account(id=account.id, number=account.number, name=account.name),
        labels=labels,
    )
