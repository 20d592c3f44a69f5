"""/zuora watch|watch list|unwatch and the failures card's Watch button.

Watching is open to everyone who may use `/zuora failures` (that is, everyone in the workspace): a
watch only DMs what `/zuora failures <account>` already shows the same person (counts, the time of
the last failure, a button to that card), never a callout body or the audit trail, which are the
reads handlers.read_rule guards. So no allow-list check here; resend buttons on the card the DM opens
still check the allow-list at click time.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.core.actions import ActionId, InvalidValueError, decode_card_value
from bot.core.command_text import UnwatchCommand, WatchCommand, WatchListCommand
from bot.deps import Deps
from bot.failures.receipt_card import build_receipt
from bot.home.service import refresh_home
from bot.slack.requests import Click, Command
from bot.slack.simple_cards import build_stale_button
from bot.watches.service import WatchRequest, answer_watch_command, watch_account
from handlers.common import CommandTable, on_click, send, track_id_of


def register(app: App, deps: Deps) -> None:
    """Listen for the failures card's Watch button."""
    on_click(app, deps, ActionId.WATCH_ACCOUNT, handle_watch_button)


def handle_watch_command(
    deps: Deps, parsed: WatchRequest, command: Command, ack: Ack, track_id: str
) -> None:
    """Ack with a receipt, then answer once (a post of its own) and refresh the user's Home."""
    ack(**build_receipt(placeholder_for(parsed)).as_payload())
    team_id, user_id = command.team_id, command.user_id
    message = answer_watch_command(
        deps, parsed, team_id=team_id, user_id=user_id, track_id=track_id
    )
    send(deps, command, message, replace=False)
    refresh_home(deps, team_id=team_id, user_id=user_id)


def handle_watch_button(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Watch the card's account; the answer is a new message, the card stays as it is."""
    ack()
    click = Click(body, action)
    try:
        card = decode_card_value(str(click.value))
    except InvalidValueError:
        send(deps, click, build_stale_button(), replace=False)
        return
    team_id, user_id = click.team_id, click.user_id
    message = watch_account(
        deps, card.a, team_id=team_id, user_id=user_id, track_id=track_id_of(click)
    )
    send(deps, click, message, replace=False)
    refresh_home(deps, team_id=team_id, user_id=user_id)


def placeholder_for(parsed: WatchRequest) -> str:
    """The instant ack text for a watch subcommand."""
    if isinstance(parsed, WatchListCommand):
        return "Listing the accounts you watch…"
    if isinstance(parsed, UnwatchCommand):
        return f"Stopping your watch on {parsed.account}…"
    return f"Looking up {parsed.account} in Zuora to watch it…"


#: The commands this module answers.
COMMANDS: CommandTable = dict.fromkeys(
    (WatchCommand, WatchListCommand, UnwatchCommand), handle_watch_command
)
