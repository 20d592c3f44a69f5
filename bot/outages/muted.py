"""Causes muted from their spike alert (bot.alerts.quiet), as marks for `/zuora outages` and the digest.

A muted cause is still listed wherever it shows; only its alert goes quiet.
"""

from __future__ import annotations

from datetime import datetime

from bot.slack.mrkdwn import code
from bot.slack.mute_marks import muted_mark
from bot.store.database import Store

MAX_MUTED_LINES = 10


def cause_mute_marks(store: Store, team_id: str, now: datetime) -> dict[str, str]:
    """Each cause muted now in the workspace: its mark (mrkdwn), by cause id."""
    mutes = store.active_mutes(team_id, now).values()
    return {mute.cause_id: muted_mark(mute.muted_by, mute.until) for mute in mutes}


def muted_cause_lines(store: Store, team_id: str, now: datetime) -> list[str]:
    """One mrkdwn line per cause muted now in the workspace: its label and mark (at most 10)."""
    mutes = sorted(store.active_mutes(team_id, now).values(), key=lambda mute: mute.muted_at)
    return [
        f"{code(mute.label, 80)} {muted_mark(mute.muted_by, mute.until)}"
        for mute in mutes[:MAX_MUTED_LINES]
    ]
