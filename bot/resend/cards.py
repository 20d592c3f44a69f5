"""Resend cards: the confirm for `/zuora resend`, "Resending…" progress, and the outcome per id.

A click that resent both kinds gets one outcome card for both requests (`build_resend_outcomes`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.core.actions import MAX_IDS_PER_VALUE, ActionId, ResendRef
from bot.failures.results import ResendOutcome
from bot.slack.elements import actions, button, context, finish, fit, mention, plural, section
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import code, date_token, escape_truncated
from bot.zuora.models import Account, NotificationKind

OUTCOME_ROWS = 20
_ROWS_PER_SECTION_CHARS = 2800
# Tried in order until the outcome fits the JSON budget: (label, message) characters per row.
_OUTCOME_ROOMS = ((60, 160), (40, 80), (20, 30))
_ONE_LINE_CHARS = 100  # a row longer than this puts Zuora's reason on its own line
_INDENT = "    "
_ROW_NUMBER = re.compile(r"^\s*\d+\.\s+")


def _noun(kind: NotificationKind) -> str:
    return "email" if kind == "email" else "callout"


def _for_account(account: Account | None) -> str:
    if account is None:
        return ""
    return f" for {escape_truncated(account.name, 80)} ({escape_truncated(account.number, 64)})"


def build_resend_progress(
    *, kind: NotificationKind, count: int, requested_by: str, account: Account | None
) -> SlackMessage:
    """'Resending 3 emails… requested by @U', with no buttons, so nobody clicks twice meanwhile."""
    return build_batch_progress(counts=[(kind, count)], requested_by=requested_by, account=account)


def build_batch_progress(
    *,
    counts: Sequence[tuple[NotificationKind, int]],
    requested_by: str,
    account: Account | None,
) -> SlackMessage:
    """'Resending 3 emails and 2 callouts… requested by @U' for a click on one or both kinds."""
    what = " and ".join(plural(count, _noun(kind)) for kind, count in counts)
    line = f"Resending {what}{_for_account(account)}… requested by {mention(requested_by)}"
    return finish(
        line,
        [
            section(f":hourglass_flowing_sand: {line}"),
            context("This message updates when Zuora answers."),
        ],
    )


def build_resend_confirm(
    *, kind: NotificationKind, ids: list[str], requested_by: str
) -> SlackMessage:
    """The card `/zuora resend <id> …` answers with: the ids, a Resend button and Cancel."""
    if not 1 <= len(ids) <= MAX_IDS_PER_VALUE:
        raise ValueError(f"between 1 and {MAX_IDS_PER_VALUE} ids, not {len(ids)}")
    noun = plural(len(ids), _noun(kind))
    where = "its recipients" if kind == "email" else "its endpoint"
    listed = "\n".join(f"• {code(history_id, 64)}" for history_id in ids)
    return finish(
        f"Resend {noun}? Nothing is sent until you press the button.",
        [
            section(f"*Resend {noun}?* Zuora sends each one to {where} again."),
            section(listed),
            context(
                f"Requested by {mention(requested_by)}. Nothing is sent until you press "
                f"*Resend {noun}*."
            ),
            actions(
                [
                    button(
                        f"Resend {noun}",
                        ActionId.RESEND_CONFIRM,
                        value=ResendRef(k=kind, ids=list(ids)),
                        style="primary",
                    ),
                    button("Cancel", ActionId.RESEND_CANCEL),
                ],
                block_id="resend_confirm",
            ),
        ],
    )


def build_resend_outcome(outcome: ResendOutcome) -> SlackMessage:
    """Who resent what and when, Zuora's answer per id (capped), and Refresh back to the card."""
    blocks = fit(
        lambda room: _outcome_blocks(outcome, label_chars=room[0], message_chars=room[1]),
        _OUTCOME_ROOMS,
    )
    return finish(_outcome_text(outcome), blocks)


def build_resend_outcomes(
    outcomes: Sequence[ResendOutcome], *, duplicates: Sequence[NotificationKind] = ()
) -> SlackMessage:
    """One card for a click's requests (one per kind): both answers, never one over the other."""
    if not outcomes:
        raise ValueError("no outcomes to show")
    if len(outcomes) == 1 and not duplicates:
        return build_resend_outcome(outcomes[0])
    blocks = fit(
        lambda room: _batch_blocks(
            outcomes, duplicates, label_chars=room[0], message_chars=room[1]
        ),
        _OUTCOME_ROOMS,
    )
    return finish(_batch_text(outcomes, duplicates), blocks)


WAITING = "waiting for Zuora's answer"
_WAITING_NEXT = (
    "Zuora may have sent it, so this is not a failure: the bot asks Zuora again with the same "
    "Idempotency-Key (nothing is sent twice) and this message updates when Zuora answers. "
    "Pressing Resend meanwhile sends nothing new."
)


def _counts(outcome: ResendOutcome) -> str:
    """`3 sent · 1 refused · 0 already in progress`, or why the request did not go through."""
    result = outcome.result
    if outcome.waiting:
        return f"{WAITING} ({escape_truncated(outcome.error or 'no answer', 300)})"
    if result is None:
        return f"not resent: {escape_truncated(outcome.error or 'Zuora gave no answer', 300)}"
    return (
        f"{len(result.succeeded)} sent · {len(result.failed)} refused · "
        f"{len(result.in_progress)} already in progress"
    )


def _sent_of(outcome: ResendOutcome) -> str:
    noun = plural(len(outcome.ids), _noun(outcome.kind))
    if outcome.result is None:
        return f"0 of {noun}"
    return f"{len(outcome.result.succeeded)} of {noun}"


def _batch_text(outcomes: Sequence[ResendOutcome], duplicates: Sequence[NotificationKind]) -> str:
    target = _for_account(next((o.account for o in outcomes if o.account), None))
    parts = " and ".join(_sent_of(o) for o in outcomes)
    refused = sum(len(o.result.failed) for o in outcomes if o.result is not None)
    busy = sum(len(o.result.in_progress) for o in outcomes if o.result is not None)
    errors = [o for o in outcomes if o.result is None and not o.waiting]
    tail = f"; {refused} failed" if refused else ""
    tail += f"; {busy} already in progress" if busy else ""
    tail += "".join(f"; the {_noun(o.kind)}s are {WAITING}" for o in outcomes if o.waiting)
    tail += "".join(f"; the {_noun(o.kind)} request failed" for o in errors)
    tail += "".join(f"; the {_noun(k)}s were already handled" for k in duplicates)
    return f"{parts} resent{target}{tail}"


def _batch_blocks(
    outcomes: Sequence[ResendOutcome],
    duplicates: Sequence[NotificationKind],
    *,
    label_chars: int,
    message_chars: int,
) -> list[dict[str, Any]]:
    first = outcomes[0]
    target = _for_account(next((o.account for o in outcomes if o.account), None))
    results = [o.result for o in outcomes]
    if any(o.waiting for o in outcomes):
        icon = ":hourglass_flowing_sand:"
    elif all(r is not None and r.all_succeeded for r in results):
        icon = ":white_check_mark:"
    elif all(r is None or r.all_failed for r in results):
        icon = ":x:"
    else:
        icon = ":warning:"
    parts = " and ".join(_sent_of(o) for o in outcomes)
    lines = [f"• *{_noun(o.kind).capitalize()}s*: {_counts(o)}" for o in outcomes]
    lines += [
        f"• *{_noun(kind).capitalize()}s*: already handled by an earlier click; not resent twice"
        for kind in duplicates
    ]
    if any(o.waiting for o in outcomes):
        lines.append(_WAITING_NEXT)
    blocks: list[dict[str, Any]] = [
        section(f"{icon} *{parts} resent*{target}\n" + "\n".join(lines))
    ]
    tracks = sorted({o.track_id for o in outcomes if o.track_id})
    track = "".join(f" · track id {code(t, 64)}" for t in tracks)
    blocks.append(
        context(f"Requested by {mention(first.requested_by)} · {date_token(first.at)}{track}")
    )
    left = OUTCOME_ROWS
    hidden = 0
    for outcome in outcomes:
        rows = _rows(outcome, label_chars=label_chars, message_chars=message_chars)
        shown, left = rows[:left], max(0, left - len(rows))
        hidden += len(rows) - len(shown)
        if shown:
            heading = f"*{_noun(outcome.kind).capitalize()}s*"
            for chunk in _chunks([heading, *shown]):
                blocks.append(section(chunk))
    if hidden:
        blocks.append(context(f"…and {hidden} more"))
    card = next((o.card for o in outcomes if o.card is not None), None)
    if card is not None:
        blocks.append(
            actions(
                [button("Refresh", ActionId.REFRESH, value=card)],
                block_id="outcome_actions",
            )
        )
    return blocks


def _outcome_text(outcome: ResendOutcome) -> str:
    noun = _noun(outcome.kind)
    target = _for_account(outcome.account)
    total = len(outcome.ids)
    if outcome.waiting:
        return f"Resend of {plural(total, noun)}{target}: {WAITING} (not failed)"
    if outcome.result is None:
        error = escape_truncated(outcome.error or "Zuora gave no answer", 300)
        return f"Resend of {plural(total, noun)}{target} failed: {error}"
    failed = len(outcome.result.failed)
    tail = f"; {failed} failed" if failed else ""
    waiting = len(outcome.result.in_progress)
    if waiting:
        tail += f"; {waiting} already done or in progress at Zuora (not resent twice)"
    return f"{len(outcome.result.succeeded)} of {plural(total, noun)} resent{target}{tail}"


def _outcome_blocks(
    outcome: ResendOutcome, *, label_chars: int, message_chars: int
) -> list[dict[str, Any]]:
    noun = _noun(outcome.kind)
    total = len(outcome.ids)
    target = _for_account(outcome.account)
    blocks: list[dict[str, Any]] = []
    if outcome.waiting:
        error = escape_truncated(outcome.error or "Zuora gave no answer.", 1500)
        blocks.append(
            section(
                f":hourglass_flowing_sand: *Resend of {plural(total, noun)}{target}: "
                f"{WAITING}.*\n{error}\n{_WAITING_NEXT}"
            )
        )
    elif outcome.result is None:
        next_step = (
            "Press *Refresh* to see what is still failing before you try again."
            if outcome.card is not None
            else "Check the Notification History in Zuora before you try again."
        )
        error = escape_truncated(outcome.error or "Zuora gave no answer.", 1500)
        blocks.append(
            section(
                f":x: *The resend of {plural(total, noun)}{target} did not go through.*\n"
                f"{error}\n{next_step}"
            )
        )
    else:
        result = outcome.result
        sent = len(result.succeeded)
        if result.failed:
            icon = ":x:" if result.all_failed else ":warning:"
        else:  # a 409 is Zuora holding the same request: not a failure
            icon = ":white_check_mark:" if sent else ":hourglass_flowing_sand:"
        headline = f"{icon} *{sent} of {plural(total, noun)} resent*{target}"
        if result.in_progress:
            headline += (
                f"\n{len(result.in_progress)} already done or in progress at Zuora "
                "(it answered 409 for this request's Idempotency-Key): not resent twice."
            )
        blocks.append(section(headline))
    track = f" · track id {code(outcome.track_id, 64)}" if outcome.track_id else ""
    blocks.append(
        context(f"Requested by {mention(outcome.requested_by)} · {date_token(outcome.at)}{track}")
    )
    rows = _rows(outcome, label_chars=label_chars, message_chars=message_chars)
    shown = rows[:OUTCOME_ROWS]
    for chunk in _chunks(shown):
        blocks.append(section(chunk))
    if len(rows) > len(shown):
        blocks.append(context(f"…and {len(rows) - len(shown)} more"))
    if outcome.card is not None:
        blocks.append(
            actions(
                [button("Refresh", ActionId.REFRESH, value=outcome.card)],
                block_id="outcome_actions",
            )
        )
    return blocks


def _rows(outcome: ResendOutcome, *, label_chars: int, message_chars: int) -> list[str]:
    """One row per id, failures first, in the order the ids were asked for."""

    def head(icon: str, history_id: str) -> str:
        label = _row_label(outcome.labels.get(history_id))
        if not label:
            return f"{icon} {code(history_id, 64)}"
        return f"{icon} {escape_truncated(label, label_chars)} · {code(_short_id(history_id), 16)}"

    result = outcome.result
    if result is None:
        return [head("•", history_id) for history_id in outcome.ids]
    succeeded = set(result.succeeded)
    waiting = set(result.in_progress)
    failed_rows: list[str] = []
    other_rows: list[str] = []
    for history_id in outcome.ids:
        failure = result.failed.get(history_id)
        if failure is not None:
            first = head(":x:", history_id)
            reason = (
                f"*{escape_truncated(failure.code, 40)}*: "
                f"{escape_truncated(failure.message, message_chars)}"
            )
            # A long line wraps mid-sentence in Slack's ~1000 px column: Zuora's reason goes below.
            if len(first) + len(reason) + 3 > _ONE_LINE_CHARS:
                failed_rows.append(f"{first}\n{_INDENT}{reason}")
            else:
                failed_rows.append(f"{first} — {reason}")
        elif history_id in succeeded:
            other_rows.append(f"{head(':white_check_mark:', history_id)} — sent")
        elif history_id in waiting:
            row = head(":hourglass_flowing_sand:", history_id)
            other_rows.append(f"{row} — already done or in progress at Zuora; not resent twice")
        else:
            other_rows.append(f"{head(':grey_question:', history_id)} — Zuora did not say")
    return failed_rows + other_rows


def _row_label(label: str | None) -> str:
    """A row's label without the row number a checkbox text carried ("2. billing@…")."""
    return _ROW_NUMBER.sub("", label or "").strip()


def _short_id(history_id: str) -> str:
    """The end of a long history id (`…3f9a1c2b`): enough to tell rows apart next to a label."""
    return history_id if len(history_id) <= 12 else f"…{history_id[-8:]}"


def _chunks(rows: list[str]) -> list[str]:
    """Join rows into section texts of at most _ROWS_PER_SECTION_CHARS."""
    chunks: list[str] = []
    current = ""
    for row in rows:
        if current and len(current) + 1 + len(row) > _ROWS_PER_SECTION_CHARS:
            chunks.append(current)
            current = row
        else:
            current = f"{current}\n{row}" if current else row
    if current:
        chunks.append(current)
    return chunks
