"""The "did it work?" words and card: what a resend's new history record said, per id and in all."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.core.actions import ActionId, CardRef
from bot.slack.elements import actions, button, context, finish, mention, plural, section
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import date_token, escape_truncated
from bot.store.watch_records import OutcomeWatch, WatchItem, WatchOutcome

ROWS = 20
NO_OUTCOME = "no outcome yet"
_ICONS = {"delivered": ":white_check_mark:", "failed": ":x:", "pending": ":hourglass:"}
_VERDICT_ICONS = {
    "delivered": ":white_check_mark:",
    "failed": ":x:",
    "mixed": ":warning:",
    "none": ":hourglass:",
}
RULE_NOTE = (
    "Checked in Zuora's notification history: a resend is taken to add a new record (a guess; "
    "`/zuora status` shows the rule)."
)


def verdict(items: Sequence[WatchItem]) -> WatchOutcome:
    """All delivered, all failed again, nothing seen, or some of each."""
    states = {item.state for item in items}
    if states == {"delivered"}:
        return "delivered"
    if states == {"failed"}:
        return "failed"
    if states <= {"pending"}:
        return "none"
    return "mixed"


def _when(at: datetime, plain: bool) -> str:
    """A time for the reader: a Slack date token, or UTC text where no token renders."""
    return at.astimezone(UTC).strftime("%H:%M UTC") if plain else date_token(at, "{time}")


def item_words(item: WatchItem, *, plain: bool = False) -> str:
    """One id's outcome: "delivered 10:03", "failed again: 550 …", "no outcome yet" (mrkdwn)."""
    if item.state == "delivered":
        return f"delivered {_when(item.at, plain)}" if item.at else "delivered"
    if item.state == "failed":
        detail = item.detail or "no reason given"
        return f"failed again: {detail if plain else escape_truncated(detail, 160)}"
    return NO_OUTCOME


def summary(items: Sequence[WatchItem], *, plain: bool = False) -> str:
    """All ids' outcome in one line: mrkdwn (already escaped), or plain text with `plain`."""
    if not items:
        return NO_OUTCOME
    if len(items) == 1:
        return item_words(items[0], plain=plain)
    delivered = [i for i in items if i.state == "delivered"]
    failed = [i for i in items if i.state == "failed"]
    pending = len(items) - len(delivered) - len(failed)
    parts = []
    if delivered:
        last = max((i.at for i in delivered if i.at), default=None)
        by = f" by {_when(last, plain)}" if last else ""
        parts.append(f"{len(delivered)} delivered{by}")
    if failed:
        reasons = sorted({i.detail or "no reason given" for i in failed})
        reason = reasons[0] if plain else escape_truncated(reasons[0], 160)
        more = " …" if len(reasons) > 1 else ""
        parts.append(f"{len(failed)} failed again: {reason}{more}")
    if pending:
        parts.append(f"{pending} {NO_OUTCOME}")
    return " · ".join(parts)


def build_watch_card(
    watch: OutcomeWatch,
    *,
    headline: str,
    card: CardRef | None = None,
) -> SlackMessage:
    """A resend's card once the history answered: who resent what, and what each id became.

    `headline` names the resend ("Resend of 2 emails for Acme (A00000001)"); `card` adds Refresh.
    """
    words = summary(watch.items)
    icon = _VERDICT_ICONS[watch.outcome or verdict(watch.items)]
    blocks: list[dict[str, Any]] = [
        section(f"{icon} *{escape_truncated(headline, 300)}: {words}*"),
        context(
            f"Resent by {mention(watch.user_id)} · {date_token(watch.resent_at)} · history "
            f"read {plural(max(1, watch.checks_done), 'time')}"
        ),
    ]
    rows = [_row(item) for item in watch.items]
    shown = rows[:ROWS]
    if shown:
        blocks.append(section("\n".join(shown)))
    if len(rows) > len(shown):
        blocks.append(context(f"…and {len(rows) - len(shown)} more"))
    blocks.append(context(RULE_NOTE))
    if card is not None:
        blocks.append(
            actions([button("Refresh", ActionId.REFRESH, value=card)], block_id="watch_actions")
        )
    text = f"{escape_truncated(headline, 300)}: {escape_truncated(summary(watch.items, plain=True), 600)}"
    return finish(text, blocks)


def _row(item: WatchItem) -> str:
    """One resent id: what it was (event and subject or endpoint) and what became of it."""
    label = escape_truncated(item.label or item.history_id, 110)
    return f"{_ICONS[item.state]} {label} — {item_words(item)}"
