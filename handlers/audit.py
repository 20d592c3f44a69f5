"""/zuora audit [account] and its paging buttons: the stored resend trail."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks import AUDIT_PAGE_SIZE, SlackMessage, build_audit_card, build_receipt
from bot.commands import AuditCommand
from bot.deps import Deps
from bot.ids import ActionId, AuditPageRef
from handlers.common import decode_or_refuse, send


def register(app: App, deps: Deps) -> None:
    """Listen for the audit card's Newer/Older buttons."""

    @app.action(ActionId.AUDIT_PAGE.value)
    def handle_audit_page(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        ref = decode_or_refuse(deps, body, action, AuditPageRef)
        if ref is not None:
            send(deps, body, build_audit_page(deps, ref.account, ref.offset), replace=True)


def run_audit_command(deps: Deps, parsed: AuditCommand, command: dict[str, Any], ack: Ack) -> None:
    """Ack at once, then answer /zuora audit from the store via response_url (a busy database can wait)."""
    ack(**build_receipt("Reading the resend audit trail").as_payload())
    send(deps, command, build_audit_page(deps, parsed.account, parsed.offset), replace=False)


def build_audit_page(deps: Deps, account: str | None, offset: int) -> SlackMessage:
    """One page of the audit trail, newest first."""
    entries = deps.store.list_resends(account_key=account, limit=AUDIT_PAGE_SIZE, offset=offset)
    total = deps.store.count_resends(account)
    return build_audit_card(entries, total=total, offset=offset, account=account)
