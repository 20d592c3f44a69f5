"""What a click on an alert's Mute menu or Unmute button answers: the allow-list, the mute, one edit."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.alerts.commands import AlertCommandDeps
from bot.alerts.mute_cards import build_mute_notice, build_mute_refused
from bot.alerts.quiet import MuteRefused, change_mute, redraw_muted
from bot.core.actions import MuteRef
from bot.slack.access_cards import build_allow_list_denied
from bot.slack.message import SlackMessage

logger = logging.getLogger(__name__)


def answer_mute(
    deps: AlertCommandDeps,
    ref: MuteRef,
    *,
    team_id: str,
    user_id: str,
    channel_id: str,
    message_ts: str | None,
) -> SlackMessage:
    """Mute or unmute the clicked alert's cause (allow-listed users only) and say so to the clicker."""
    if not deps.access.may_resend(user_id):
        logger.info("mute refused: %s is not on the allow-list", user_id or "(no user)")
        return build_allow_list_denied(
            changes="alert mutes",
            contact=deps.settings.resend.resend_access_contact,
            outcome="Nothing was muted or unmuted.",
        )
    now = deps.now()
    done = change_mute(
        deps.store,
        ref,
        team_id=team_id,
        user_id=user_id,
        channel_id=channel_id,
        message_ts=message_ts,
        now=now,
    )
    if isinstance(done, MuteRefused):
        logger.info("mute click from %s changed nothing: %s", user_id, done.reason)
        return build_mute_refused(done.reason)
    quiet = timedelta(seconds=deps.settings.alert.quiet_period)
    problem = redraw_muted(deps.store, deps.slack, done, quiet=quiet, now=now)
    if problem:
        logger.warning("alert %d: mute recorded, message not edited: %s", done.incident.id, problem)
    return build_mute_notice(done.mute, label=done.incident.label)
