"""The Home tab view: pure blocks from a HomeState, bounded well under Slack's 100 blocks per Home view.

Nothing here reads the clock: the same state gives the same blocks, so an unchanged Home hashes the
same and is not published again (bot.home.service).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from bot.alerts.cards import describe_alert
from bot.audit.cards import STATUS_ICONS
from bot.core.actions import ActionId
from bot.digest.subscriptions import describe_digest
from bot.slack.elements import button, context, divider, header, plural, section
from bot.slack.mrkdwn import channel_mention, date_token, escape, escape_truncated
from bot.store import AlertIncident, AlertSubscription, ResendAuditEntry, Subscription
from bot.store.watches import AccountWatch
from bot.watches.cards import account_label

MAX_HOME_BLOCKS: Final = 100  # Slack's limit for a Home tab view
ALERT_ROWS: Final = 10
WATCH_ROWS: Final = 25
RESEND_ROWS: Final = 10
SUBSCRIPTION_ROWS: Final = 10
LABEL_CHARS: Final = 200


@dataclass(frozen=True)
class HomeState:
    """Everything one user's Home shows, read from the store."""

    user_id: str
    may_resend: bool
    alerts: Sequence[AlertIncident]
    watches: Sequence[AccountWatch]
    resends: Sequence[ResendAuditEntry]
    digests: Sequence[Subscription]
    alert_subscriptions: Sequence[AlertSubscription]
    # audit id -> "did it work?" and a replay's cause (bot.audit.outcome_notes), per resend shown
    resend_notes: Mapping[int, Sequence[str]] = field(default_factory=dict)


def build_home_view(state: HomeState) -> dict[str, Any]:
    """The `home` view for views.publish."""
    blocks: list[dict[str, Any]] = [header("Zuora Ops"), context(_role(state))]
    blocks += [divider(), *_alert_blocks(state.alerts)]
    blocks += [divider(), *_watch_blocks(state.watches)]
    blocks += [divider(), *_resend_blocks(state.resends, state.resend_notes)]
    blocks += [divider(), *_subscription_blocks(state.digests, state.alert_subscriptions)]
    if len(blocks) > MAX_HOME_BLOCKS:  # the row caps above keep this far away; never send more
        blocks = blocks[: MAX_HOME_BLOCKS - 1] + [context("…cut to Slack's 100 blocks.")]
    return {"type": "home", "blocks": blocks}


def _role(state: HomeState) -> str:
    if state.may_resend:
        return "You may resend from the cards this tab opens. `/zuora help` lists every command."
    return (
        ":lock: Read-only: you are not on the resend allow-list, so cards show no resend for you. "
        "You may still watch accounts and read the cards."
    )


def _more(total: int, shown: int, what: str) -> list[dict[str, Any]]:
    return [context(f"…and {total - shown} more {what}.")] if total > shown else []


def _alert_blocks(alerts: Sequence[AlertIncident]) -> list[dict[str, Any]]:
    title = f"*Open outages (spike alerts): {len(alerts)}*"
    if not alerts:
        return [section(f"{title}\nNo cause is spiking right now.")]
    blocks = [section(title)]
    for incident in alerts[:ALERT_ROWS]:
        label = escape_truncated(incident.label, LABEL_CHARS)
        line = (
            f"*{label}*\n{plural(incident.count, 'failure')} · "
            f"{plural(len(incident.accounts), 'account')} · since {date_token(incident.first_at)}"
            f" · {escape(incident.state)}"
        )
        open_button = button("Open", ActionId.HOME_OPEN_ALERT, value=str(incident.id))
        blocks.append(section(line, accessory=open_button))
    return blocks + _more(len(alerts), ALERT_ROWS, "open alerts")


def _watch_blocks(watches: Sequence[AccountWatch]) -> list[dict[str, Any]]:
    title = f"*Accounts you watch: {len(watches)}*"
    if not watches:
        hint = escape("Watch one with `/zuora watch A00000001`: I DM you when it fails anew.")
        return [section(f"{title}\n{hint}")]
    blocks = [section(title)]
    for watch in watches[:WATCH_ROWS]:
        count = "not checked yet" if watch.recent_failures is None else str(watch.recent_failures)
        line = f"{account_label(watch)}\nFailures in the last 24 h: *{count}*"
        if watch.checked_at is not None:
            line += f" (checked {date_token(watch.checked_at)})"
        open_button = button("Open failures", ActionId.HOME_OPEN_FAILURES, value=watch.account_id)
        blocks.append(section(line, accessory=open_button))
    return blocks + _more(len(watches), WATCH_ROWS, "watched accounts")


def _resend_blocks(
    resends: Sequence[ResendAuditEntry], notes: Mapping[int, Sequence[str]]
) -> list[dict[str, Any]]:
    title = "*Your recent resends*"
    if not resends:
        return [section(f"{title}\nNone yet.")]
    lines = []
    for entry in resends[:RESEND_ROWS]:
        account = f" for *{escape_truncated(entry.account_key, 64)}*" if entry.account_key else ""
        lines.append(
            f"{STATUS_ICONS.get(entry.status, '')} {date_token(entry.requested_at)} · "
            f"{plural(len(entry.ids), entry.kind)}{account}: *{escape(entry.status)}*"
            + "".join(f" · {escape_truncated(note, 160)}" for note in notes.get(entry.id, ()))
        )
    return [section(title + "\n" + "\n".join(lines))]


def _subscription_blocks(
    digests: Sequence[Subscription], alerts: Sequence[AlertSubscription]
) -> list[dict[str, Any]]:
    digest_lines = [
        f"• {channel_mention(sub.channel_id)} {escape_truncated(describe_digest(sub), 300)}"
        for sub in digests[:SUBSCRIPTION_ROWS]
    ]
    alert_lines = [
        f"• {channel_mention(sub.channel_id)} {escape_truncated(describe_alert(sub), 300)}"
        for sub in alerts[:SUBSCRIPTION_ROWS]
    ]
    blocks = [
        section(
            f"*Digests in this workspace: {len(digests)}*\n"
            + ("\n".join(digest_lines) or "None. `/zuora digest subscribe` starts one.")
        ),
        *_more(len(digests), SUBSCRIPTION_ROWS, "digests (`/zuora digest list`)"),
        section(
            f"*Spike alerts in this workspace: {len(alerts)}*\n"
            + ("\n".join(alert_lines) or "None. `/zuora alerts subscribe` starts one.")
        ),
        *_more(len(alerts), SUBSCRIPTION_ROWS, "alerts (`/zuora alerts list`)"),
    ]
    return blocks
