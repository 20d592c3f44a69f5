"""/zuora alerts subscribe|list|unsubscribe|updates: spike-alert subscriptions (the clock posts the alerts)."""

from __future__ import annotations

from slack_bolt import Ack

from bot.alerts.commands import answer_alerts_command
from bot.core.command_text import (
    AlertCommand,
    AlertListCommand,
    AlertSubscribeCommand,
    AlertUnsubscribeCommand,
    AlertUpdatesCommand,
)
from bot.deps import Deps
from bot.failures.receipt_card import build_receipt
from bot.home.service import refresh_team_homes
from bot.slack.requests import Command
from handlers.common import CommandTable, send


def handle_alerts_command(
    deps: Deps, parsed: AlertCommand, command: Command, ack: Ack, track_id: str
) -> None:
    """Ack at once with a receipt, then check the allow-list and answer once via response_url.

    The answer is a post of its own (replace_original false): a command's ack is never replaced.
    """
    ack(**build_receipt(placeholder_for(parsed)).as_payload())
    send(deps, command, answer_alerts_command(deps, parsed, command), replace=False)
    if not isinstance(parsed, AlertListCommand):  # the Homes this process shows list the alerts
        refresh_team_homes(deps, team_id=command.team_id)


def placeholder_for(parsed: AlertCommand) -> str:
    """The instant ack text for an alerts subcommand."""
    if isinstance(parsed, AlertListCommand):
        return "Listing this workspace's spike alerts…"
    if isinstance(parsed, AlertSubscribeCommand):
        return "Checking your access and the channel…"
    if isinstance(parsed, AlertUpdatesCommand):
        return f"Checking your access to change spike alert #{parsed.subscription_id}…"
    return f"Checking your access to remove spike alert #{parsed.subscription_id}…"


#: The commands this module answers.
COMMANDS: CommandTable = dict.fromkeys(
    (AlertSubscribeCommand, AlertListCommand, AlertUnsubscribeCommand, AlertUpdatesCommand),
    handle_alerts_command,
)
