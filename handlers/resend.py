"""/zuora resend and the cards' resend controls: one row, the ticked ones, all, again, confirm, cancel.

A failures card row carries a compact value (`bot.core.actions.RowAction`) and its card in the row's
block_id; older cards' buttons carry JSON values, and both keep working. A callout row's overflow
menu (`ActionId.ROW_MENU`) dispatches on the option picked: Resend here, Details in handlers.failures.
The allow-list comes first everywhere: a refused click costs no Zuora request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_bolt import Ack, App

from bot.core.actions import (
    ActionId,
    CardRef,
    InvalidValueError,
    ResendAgainRef,
    ResendAllRef,
    ResendRef,
    RowAction,
    parse_option_value,
)
from bot.core.command_text import ResendCommand
from bot.deps import Deps
from bot.failures.cards import account_url
from bot.failures.results import AccountFailures
from bot.home.service import refresh_home
from bot.resend.cards import build_resend_confirm
from bot.resend.clicks import Request, resend_clicked
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import escape, link, user
from bot.slack.requests import Click, Command
from bot.slack.simple_cards import build_notice, build_stale_button
from bot.zuora.errors import ZuoraError
from bot.zuora.models import Account, NotificationKind
from handlers.common import (
    CommandTable,
    decode_or_refuse,
    may_act,
    on_click,
    send,
    track_id_of,
)
from handlers.digest_resend import is_shared_message, resend_all_on_digest
from handlers.failures import SELECTIONS, refuse_stale, row_target, show_details

_ROW_BUTTON_KINDS: dict[str, NotificationKind] = {
    ActionId.RESEND_EMAIL.value: "email",
    ActionId.RESEND_CALLOUT.value: "callout",
}


def register(app: App, deps: Deps) -> None:
    """Listen for every resend control on the cards."""
    for action_id in (ActionId.RESEND_EMAIL, ActionId.RESEND_CALLOUT, ActionId.RESEND_CONFIRM):
        on_click(app, deps, action_id, handle_resend_button)
    on_click(app, deps, ActionId.RESEND_SELECTED, handle_resend_selected)
    on_click(app, deps, ActionId.RESEND_ALL, handle_resend_all)
    on_click(app, deps, ActionId.RESEND_CANCEL, handle_cancel)
    on_click(app, deps, ActionId.ROW_MENU, handle_row_menu)
    on_click(app, deps, ActionId.RESEND_AGAIN, handle_resend_again)


def handle_resend_command(
    deps: Deps, parsed: ResendCommand, command: Command, ack: Ack, track_id: str
) -> None:
    """Answer /zuora resend with a confirm card only the requester sees; its button resends."""
    message = build_resend_confirm(
        kind=parsed.kind, ids=list(parsed.ids), requested_by=command.user_id
    )
    ack(**message.as_payload(), response_type="ephemeral")


def handle_resend_button(
    deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> None:
    """Resend the ids a row button (or the /zuora resend confirm) carries."""
    ack()
    click = Click(body, action)
    if not may_act(deps, click):
        return
    if isinstance(click.value, str) and not click.value.startswith("{"):
        # Row buttons carry compact values; the /zuora resend confirm only ever carries JSON.
        resend_row_button(deps, click)
        return
    ref = decode_or_refuse(deps, click, ResendRef)
    if ref is None:
        return
    labels = {ref.ids[0]: ref.lb} if ref.lb and len(ref.ids) == 1 else {}
    resend(
        deps, click, [(ref.k, tuple(ref.ids), labels)], account_of(deps, click, ref.card), ref.card
    )


def handle_row_menu(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """A callout row's overflow menu: Resend, Details, or Open in Zuora (a link: nothing to do)."""
    ack()
    click = Click(body, action)
    row = row_target(deps, click, click.selected_value)
    if row is None:
        return
    target, card = row
    if target.verb == "resend" and target.history_id is not None:
        if may_act(deps, click):
            resend_row(deps, click, target, card)
    elif target.verb == "details" and target.created is not None:
        show_details(deps, click, card, created=target.created, event_id=target.event_id)


def handle_resend_selected(
    deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> None:
    """Resend what is ticked on the card: one Zuora request per kind, one outcome card for both."""
    ack()
    click = Click(body, action)
    if not may_act(deps, click):
        return
    card = decode_or_refuse(deps, click, CardRef)
    if card is None:
        return
    try:
        picked = ticked_ids(click)
    except InvalidValueError:
        send(deps, click, build_stale_button(), replace=False)
        return
    if not picked["email"] and not picked["callout"]:
        hint = "Tick at least one email or callout first, then press *Resend selected*."
        send(deps, click, build_notice(hint), replace=False)
        return
    requests = [(kind, tuple(chosen), chosen) for kind, chosen in picked.items() if chosen]
    resend(deps, click, requests, account_of(deps, click, card), card)


def handle_resend_all(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Re-read the card's fixed window from Zuora, then resend every resendable failed email.

    On an ephemeral card the click's response_url replaces the card with the outcome; on a channel
    digest the outcome goes to its thread instead (bot.digest.resend_all).
    """
    ack()
    click = Click(body, action)
    if not may_act(deps, click):
        return
    ref = decode_or_refuse(deps, click, ResendAllRef)
    if ref is None:
        return
    failures = deps.service.failures_on_card(ref.card, track_id=track_id_of(click), fresh=True)
    emails = [e for e in failures.emails if e.id]
    if not emails:
        send(deps, click, nothing_to_resend(deps, failures), replace=False)
        return
    labels = {str(e.id): f"{e.event_name} → {e.to_email or '?'}" for e in emails}
    if is_shared_message(click):  # a channel digest: keep it whole, report in its thread
        resend_all_on_digest(deps, click, labels, failures.account)
        return
    resend(deps, click, [("email", tuple(labels), labels)], failures.account, ref.card)


def handle_resend_again(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """ "Resend again" (after its confirm dialog): a deliberate new attempt, with a new key.

    It takes over only the claims the notice showed (made at or before its newest one): a claim
    someone made since, or a second "Resend again" from another notice, wins instead.
    """
    ack()
    click = Click(body, action)
    if not may_act(deps, click):
        return
    ref = decode_or_refuse(deps, click, ResendAgainRef)
    if ref is None:
        return
    resend(deps, click, [(ref.k, tuple(ref.ids), {})], None, None, again=ref.shown_until)


def handle_cancel(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Drop a /zuora resend confirm card."""
    ack()
    click = Click(body, action)
    cancelled = build_notice(f"Cancelled by {user(click.user_id)}. Nothing was resent.")
    send(deps, click, cancelled, replace=True)


def resend_row_button(deps: Deps, click: Click) -> None:
    """A row's Resend button: its compact value must name a resend of the button's kind."""
    kind = _ROW_BUTTON_KINDS.get(click.action_id)
    row = row_target(deps, click, click.value)
    if row is None:
        return
    target, card = row
    if target.verb != "resend" or target.kind != kind or target.history_id is None:
        refuse_stale(deps, click, f"{target.verb}/{target.kind} value on a {kind} button")
        return
    resend_row(deps, click, target, card)


def ticked_ids(click: Click) -> dict[NotificationKind, dict[str, str]]:
    """The ids ticked on the card per kind, each with its checkbox label (InvalidValueError if forged)."""
    picked: dict[NotificationKind, dict[str, str]] = {"email": {}, "callout": {}}
    for option in click.ticked(SELECTIONS):
        kind, history_id = parse_option_value(option.value)
        picked[kind][history_id] = option.text
    return picked


def nothing_to_resend(deps: Deps, failures: AccountFailures) -> SlackMessage:
    """Why Resend all found no email to resend: resend IDs did not load, or none remain."""
    if failures.ids_error:
        zuora = link(account_url(deps.settings.zuora.ui_url, failures.account), "Zuora")
        reason = escape(failures.ids_error)
        return build_notice(
            f"Couldn't load resend IDs ({reason}), so nothing was resent. Resend from {zuora}."
        )
    return build_notice(
        f"No resendable failed emails remain for {escape(failures.account.number)}; nothing was resent."
    )


def resend_row(deps: Deps, click: Click, target: RowAction, card: CardRef) -> None:
    """Resend the one id a row control names (callers checked it is a resend with an id)."""
    ids = (target.history_id,) if target.history_id else ()
    labels = {ids[0]: target.label} if ids and target.label else {}
    resend(deps, click, [(target.kind, ids, labels)], account_of(deps, click, card), card)


def resend(
    deps: Deps,
    click: Click,
    requests: list[Request],
    account: Account | None,
    card: CardRef | None,
    *,
    again: datetime | None = None,
) -> None:
    """Resend (kind, ids, labels) requests for one click, replying through its response_url."""

    def reply(message: SlackMessage, replace: bool) -> None:
        send(deps, click, message, replace=replace)

    track_id = track_id_of(click)
    resend_clicked(
        deps, click, requests, reply, account=account, card=card, track_id=track_id, again=again
    )
    refresh_home(deps, team_id=click.team_id, user_id=click.user_id)  # its "recent resends"


def account_of(deps: Deps, click: Click, card: CardRef | None) -> Account | None:
    """The card's account with its name (cached read); the number alone if Zuora can't say."""
    if card is None:
        return None
    try:
        return deps.service.get_account(card.a, track_id=track_id_of(click))
    except ZuoraError:
        # Row controls carry no account number (see bot.core.actions.row_block_id): name it by id then.
        return Account(id=card.a, number=card.n or card.a, name=card.n or card.a)


#: The commands this module answers.
COMMANDS: CommandTable = {ResendCommand: handle_resend_command}
