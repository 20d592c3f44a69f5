"""The App Home tab: publish it when the user opens it; its Open buttons DM the card they name.

Events reach us like every other request, through Bolt's request verification (signature and
timestamp) first. Slack retries an event it thinks we missed (X-Slack-Retry-Num); a Home publish is
idempotent and the first delivery already published, so retries are skipped. A Home click carries
no response_url, so what it opens is sent as a DM (conversations.open, then chat.postMessage).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App, BoltRequest

from bot.core.actions import ActionId
from bot.deps import Deps
from bot.home.service import home_alert_card
from bot.resend.remembered import remembered_card
from bot.resend.replies import error_message
from bot.slack.direct import post_direct_message
from bot.slack.message import SlackMessage
from bot.slack.requests import Click
from bot.slack.simple_cards import build_error, build_stale_button
from handlers.common import track_id_of

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)


def register(app: App, deps: Deps) -> None:
    """Listen for app_home_opened and the Home's Open buttons."""

    @app.event("app_home_opened")
    def handle_app_home_opened(
        event: dict[str, Any], body: dict[str, Any], request: BoltRequest
    ) -> None:
        if event.get("tab") != "home" or request.headers.get("x-slack-retry-num"):
            return
        view = event.get("view") or {}
        deps.home.publish(
            deps,
            team_id=str(body.get("team_id") or ""),
            user_id=str(event.get("user") or ""),
            opened_hash=view.get("hash"),
            opened=True,
        )

    app.action(ActionId.HOME_OPEN_FAILURES.value)(_dm_on_click(deps, open_failures))
    app.action(ActionId.HOME_OPEN_ALERT.value)(_dm_on_click(deps, open_alert))


def _dm_on_click(
    deps: Deps, build: Callable[[Deps, Click], SlackMessage]
) -> Callable[[Ack, dict[str, Any], dict[str, Any]], None]:
    """A Home button listener: ack, build the card, DM it; any failure is DMed as an error."""

    def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        click = Click(body, action)
        try:
            message = build(deps, click)
        except Exception as exc:  # explained to the clicker in the DM, with an incident id
            message = error_message(exc)
        post_direct_message(deps.slack, click.user_id, message)

    return listener


def open_failures(deps: Deps, click: Click) -> SlackMessage:
    """The failures card of a watched account, last 24 h."""
    failures = deps.service.failures_for(
        str(click.value), WINDOW, "24h", track_id=track_id_of(click), defer_ids=True
    )
    return remembered_card(deps, failures)


def open_alert(deps: Deps, click: Click) -> SlackMessage:
    """The alert card of one of this workspace's open incidents."""
    raw = str(click.value)
    if not raw.isdigit():
        return build_stale_button()
    quiet = round(deps.settings.alert.quiet_period / 60)
    card = home_alert_card(
        deps.store, team_id=click.team_id, incident_id=int(raw), now=deps.now(), quiet_minutes=quiet
    )
    return card or build_error(
        "That alert is gone.", hint="Open the Home tab again to see the current ones."
    )
