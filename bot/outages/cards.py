"""The `/zuora outages` card: the tenant's failures grouped by cause, biggest and newest first.

One section per cause (label escaped, counts, accounts, first/last failure as Slack date tokens, an
hourly sparkline in inline code) with "Resend all N" as its accessory behind a confirm dialog that
names the count, the cause and the accounts. Causes beyond one card's worth are paged: the buttons
carry the scan's fixed window, so every page describes the same hours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.core.actions import ActionId, OutageRef
from bot.failures.preview import INCLUDE_HINT, Preview, preview_text
from bot.outages.affected import merged
from bot.outages.causes import CauseGroup, OutageScan, hourly_series, sparkline
from bot.outages.recovery import Recovery, StillFailing
from bot.outages.recovery_cards import recovery_line, replay_anyway_button
from bot.slack.elements import (
    actions,
    button,
    confirm_dialog,
    context,
    finish,
    fit,
    header,
    plural,
    section,
)
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import code, date_token, escape, truncate
from bot.zuora.models import TimeWindow

OUTAGES_PAGE_SIZE = 10  # causes per card; 10 sections + header + paging stay far below 50 blocks
LABEL_ROOMS = (160, 90, 48, 24)
CONFIRM_LABEL_CHARS = 72  # of a cause label in its replay confirm dialog  # characters of each cause label, tried until the card fits
SPARK_WIDTH = 30  # bars: a 24h window is 25 one-hour bars, 7d is 29 six-hour bars
_KIND_ICON = {"callout": ":satellite_antenna:", "email": ":envelope:"}


def shown_groups(ordered: Sequence[CauseGroup], page: int) -> list[CauseGroup]:
    """The causes one page of the card shows (the page clamped as the card clamps it)."""
    page = min(max(page, 0), outage_page_count(len(ordered)) - 1)
    return list(ordered[page * OUTAGES_PAGE_SIZE : (page + 1) * OUTAGES_PAGE_SIZE])


def outage_page_count(total_groups: int) -> int:
    """Pages an outages card has for this many causes (at least 1)."""
    return max(1, -(-total_groups // OUTAGES_PAGE_SIZE))


def build_outages_card(
    scan: OutageScan,
    window: TimeWindow,
    *,
    page: int = 0,
    groups: Sequence[CauseGroup] | None = None,
    recovery: Mapping[str, Recovery] | None = None,
    now: datetime | None = None,
    marks: Mapping[str, str] | None = None,
) -> SlackMessage:
    """A page of the outages card for `scan` over `window` (a friendly line when nothing failed).

    `groups` (already ordered) may be given to skip re-sorting the scan's groups. `recovery` (by
    cause id, read at `now`) adds each shown cause's "is it over?" line (bot.outages.recovery_cards). `marks` (mrkdwn by
    cause id, bot.outages.muted) adds a line to those causes, e.g. muted alerts.
    """
    ordered = list(groups) if groups is not None else scan.groups()
    label = escape(window.label)
    if not ordered:
        line = f":white_check_mark: No failed callouts or emails in the last {label}."
        detail = (
            f"Scanned the whole tenant from {date_token(window.start)} to {date_token(window.end)}."
        )
        return finish(
            f"No failed callouts or emails in the last {window.label}.",
            [section(line), context(detail)],
        )
    pages = outage_page_count(len(ordered))
    page = min(max(page, 0), pages - 1)
    shown = ordered[page * OUTAGES_PAGE_SIZE : (page + 1) * OUTAGES_PAGE_SIZE]
    failures = sum(g.count for g in ordered)
    affected = merged(g.affected for g in ordered).describe()
    summary = (
        f"*{failures:,}* failures ({plural(scan.callouts, 'callout')}, "
        f"{plural(scan.emails, 'email')}) · *{len(ordered)}* "
        f"{'cause' if len(ordered) == 1 else 'causes'} · "
        f"{affected} · {date_token(window.start)} – {date_token(window.end)}"
    )

    def build(room: int) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = [
            header(f"Outages in the last {window.label}"),
            context(summary),
        ]
        blocks.extend(
            _cause_section(
                g, window, page, room, marks or {}, (recovery or {}).get(g.cause.id), now
            )
            for g in shown
        )
        blocks.extend(_paging(ordered, window, page, pages, failures))
        return blocks

    text = (
        f"Outages in the last {window.label}: {failures:,} failures in {len(ordered)} "
        f"{'cause' if len(ordered) == 1 else 'causes'}; biggest: {truncate(ordered[0].label, 120)} "
        f"({ordered[0].count:,})"
    )
    return finish(escape(text), fit(build, LABEL_ROOMS))


def _cause_section(
    group: CauseGroup,
    window: TimeWindow,
    page: int,
    room: int,
    marks: Mapping[str, str],
    recovery: Recovery | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One cause: label, counts, first/last, sparkline, and its Resend all N button."""
    kind = group.cause.kind
    series = hourly_series(group, window.start, window.end)
    times = ""
    if group.first_at is not None and group.last_at is not None:
        times = f" · first {date_token(group.first_at)} · last {date_token(group.last_at)}"
    lines = [
        # Inline code: the label is shown literally (`*` of a folded path, `_` of a host are no markup).
        f"{_KIND_ICON.get(kind, '')} {code(group.label, room)}",
        f"{plural(group.count, kind)} · {group.affected.describe()}{times}",
        _trend(series),
    ]
    if group.cause.id in marks:
        lines.append(marks[group.cause.id])
    if recovery is not None:
        lines.append(recovery_line(recovery, kind, now or window.end))
    accessory = None
    if group.ids or group.unresolved:
        ref = OutageRef(
            c=group.cause.id,
            s=int(window.start.timestamp()),
            e=int(window.end.timestamp()),
            w=window.label,
            n=group.count,
            p=page,
        )
        accessory = button(
            f"Resend all {group.count:,}",
            ActionId.OUTAGE_REPLAY,
            value=ref,
            style="danger",
            confirm=confirm_dialog(
                title=f"Resend {plural(group.count, kind)}?",
                text=replay_preview_text(
                    group,
                    lead=f"Resend {plural(group.count, 'failed ' + kind)} "
                    f"({group.affected.describe()}), all failed with: "
                    # The dialog's cause stays short: the card's budget goes to the labels shown.
                    f"{truncate(group.label, min(room, CONFIRM_LABEL_CHARS))}.",
                ),
                confirm=f"Resend {_sent(group):,}",
            ),
        )
        if isinstance(recovery, StillFailing):
            accessory = replay_anyway_button(
                group,
                ref,
                recovery,
                now or window.end,
                min(room, CONFIRM_LABEL_CHARS),
                lambda lead: replay_preview_text(group, lead=lead),
                _sent(group),
            )
    return section("\n".join(lines), accessory=accessory)


def _trend(series: list[int]) -> str:
    """`per hour `▁▃█·` · peak 96/h`: the sparkline in a code span (zero bars as `·`, since Slack
    trims a code span's spaces), saying how many hours one bar sums."""
    bars = sparkline(series, width=SPARK_WIDTH).replace(" ", "·") or "·"
    hours = max(1, -(-len(series) // SPARK_WIDTH))
    per = "per hour" if hours == 1 else f"per {hours} hours"
    return f"{per} `{bars}` · peak {max(series, default=0):,} in an hour"


def _paging(
    ordered: Sequence[CauseGroup], window: TimeWindow, page: int, pages: int, failures: int
) -> list[dict[str, Any]]:
    """A context line `Causes 11–20 of 37` and Previous / Next buttons, when there is more than one page."""
    if pages <= 1:
        return []
    first = page * OUTAGES_PAGE_SIZE + 1
    last = min(len(ordered), first + OUTAGES_PAGE_SIZE - 1)
    blocks = [context(f"Causes {first}–{last} of {len(ordered)} · biggest first")]

    def ref(target: int) -> OutageRef:
        # `c` names the card's biggest cause (the value's required field); paging re-scans the window.
        return OutageRef(
            c=ordered[0].cause.id,
            s=int(window.start.timestamp()),
            e=int(window.end.timestamp()),
            w=window.label,
            n=failures,
            p=target,
        )

    # One button per actions block: action_ids must be unique in a block, and both are OUTAGE_PAGE.
    if page > 0:
        blocks.append(
            actions(
                [button("◀ Previous", ActionId.OUTAGE_PAGE, value=ref(page - 1))],
                block_id=f"outage_page_prev_{page - 1}",
            )
        )
    if page < pages - 1:
        blocks.append(
            actions(
                [button("Next ▶", ActionId.OUTAGE_PAGE, value=ref(page + 1))],
                block_id=f"outage_page_next_{page + 1}",
            )
        )
    return blocks


__all__ = ["OUTAGES_PAGE_SIZE", "build_outages_card", "outage_page_count", "shown_groups"]


def replay_preview_text(group: CauseGroup, *, lead: str) -> str:
    """The replay confirm's preview: what it sends and what it leaves out (issue 18)."""
    preview = Preview(group.cause.kind, _sent(group), group.retrying, group.invalid_body)
    return preview_text(preview, lead=lead, hint=INCLUDE_HINT)


def _sent(group: CauseGroup) -> int:
    """What a replay would send: the cause's failures less those Zuora still retries or never sent."""
    return max(group.count - group.retrying - group.invalid_body, 0)
