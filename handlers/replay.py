"""The outages card's per-cause "Resend all N" (after Slack's confirm dialog): replay the cause.

The click is acked at once; then the allow-list (before any Zuora or store work), the button's fixed
window re-scanned, the claim (one running replay per cause, whoever clicks on whichever card and
worker: a click on another card's window joins it; ids resent by anyone within the once window are
left out), and progress drawn in
place through the click's response_url: the first draw, at most two more, then the summary, so a
replay uses at most 4 of the URL's 5 posts (a re-driver's summary is the 5th).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.core.actions import ActionId, OutageRef
from bot.deps import Deps
from bot.outages.replay import (
    MAX_REPLAY_WINDOW,
    ProgressThrottle,
    claim_replay,
    drive_replay,
    find_target,
    replay_key,
    running_replay,
)
from bot.outages.replay_cards import (
    build_replay_busy,
    build_replay_progress,
    build_replay_summary,
)
from bot.resend.service import ClaimedElsewhere
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import escape
from bot.slack.simple_cards import build_access_denied, build_notice
from bot.store import Replay
from bot.zuora.models import TimeWindow
from handlers.common import answer_failure, decode_or_refuse, send, team_of, track_id_of, user_of

logger = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    """Listen for the per-cause replay button."""

    def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        try:
            handle_outage_replay(deps, ack, body, action)
        except Exception as exc:
            answer_failure(deps, body, ack, exc, replace=False)

    app.action(ActionId.OUTAGE_REPLAY.value)(listener)


def handle_outage_replay(
    deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> None:
    """Replay every failure of the button's cause in its window, exactly once."""
    ack()
    ref = decode_or_refuse(deps, body, action, OutageRef)
    if ref is None:
        return
    clicker = user_of(body)
    if not deps.access.may_resend(clicker):
        logger.info("replay denied for %s (not on the allow-list)", clicker)
        tell(deps, body, build_access_denied(contact=deps.settings.resend.resend_access_contact))
        return
    window = TimeWindow(start=ref.start, end=ref.end, label=ref.w)
    if not window_ok(window):
        logger.info("outage button with a bad window from %s: %s", clicker, ref)
        tell(deps, body, stale_card("its time window is not one the bot shows"))
        return
    # A cheap early answer (saves the re-scan); the claim below decides for real.
    mine = deps.store.replay(replay_key(ref.c, window))
    running = running_replay(deps, ref.c)
    if running is not None and (mine is None or mine.id != running.id):
        tell(deps, body, build_replay_busy(running, joined=True))
        return
    if mine is not None and mine.state != "stopped":
        tell(deps, body, build_replay_busy(mine))
        return
    track_id = track_id_of(body)
    target = find_target(deps, ref.c, window, track_id=track_id)
    if target is None:
        tell(deps, body, stale_card("Zuora lists no failures of that cause in its window now"))
        return
    if ref.n and target.group.count > ref.n:
        tell(
            deps,
            body,
            stale_card(
                f"Zuora now lists {target.group.count:,} failures of that cause, "
                f"not the {ref.n:,} you confirmed"
            ),
        )
        return
    if not target.ids and target.already:
        tell(
            deps,
            body,
            build_notice(
                f"All {target.already:,} failures of that cause with a resend ID were already "
                "resent by an earlier replay or resend; nothing was sent twice."
            ),
        )
        return
    if not target.ids:
        why = f" ({escape(target.resolve_error)})" if target.resolve_error else ""
        tell(
            deps,
            body,
            build_notice(
                f"None of the {target.group.count:,} failures of that cause has a resend ID "
                f"Zuora or Data Query could give{why}; nothing was resent."
            ),
        )
        return
    claim = claim_replay(
        deps,
        target,
        team_id=team_of(body),
        user_id=clicker,
        track_id=track_id,
        reply_url=str(body.get("response_url") or "") or None,
    )
    if claim.replay is None:  # every id is held by another resend or replay
        left_out = ClaimedElsewhere(claim.elsewhere, total=claim.left_out)
        tell(deps, body, left_out.message(deps, team_id=team_of(body)))
        return
    if not claim.won:
        tell(deps, body, build_replay_busy(claim.replay, joined=claim.joined))
        return

    def draw(replay: Replay) -> None:
        send(deps, body, build_replay_progress(replay), replace=True)

    draw(claim.replay)
    finished = drive_replay(deps, claim.replay, progress=ProgressThrottle(draw, redraws=2))
    if claim.left_out:
        tell(
            deps,
            body,
            build_notice(
                f"{claim.left_out:,} failures of that cause were left out: another resend "
                "or replay resent them within the once window. Nothing was sent twice."
            ),
        )
    if finished.waiting:  # Zuora's answer is unknown: the clock asks again and shows the outcome
        send(deps, body, build_replay_progress(finished), replace=True)
        return
    if finished.state == "running":  # another worker took the lease; it shows the outcome
        return
    if target.unresolved:
        tell(
            deps,
            body,
            build_notice(
                f"{target.unresolved:,} failures of that cause had no resend ID even after "
                "Data Query, so they were not resent; resend them from Zuora."
            ),
        )
    send(deps, body, build_replay_summary(finished), replace=True)


def window_ok(window: TimeWindow) -> bool:
    """Whether a button's window is one a card could show (forged ones are not)."""
    return window.start < window.end and window.end - window.start <= MAX_REPLAY_WINDOW


def stale_card(why: str) -> SlackMessage:
    """The card is older than what Zuora lists: say why, and that nothing was resent."""
    return build_notice(
        f"That card is out of date: {why}. Nothing was resent; run `/zuora outages` again."
    )


def tell(deps: Deps, body: dict[str, Any], message: SlackMessage) -> None:
    """Answer the clicker alone, leaving the card as it is."""
    send(deps, body, message, replace=False)
