"""/zuora audit [account] and its paging buttons: this workspace's stored resend trail, for readers."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.audit.cards import AUDIT_PAGE_SIZE, build_audit_card
from bot.audit.outcome_notes import audit_notes
from bot.core.actions import ActionId, AuditPageRef
from bot.core.command_text import AuditCommand
from bot.deps import Deps
from bot.failures.receipt_card import build_receipt
from bot.slack.message import SlackMessage
from bot.slack.requests import Click, Command
from handlers.common import CommandTable, decode_or_refuse, send
from handlers.read_rule import may_read_or_refuse


def register(app: App, deps: Deps) -> None:
    """Listen for the audit card's Newer/Older buttons."""

    @app.action(ActionId.AUDIT_PAGE.value)
    def handle_audit_page(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        click = Click(body, action)
        if not may_read_or_refuse(deps, click, "audit"):
            return
        ref = decode_or_refuse(deps, click, AuditPageRef)
        if ref is not None:
            page = build_audit_page(deps, ref.account, ref.offset, team_id=click.team_id)
            send(deps, click, page, replace=True)


def handle_audit_command(
    deps: Deps, parsed: AuditCommand, command: Command, ack: Ack, track_id: str
) -> None:
    """Ack at once, check the read rule, then answer /zuora audit from the store via response_url."""
    ack(**build_receipt("Checking your access to the resend audit trail").as_payload())
    if not may_read_or_refuse(deps, command, "audit"):
        return
    page = build_audit_page(deps, parsed.account, parsed.offset, team_id=command.team_id)
    send(deps, command, page, replace=False)


def build_audit_page(deps: Deps, account: str | None, offset: int, *, team_id: str) -> SlackMessage:
    """One page of this workspace's audit trail, newest first (another workspace's is never read)."""
    entries = deps.store.list_resends(
        team_id=team_id, account_key=account, limit=AUDIT_PAGE_SIZE, offset=offset
    )
    total = deps.store.count_resends(account, team_id=team_id)
    notes = audit_notes(deps.store, entries)
    return build_audit_card(entries, total=total, offset=offset, account=account, notes=notes)


#: The commands this module answers.
COMMANDS: CommandTable = {AuditCommand: handle_audit_command}
