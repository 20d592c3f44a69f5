"""The "already resent" notice: who resent which notifications in the once window, what became of
them, and an explicit **Resend again** behind a confirm dialog."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from bot.core.actions import MAX_IDS_PER_VALUE, ActionId, ResendAgainRef
from bot.resend.once import claim_state
from bot.slack.elements import (
    actions,
    button,
    confirm_dialog,
    context,
    finish,
    mention,
    plural,
    section,
)
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import code, date_token
from bot.store import NotificationClaim
from bot.zuora.models import NotificationKind

LISTED = 10  # ids named one by one; the rest are counted


def holder_text(claim: NotificationClaim, *, team_id: str) -> str:
    """Who resent it, as mrkdwn: a mention in this workspace, never another workspace's user."""
    if claim.team_id == "cli":
        return f"{mention(claim.user_id)} (CLI)"
    if claim.team_id and team_id and claim.team_id != team_id:
        return "someone in another Slack workspace"
    return mention(claim.user_id)


def already_line(claim: NotificationClaim, *, team_id: str) -> str:
    """'already resent by @u at 10:02 — sent' (escaped; the time as a Slack date token)."""
    verb = "resent again" if claim.again else "resent"
    return (
        f"already {verb} by {holder_text(claim, team_id=team_id)} at "
        f"{date_token(claim.claimed_at, '{time}')} — {claim_state(claim)}"
    )


def build_already_resent(
    claims: Sequence[NotificationClaim],
    *,
    kind: NotificationKind,
    team_id: str,
    window_hours: float,
    offer_again: bool = True,
    total: int = 0,
) -> SlackMessage:
    """What someone whose ids another resend holds reads, with "Resend again" when it can carry them.

    `total` counts every id left out when only the first `claims` were read (a replay's).
    """
    noun = "email" if kind == "email" else "callout"
    count = max(total, len(claims))
    head = (
        f":information_source: {plural(count, noun)} not resent: resent at most once per "
        f"{window_hours:g} h, whoever asks. Nothing was sent twice."
    )
    rows = [
        f"• {code(c.history_id, 64)} {already_line(c, team_id=team_id)}" for c in claims[:LISTED]
    ]
    if count > LISTED:
        rows.append(f"…and {count - LISTED:,} more")
    first = claims[0]
    text = (
        f"{plural(count, noun)} already resent by someone else within {window_hours:g} h; "
        "nothing was sent twice."
        if count > 1
        else f"That {noun} was {already_line(first, team_id=team_id)}. Nothing was sent twice."
    )
    blocks = [section(head), section("\n".join(rows))]
    if offer_again and 0 < count <= MAX_IDS_PER_VALUE and count == len(claims):
        newest = max(c.claimed_at for c in claims)
        ref = ResendAgainRef(
            k=kind, ids=[c.history_id for c in claims], t=ResendAgainRef.micros(newest)
        )
        when = newest.astimezone(UTC).strftime("%H:%M UTC")
        blocks.append(
            actions(
                [
                    button(
                        "Resend again",
                        ActionId.RESEND_AGAIN,
                        value=ref,
                        confirm=confirm_dialog(
                            title="Resend again?",
                            text=(
                                f"Zuora sends {plural(count, noun)} again although "
                                f"{'they were' if count > 1 else 'it was'} resent at {when}: "
                                "recipients may get them twice. Your name goes in the audit "
                                "trail as a deliberate second resend."
                            ),
                            confirm="Resend again",
                        ),
                    )
                ],
                block_id="resend_again",
            )
        )
        blocks.append(context("Press *Resend again* only if you really mean a second resend."))
    return finish(text, blocks)


__all__ = ["already_line", "build_already_resent", "holder_text"]
