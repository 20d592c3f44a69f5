"""One resend click on an ephemeral card: its requests claimed and resent, the clicker told the outcome."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.core.actions import CardRef
from bot.core.keys import click_key
from bot.resend.replies import error_message, refusal_message
from bot.resend.service import (
    AlreadyStarted,
    ClaimedElsewhere,
    Refusal,
    ResendClick,
    ResendDeps,
    perform_resends,
)
from bot.slack.message import SlackMessage
from bot.slack.requests import Click
from bot.zuora.models import Account, NotificationKind

#: One resend request of a click: the kind, its ids, and a label per id for the outcome card.
Request = tuple[NotificationKind, tuple[str, ...], dict[str, str]]
#: Replies to the clicker through the click's response_url: (message, replace_original).
Reply = Callable[[SlackMessage, bool], None]


def resend_clicked(
    deps: ResendDeps,
    click: Click,
    requests: list[Request],
    reply: Reply,
    *,
    account: Account | None,
    card: CardRef | None,
    track_id: str,
    again: datetime | None = None,
) -> None:
    """Resend (kind, ids, labels) requests for one click; show progress, then one outcome card.

    Ids another resend holds in the once window are left out; the clicker alone is told who has
    them (with Resend again). `again` makes it a deliberate "Resend again".
    """
    shown = False

    def show(message: SlackMessage) -> None:
        nonlocal shown
        shown = True
        reply(message, True)

    clicks = [
        ResendClick(
            team_id=click.team_id,
            user_id=click.user_id,
            kind=kind,
            ids=ids,
            dedup_key=click_key(click.body, click.action_id, [f"{kind}:{i}" for i in ids]),
            track_id=track_id,
            account=account,
            card=card,
            labels=labels,
            again_before=again,
        )
        for kind, ids, labels in requests
    ]
    try:
        batch = perform_resends(deps, clicks, show, reply_url=click.response_url)
    except Exception as exc:  # after the card said "Resending…", it must not be left that way
        reply(error_message(exc), shown)
        return
    if isinstance(batch, Refusal | AlreadyStarted | ClaimedElsewhere):
        reply(refusal_message(deps, batch, team_id=click.team_id), False)
        return
    # perform_resends has shown the outcomes on the card itself; tell what it left out.
    for left_out in batch.elsewhere:
        reply(left_out.message(deps, team_id=click.team_id), False)
