"""Who already resent a card's notifications within the once window: the bulk-resend preview's
"already resent (by whom, when)" group (bot.failures.preview), read from the notification claims."""

from __future__ import annotations

from bot.failures.preview import Resent
from bot.failures.results import AccountFailures
from bot.resend.once import notification_scope
from bot.resend.service import WorkDeps
from bot.zuora.models import NotificationKind


def resent_on_card(deps: WorkDeps, failures: AccountFailures) -> tuple[Resent, ...]:
    """The card's rows another resend holds in the once window (one store read per kind)."""
    scope = notification_scope(deps.settings.zuora)
    rows: dict[NotificationKind, list[str]] = {
        "email": [e.id for e in failures.emails if e.id],
        "callout": [c.id for c in failures.callouts if c.id],
    }
    found: list[Resent] = []
    for kind, ids in rows.items():
        if ids:
            claims = deps.store.notification_claims(scope, kind, ids, now=deps.now())
            found.extend(Resent(c.history_id, c.user_id, c.claimed_at) for c in claims)
    return tuple(found)
