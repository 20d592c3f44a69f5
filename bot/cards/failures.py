"""The failures card: an account's failed callouts and emails, paged, with resend controls.

Any data fits Slack's limits: a page holds a few rows (`page_plan`), every text is cut to a budget,
and when the JSON is still too large the card is rebuilt with smaller budgets (`_ROOMS`); the last
resort drops the per-row Resend buttons (the checkboxes and "Resend selected" remain), never over.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from slack_sdk.models.blocks import CheckboxesElement, Option

from bot.cards.elements import (
    actions,
    button,
    confirm_dialog,
    context,
    divider,
    finish,
    fit,
    header,
    plain,
    plural,
    response_code_text,
    section,
)
from bot.cards.message import SlackMessage
from bot.failures import AccountFailures, card_ref_for
from bot.ids import (
    ActionId,
    CalloutRef,
    CardRef,
    ResendAllRef,
    ResendRef,
    option_value,
)
from bot.mrkdwn import (
    code,
    date_token,
    escape,
    escape_truncated,
    link,
    redact_url,
    truncate,
    truncate_mrkdwn,
)
from bot.zuora.guard import is_history_id
from bot.zuora.models import Account, CalloutHistory, EmailHistory

# Rows per page. Each row carries its own button values (about 300 characters of JSON apiece), so a
# page with both kinds holds fewer rows than a page with one kind.
EMAILS_ONLY_PER_PAGE = 10
CALLOUTS_ONLY_PER_PAGE = 5
MIXED_CALLOUTS_PER_PAGE = 3
MIXED_EMAILS_PER_PAGE = 6
NOTICE_CHARS = 300
MAX_PAGE = 1000  # CardRef.p's upper bound


@dataclass(frozen=True)
class _Room:
    """How many characters each piece of a row may take."""

    name: int
    event: int
    url: int
    recipient: int
    subject: int  # 0 leaves the subject out
    error: int
    option: int  # checkbox option text (Slack allows 75)
    note: int  # the resend-ID error note
    label: int  # the label a row's Resend button carries for the outcome card (0: none)
    row_buttons: bool = True  # per-row Resend buttons (checkboxes remain either way)


# Tried in order until the blocks fit the JSON budget; the last one fits any data (see the tests).
_ROOMS = (
    _Room(
        name=80,
        event=60,
        url=100,
        recipient=80,
        subject=100,
        error=200,
        option=75,
        note=200,
        label=60,
    ),
    _Room(
        name=60,
        event=40,
        url=60,
        recipient=50,
        subject=50,
        error=100,
        option=60,
        note=120,
        label=40,
    ),
    _Room(
        name=40, event=24, url=32, recipient=32, subject=0, error=40, option=40, note=60, label=0
    ),
    _Room(
        name=24,
        event=16,
        url=16,
        recipient=20,
        subject=0,
        error=16,
        option=24,
        note=30,
        label=0,
        row_buttons=False,
    ),
)


def page_plan(failures: AccountFailures) -> tuple[int, int]:
    """Callouts and emails per page for this data."""
    if not failures.callouts:
        return 0, EMAILS_ONLY_PER_PAGE
    if not failures.emails:
        return CALLOUTS_ONLY_PER_PAGE, 0
    return MIXED_CALLOUTS_PER_PAGE, MIXED_EMAILS_PER_PAGE


def page_count(failures: AccountFailures) -> int:
    """How many pages the card has (at least one)."""
    per_callouts, per_emails = page_plan(failures)
    return max(
        1,
        math.ceil(len(failures.callouts) / per_callouts) if per_callouts else 0,
        math.ceil(len(failures.emails) / per_emails) if per_emails else 0,
    )


def account_url(ui_url: str, account: Account) -> str:
    """The account's page in Zuora's UI; its Notification History tab has Zuora's own Resend."""
    return (
        f"{ui_url.rstrip('/')}/apps/CustomerAccount.do?method=view&id={quote(account.id, safe='')}"
    )


def build_failures_card(
    failures: AccountFailures, *, ui_url: str, page: int = 0, notice: str | None = None
) -> SlackMessage:
    """The card for one account and window; `notice` is mrkdwn the caller built (e.g. "Refreshed")."""
    if not failures.callouts and not failures.emails:
        return _empty_card(failures, ui_url=ui_url, notice=notice)
    # Newest first whatever order the rows came in (a stable sort keeps equal times in place).
    failures = replace(
        failures,
        callouts=sorted(failures.callouts, key=lambda c: c.create_time, reverse=True),
        emails=sorted(failures.emails, key=lambda e: e.send_time, reverse=True),
    )
    page = min(max(page, 0), page_count(failures) - 1, MAX_PAGE)
    blocks = fit(
        lambda room: _card_blocks(failures, ui_url=ui_url, page=page, notice=notice, room=room),
        _ROOMS,
    )
    return finish(_fallback_text(failures), blocks)


def _fallback_text(failures: AccountFailures) -> str:
    account = failures.account
    return (
        f"{escape_truncated(account.name.strip() or account.number, 100)} "
        f"({escape_truncated(account.number, 64)}): "
        f"{plural(len(failures.callouts), 'failed callout')}, "
        f"{plural(len(failures.emails), 'failed email')} "
        f"in the last {escape(failures.window.label)}"
    )


def _empty_card(failures: AccountFailures, *, ui_url: str, notice: str | None) -> SlackMessage:
    account, window = failures.account, failures.window
    number, label = escape_truncated(account.number, 64), escape(window.label)
    text = f"No failed notifications for {number} in the last {label}"
    blocks: list[dict[str, Any]] = []
    if notice:
        blocks.append(context(truncate_mrkdwn(notice, NOTICE_CHARS)))
    blocks.append(
        section(
            f":white_check_mark: No failed notifications for *{escape_truncated(account.name, 80)}* "
            f"({number}) in the last {label} "
            f"({date_token(window.start)} – {date_token(window.end)}).",
            accessory=button("Refresh", ActionId.REFRESH, value=card_ref_for(account, window)),
        )
    )
    blocks.append(context(f"Notification history: {_zuora_link(ui_url, account, 'Open in Zuora')}"))
    return finish(text, blocks)


def _card_blocks(
    failures: AccountFailures, *, ui_url: str, page: int, notice: str | None, room: _Room
) -> list[dict[str, Any]]:
    account, window = failures.account, failures.window
    pages = page_count(failures)
    card = card_ref_for(account, window, page)
    per_callouts, per_emails = page_plan(failures)
    callouts = failures.callouts[page * per_callouts : (page + 1) * per_callouts]
    emails = failures.emails[page * per_emails : (page + 1) * per_emails]

    name = truncate(account.name.strip() or account.number, room.name)
    blocks: list[dict[str, Any]] = [header(f"Failed notifications · {name} ({account.number})")]
    if notice:
        blocks.append(context(truncate_mrkdwn(notice, NOTICE_CHARS)))
    blocks.append(_summary(failures, ui_url=ui_url))
    missing_ids = any(_resend_id(c.id) is None for c in callouts) or any(
        _resend_id(e.id) is None for e in emails
    )
    if missing_ids or failures.ids_pending or failures.ids_error:
        rows: list[CalloutHistory | EmailHistory] = [*callouts, *emails]
        problems = [row.id_problem for row in rows if not row.id and row.id_problem]
        blocks.append(context(_ids_note(failures, ui_url=ui_url, room=room, problems=problems)))

    if callouts:
        first = page * per_callouts
        blocks.append(divider())
        blocks.append(
            section(f"*Failed callouts* · {_span(first, len(callouts), len(failures.callouts))}")
        )
        for offset, callout in enumerate(callouts):
            blocks.extend(_callout_row(callout, first + offset + 1, card=card, room=room))

    resendable_emails: list[tuple[int, EmailHistory, str]] = []
    if emails:
        first = page * per_emails
        blocks.append(divider())
        blocks.append(
            section(f"*Failed emails* · {_span(first, len(emails), len(failures.emails))}")
        )
        for offset, email in enumerate(emails):
            number = first + offset + 1
            history_id = _resend_id(email.id)
            blocks.append(_email_row(email, number, history_id, card=card, room=room))
            if history_id is not None:
                resendable_emails.append((number, email, history_id))
        blocks.extend(_email_checkboxes(resendable_emails, page=page, notice=notice, room=room))

    blocks.append(divider())
    blocks.extend(
        _card_actions(
            failures, card=card, page=page, pages=pages, has_selection=bool(resendable_emails)
        )
    )
    return blocks


def _summary(failures: AccountFailures, *, ui_url: str) -> dict[str, Any]:
    window = failures.window
    text = (
        f"*{plural(len(failures.callouts), 'failed callout')}* and "
        f"*{plural(len(failures.emails), 'failed email')}* in the last {escape(window.label)}\n"
        f"{date_token(window.start)} – {date_token(window.end)}"
    )
    return section(
        text,
        accessory=button(
            "Open in Zuora", ActionId.OPEN_LINK, url=account_url(ui_url, failures.account)
        ),
    )


def _ids_note(
    failures: AccountFailures, *, ui_url: str, room: _Room, problems: Sequence[str] = ()
) -> str:
    zuora = _zuora_link(ui_url, failures.account, "Zuora")
    if failures.ids_pending:
        # Slack lets no one replace a slash command's card later: a click on Refresh redraws it.
        return (
            ":hourglass_flowing_sand: Resend IDs are still loading… "
            "press *Refresh* in a moment for the resend buttons."
        )
    if failures.ids_error:
        return (
            f":warning: Couldn't load resend IDs ({escape_truncated(failures.ids_error, room.note)}); "
            f"resend from {zuora}."
        )
    if problems:  # the matcher never guesses: say why each row went without an ID
        counts = Counter(problems)
        reasons = "; ".join(
            f"{plural(count, 'row')}: {escape_truncated(reason, 160)}"
            for reason, count in counts.most_common(3)
        )
        return f":information_source: No resend ID for {reasons}. Open them in {zuora}."
    return f":information_source: Zuora gave no resend ID for some rows; resend those from {zuora}."


def _callout_row(
    callout: CalloutHistory, number: int, *, card: CardRef, room: _Room
) -> list[dict[str, Any]]:
    attempts = callout.attempted_num
    tail = f" · {plural(attempts, 'attempt')}" if attempts is not None else ""
    target = redact_url(callout.request_url) if callout.request_url else "(no URL)"
    text = (
        f"*{number}.* *{escape_truncated(callout.event_name, room.event)}* · "
        f"{date_token(callout.create_time)}\n"
        f"{code(callout.request_method or 'POST', 8)} {code(target, room.url)} → "
        f"{response_code_text(callout.response_code)}{tail}"
    )
    event_id = callout.event_id
    details = CalloutRef(
        card=card,
        i=_resend_id(callout.id),
        t=int(callout.create_time.timestamp()),
        ev=event_id if event_id is not None and len(event_id) <= 64 else None,
    )
    elements = [button("Details", ActionId.CALLOUT_DETAILS, value=details)]
    history_id = _resend_id(callout.id)
    if history_id is not None and room.row_buttons:
        label = _label(f"{callout.event_name} → {target}", room)
        elements.append(
            button(
                "Resend",
                ActionId.RESEND_CALLOUT,
                value=ResendRef(k="callout", ids=[history_id], card=card, lb=label),
            )
        )
    return [section(text), actions(elements)]


def _email_row(
    email: EmailHistory, number: int, history_id: str | None, *, card: CardRef, room: _Room
) -> dict[str, Any]:
    recipient = escape_truncated(email.to_email or "(no recipient)", room.recipient)
    lines = [
        f"*{number}.* *{escape_truncated(email.event_name, room.event)}* · "
        f"{date_token(email.send_time)} · to {recipient}"
    ]
    if room.subject and email.subject:
        lines.append(f"Subject: {escape_truncated(email.subject, room.subject)}")
    error = email.error_message or email.result or "Failed"
    lines.append(f":x: {escape_truncated(error, room.error)}")
    accessory = None
    if history_id is not None and room.row_buttons:
        label = _label(f"{email.event_name} → {email.to_email or '?'}", room)
        accessory = button(
            "Resend",
            ActionId.RESEND_EMAIL,
            value=ResendRef(k="email", ids=[history_id], card=card, lb=label),
        )
    return section("\n".join(lines), accessory=accessory)


def _email_checkboxes(
    rows: list[tuple[int, EmailHistory, str]], *, page: int, notice: str | None, room: _Room
) -> list[dict[str, Any]]:
    if not rows:
        return []
    # A block_id that changes with the content, so Slack drops stale ticks when the card is redrawn.
    digest = hashlib.sha256(
        "\n".join([notice or "", *(history_id for _, _, history_id in rows)]).encode()
    ).hexdigest()[:8]
    blocks = []
    for start in range(0, len(rows), 10):
        options = [
            Option(
                value=option_value("email", history_id),
                text=plain(
                    truncate(f"{number}. {email.to_email or '?'} · {email.event_name}", room.option)
                ),
            )
            for number, email, history_id in rows[start : start + 10]
        ]
        element = CheckboxesElement(action_id=ActionId.SELECT_EMAILS.value, options=options)
        blocks.append(actions([element], block_id=f"emails_{page}_{start // 10}_{digest}"))
    return blocks


def _card_actions(
    failures: AccountFailures, *, card: CardRef, page: int, pages: int, has_selection: bool
) -> list[dict[str, Any]]:
    account = failures.account
    elements = []
    if has_selection:
        elements.append(
            button("Resend selected", ActionId.RESEND_SELECTED, value=card, style="primary")
        )
    resendable = sum(1 for email in failures.emails if _resend_id(email.id) is not None)
    if resendable and not failures.ids_pending:
        noun = plural(resendable, "failed email")
        who = f"{truncate(account.name, 40)} ({truncate(account.number, 24)})"
        elements.append(
            button(
                f"Resend all {noun}",
                ActionId.RESEND_ALL,
                value=ResendAllRef(card=card, count=resendable),
                style="danger",
                confirm=confirm_dialog(
                    title=f"Resend {noun}?",
                    text=f"Resend all {noun} for {who}? Zuora sends each one to its recipients again.",
                    confirm=f"Resend {resendable}",
                ),
            )
        )
    elements.append(button("Refresh", ActionId.REFRESH, value=card))
    if page > 0:
        elements.append(
            button(
                "◂ Previous", ActionId.PAGE, value=card_ref_for(account, failures.window, page - 1)
            )
        )
    blocks = [actions(elements, block_id="card_actions")]
    if pages > 1:
        # The card's one page indicator. Next sits in this block, not beside Previous: Slack wants
        # action_ids unique per block, and both are PAGE.
        has_next = page < min(pages - 1, MAX_PAGE)
        blocks.append(
            section(
                f"*Page {page + 1} of {pages}*",
                accessory=button(
                    "Next ▸", ActionId.PAGE, value=card_ref_for(account, failures.window, page + 1)
                )
                if has_next
                else None,
                block_id="card_page",
            )
        )
    return blocks


def _label(text: str, room: _Room) -> str | None:
    """A row's label for the outcome card (raw text; the outcome escapes it)."""
    return truncate(text, room.label) if room.label else None


def _span(first: int, shown: int, total: int) -> str:
    if shown == total:
        return f"{total}"
    return f"{first + 1}–{first + shown} of {total}"


def _resend_id(history_id: str | None) -> str | None:
    """The history id if the resend API (and our button values) can take it, else None."""
    return history_id if is_history_id(history_id) else None


def _zuora_link(ui_url: str, account: Account, label: str) -> str:
    try:
        return link(account_url(ui_url, account), label)
    except ValueError:
        return escape(label)
