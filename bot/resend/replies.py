"""What the clicker alone is told when a resend fails or does nothing: shared by every resend surface."""

from __future__ import annotations

from bot.explain import explain
from bot.resend.service import AlreadyStarted, ClaimedElsewhere, Refusal, ResendDeps
from bot.slack.message import SlackMessage
from bot.slack.simple_cards import build_access_denied, build_error


def error_message(exc: Exception) -> SlackMessage:
    """`exc` explained: what happened, what to do, and an incident id for the unexpected."""
    explanation = explain(exc)
    return build_error(
        explanation.message, hint=explanation.hint, incident_id=explanation.incident_id
    )


def refusal_message(
    deps: ResendDeps, refusal: Refusal | AlreadyStarted | ClaimedElsewhere, *, team_id: str = ""
) -> SlackMessage:
    """What the clicker alone is told when a resend click did nothing (or joined one in flight)."""
    if isinstance(refusal, AlreadyStarted):
        return refusal.message()
    if isinstance(refusal, ClaimedElsewhere):
        return refusal.message(deps, team_id=team_id)
    return build_access_denied(contact=deps.settings.resend.resend_access_contact)
