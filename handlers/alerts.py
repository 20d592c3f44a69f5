"""/zuora alerts subscribe|list|unsubscribe: spike-alert subscriptions (the clock posts the alerts)."""

from __future__ import annotations

from slack_bolt import Ack

from bot.alerts.cards import (
    build_alert_access_denied,
    build_alert_list,
    build_alert_refused,
    build_alert_subscribed,
    build_alert_unsubscribed,
)
from bot.alerts.repeat_cards import build_alert_already_subscribed, build_already_unsubscribed
from bot.core.command_text import (
    AlertCommand,
    AlertListCommand,
    AlertSubscribeCommand,
    AlertUnsubscribeCommand,
)
from bot.deps import Deps
from bot.failures.receipt_card import build_receipt
from bot.slack.channels import posting_problem
from bot.slack.message import SlackMessage
from bot.slack.requests import Command
from bot.store import NewAlertSubscription
from handlers.common import CommandTable, send


def handle_alerts_command(
    deps: Deps, parsed: AlertCommand, command: Command, ack: Ack, track_id: str
) -> None:
    """Ack at once with a receipt, then check the allow-list and answer once via response_url.

    The answer is a post of its own (replace_original false): a command's ack is never replaced.
    """
    ack(**build_receipt(placeholder_for(parsed)).as_payload())
    send(deps, command, answer_alerts_command(deps, parsed, command), replace=False)


def placeholder_for(parsed: AlertCommand) -> str:
    """The instant ack text for an alerts subcommand."""
    if isinstance(parsed, AlertListCommand):
        return "Listing this workspace's spike alerts…"
    if isinstance(parsed, AlertSubscribeCommand):
        return "Checking your access and the channel…"
    return f"Checking your access to remove spike alert #{parsed.subscription_id}…"


def answer_alerts_command(deps: Deps, parsed: AlertCommand, command: Command) -> SlackMessage:
    """The one message that settles an alerts subcommand; changes need the allow-list."""
    team_id = command.team_id
    if isinstance(parsed, AlertListCommand):
        return build_alert_list(deps.store.list_alert_subscriptions(team_id=team_id))
    if not deps.access.may_resend(command.user_id):
        outcome = (
            "Nothing was subscribed."
            if isinstance(parsed, AlertSubscribeCommand)
            else f"Spike alert #{parsed.subscription_id} was not removed."
        )
        contact = deps.settings.resend.resend_access_contact
        return build_alert_access_denied(contact=contact, outcome=outcome)
    if not isinstance(parsed, AlertSubscribeCommand):
        if deps.store.remove_alert_subscription(parsed.subscription_id, team_id=team_id):
            return build_alert_unsubscribed(parsed.subscription_id)
        gone = deps.store.get_alert_subscription(parsed.subscription_id)
        if gone is not None and gone.team_id == team_id and not gone.active:
            return build_already_unsubscribed("alerts", parsed.subscription_id)
        return build_alert_refused(
            f"There is no spike alert #{parsed.subscription_id} in this workspace; "
            "`/zuora alerts list` shows them."
        )
    channel_id = parsed.channel_id or command.channel_id
    problem = posting_problem(deps.slack, channel_id)
    if problem:
        return build_alert_refused(problem)
    # A repeat of the same request (a replayed or re-sent command) names the existing one instead.
    sub, created = deps.store.ensure_alert_subscription(
        NewAlertSubscription(
            team_id=team_id,
            channel_id=channel_id,
            created_by=command.user_id,
            created_at=deps.now(),
            threshold=parsed.threshold,
            minutes=parsed.minutes,
            kind=parsed.kind,
        )
    )
    if not created:
        return build_alert_already_subscribed(sub)
    return build_alert_subscribed(sub, check_seconds=deps.settings.alert.check_interval)


#: The commands this module answers.
COMMANDS: CommandTable = dict.fromkeys(
    (AlertSubscribeCommand, AlertListCommand, AlertUnsubscribeCommand), handle_alerts_command
)
