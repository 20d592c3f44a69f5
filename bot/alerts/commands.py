"""What /zuora alerts list|subscribe|unsubscribe answers: the store read or changed, one message back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from slack_sdk import WebClient

from bot.alerts.cards import (
    build_alert_list,
    build_alert_refused,
    build_alert_subscribed,
    build_alert_unsubscribed,
)
from bot.alerts.mute_cards import build_updates_set
from bot.alerts.repeat_cards import build_alert_already_subscribed, build_already_unsubscribed
from bot.alerts.settings import AlertSettings
from bot.core.command_text import (
    AlertCommand,
    AlertListCommand,
    AlertSubscribeCommand,
    AlertUnsubscribeCommand,
    AlertUpdatesCommand,
)
from bot.resend.settings import ResendSettings
from bot.slack.access import AccessPolicy
from bot.slack.access_cards import build_allow_list_denied
from bot.slack.channels import posting_problem
from bot.slack.message import SlackMessage
from bot.slack.requests import Command
from bot.store import NewAlertSubscription
from bot.store.database import Store


class AlertCommandConfig(Protocol):
    """The settings an alerts command reads: who to ask for access, and the check pace."""

    @property
    def resend(self) -> ResendSettings: ...

    @property
    def alert(self) -> AlertSettings: ...


class AlertCommandDeps(Protocol):
    """The collaborators an alerts command uses (bot.deps.Deps is one)."""

    @property
    def settings(self) -> AlertCommandConfig: ...

    @property
    def store(self) -> Store: ...

    @property
    def access(self) -> AccessPolicy: ...

    @property
    def slack(self) -> WebClient: ...

    @property
    def now(self) -> Callable[[], datetime]: ...


def answer_alerts_command(
    deps: AlertCommandDeps, parsed: AlertCommand, command: Command
) -> SlackMessage:
    """The one message that settles an alerts subcommand; changes need the allow-list."""
    team_id = command.team_id
    if isinstance(parsed, AlertListCommand):
        return build_alert_list(deps.store.list_alert_subscriptions(team_id=team_id))
    if not deps.access.may_resend(command.user_id):
        outcome = (
            "Nothing was subscribed."
            if isinstance(parsed, AlertSubscribeCommand)
            else f"Spike alert #{parsed.subscription_id} was not changed."
        )
        contact = deps.settings.resend.resend_access_contact
        return build_allow_list_denied(changes="spike alerts", contact=contact, outcome=outcome)
    if isinstance(parsed, AlertUpdatesCommand):
        return set_updates(deps, parsed, command)
    if not isinstance(parsed, AlertSubscribeCommand):
        return unsubscribe(deps, parsed, team_id=team_id)
    return subscribe(deps, parsed, command)


def unsubscribe(
    deps: AlertCommandDeps, parsed: AlertUnsubscribeCommand, *, team_id: str
) -> SlackMessage:
    """Remove one spike alert of this workspace, or say there is none with that id."""
    if deps.store.remove_alert_subscription(parsed.subscription_id, team_id=team_id):
        return build_alert_unsubscribed(parsed.subscription_id)
    gone = deps.store.get_alert_subscription(parsed.subscription_id)
    if gone is not None and gone.team_id == team_id and not gone.active:
        return build_already_unsubscribed("alerts", parsed.subscription_id)
    return build_alert_refused(
        f"There is no spike alert #{parsed.subscription_id} in this workspace; "
        "`/zuora alerts list` shows them."
    )


def subscribe(
    deps: AlertCommandDeps, parsed: AlertSubscribeCommand, command: Command
) -> SlackMessage:
    """Check the channel, then store the spike alert (or name the one a repeat request made)."""
    channel_id = parsed.channel_id or command.channel_id
    problem = posting_problem(deps.slack, channel_id)
    if problem:
        return build_alert_refused(problem)
    # A repeat of the same request (a replayed or re-sent command) names the existing one instead.
    sub, created = deps.store.ensure_alert_subscription(
        NewAlertSubscription(
            team_id=command.team_id,
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


def set_updates(
    deps: AlertCommandDeps, parsed: AlertUpdatesCommand, command: Command
) -> SlackMessage:
    """Set how one active spike alert of this workspace shows growth: thread replies or edits."""
    sub = deps.store.get_alert_subscription(parsed.subscription_id)
    if sub is None or sub.team_id != command.team_id or not sub.active:
        return build_alert_refused(
            f"There is no active spike alert #{parsed.subscription_id} in this workspace; "
            "`/zuora alerts list` shows them."
        )
    deps.store.set_alert_update_mode(
        sub.id, parsed.updates, user_id=command.user_id, now=deps.now()
    )
    return build_updates_set(sub.id, parsed.updates)
