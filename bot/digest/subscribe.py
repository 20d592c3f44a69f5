"""/zuora digest subscribe's work: the channel, the accounts and overlaps checked, then the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from slack_sdk import WebClient

from bot.core.command_text import DigestSubscribeCommand
from bot.digest.cards import (
    build_digest_already_subscribed,
    build_subscribed,
    build_subscription_refused,
)
from bot.digest.schedule import next_due_at
from bot.digest.subscriptions import find_overlap, is_repeat, overlaps
from bot.failures.account_case import account_in_other_case
from bot.slack.channels import posting_problem
from bot.slack.message import SlackMessage
from bot.slack.requests import Command
from bot.store import NewSubscription
from bot.store.database import Store
from bot.zuora.errors import ZuoraNotFoundError
from bot.zuora.models import Account


class AccountSource(Protocol):
    """Account look-ups (NotificationService)."""

    def get_account(self, key: str, *, track_id: str) -> Account: ...


class SubscribeDeps(Protocol):
    """The collaborators a subscribe uses: Slack, Zuora's accounts, the store, the clock."""

    @property
    def slack(self) -> WebClient: ...

    @property
    def service(self) -> AccountSource: ...

    @property
    def store(self) -> Store: ...

    @property
    def now(self) -> Callable[[], datetime]: ...


def subscribe(
    deps: SubscribeDeps, parsed: DigestSubscribeCommand, command: Command, track_id: str
) -> SlackMessage:
    """Validate channel, accounts and overlap, then store the subscription."""
    channel_id = parsed.channel_id or command.channel_id
    problem = posting_problem(deps.slack, channel_id)
    if problem:
        return build_subscription_refused(problem)
    for key in parsed.accounts:
        try:
            deps.service.get_account(key, track_id=track_id)
        except ZuoraNotFoundError:
            found = account_in_other_case(
                lambda other: deps.service.get_account(other, track_id=track_id), key
            )
            hint = f" Did you mean `{found.number}`?" if found is not None else ""
            return build_subscription_refused(
                f"Zuora has no account `{key}`;{hint} check the number and subscribe again."
            )
    new = NewSubscription(
        team_id=command.team_id,
        channel_id=channel_id,
        created_by=command.user_id,
        created_at=deps.now(),
        hour=parsed.hour,
        minute=parsed.minute,
        timezone=parsed.timezone,
        accounts=parsed.accounts,
        kind=parsed.kind,
        quiet=parsed.quiet,
    )
    existing = deps.store.list_subscriptions(team_id=new.team_id, channel_id=channel_id)
    # A repeat of the same request (a replayed or re-sent command) names the existing one.
    same = next((sub for sub in existing if is_repeat(new, sub)), None)
    if same is not None:
        return build_digest_already_subscribed(same)
    reason = find_overlap(new, existing)
    if reason:
        return build_subscription_refused(reason)
    sub, created = deps.store.ensure_subscription(new)
    if not created:  # an identical request won the race to the insert
        if is_repeat(new, sub):
            return build_digest_already_subscribed(sub)
        return build_subscription_refused(overlaps(new, sub) or "An identical digest exists.")
    return build_subscribed(sub, first_post_at=next_due_at(sub, deps.now()))
