"""Words for "Is the cause over?": the outages card's line per cause, the warning on a replay of a
cause still failing ("Replay anyway" behind its own confirm dialog), and plain text for the CLI.

Card times are Slack date tokens (each reader's own zone, UTC text as the fallback), as the rest of
the outages card; plain text (dialogs, the CLI) says UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from slack_sdk.models.blocks import ButtonElement

from bot.core.actions import ActionId, OutageRef
from bot.outages.causes import CauseGroup
from bot.outages.recovery import NoNewsYet, Recovered, Recovery, RecoveryUnknown, StillFailing
from bot.slack.elements import button, confirm_dialog, plural
from bot.slack.mrkdwn import date_token, truncate
from bot.zuora.models import NotificationKind

#: Causes of a card page (the biggest) that get a recovery line: the card stays within its size
#: budget, and the reads behind it at 5 × 3 = 15 requests at most (bot.outages.recovery_read).
RECOVERY_CAUSES = 5
SAFE = "safe to replay"
FAIL_AGAIN = "a replay now will probably fail again"
ZUORA_SILENT = "Recovery unknown (Zuora didn't answer)"


def place(kind: NotificationKind) -> str:
    """What recovers: a callout cause's endpoint, an email cause's mail domain."""
    return "endpoint" if kind == "callout" else "mail domain"


def ago(delta: timedelta) -> str:
    """`just now`, `2 min ago`, `3 h ago`, `2 days ago`."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def recovery_line(recovery: Recovery, kind: NotificationKind, now: datetime) -> str:
    """The card's mrkdwn line for one cause (the warning in bold)."""
    if isinstance(recovery, Recovered):
        at = date_token(recovery.at, "{time}", fallback=f"{recovery.at.astimezone(UTC):%H:%M} UTC")
        return f":white_check_mark: Recovered at {at}: {SAFE}"
    if isinstance(recovery, StillFailing):
        return f":rotating_light: *{still_failing_text(recovery, now)}*"
    if isinstance(recovery, NoNewsYet):
        return f":grey_question: Unknown: no delivery to this {place(kind)} since its last failure"
    return f":grey_question: {ZUORA_SILENT}"


def still_failing_text(recovery: StillFailing, now: datetime) -> str:
    """`Still failing, last failure 2 min ago: a replay now will probably fail again`."""
    return f"Still failing, last failure {ago(now - recovery.last_failure)}: {FAIL_AGAIN}"


def recovery_text(recovery: Recovery, kind: NotificationKind, now: datetime) -> str:
    """The same in plain text, times in UTC (confirm dialogs, the CLI)."""
    if isinstance(recovery, Recovered):
        return f"Recovered at {recovery.at.astimezone(UTC):%H:%M} UTC: {SAFE}"
    if isinstance(recovery, StillFailing):
        return still_failing_text(recovery, now)
    if isinstance(recovery, NoNewsYet):
        return f"Unknown: no delivery to this {place(kind)} since its last failure"
    assert isinstance(recovery, RecoveryUnknown)
    return ZUORA_SILENT


def replay_anyway_button(
    group: CauseGroup,
    ref: OutageRef,
    recovery: StillFailing,
    now: datetime,
    room: int,
    preview: Callable[[str], str],
    sent: int,
) -> ButtonElement:
    """A cause still failing: "Replay anyway", its confirm dialog leading with the warning, then
    the replay's preview (`preview` of the lead: what it sends, what it leaves out and why)."""
    kind = group.cause.kind
    return button(
        f"Replay anyway ({sent:,})",
        ActionId.OUTAGE_REPLAY_ANYWAY,
        value=ref,
        style="danger",
        confirm=confirm_dialog(
            title="Still failing: replay anyway?",
            # The title says "Still failing"; the text stays short (ten of these share one card).
            text=preview(
                f"Last failure {ago(now - recovery.last_failure)}: {FAIL_AGAIN}. Resend "
                f"{plural(group.count, 'failed ' + kind)} anyway? "
                f"Cause: {truncate(group.label, room)}."
            ),
            confirm="Replay anyway",
        ),
    )


__all__ = [
    "RECOVERY_CAUSES",
    "ago",
    "place",
    "recovery_line",
    "recovery_text",
    "replay_anyway_button",
    "still_failing_text",
]
