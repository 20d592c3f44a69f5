"""Card buttons: resend one / selected / all, confirm and cancel, refresh, paging, callout details.

A failures card row carries a compact value (`bot.core.actions.RowAction`) and its card in the row's block_id;
older cards' buttons carry JSON values, and both keep working. A callout row's overflow menu
(`ActionId.ROW_MENU`) dispatches on the option picked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App

from bot.core.actions import (
    ActionId,
    CalloutRef,
    CardRef,
    InvalidValueError,
    ResendAgainRef,
    ResendAllRef,
    ResendRef,
    RowAction,
    decode_row_action,
    decode_row_block_id,
    parse_option_value,
)
from bot.core.keys import click_key
from bot.deps import Deps
from bot.explain import explain
from bot.failures.callout_card import build_callout_details
from bot.failures.cards import account_url, build_failures_card
from bot.failures.results import AccountFailures
from bot.resend.service import (
    AlreadyStarted,
    ClaimedElsewhere,
    Refusal,
    ResendClick,
    perform_resends,
)
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import date_token, escape, link, user
from bot.slack.simple_cards import build_error, build_notice, build_stale_button
from bot.zuora.errors import ZuoraError
from bot.zuora.models import Account, NotificationKind
from handlers.common import (
    answer_failure,
    decode_or_refuse,
    may_act,
    refusal_message,
    send,
    team_of,
    track_id_of,
    user_of,
)
from handlers.digest_resend import is_shared_message, resend_all_from_digest
from handlers.read_rule import may_read_or_refuse

logger = logging.getLogger(__name__)

Listener = Callable[..., None]
Handler = Callable[[Deps, Ack, dict[str, Any], dict[str, Any]], None]
SELECTIONS = (ActionId.SELECT_EMAILS.value, ActionId.SELECT_CALLOUTS.value)
_ROW_BUTTON_KINDS: dict[str, NotificationKind] = {
    ActionId.RESEND_EMAIL.value: "email",
    ActionId.RESEND_CALLOUT.value: "callout",
}


def register(app: App, deps: Deps) -> None:
    """Listen for every card action; checkbox ticks and link buttons are acked and ignored."""
    for action_id in (*SELECTIONS, ActionId.OPEN_LINK.value):
        app.action(action_id)(ack_only)
    handlers: dict[ActionId, Handler] = {
        ActionId.RESEND_EMAIL: handle_resend_button,
        ActionId.RESEND_CALLOUT: handle_resend_button,
        ActionId.RESEND_CONFIRM: handle_resend_button,
        ActionId.RESEND_SELECTED: handle_resend_selected,
        ActionId.RESEND_ALL: handle_resend_all,
        ActionId.RESEND_CANCEL: handle_cancel,
        ActionId.REFRESH: handle_refresh,
        ActionId.PAGE: handle_page,
        ActionId.CALLOUT_DETAILS: handle_details,
        ActionId.ROW_MENU: handle_row_menu,
        ActionId.RESEND_AGAIN: handle_resend_again,
    }
    for action_id, handler in handlers.items():
        app.action(action_id.value)(guarded(deps, handler))


def guarded(deps: Deps, handler: Handler) -> Listener:
    """A Bolt listener for `handler` whose failures are explained to the clicker (see answer_failure)."""

    def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        try:
            handler(deps, ack, body, action)
        except Exception as exc:
            answer_failure(deps, body, ack, exc, replace=False)

    return listener


def ack_only(ack: Ack) -> None:
    """Checkbox ticks and link buttons: acknowledge, do nothing (only buttons act)."""
    ack()


def handle_resend_button(
    deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> None:
    """Resend the ids a row button (or the /zuora resend confirm) carries."""
    ack()
    if not may_act(deps, body):
        return
    raw = action.get("value")
    if isinstance(raw, str) and not raw.startswith("{"):
        # Row buttons carry compact values; the /zuora resend confirm only ever carries JSON.
        kind = _ROW_BUTTON_KINDS.get(str(action.get("action_id")))
        row = _row_target(deps, body, action, raw)
        if row is None:
            return
        target, card = row
        if target.verb != "resend" or target.kind != kind or target.history_id is None:
            _refuse_stale(deps, body, f"{target.verb}/{target.kind} value on a {kind} button")
            return
        _resend_row(deps, body, action, target, card)
        return
    ref = decode_or_refuse(deps, body, action, ResendRef)
    if ref is None:
        return
    account = _account_of(deps, body, ref.card)
    labels = {ref.ids[0]: ref.lb} if ref.lb and len(ref.ids) == 1 else {}
    _resend(deps, body, action, [(ref.k, tuple(ref.ids), labels)], account, ref.card)


def handle_row_menu(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """A callout row's overflow menu: Resend, Details, or Open in Zuora (a link: nothing to do)."""
    ack()
    raw = (action.get("selected_option") or {}).get("value")
    row = _row_target(deps, body, action, raw)
    if row is None:
        return
    target, card = row
    if target.verb == "resend" and target.history_id is not None:
        if may_act(deps, body):
            _resend_row(deps, body, action, target, card)
    elif target.verb == "details" and target.created is not None:
        _show_details(deps, body, card, created=target.created, event_id=target.event_id)


def handle_resend_selected(
    deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> None:
    """Resend what is ticked on the card: one Zuora request per kind, one outcome card for both."""
    ack()
    if not may_act(deps, body):
        return
    card = decode_or_refuse(deps, body, action, CardRef)
    if card is None:
        return
    picked: dict[NotificationKind, dict[str, str]] = {"email": {}, "callout": {}}
    try:
        for block in ((body.get("state") or {}).get("values") or {}).values():
            for action_id, element in block.items():
                if action_id in SELECTIONS:
                    for option in element.get("selected_options") or []:
                        kind, history_id = parse_option_value(str(option.get("value")))
                        picked[kind][history_id] = str((option.get("text") or {}).get("text", ""))
    except InvalidValueError:
        send(deps, body, build_stale_button(), replace=False)
        return
    if not picked["email"] and not picked["callout"]:
        send(
            deps,
            body,
            build_notice("Tick at least one email or callout first, then press *Resend selected*."),
            replace=False,
        )
        return
    requests = [(kind, tuple(chosen), chosen) for kind, chosen in picked.items() if chosen]
    _resend(deps, body, action, requests, _account_of(deps, body, card), card)


def handle_resend_all(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Re-read the card's fixed window from Zuora, then resend every resendable failed email.

    On an ephemeral card the click's response_url replaces the card with the outcome; on a channel
    digest the outcome goes to its thread instead (handlers.digest_resend). The allow-list comes
    first: a refused click costs no Zuora request.
    """
    ack()
    if not may_act(deps, body):
        return
    ref = decode_or_refuse(deps, body, action, ResendAllRef)
    if ref is None:
        return
    failures = deps.service.failures_on_card(ref.card, track_id=track_id_of(body), fresh=True)
    emails = [e for e in failures.emails if e.id]
    if not emails and failures.ids_error:
        zuora = link(account_url(deps.settings.zuora.ui_url, failures.account), "Zuora")
        reason = escape(failures.ids_error)
        send(
            deps,
            body,
            build_notice(
                f"Couldn't load resend IDs ({reason}), so nothing was resent. Resend from {zuora}."
            ),
            replace=False,
        )
        return
    if not emails:
        send(
            deps,
            body,
            build_notice(
                f"No resendable failed emails remain for {escape(failures.account.number)}; nothing was resent."
            ),
            replace=False,
        )
        return
    labels = {str(e.id): f"{e.event_name} → {e.to_email or '?'}" for e in emails}
    if is_shared_message(body):  # a channel digest: keep it whole, report in its thread
        resend_all_from_digest(deps, body, action, labels, failures.account)
        return
    _resend(deps, body, action, [("email", tuple(labels), labels)], failures.account, ref.card)


def handle_resend_again(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """ "Resend again" (after its confirm dialog): a deliberate new attempt, with a new key.

    It takes over only the claims the notice showed (made at or before its newest one): a claim
    someone made since, or a second "Resend again" from another notice, wins instead.
    """
    ack()
    if not may_act(deps, body):
        return
    ref = decode_or_refuse(deps, body, action, ResendAgainRef)
    if ref is None:
        return
    _resend(deps, body, action, [(ref.k, tuple(ref.ids), {})], None, None, again=ref.shown_until)


def handle_cancel(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Drop a /zuora resend confirm card."""
    ack()
    send(
        deps,
        body,
        build_notice(f"Cancelled by {user(user_of(body))}. Nothing was resent."),
        replace=True,
    )


def handle_refresh(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Re-read Zuora (skipping the cache) and redraw the card in place."""
    ack()
    card = decode_or_refuse(deps, body, action, CardRef)
    if card is None:
        return
    track_id = track_id_of(body)
    failures = deps.service.failures_on_card(card, track_id=track_id, fresh=True, defer_ids=True)
    notice = f"Refreshed by {user(user_of(body))} {date_token(deps.now())}"
    _show_card(deps, body, failures, page=card.p, notice=notice, track_id=track_id)


def handle_page(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Show another page of the same card."""
    ack()
    card = decode_or_refuse(deps, body, action, CardRef)
    if card is None:
        return
    track_id = track_id_of(body)
    failures = deps.service.failures_on_card(card, track_id=track_id, fresh=False, defer_ids=True)
    _show_card(deps, body, failures, page=card.p, notice=None, track_id=track_id)


def _show_card(
    deps: Deps,
    body: dict[str, Any],
    failures: AccountFailures,
    *,
    page: int,
    notice: str | None,
    track_id: str,
) -> None:
    """Redraw the card in place, and once more when resend IDs that were loading arrive."""
    ui_url = deps.settings.zuora.ui_url

    def draw(shown: AccountFailures) -> None:
        send(
            deps,
            body,
            build_failures_card(shown, ui_url=ui_url, page=page, notice=notice),
            replace=True,
        )

    draw(failures)
    deps.service.when_ids_resolved(failures, draw, track_id=track_id)


def handle_details(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Fetch one callout's response content on demand and show it to the clicker."""
    ack()
    raw = action.get("value")
    if isinstance(raw, str) and not raw.startswith("{"):
        row = _row_target(deps, body, action, raw)
        if row is None:
            return
        target, card = row
        if target.verb != "details" or target.created is None:
            _refuse_stale(deps, body, f"{target.verb} value on a Details button")
            return
        _show_details(deps, body, card, created=target.created, event_id=target.event_id)
        return
    ref = decode_or_refuse(deps, body, action, CalloutRef)
    if ref is None:
        return
    _show_details(deps, body, ref.card, created=ref.t, event_id=ref.ev)


def _show_details(
    deps: Deps, body: dict[str, Any], card: CardRef, *, created: int, event_id: str | None
) -> None:
    if not may_read_or_refuse(deps, body, "details"):
        return  # checked before Zuora is asked for the response body
    account, callout = deps.service.callout_detail(
        card,
        created_at=datetime.fromtimestamp(created, UTC),
        event_id=event_id,
        track_id=track_id_of(body),
    )
    if callout is None:
        send(
            deps,
            body,
            build_notice("Zuora no longer has that callout in its history."),
            replace=False,
        )
        return
    send(deps, body, build_callout_details(callout, account=account), replace=False)


def _row_target(
    deps: Deps, body: dict[str, Any], action: dict[str, Any], raw: object
) -> tuple[RowAction, CardRef] | None:
    """A row control's compact value and the card its block_id carries, or None after refusing."""
    try:
        return decode_row_action(raw), decode_row_block_id(action.get("block_id"))
    except InvalidValueError as exc:
        _refuse_stale(deps, body, str(exc))
        return None


def _refuse_stale(deps: Deps, body: dict[str, Any], why: str) -> None:
    logger.info("stale or forged row value from %s: %s", user_of(body), why)
    send(deps, body, build_stale_button(), replace=False)


def _resend_row(
    deps: Deps, body: dict[str, Any], action: dict[str, Any], target: RowAction, card: CardRef
) -> None:
    """Resend the one id a row control names (callers checked it is a resend with an id)."""
    ids = (target.history_id,) if target.history_id else ()
    labels = {ids[0]: target.label} if ids and target.label else {}
    _resend(deps, body, action, [(target.kind, ids, labels)], _account_of(deps, body, card), card)


def _resend(
    deps: Deps,
    body: dict[str, Any],
    action: dict[str, Any],
    requests: list[tuple[NotificationKind, tuple[str, ...], dict[str, str]]],
    account: Account | None,
    card: CardRef | None,
    *,
    again: datetime | None = None,
) -> None:
    """Resend (kind, ids, labels) requests for one click; show progress, then one outcome card.

    Ids another resend holds in the once window are left out; the clicker alone is told who has
    them (with Resend again). `again` makes it a deliberate "Resend again".
    """
    shown = False

    def show(message: SlackMessage) -> None:
        nonlocal shown
        shown = True
        send(deps, body, message, replace=True)

    track_id = track_id_of(body)
    action_id = str(action.get("action_id"))
    clicks = [
        ResendClick(
            team_id=team_of(body),
            user_id=user_of(body),
            kind=kind,
            ids=ids,
            dedup_key=click_key(body, action_id, [f"{kind}:{i}" for i in ids]),
            track_id=track_id,
            account=account,
            card=card,
            labels=labels,
            again_before=again,
        )
        for kind, ids, labels in requests
    ]
    try:
        batch = perform_resends(
            deps, clicks, show, reply_url=str(body.get("response_url") or "") or None
        )
    except Exception as exc:  # after the card said "Resending…", it must not be left that way
        explanation = explain(exc)
        send(
            deps,
            body,
            build_error(
                explanation.message, hint=explanation.hint, incident_id=explanation.incident_id
            ),
            replace=shown,
        )
        return
    team_id = team_of(body)
    if isinstance(batch, Refusal | AlreadyStarted | ClaimedElsewhere):
        send(deps, body, refusal_message(deps, batch, team_id=team_id), replace=False)
        return
    # perform_resends has shown the outcomes on the card itself; tell what it left out.
    for left_out in batch.elsewhere:
        send(deps, body, left_out.message(deps, team_id=team_id), replace=False)


def _account_of(deps: Deps, body: dict[str, Any], card: CardRef | None) -> Account | None:
    """The card's account with its name (cached read); the number alone if Zuora can't say."""
    if card is None:
        return None
    try:
        return deps.service.get_account(card.a, track_id=track_id_of(body))
    except ZuoraError:
        # Row controls carry no account number (see bot.core.actions.row_block_id): name it by id then.
        return Account(id=card.a, number=card.n or card.a, name=card.n or card.a)
