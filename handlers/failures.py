"""/zuora failures and the failures card's own controls: Refresh, paging and callout Details.

A failures card row carries a compact value (`bot.core.actions.RowAction`) and its card in the row's
block_id; older cards' buttons carry JSON values, and both keep working. The card's resend buttons
are handlers.resend's.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App

from bot.core.actions import (
    ActionId,
    CalloutRef,
    CardRef,
    InvalidValueError,
    RowAction,
    decode_row_action,
    decode_row_block_id,
)
from bot.core.command_text import FailuresCommand
from bot.deps import Deps
from bot.failures.account_case import account_in_other_case, other_case_message
from bot.failures.callout_card import build_callout_details
from bot.failures.receipt_card import build_lookup_receipt
from bot.failures.results import AccountFailures
from bot.resend.remembered import remembered_card
from bot.slack.mrkdwn import date_token, user
from bot.slack.requests import Click, Command
from bot.slack.simple_cards import build_error, build_notice, build_stale_button
from bot.zuora.errors import ZuoraNotFoundError
from handlers.common import CommandTable, decode_or_refuse, on_click, send, track_id_of
from handlers.read_rule import may_read_or_refuse

logger = logging.getLogger(__name__)

SELECTIONS = (ActionId.SELECT_EMAILS.value, ActionId.SELECT_CALLOUTS.value)


def register(app: App, deps: Deps) -> None:
    """Listen for the card's own buttons; checkbox ticks and link buttons are acked and ignored."""
    for action_id in (*SELECTIONS, ActionId.OPEN_LINK.value):
        app.action(action_id)(ack_only)
    on_click(app, deps, ActionId.REFRESH, handle_refresh)
    on_click(app, deps, ActionId.PAGE, handle_page)
    on_click(app, deps, ActionId.CALLOUT_DETAILS, handle_details)


def ack_only(ack: Ack) -> None:
    """Checkbox ticks and link buttons: acknowledge, do nothing (only buttons act)."""
    ack()


def handle_failures_command(
    deps: Deps, parsed: FailuresCommand, command: Command, ack: Ack, track_id: str
) -> None:
    """Ack with a receipt, then post the card once (IDs past ZUORA_ID_WAIT come with Refresh)."""
    ack(**build_lookup_receipt(parsed.account, parsed.label).as_payload())
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
        send(deps, command, build_error(said, hint=hint), replace=False)
        return
    send(deps, command, remembered_card(deps, failures), replace=False)


def handle_refresh(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Re-read Zuora (skipping the cache) and redraw the card in place."""
    ack()
    redraw(deps, Click(body, action), fresh=True)


def handle_page(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Show another page of the same card."""
    ack()
    redraw(deps, Click(body, action), fresh=False)


def redraw(deps: Deps, click: Click, *, fresh: bool) -> None:
    """Draw the card a Refresh or paging button belongs to, re-read from Zuora when `fresh`."""
    card = decode_or_refuse(deps, click, CardRef)
    if card is None:
        return
    track_id = track_id_of(click)
    failures = deps.service.failures_on_card(card, track_id=track_id, fresh=fresh, defer_ids=True)
    notice = f"Refreshed by {user(click.user_id)} {date_token(deps.now())}" if fresh else None
    show_card(deps, click, failures, page=card.p, notice=notice, track_id=track_id)


def handle_details(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Fetch one callout's response content on demand and show it to the clicker."""
    ack()
    click = Click(body, action)
    if isinstance(click.value, str) and not click.value.startswith("{"):
        row = row_target(deps, click, click.value)
        if row is None:
            return
        target, card = row
        if target.verb != "details" or target.created is None:
            refuse_stale(deps, click, f"{target.verb} value on a Details button")
            return
        show_details(deps, click, card, created=target.created, event_id=target.event_id)
        return
    ref = decode_or_refuse(deps, click, CalloutRef)
    if ref is not None:
        show_details(deps, click, ref.card, created=ref.t, event_id=ref.ev)


def show_card(
    deps: Deps,
    click: Click,
    failures: AccountFailures,
    *,
    page: int,
    notice: str | None,
    track_id: str,
) -> None:
    """Redraw the card in place, and once more when resend IDs that were loading arrive."""

    def draw(shown: AccountFailures) -> None:
        send(deps, click, remembered_card(deps, shown, page=page, notice=notice), replace=True)

    draw(failures)
    deps.service.when_ids_resolved(failures, draw, track_id=track_id)


def show_details(
    deps: Deps, click: Click, card: CardRef, *, created: int, event_id: str | None
) -> None:
    """The read rule, then one callout's details to the clicker alone."""
    if not may_read_or_refuse(deps, click, "details"):
        return  # checked before Zuora is asked for the response body
    account, callout = deps.service.callout_detail(
        card,
        created_at=datetime.fromtimestamp(created, UTC),
        event_id=event_id,
        track_id=track_id_of(click),
    )
    if callout is None:
        gone = build_notice("Zuora no longer has that callout in its history.")
        send(deps, click, gone, replace=False)
        return
    send(deps, click, build_callout_details(callout, account=account), replace=False)


def row_target(deps: Deps, click: Click, raw: object) -> tuple[RowAction, CardRef] | None:
    """A row control's compact value and the card its block_id carries, or None after refusing."""
    try:
        return decode_row_action(raw), decode_row_block_id(click.block_id)
    except InvalidValueError as exc:
        refuse_stale(deps, click, str(exc))
        return None


def refuse_stale(deps: Deps, click: Click, why: str) -> None:
    """Tell the clicker the control was stale or forged; log why."""
    logger.info("stale or forged row value from %s: %s", click.user_id, why)
    send(deps, click, build_stale_button(), replace=False)


#: The commands this module answers.
COMMANDS: CommandTable = {FailuresCommand: handle_failures_command}
