"""The "Zuora account failures" message shortcut (a manifest name has at most 24 characters) and its picker.

Answers go to the shortcut's response_url, so only the person who ran it sees them (ephemeral in
the channel, like every other card of the bot; no modal, whose trigger_id lasts 3 seconds).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App

from bot.core.actions import ActionId
from bot.deps import Deps
from bot.links.cards import build_account_choice, build_no_account_found
from bot.links.urls import account_keys_in_text
from bot.resend.remembered import remembered_card
from bot.slack.requests import Click, SlackRequest
from handlers.common import failures_explained, on_click, send, track_id_of
from handlers.unfurls import zuora_link_hosts

logger = logging.getLogger(__name__)

#: The shortcut's callback_id in manifest.json.
FAILURES_FOR_MESSAGE = "zuora_failures_for_message"
WINDOW, LABEL = timedelta(hours=24), "24h"


def register(app: App, deps: Deps) -> None:
    """Listen for the message shortcut and for the account picker it may show."""

    def on_shortcut(ack: Ack, body: dict[str, Any]) -> None:
        with failures_explained(deps, SlackRequest(body), ack):
            handle_failures_for_message(deps, ack, body)

    app.shortcut(FAILURES_FOR_MESSAGE)(on_shortcut)
    on_click(app, deps, ActionId.SHORTCUT_PICK, handle_pick)


def handle_failures_for_message(deps: Deps, ack: Ack, body: dict[str, Any]) -> None:
    """Ack, then: no account → say so; one → its failures card; several → a picker."""
    ack()
    request = SlackRequest(body)
    message = body.get("message")
    text = str(message.get("text") or "") if isinstance(message, dict) else ""
    keys = account_keys_in_text(text, zuora_link_hosts(deps))
    logger.info("shortcut by %s found %d account keys", request.user_id, len(keys))
    if not keys:
        send(deps, request, build_no_account_found(), replace=False)
    elif len(keys) > 1:
        send(deps, request, build_account_choice(keys), replace=False)
    else:
        show_failures(deps, request, keys[0], replace=False)


def handle_pick(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """The account chosen in the picker: its failures card replaces the picker."""
    ack()
    click = Click(body, action)
    key = click.selected_value
    if not isinstance(key, str) or not key:
        return
    show_failures(deps, click, key, replace=True)


def show_failures(deps: Deps, request: SlackRequest, key: str, *, replace: bool) -> None:
    """The failures card of the last 24h of one account, to the requester alone."""
    failures = deps.service.failures_for(
        key, WINDOW, LABEL, track_id=track_id_of(request), defer_ids=True
    )
    send(deps, request, remembered_card(deps, failures), replace=replace)
