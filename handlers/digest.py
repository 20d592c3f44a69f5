"""/zuora digest subscribe|list|unsubscribe|preview and the digest card's "Open failures" button."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.alerts.repeat_cards import build_already_unsubscribed
from bot.core.actions import ActionId, CardRef
from bot.core.command_text import (
    DigestListCommand,
    DigestPreviewCommand,
    DigestSubscribeCommand,
    DigestUnsubscribeCommand,
)
from bot.deps import Deps
from bot.digest.cards import (
    build_subscription_list,
    build_subscription_refused,
    build_unsubscribed,
)
from bot.digest.service import preview_digest
from bot.digest.subscribe import subscribe
from bot.failures.receipt_card import build_receipt
from bot.resend.remembered import remembered_card
from bot.slack.access_cards import build_allow_list_denied
from bot.slack.message import SlackMessage
from bot.slack.requests import Click, Command
from handlers.common import CommandTable, decode_or_refuse, send, track_id_of

DigestCommand = (
    DigestSubscribeCommand | DigestListCommand | DigestUnsubscribeCommand | DigestPreviewCommand
)


def register(app: App, deps: Deps) -> None:
    """Listen for the digest card's buttons."""

    @app.action(ActionId.OPEN_FAILURES.value)
    def handle_open_failures(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        click = Click(body, action)
        card = decode_or_refuse(deps, click, CardRef)
        if card is None:
            return
        failures = deps.service.failures_on_card(card, track_id=track_id_of(click), fresh=False)
        send(deps, click, remembered_card(deps, failures), replace=False)


def handle_digest_command(
    deps: Deps, parsed: DigestCommand, command: Command, ack: Ack, track_id: str
) -> None:
    """Ack at once, then read the store, check the allow-list and answer once via response_url.

    Nothing that can wait (the store, Slack's usergroups.users.list with its 429 retries, Zuora)
    runs before the ack, so Slack never shows a timeout (slack-platform.md §1).
    """
    ack(**build_receipt(placeholder_for(parsed)).as_payload())
    # A command's response_url never replaces the ack (bolt-python#1268): the answer is its own post.
    send(deps, command, answer_digest_command(deps, parsed, command, track_id), replace=False)


def placeholder_for(parsed: DigestCommand) -> str:
    """The instant ack text for a digest subcommand."""
    if isinstance(parsed, DigestListCommand):
        return "Listing this workspace's digests…"
    if isinstance(parsed, DigestPreviewCommand):
        return "Building today's digest preview…"
    if isinstance(parsed, DigestUnsubscribeCommand):
        return f"Checking your access to remove digest #{parsed.subscription_id}…"
    return "Checking your access, the channel and the accounts…"


def answer_digest_command(
    deps: Deps, parsed: DigestCommand, command: Command, track_id: str
) -> SlackMessage:
    """The one message that settles a digest subcommand; subscribe and unsubscribe need the allow-list."""
    team_id = command.team_id
    if isinstance(parsed, DigestListCommand):
        return build_subscription_list(deps.store.list_subscriptions(team_id=team_id))
    if isinstance(parsed, DigestPreviewCommand):
        return preview_digest(deps, deps.now(), label="Preview (only you see this)")
    if not deps.access.may_resend(command.user_id):
        outcome = (
            f"Digest #{parsed.subscription_id} was not removed."
            if isinstance(parsed, DigestUnsubscribeCommand)
            else "Nothing was subscribed."
        )
        contact = deps.settings.resend.resend_access_contact
        return build_allow_list_denied(changes="digests", contact=contact, outcome=outcome)
    if isinstance(parsed, DigestUnsubscribeCommand):
        return unsubscribe(deps, parsed.subscription_id, team_id=team_id)
    return subscribe(deps, parsed, command, track_id)


def unsubscribe(deps: Deps, subscription_id: int, *, team_id: str) -> SlackMessage:
    """Remove one subscription of this workspace, or say there is none with that id."""
    if deps.store.remove_subscription(subscription_id, team_id=team_id):
        return build_unsubscribed(subscription_id)
    gone = deps.store.get_subscription(subscription_id)
    if gone is not None and gone.team_id == team_id and not gone.active:
        return build_already_unsubscribed("digest", subscription_id)
    return build_subscription_refused(
        f"There is no digest #{subscription_id} in this workspace; `/zuora digest list` shows them."
    )


#: The commands this module answers.
COMMANDS: CommandTable = dict.fromkeys(
    (DigestSubscribeCommand, DigestListCommand, DigestUnsubscribeCommand, DigestPreviewCommand),
    handle_digest_command,
)
