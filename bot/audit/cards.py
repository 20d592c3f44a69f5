"""The audit card: recent resends (who, what, when, outcome), newest first, paged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.core.actions import ActionId, AuditPageRef
from bot.core.secrets_mask import mask_urls_in_text
from bot.slack.elements import actions, button, context, finish, header, mention, plural, section
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import date_token, escape_truncated
from bot.store import ResendAuditEntry

AUDIT_PAGE_SIZE = 10
STATUS_ICONS = {
    "requested": ":hourglass_flowing_sand:",
    "waiting": ":hourglass_flowing_sand:",
    "succeeded": ":white_check_mark:",
    "partial": ":warning:",
    "failed": ":x:",
    "error": ":x:",
}


def _entry_line(entry: ResendAuditEntry, notes: Sequence[str] = ()) -> str:
    failed = sum(1 for outcome in entry.outcome.values() if not outcome.ok)
    done = len(entry.ids) - failed if entry.status not in ("requested", "waiting") else 0
    noun = plural(len(entry.ids), entry.kind)
    account = f" for *{escape_truncated(entry.account_key, 64)}*" if entry.account_key else ""
    line = (
        f"{STATUS_ICONS.get(entry.status, '')} {date_token(entry.requested_at)} · "
        f"{mention(entry.user_id)} resent {noun}{account}: *{_status_words(entry)}*"
    )
    if entry.status in ("partial", "failed"):
        line += f" ({done} of {len(entry.ids)} accepted)"
    for history_id, outcome in list(entry.outcome.items())[:3]:
        if not outcome.ok:
            line += (
                f"\n    `{escape_truncated(history_id, 64)}`: "
                f"{escape_truncated(outcome.code or '?', 40)} — "
                f"{escape_truncated(mask_urls_in_text(outcome.message or ''), 160)}"
            )
    if entry.error:
        line += f"\n    {escape_truncated(mask_urls_in_text(entry.error), 300)}"
    for note in notes:  # a replay's cause; did it work? (bot.audit.outcome_notes)
        line += f"\n    {escape_truncated(note, 300)}"
    line += f"\n    track id `{escape_truncated(entry.track_id, 64)}`"
    return line


def _status_words(entry: ResendAuditEntry) -> str:
    """The status as shown; an unknown outcome reads as what it is, never as a failure."""
    if entry.status == "waiting":
        return "waiting for Zuora's answer (asked again with the same key; not failed)"
    return entry.status


def _range_text(offset: int, shown: int, total: int) -> str:
    """`1 entry`, `12 entries` when all are shown, else `Entries 11–20 of 37` (`Entry 37 of 37`)."""
    if offset == 0 and shown >= total:
        return _entries(total)
    if shown == 1:
        return f"Entry {offset + 1} of {total}"
    return f"Entries {offset + 1}–{offset + shown} of {total}"


def _entries(count: int) -> str:
    return f"{count} {'entry' if count == 1 else 'entries'}"


def build_audit_card(
    entries: Sequence[ResendAuditEntry],
    *,
    total: int,
    offset: int,
    account: str | None,
    notes: Mapping[int, Sequence[str]] | None = None,
) -> SlackMessage:
    """A page of the resend audit trail with Newer/Older buttons."""
    # The header is plain text; the fallback and sections are mrkdwn, so they get the escaped key.
    shown = escape_truncated(account, 64) if account else ""
    if not entries:
        text = f"No resends recorded{' for ' + shown if shown else ''} yet."
        return finish(text, [section(text)])
    blocks = [
        header(f"Resend audit trail · {account}" if account else "Resend audit trail"),
        context(f"{_range_text(offset, len(entries), total)} · Newest first · kept permanently"),
    ]
    blocks.extend(section(_entry_line(entry, (notes or {}).get(entry.id, ()))) for entry in entries)
    paging = []
    if offset > 0:
        newer = AuditPageRef(account=account, offset=max(0, offset - AUDIT_PAGE_SIZE))
        paging.append(button("Newer", ActionId.AUDIT_PAGE, value=newer))
    if offset + len(entries) < total:
        older = AuditPageRef(account=account, offset=offset + AUDIT_PAGE_SIZE)
        paging.append(button("Older", ActionId.AUDIT_PAGE, value=older))
    if paging:
        blocks.append(actions(paging[:1], block_id="audit_page_a"))
        if len(paging) > 1:
            blocks.append(actions(paging[1:], block_id="audit_page_b"))
    text = f"Resend audit trail{' · ' + shown if shown else ''}: {_entries(total)}"
    return finish(text, blocks)
