"""/zuora digest subscribe|list|unsubscribe|preview and the digest card's "Open failures" button."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks import (
    SlackMessage,
    build_access_denied,
    build_failures_card,
    build_placeholder,
)
from bot.channels import posting_problem
from bot.commands import (
    DigestListCommand,
    DigestPreviewCommand,
    DigestSubscribeCommand,
    DigestUnsubscribeCommand,
)
from bot.deps import Deps
from bot.digest import preview_digest
from bot.digest_cards import (
    build_subscribed,
    build_subscription_list,
    build_subscription_refused,
    build_unsubscribed,
)
from bot.ids import ActionId, CardRef
from bot.schedule import next_due_at
from bot.store import NewSubscription
from bot.subscriptions import find_overlap
from bot.zuora.errors import ZuoraNotFoundError
from handlers.common import decode_or_refuse, send, track_id_of

DigestCommand = (
    DigestSubscribeCommand | DigestListCommand | DigestUnsubscribeCommand | DigestPreviewCommand
)


def register(app: App, deps: Deps) -> None:
    """Listen for the digest card's buttons."""

    @app.action(ActionId.OPEN_FAILURES.value)
    def handle_open_failures(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        card = decode_or_refuse(deps, body, action, CardRef)
        if card is None:
            return
        failures = deps.service.failures_on_card(card, track_id=track_id_of(body), fresh=False)
        message = build_failures_card(failures, ui_url=deps.settings.zuora.ui_url)
        send(deps, body, message, replace=False)


def run_digest_command(
    deps: Deps, parsed: DigestCommand, command: dict[str, Any], ack: Ack, track_id: str
) -> None:
    """Answer one digest subcommand; subscribing and unsubscribing need the allow-list."""
    team_id = str(command.get("team_id", ""))
    user_id = str(command.get("user_id", ""))
    if isinstance(parsed, DigestListCommand):
        ack(**build_subscription_list(deps.store.list_subscriptions(team_id=team_id)).as_payload())
        return
    if isinstance(parsed, DigestPreviewCommand):
        ack(**build_placeholder("Building today's digest preview…").as_payload())
        preview = preview_digest(deps, deps.now(), label="Preview (only you see this)")
        send(deps, command, preview, replace=True)
        return
    if not deps.access.may_resend(user_id):
        ack(**build_access_denied(contact=deps.settings.resend.resend_access_contact).as_payload())
        return
    if isinstance(parsed, DigestUnsubscribeCommand):
        removed = deps.store.remove_subscription(parsed.subscription_id, team_id=team_id)
        message = (
            build_unsubscribed(parsed.subscription_id)
            if removed
            else build_subscription_refused(
                f"There is no digest #{parsed.subscription_id} in this workspace; "
                "`/zuora digest list` shows them."
            )
        )
        ack(**message.as_payload())
        return
    ack(**build_placeholder("Checking the channel and accounts…").as_payload())
    send(deps, command, subscribe(deps, parsed, command, track_id), replace=True)


def subscribe(
    deps: Deps, parsed: DigestSubscribeCommand, command: dict[str, Any], track_id: str
) -> SlackMessage:
    """Validate channel, accounts and overlap, then store the subscription."""
    channel_id = parsed.channel_id or str(command.get("channel_id", ""))
    problem = posting_problem(deps.slack, channel_id)
    if problem:
        return build_subscription_refused(problem)
    for key in parsed.accounts:
        try:
            deps.service.get_account(key, track_id=track_id)
        except ZuoraNotFoundError:
            return build_subscription_refused(
                f"Zuora has no account `{key}`; check the number and subscribe again."
            )
    new = NewSubscription(
        team_id=str(command.get("team_id", "")),
        channel_id=channel_id,
        created_by=str(command.get("user_id", "")),
        created_at=deps.now(),
        hour=parsed.hour,
        minute=parsed.minute,
        timezone=parsed.timezone,
        accounts=parsed.accounts,
        kind=parsed.kind,
        quiet=parsed.quiet,
    )
    existing = deps.store.list_subscriptions(team_id=new.team_id, channel_id=channel_id)
    reason = find_overlap(new, existing)
    if reason:
        return build_subscription_refused(reason)
    sub = deps.store.add_subscription(new)
    return build_subscribed(sub, first_post_at=next_due_at(sub, deps.now()))
