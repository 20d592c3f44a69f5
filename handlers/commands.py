"""/zuora: ack at once with a placeholder, then parse, ask the service, build and respond."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks import (
    SlackMessage,
    build_failures_card,
    build_help,
    build_placeholder,
    build_resend_confirm,
    build_status,
)
from bot.commands import (
    AuditCommand,
    Command,
    FailuresCommand,
    HelpCommand,
    ResendCommand,
    StatusCommand,
    UsageError,
    parse_zuora_command,
)
from bot.deps import Deps
from bot.settings import public_config
from bot.zuora.track import new_track_id
from handlers.audit import run_audit_command
from handlers.common import answer_failure, send
from handlers.digest import run_digest_command


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
            ack(**build_help(error=exc.message, did_you_mean=exc.did_you_mean).as_payload())
            return
        try:
            run_command(deps, parsed, command, ack)
        except Exception as exc:  # explained to the user here; see answer_failure
            answer_failure(deps, command, ack, exc, replace=True)


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
        ack(
            **build_placeholder(
                f"Looking up failures for {parsed.account}, last {parsed.label}…"
            ).as_payload()
        )
        failures = deps.service.failures_for(
            parsed.account, parsed.window, parsed.label, track_id=track_id, defer_ids=True
        )
        ui_url = deps.settings.zuora.ui_url
        reply(deps, command, build_failures_card(failures, ui_url=ui_url))
        # Resend IDs still loading: the same response_url redraws the card once they arrive.
        deps.service.when_ids_resolved(
            failures,
            lambda updated: reply(deps, command, build_failures_card(updated, ui_url=ui_url)),
            track_id=track_id,
        )
    elif isinstance(parsed, StatusCommand):
        ack(**build_placeholder("Checking the connection to Zuora…").as_payload())
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
    else:
        run_digest_command(deps, parsed, command, ack, track_id)


def reply(deps: Deps, payload: dict[str, Any], message: SlackMessage) -> None:
    """Replace the placeholder with `message` through the command's response_url."""
    send(deps, payload, message, replace=True)
