"""A spike alert's Mute menu (1 h, 24 h, until recovered) and Unmute button: mute its cause.

Acked at once; the value is checked (stale or forged: told, nothing changed), then the allow-list, then
the click must be that alert's own (its channel and message); the alert is edited once to show the mute,
and the clicker alone is told what changed.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.alerts.mute import answer_mute
from bot.alerts.mute_cards import build_mute_refused
from bot.core.actions import ActionId, InvalidValueError, MuteRef, decode_value
from bot.deps import Deps
from bot.slack.requests import Click
from handlers.common import on_click, send


def register(app: App, deps: Deps) -> None:
    """Listen for the alert's mute menu and its Unmute button."""
    on_click(app, deps, ActionId.ALERT_MUTE, handle_mute)
    on_click(app, deps, ActionId.ALERT_UNMUTE, handle_mute)


def handle_mute(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Mute or unmute the clicked alert's cause and tell the clicker (never the channel) the outcome."""
    ack()
    click = Click(body, action)
    raw = click.selected_value if click.action_id == ActionId.ALERT_MUTE else click.value
    try:
        ref = decode_value(raw, MuteRef)
    except InvalidValueError:
        stale = "That mute menu is out of date or was altered; nothing was muted or unmuted."
        send(deps, click, build_mute_refused(stale), replace=False)
        return
    answer = answer_mute(
        deps,
        ref,
        team_id=click.team_id,
        user_id=click.user_id,
        channel_id=click.channel_id,
        message_ts=click.message_ts,
    )
    send(deps, click, answer, replace=False)
