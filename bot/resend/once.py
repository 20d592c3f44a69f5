"""Once per notification: the tenant scope and window a resend claims its history ids in, and what
became of a claimed id, in words.

A history id belongs to the Zuora tenant, not to a Slack card, person or workspace: two workspaces
served by one bot resend the same emails. So claims are scoped by the tenant (REST host and API
client), and each id is resent at most once per RESEND_ONCE_WINDOW whoever asks (bot.store's
notification_claims); a deliberate "Resend again" is the only way round it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from bot.audit.service import IN_PROGRESS_CODE
from bot.resend.settings import ResendSettings
from bot.store import NotificationClaim, OnceRule
from bot.zuora.settings import ZuoraSettings

SENT = "sent"
REFUSED = "Zuora refused"
WAITING = "still waiting for Zuora"
NOT_SENT = "not sent yet"


def notification_scope(zuora: ZuoraSettings) -> str:
    """The Zuora tenant's claim scope: a hash of the REST host and API client (no secret shown)."""
    material = f"{zuora.base_url.rstrip('/').lower()}\n{zuora.client_id.get_secret_value()}"
    return "zuora:" + hashlib.sha256(material.encode()).hexdigest()[:24]


def once_window(resend: ResendSettings) -> timedelta:
    """RESEND_ONCE_WINDOW as a duration."""
    return timedelta(hours=resend.resend_once_window)


def once_rule(
    zuora: ZuoraSettings, resend: ResendSettings, *, again_before: datetime | None = None
) -> OnceRule:
    """The rule a resend claims under; `again_before` for a deliberate "Resend again"."""
    return OnceRule(
        scope=notification_scope(zuora),
        window=once_window(resend),
        again_before=again_before,
    )


def claim_state(claim: NotificationClaim) -> str:
    """What became of a claimed id: sent, Zuora refused, still waiting for Zuora, or not sent yet."""
    outcome = claim.id_outcome
    if outcome is not None:
        if outcome.ok:
            return WAITING if outcome.code == IN_PROGRESS_CODE else SENT
        if claim.audit_status == "error":
            return WAITING if claim.replay_state == "running" else "no answer from Zuora"
        return REFUSED
    if claim.audit_status is not None:
        return WAITING  # requested: Zuora's answer is still to come
    if claim.replay_state == "stopped":
        return NOT_SENT  # queued in a replay that stopped before its chunk
    return WAITING  # queued in a running replay


__all__ = [
    "NOT_SENT",
    "REFUSED",
    "SENT",
    "WAITING",
    "claim_state",
    "notification_scope",
    "once_rule",
    "once_window",
]
