"""One resend click from permission check to recorded outcomes, acting at most once per click key.

A click may resend both kinds ("Resend selected" with emails and callouts ticked): that is one Zuora
request per kind, each with its own click key, shown as one progress card and one outcome card.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import Enum

from bot.blocks import SlackMessage, build_batch_progress
from bot.clicks import idempotency_key
from bot.deps import Deps
from bot.explain import explain
from bot.failures import ResendOutcome
from bot.ids import CardRef
from bot.store import ResendRequest
from bot.zuora.errors import ZuoraError
from bot.zuora.models import Account, NotificationKind

logger = logging.getLogger(__name__)

CLICK_TTL = timedelta(days=2)


class Refusal(Enum):
    """Why a click did nothing."""

    DENIED = "denied"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class ResendClick:
    """A resend asked for by someone in Slack."""

    team_id: str
    user_id: str
    kind: NotificationKind
    ids: tuple[str, ...]
    dedup_key: str
    track_id: str
    account: Account | None = None
    card: CardRef | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResendBatch:
    """The outcomes of one click's requests, and the kinds an earlier delivery already handled."""

    outcomes: tuple[ResendOutcome, ...]
    duplicates: tuple[NotificationKind, ...] = ()


def perform_resend(
    deps: Deps, click: ResendClick, show: Callable[[SlackMessage], None]
) -> ResendOutcome | Refusal:
    """Check access, claim the click, show progress, resend, record and return the outcome."""
    batch = perform_resends(deps, [click], show)
    return batch if isinstance(batch, Refusal) else batch.outcomes[0]


def perform_resends(
    deps: Deps, clicks: Sequence[ResendClick], show: Callable[[SlackMessage], None]
) -> ResendBatch | Refusal:
    """Like perform_resend for one person's click on several kinds: one progress, every outcome.

    Each kind is claimed under its own key (so its Idempotency-Key is the one a single-kind click
    would send); a kind whose key was already claimed is reported, not resent.
    """
    if not clicks:
        raise ValueError("nothing to resend")
    first = clicks[0]
    if not deps.access.may_resend(first.user_id):
        logger.info("resend denied for %s (not on the allow-list)", first.user_id)
        return Refusal.DENIED
    claimed: list[ResendClick] = []
    duplicates: list[NotificationKind] = []
    for click in clicks:
        if deps.store.claim_click(click.dedup_key, now=deps.now(), ttl=CLICK_TTL):
            claimed.append(click)
        else:
            logger.info("duplicate resend click ignored: key=%s", click.dedup_key[:12])
            duplicates.append(click.kind)
    if not claimed:
        return Refusal.DUPLICATE
    show(
        build_batch_progress(
            counts=[(click.kind, len(click.ids)) for click in claimed],
            requested_by=first.user_id,
            account=first.account,
        )
    )
    outcomes = []
    for click in claimed:
        start = deps.audit.begin(
            ResendRequest(
                requested_at=deps.now(),
                team_id=click.team_id,
                user_id=click.user_id,
                account_key=click.account.number if click.account else None,
                kind=click.kind,
                ids=click.ids,
                track_id=click.track_id,
                dedup_key=click.dedup_key,
            ),
            kind=click.kind,
        )
        outcome = _ask_zuora(deps, click)
        deps.audit.finish(start, outcome)
        outcomes.append(outcome)
    return ResendBatch(outcomes=tuple(outcomes), duplicates=tuple(duplicates))


def _ask_zuora(deps: Deps, click: ResendClick) -> ResendOutcome:
    base = ResendOutcome(
        kind=click.kind,
        requested_by=click.user_id,
        at=deps.now(),
        ids=click.ids,
        labels=click.labels,
        account=click.account,
        card=click.card,
        track_id=click.track_id,
    )
    try:
        result = deps.service.resend(
            click.kind,
            click.ids,
            idempotency_key=idempotency_key(click.dedup_key),
            track_id=click.track_id,
        )
    except ZuoraError as exc:
        explanation = explain(exc)
        error = explanation.message + (f" {explanation.hint}" if explanation.hint else "")
        return replace(base, at=deps.now(), error=error)
    return replace(base, at=deps.now(), result=result)
