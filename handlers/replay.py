"""The outages card's per-cause "Resend all N" (after Slack's confirm dialog): replay the cause.

The click is acked at once; then the allow-list (before any Zuora or store work) and the one replay
start (bot.outages.replay.start_replay: the button's fixed window re-scanned, one running replay
per cause, whoever clicks on whichever card and worker: a click on another card's window joins it;
ids resent by anyone within the once window are left out). Progress is drawn in place through the
click's response_url: the first draw, at most two more, then the summary, so a replay uses at most
4 of the URL's 5 posts (a re-driver's summary is the 5th).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.core.actions import ActionId, OutageRef
from bot.deps import Deps
from bot.outages.replay import (
    NothingToReplay,
    NotStarted,
    ProgressThrottle,
    ReplayBusy,
    ReplayDone,
    ReplayOutOfDate,
    ReplayStart,
    start_replay,
)
from bot.outages.replay_cards import (
    build_replay_busy,
    build_replay_progress,
    build_replay_summary,
    retry_left_out,
)
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import escape
from bot.slack.requests import Click
from bot.slack.simple_cards import build_notice
from bot.store import Replay
from bot.zuora.models import TimeWindow
from handlers.common import decode_or_refuse, may_act, on_click, send, track_id_of

logger = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    """Listen for the per-cause replay button ("Replay anyway" on a cause still failing: the same
    replay, with the same once-per-notification claims)."""
    on_click(app, deps, ActionId.OUTAGE_REPLAY, handle_outage_replay)
    on_click(app, deps, ActionId.OUTAGE_REPLAY_ANYWAY, handle_outage_replay)


def handle_outage_replay(
    deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> None:
    """Replay every failure of the button's cause in its window, exactly once."""
    ack()
    click = Click(body, action)
    ref = decode_or_refuse(deps, click, OutageRef)
    if ref is None or not may_act(deps, click):
        return
    draw = drawer(deps, click)
    outcome = start_replay(
        deps,
        ref.c,
        TimeWindow(start=ref.start, end=ref.end, label=ref.w),
        team_id=click.team_id,
        user_id=click.user_id,
        track_id=track_id_of(click),
        reply_url=click.response_url,
        confirmed=ref.n,
        started=lambda replay, _left_out: draw(replay),
        progress=ProgressThrottle(draw, redraws=2),
    )
    respond(deps, click, outcome)


def respond(deps: Deps, click: Click, outcome: ReplayStart | None) -> None:
    """Report a replay this click drove; otherwise tell the clicker alone why none started."""
    if isinstance(outcome, ReplayDone):
        report(deps, click, outcome)
    elif outcome is not None:
        send(deps, click, not_started(deps, click, outcome), replace=False)


def drawer(deps: Deps, click: Click) -> Callable[[Replay], None]:
    """Draws the replay's progress in place of the clicked card."""

    def draw(replay: Replay) -> None:
        send(deps, click, build_replay_progress(replay), replace=True)

    return draw


def not_started(deps: Deps, click: Click, outcome: NotStarted) -> SlackMessage:
    """Why the click started no replay of its own: busy, out of date, nothing to send, held elsewhere."""
    if isinstance(outcome, ReplayBusy):
        return build_replay_busy(outcome.replay, joined=outcome.joined)
    if isinstance(outcome, ReplayOutOfDate):
        if outcome.reason == "window":
            logger.info("outage button with a bad window from %s: %s", click.user_id, click.value)
        return stale_card(outcome)
    if isinstance(outcome, NothingToReplay):
        target = outcome.target
        if target.already:
            return build_notice(
                f"All {target.already:,} failures of that cause with a resend ID were already "
                "resent by an earlier replay or resend; nothing was sent twice."
            )
        if target.retrying or target.invalid_body:
            return build_notice(retry_left_out(target) + " Nothing was resent.")
        why = f" ({escape(target.resolve_error)})" if target.resolve_error else ""
        return build_notice(
            f"None of the {target.group.count:,} failures of that cause has a resend ID "
            f"Zuora or Data Query could give{why}; nothing was resent."
        )
    return outcome.message(deps, team_id=click.team_id)  # every id is held elsewhere


def report(deps: Deps, click: Click, done: ReplayDone) -> None:
    """After driving: what was left out or had no id (to the clicker), then the card's summary."""
    finished, left_out = done.replay, done.left_out
    if left_out:
        tell(
            deps,
            click,
            f"{left_out:,} failures of that cause were left out: another resend "
            "or replay resent them within the once window. Nothing was sent twice.",
        )
    if finished.waiting:  # Zuora's answer is unknown: the clock asks again and shows the outcome
        send(deps, click, build_replay_progress(finished), replace=True)
        return
    if finished.state == "running":  # another worker took the lease; it shows the outcome
        return
    if done.target is not None and (done.target.retrying or done.target.invalid_body):
        tell(deps, click, retry_left_out(done.target))
    if done.target is not None and done.target.unresolved:
        tell(
            deps,
            click,
            f"{done.target.unresolved:,} failures of that cause had no resend ID even after "
            "Data Query, so they were not resent; resend them from Zuora.",
        )
    send(deps, click, build_replay_summary(finished), replace=True)


def stale_card(outcome: ReplayOutOfDate) -> SlackMessage:
    """The card is older than what Zuora lists: say why, and that nothing was resent."""
    if outcome.reason == "window":
        why = "its time window is not one the bot shows"
    elif outcome.reason == "gone":
        why = "Zuora lists no failures of that cause in its window now"
    else:
        why = (
            f"Zuora now lists {outcome.listed:,} failures of that cause, "
            f"not the {outcome.confirmed:,} you confirmed"
        )
    return build_notice(
        f"That card is out of date: {why}. Nothing was resent; run `/zuora outages` again."
    )


def tell(deps: Deps, click: Click, text: str) -> None:
    """A notice to the clicker alone, leaving the card as it is."""
    send(deps, click, build_notice(text), replace=False)
