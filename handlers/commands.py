"""/zuora: ack at once, then parse, ask the service, build and post the answer.

Slack's rule this module follows: a slash command's `response_url` cannot edit the message it
answered with, nor a message posted through it; `replace_original: true` there posts one more
message (Slack staff in slackapi/bolt-python#1268 and slackapi/bolt-js#2287; only a click's
response_url edits "the message containing the button", docs.slack.dev/messaging/modifying-messages).
So a command's ack is never a placeholder to be swapped later, and everything sent after it goes out
as its own message with `replace_original: false`. `/zuora failures` acks with a one-line receipt,
waits up to ZUORA_ID_WAIT seconds for Data Query's resend IDs, and posts the card ONCE. If the IDs are
still loading, the card says so and offers Refresh: that click's own response_url redraws it.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.core.command_text import (
    AlertListCommand,
    AlertSubscribeCommand,
    AlertUnsubscribeCommand,
    AuditCommand,
    Command,
    FailuresCommand,
    HelpCommand,
    OutagesCommand,
    ResendCommand,
    StatusCommand,
    UsageError,
    parse_zuora_command,
)
from bot.deps import Deps
from bot.failures.account_case import account_in_other_case, other_case_message
from bot.failures.cards import build_failures_card
from bot.failures.receipt_card import build_lookup_receipt, build_receipt
from bot.failures.status_card import build_status
from bot.resend.cards import build_resend_confirm
from bot.settings import public_config
from bot.slack.message import SlackMessage
from bot.slack.simple_cards import build_error, build_help, build_usage_error
from bot.zuora.errors import ZuoraNotFoundError
from bot.zuora.track import new_track_id
from handlers.alerts import run_alerts_command
from handlers.audit import run_audit_command
from handlers.common import answer_failure, send
from handlers.digest import run_digest_command
from handlers.outages import run_outages_command
from handlers.read_rule import may_read_or_refuse


def register(app: App, deps: Deps) -> None:
    """Listen for /zuora."""

    @app.command("/zuora")
    def handle_zuora_command(ack: Ack, command: dict[str, Any]) -> None:
        try:
            parsed = parse_zuora_command(
                str(command.get("text") or ""),
                default_time=deps.settings.digest.default_hour_minute,
            )
        except UsageError as exc:
            usage_error = build_usage_error(
                exc.message, did_you_mean=exc.did_you_mean, usage=exc.usage
            )
            ack(**usage_error.as_payload())
            return
        try:
            run_command(deps, parsed, command, ack)
        except Exception as exc:  # explained to the user here; see answer_failure
            answer_failure(deps, command, ack, exc, replace=False)


def run_command(deps: Deps, parsed: Command, command: dict[str, Any], ack: Ack) -> None:
    """Dispatch a parsed command; anything slow happens after ack()."""
    track_id = new_track_id(
        "zops", str(command.get("team_id", "")), str(command.get("user_id", ""))
    )
    if isinstance(parsed, HelpCommand):
        ack(**build_help().as_payload())
    elif isinstance(parsed, ResendCommand):
        message = build_resend_confirm(
            kind=parsed.kind, ids=list(parsed.ids), requested_by=str(command.get("user_id"))
        )
        ack(**message.as_payload(), response_type="ephemeral")
    elif isinstance(parsed, FailuresCommand):
        ack(**build_lookup_receipt(parsed.account, parsed.label).as_payload())
        # Waits up to ZUORA_ID_WAIT for resend IDs; past that the card shows them as loading and
        # its Refresh button (a click, whose response_url may replace the card) brings them.
        try:
            failures = deps.service.failures_for(
                parsed.account, parsed.window, parsed.label, track_id=track_id, defer_ids=True
            )
        except ZuoraNotFoundError:
            found = account_in_other_case(
                lambda key: deps.service.get_account(key, track_id=track_id), parsed.account
            )
            if found is None:
                raise
            said, hint = other_case_message(
                parsed.account, found, f"failures {found.number} {parsed.label}"
            )
            reply(deps, command, build_error(said, hint=hint))
            return
        reply(deps, command, build_failures_card(failures, ui_url=deps.settings.zuora.ui_url))
    elif isinstance(parsed, StatusCommand):
        ack(
            **build_receipt(
                "Checking your access, then the connection to Zuora and its Data Query columns"
            ).as_payload()
        )
        if not may_read_or_refuse(deps, command, "status"):
            return
        health = deps.service.check_zuora(track_id=track_id)
        id_source = deps.service.id_source(track_id=track_id) if health.ok else None
        reply(
            deps,
            command,
            build_status(
                zuora_ok=health.ok,
                detail=health.detail,
                token_expires_in=health.token_expires_in,
                config=public_config(deps.settings),
                id_source=id_source,
            ),
        )
    elif isinstance(parsed, AuditCommand):
        run_audit_command(deps, parsed, command, ack)
    elif isinstance(parsed, AlertSubscribeCommand | AlertListCommand | AlertUnsubscribeCommand):
        run_alerts_command(deps, parsed, command, ack)
    elif isinstance(parsed, OutagesCommand):
        run_outages_command(deps, parsed, command, ack, track_id)
    else:
        run_digest_command(deps, parsed, command, ack, track_id)


def reply(deps: Deps, payload: dict[str, Any], message: SlackMessage) -> None:
    """Post `message` after the ack through the command's response_url, as a message of its own.

    replace_original is false on purpose: Slack would not replace the ack anyway (module docstring).
    """
    send(deps, payload, message, replace=False)
