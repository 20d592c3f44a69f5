"""Spike-alert cards: the alert message (open, growing, recovered) and the subscription replies.

Every value interpolated into mrkdwn is escaped (bot.slack.mrkdwn); times are Slack date tokens, so each
reader sees their own zone. The alert keeps its "Resend all N" button while open and once recovered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from slack_sdk.models.blocks import InteractiveElement

from bot.alerts.mute_cards import mute_control, muted_line
from bot.core.actions import ActionId, OutageRef
from bot.failures.preview import Preview, preview_text
from bot.outages.causes import HOUR, hour_of, sparkline
from bot.slack.elements import (
    actions,
    button,
    confirm_dialog,
    context,
    fields_section,
    finish,
    header,
    plural,
    section,
)
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import (
    channel_mention,
    code,
    date_token,
    escape,
    escape_truncated,
)
from bot.store import AlertSubscription
from bot.store.alert_quiet import AlertMute

CardState = Literal["open", "recovered"]
# Which failures a spike-alert subscription watches (the store's kind column, shared with digests).
AlertKind = Literal["callouts", "emails", "all"]

KIND_WORDS: dict[AlertKind, str] = {
    "callouts": "callouts",
    "emails": "emails",
    "all": "callouts and emails",
}
_NOUNS = {"callout": "failed callout", "email": "failed email"}
LABEL_CHARS = 300
LIST_LIMIT = 40
_SPARK_HOURS = 48


@dataclass(frozen=True)
class AlertCard:
    """What an alert message shows: one incident of one subscription, at `now`."""

    subscription: AlertSubscription
    cause_id: str
    cause_kind: str
    label: str
    state: CardState
    count: int
    account_count: int
    first_at: datetime
    last_at: datetime
    hourly: Mapping[datetime, int]
    quiet_minutes: int
    now: datetime
    incident_id: int | None = (
        None  # set: the open alert offers its Mute menu (bot.alerts.mute_cards)
    )
    mute: AlertMute | None = None  # the cause's mute in force, shown and offered as Unmute


def describe_alert(sub: AlertSubscription) -> str:
    """One plain line: '#3: 10 failed callouts of one cause within 15 minutes'."""
    return (
        f"#{sub.id}: {sub.threshold} or more failed {KIND_WORDS[sub.kind]} of one cause "
        f"within {sub.minutes} minutes"
    )


def replay_ref(view: AlertCard) -> OutageRef:
    """The Resend all button's value: the cause and a window covering the whole incident."""
    start = view.first_at.astimezone(UTC).replace(second=0, microsecond=0)
    end = view.last_at.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    minutes = max(1, math.ceil((end - start).total_seconds() / 60))
    label = f"{minutes}m" if minutes < 600 else f"{math.ceil(minutes / 60)}h"
    return OutageRef(
        c=view.cause_id,
        s=int(start.timestamp()),
        e=int(end.timestamp()),
        w=label[:8],
        n=view.count,
    )


def _replay_preview(view: AlertCard, noun: str, accounts: str, window: str) -> str:
    """The Resend all confirm's preview: what it sends, what a replay leaves out, the template."""
    lead = f"Resend {plural(view.count, noun)} of {view.label} ({accounts} affected) from this alert's {window} window?"
    if view.cause_kind == "callout":  # the replay judges Zuora's own retries when it starts
        lead += " Callouts Zuora still retries, or never sent (-2000), are left out and counted in the summary."
    return preview_text(
        Preview("email" if view.cause_kind == "email" else "callout", view.count), lead=lead
    )


def build_alert(view: AlertCard) -> SlackMessage:
    """The alert message: cause, counts, accounts, first/last failure, sparkline, state, Resend all."""
    noun = _NOUNS.get(view.cause_kind, "failure")
    counted = plural(view.count, noun)
    label = escape_truncated(view.label, LABEL_CHARS)
    sub = view.subscription
    if view.state == "recovered":
        title = f"Recovered: {counted} of one cause"
        text = f"Recovered: {counted} — {escape_truncated(view.label, 150)}"
        state = (
            f":white_check_mark: *Recovered* — no new failure for {view.quiet_minutes} minutes "
            f"(since {date_token(view.last_at)})."
        )
    else:
        title = f"Spike: {counted} of one cause"
        text = f"Spike: {counted} — {escape_truncated(view.label, 150)}"
        state = (
            f":rotating_light: *Ongoing* — updated {date_token(view.now)}; marked recovered after "
            f"{view.quiet_minutes} quiet minutes."
        )
    blocks: list[dict[str, Any]] = [
        header(title),
        section(f"*Cause:* {label}"),
        fields_section(
            [
                f"*Failures*\n{view.count}",
                f"*Accounts affected*\n{view.account_count}",
                f"*First failure*\n{date_token(view.first_at)}",
                f"*Last failure*\n{date_token(view.last_at)}",
            ]
        ),
    ]
    spark = sparkline(_series(view.hourly, view.first_at, view.last_at))
    if spark:
        blocks.append(context(f"Per hour: {code(spark, 60)}"))
    blocks.append(section(state))
    if view.mute is not None and view.state == "open":
        blocks.append(section(muted_line(view.mute)))
    ref = replay_ref(view)
    accounts = plural(view.account_count, "account")
    blocks.append(
        actions(
            [
                button(
                    f"Resend all {view.count}",
                    ActionId.OUTAGE_REPLAY,
                    value=ref,
                    confirm=confirm_dialog(
                        title=f"Resend {view.count}?",
                        text=_replay_preview(view, noun, accounts, ref.w),
                        confirm=f"Resend {view.count}",
                    ),
                ),
                *_mute_controls(view),
            ],
            block_id=f"alert_{view.cause_id}",
        )
    )
    blocks.append(
        context(
            escape(
                f"Alert #{sub.id}: {sub.threshold} per {sub.minutes} min · "
                f"{KIND_WORDS[sub.kind]} · cause {view.cause_id}"
            )
        )
    )
    return finish(text, blocks)


def _mute_controls(view: AlertCard) -> list[InteractiveElement]:
    """The open alert's Mute menu (Unmute while muted); none once recovered or without an incident."""
    if view.incident_id is None or view.state != "open":
        return []
    return [mute_control(view.incident_id, view.cause_id, view.mute)]


def _series(hourly: Mapping[datetime, int], first: datetime, last: datetime) -> list[int]:
    start = max(hour_of(first), hour_of(last) - HOUR * (_SPARK_HOURS - 1))
    hour, series = start, []
    while hour <= hour_of(last):
        series.append(hourly.get(hour, 0))
        hour += HOUR
    return series


# --- subscription replies ----------------------------------------------------------------------


def build_alert_list(subs: Sequence[AlertSubscription]) -> SlackMessage:
    """This workspace's alert subscriptions, one line each, with how to remove one."""
    if not subs:
        return finish(
            "No spike alerts yet.",
            [
                section(
                    "No spike alerts yet. Start one with "
                    "`/zuora alerts subscribe #channel threshold 10 per 15 minutes`."
                )
            ],
        )
    text = f"{plural(len(subs), 'spike alert')} in this workspace"
    lines = [f"• {channel_mention(sub.channel_id)} {escape(describe_alert(sub))}" for sub in subs]
    blocks: list[dict[str, Any]] = [section(f"*{text}*")]
    shown = lines[:LIST_LIMIT]
    for start in range(0, len(shown), 10):
        blocks.append(section("\n".join(shown[start : start + 10])))
    hint = "Remove one with `/zuora alerts unsubscribe <id>`."
    if len(lines) > LIST_LIMIT:
        hint = f"…and {len(lines) - LIST_LIMIT} more. " + hint
    blocks.append(context(escape(hint)))
    return finish(text, blocks)


def every(seconds: float) -> str:
    """How often the clock checks, in words: `every 5 minutes`, `every minute`, `every 10 seconds`."""
    whole = max(1, round(seconds))
    if whole % 60:
        return f"every {plural(whole, 'second')}" if whole != 1 else "every second"
    minutes = whole // 60
    return "every minute" if minutes == 1 else f"every {plural(minutes, 'minute')}"


def build_alert_subscribed(sub: AlertSubscription, *, check_seconds: float) -> SlackMessage:
    """Confirms a new alert subscription: where, what, how often it is checked."""
    text = f"Subscribed: spike alert #{sub.id}."
    blocks = [
        section(
            f":white_check_mark: Spike alert {escape(describe_alert(sub))} will post to "
            f"{channel_mention(sub.channel_id)}: one message per cause and spike, updated as it grows."
        ),
        context(
            escape(
                f"Checked {every(check_seconds)}. Stop it with "
                f"`/zuora alerts unsubscribe {sub.id}`; see them all with `/zuora alerts list`."
            )
        ),
    ]
    return finish(text, blocks)


def build_alert_unsubscribed(subscription_id: int) -> SlackMessage:
    """Confirms a removed alert subscription."""
    text = f"Spike alert #{subscription_id} unsubscribed; it will not post new alerts."
    return finish(text, [section(f":wave: {text}")])


def build_alert_refused(reason: str) -> SlackMessage:
    """Why an alert subscription was not created or removed."""
    shown = escape_truncated(reason, 1000)
    return finish(
        f"Not done: {escape_truncated(reason, 200)}", [section(f":no_entry_sign: {shown}")]
    )
