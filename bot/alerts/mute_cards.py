"""Quiet-alert cards: the alert's Mute menu (or Unmute), its "Muted by" line, the mark on outages and
digests, a thread reply, and the clicker's notices.

Every value interpolated into mrkdwn is escaped (bot.slack.mrkdwn); times are Slack date tokens.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from slack_sdk.models.blocks import InteractiveElement, Option, StaticSelectElement

from bot.core.actions import ActionId, MuteRef
from bot.slack.elements import button, finish, mention, plain, plural, section
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import date_token, escape_truncated
from bot.slack.mute_marks import until_words
from bot.store.alert_quiet import AlertMute

MuteChoice = Literal["1h", "24h", "rec"]
#: The mute menu's choices, in order: the value carried, and the words shown.
MUTE_CHOICES: Final[tuple[tuple[MuteChoice, str], ...]] = (
    ("1h", "Mute 1 hour"),
    ("24h", "Mute 24 hours"),
    ("rec", "Mute until recovered"),
)
_TIME: Final = "{time}"


def mute_control(incident_id: int, cause_id: str, mute: AlertMute | None) -> InteractiveElement:
    """The alert's mute menu (1 h, 24 h, until recovered), or an Unmute button while muted."""
    if mute is not None:
        return button(
            "Unmute", ActionId.ALERT_UNMUTE, value=MuteRef(i=incident_id, c=cause_id, d="off")
        )
    return StaticSelectElement(
        placeholder=plain("Mute…"),
        action_id=ActionId.ALERT_MUTE.value,
        options=[
            Option(value=MuteRef(i=incident_id, c=cause_id, d=choice).encode(), text=plain(words))
            for choice, words in MUTE_CHOICES
        ],
    )


def muted_line(mute: AlertMute) -> str:
    """The alert message's line while muted: ':no_bell: Muted by @u until 11:02 — no updates…'."""
    return (
        f":no_bell: *Muted* by {mention(mute.muted_by)} {until_words(mute.until)} "
        f"(since {date_token(mute.muted_at, _TIME, mute.muted_at.strftime('%H:%M UTC'))}): "
        "no new alert or update for this cause meanwhile; the clock still counts it."
    )


def build_thread_reply(count: int, accounts: int, added: int, since: datetime) -> SlackMessage:
    """A spike alert's thread reply: 'now 42 failures across 12 accounts (+17 since 10:02)'."""
    stamp = date_token(since, _TIME, since.strftime("%H:%M UTC"))
    now = f"now {plural(count, 'failure')} across {plural(accounts, 'account')}"
    text = f"{now} (+{added:,} since {since.strftime('%H:%M UTC')})"
    return finish(text, [section(f":chart_with_upwards_trend: {now} (+{added:,} since {stamp})")])


def build_mute_notice(mute: AlertMute | None, *, label: str) -> SlackMessage:
    """Tells the clicker what the click did: muted (until when) or unmuted."""
    cause = escape_truncated(label, 150)
    if mute is None:
        text = "Unmuted: this cause's alerts and updates resume at the next check."
        return finish(text, [section(f":bell: Unmuted *{cause}*; alerts and updates resume.")])
    words = until_words(mute.until)
    text = "Muted: no new alert or update for this cause meanwhile."
    return finish(
        text,
        [section(f":no_bell: Muted *{cause}* {words}; no new alert or update for it meanwhile.")],
    )


def build_mute_refused(reason: str) -> SlackMessage:
    """Why a mute click changed nothing (stale, forged, recovered, another workspace)."""
    shown = escape_truncated(reason, 500)
    return finish(
        f"Nothing changed: {escape_truncated(reason, 200)}", [section(f":warning: {shown}")]
    )


def build_updates_set(subscription_id: int, updates: str) -> SlackMessage:
    """Confirms a spike alert's update mode."""
    if updates == "thread":
        how = "a short thread reply under the alert (at most one per interval), the alert still edited"
    else:
        how = "edits of the alert in place only, no thread replies"
    text = f"Spike alert #{subscription_id} now shows growth as {how}."
    return finish(text, [section(f":white_check_mark: {escape_truncated(text, 500)}")])
