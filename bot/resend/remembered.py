"""Cards that remember: a row resent before shows who resent it, when, and what came of it.

Every failures card, fresh ones included, reads the once-per-notification claims of its rows
(bot.resend.once) and the outcome watch of whatever resent each (a click or a replay), and notes
it on the row: "resent by @u 10:02 · delivered 10:03". The same read feeds the Resend all
preview's "already resent (by whom, when)" group (bot.failures.preview).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.failures.cards import build_failures_card
from bot.failures.preview import Resent
from bot.failures.results import AccountFailures
from bot.resend.once import notification_scope
from bot.resend.outcome_cards import NO_OUTCOME, item_words
from bot.resend.service import WorkDeps
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import code, date_token, user
from bot.store import NotificationClaim, ResendKind, StoreError
from bot.store.watch_records import OutcomeWatch

logger = logging.getLogger(__name__)


def remembered_card(
    deps: WorkDeps, failures: AccountFailures, *, page: int = 0, notice: str | None = None
) -> SlackMessage:
    """The failures card with its rows' resend notes and its Resend all preview, one store read."""
    shown, resent = remember(deps, failures)
    return build_failures_card(
        shown, ui_url=deps.settings.zuora.ui_url, page=page, notice=notice, resent=resent
    )


def remember(
    deps: WorkDeps, failures: AccountFailures
) -> tuple[AccountFailures, tuple[Resent, ...]]:
    """`failures` with a note on each row resent within the once window (the store's answer), and
    those rows as the preview's already-resent group."""
    scope = notification_scope(deps.settings.zuora)
    notes: dict[str, str] = {}
    resent: list[Resent] = []
    try:
        rows: tuple[tuple[ResendKind, list[str]], ...] = (
            ("email", [str(e.id) for e in failures.emails if e.id]),
            ("callout", [str(c.id) for c in failures.callouts if c.id]),
        )
        for kind, ids in rows:
            if not ids:
                continue
            claims = deps.store.notification_claims(scope, kind, ids, now=deps.now())
            if not claims:
                continue
            watches = deps.store.watches_for_claims(scope, kind, [c.history_id for c in claims])
            for claim in claims:
                notes[claim.history_id] = resent_note(claim, watches.get(claim.history_id))
                resent.append(Resent(claim.history_id, claim.user_id, claim.claimed_at))
    except StoreError:  # the card still shows what Zuora said; only the memory is missing
        logger.warning("failures card drawn without its resend notes: the store is unavailable")
        return failures, ()
    return (replace(failures, remembered=notes) if notes else failures), tuple(resent)


def resent_note(claim: NotificationClaim, watch: OutcomeWatch | None) -> str:
    """ "resent by @u 10:02 · delivered 10:03" (mrkdwn), or what is known so far."""
    head = f"resent by {user(claim.user_id)} {date_token(claim.claimed_at, '{time}')}"
    return f"{head} · {_so_far(claim, watch)}"


def _so_far(claim: NotificationClaim, watch: OutcomeWatch | None) -> str:
    """What came of the resend: its new record's outcome, or Zuora's answer to the request."""
    item = (
        next((i for i in watch.items if i.history_id == claim.history_id), None) if watch else None
    )
    if item is not None and (item.state != "pending" or (watch is not None and watch.final)):
        return item_words(item)
    if claim.id_outcome is not None and not claim.id_outcome.ok:
        return f"Zuora refused it: {code(claim.id_outcome.code or '?', 40)}"
    if claim.audit_status == "waiting":
        return "waiting for Zuora's answer"
    if item is not None:
        return "checking Zuora's history for the outcome"
    if claim.audit_status in ("succeeded", "partial") or claim.replay_state == "done":
        return f"sent · {NO_OUTCOME}"
    return "in progress"
