"""/zuora: ack at once, then parse, ask the service, build and post the answer.

Slack's rule this module follows: a slash command's `response_url` cannot edit the message it
answered with, nor a message posted through it; `replace_original: true` there posts one more
message (Slack staff in slackapi/bolt-python#1268 and slackapi/bolt-js#2287; only a click's
response_url edits "the message containing the button", docs.slack.dev/messaging/modifying-messages).
So a command's ack is never a placeholder to be swapped later, and everything sent after it goes out
as its own message with `replace_original: false`. `/zuora failures` acks with a one-line receipt,
waits up to ZUORA_ID_WAIT seconds for Data Query's resend IDs, and posts the card ONCE. If the IDs are
still loading, the card says so and offers Refresh: that click's own response_url redraws it.

Each subcommand is answered by the `handle_<subcommand>_command` that COMMANDS (below) names: help and
status here, the rest in the module of their surface (handlers.failures, handlers.resend, ...).
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.core import command_text
from bot.core.command_text import HelpCommand, StatusCommand, UsageError, parse_zuora_command
from bot.deps import Deps
from bot.failures.receipt_card import build_receipt
from bot.failures.status_card import build_status
from bot.resend.outcomes import RULE as OUTCOME_RULE
from bot.settings import public_config
from bot.slack.requests import Command
from bot.slack.simple_cards import build_help, build_usage_error
from handlers import alerts, audit, digest, failures, outages, resend, watches
from handlers.common import CommandTable, failures_explained, send, track_id_of
from handlers.read_rule import may_read_or_refuse


def register(app: App, deps: Deps) -> None:
    """Listen for /zuora."""

    @app.command("/zuora")
    def handle_zuora_command(ack: Ack, command: dict[str, Any]) -> None:
        request = Command(command)
        default_time = deps.settings.digest.default_hour_minute
        try:
            parsed = parse_zuora_command(request.text, default_time=default_time)
        except UsageError as exc:
            usage_error = build_usage_error(
                exc.message, did_you_mean=exc.did_you_mean, usage=exc.usage
            )
            ack(**usage_error.as_payload())
            return
        with failures_explained(deps, request, ack):
            run_command(deps, parsed, command, ack)


def run_command(
    deps: Deps, parsed: command_text.Command, command: dict[str, Any], ack: Ack
) -> None:
    """Hand a parsed command to its handler (the table below); anything slow happens after ack()."""
    request = Command(command)
    COMMANDS[type(parsed)](deps, parsed, request, ack, track_id_of(request))


def handle_help_command(
    deps: Deps, parsed: HelpCommand, command: Command, ack: Ack, track_id: str
) -> None:
    """/zuora help: the usage card, in the ack."""
    ack(**build_help().as_payload())


def handle_status_command(
    deps: Deps, parsed: StatusCommand, command: Command, ack: Ack, track_id: str
) -> None:
    """Ack with a receipt, check the read rule, then Zuora's health and where resend IDs come from."""
    ack(
        **build_receipt(
            "Checking your access, then the connection to Zuora and its Data Query columns"
        ).as_payload()
    )
    if not may_read_or_refuse(deps, command, "status"):
        return
    health = deps.service.check_zuora(track_id=track_id)
    id_source = deps.service.id_source(track_id=track_id) if health.ok else None
    retry = deps.service.retry_limits(track_id=track_id) if health.ok else None
    status = build_status(
        zuora_ok=health.ok,
        detail=health.detail,
        token_expires_in=health.token_expires_in,
        config=public_config(deps.settings),
        id_source=id_source,
        retry=retry,
        outcome_rule=OUTCOME_RULE,
    )
    # A command's response_url never replaces the ack (module docstring): the answer is its own post.
    send(deps, command, status, replace=False)


#: Every /zuora subcommand's handler, by parsed command type: each handler module declares its own.
COMMANDS: CommandTable = {
    HelpCommand: handle_help_command,
    StatusCommand: handle_status_command,
    **failures.COMMANDS,
    **resend.COMMANDS,
    **outages.COMMANDS,
    **audit.COMMANDS,
    **digest.COMMANDS,
    **alerts.COMMANDS,
    **watches.COMMANDS,
}
