"""The failures card: an account's failed callouts and emails, 20 rows a page, with resend controls.

A row is one section block: its text, and its actions in the accessory (a Resend button for an email,
an overflow menu of Resend / Details / Open in Zuora for a callout). Row controls carry compact values
and the card rides in the row's block_id (see `bot.core.actions`), so more rows fit Slack's budget.
Any data fits Slack's limits: every text is cut to a budget, and when the JSON is still too large the
card is rebuilt with smaller budgets (`bot.failures.card_rows.ROOMS`, beside the row builders): first
shorter texts, then the per-row controls give way to one "Callout details…" menu (the checkboxes and
"Resend selected" stay), then that menu too. A row is never dropped: paging starts only after 20 rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from bot.core.actions import (
    ActionId,
    CardRef,
    ResendAllRef,
    card_value,
)
from bot.failures.card_rows import (
    ROOMS,
    Room,
    Rows,
    callout_option,
    checkboxes,
    details_menu,
    email_option,
    resend_id,
)
from bot.failures.preview import Resent, email_preview, preview_text
from bot.failures.results import AccountFailures, card_ref_for
from bot.failures.retry_rows import keeps_resend
from bot.slack.elements import (
    actions,
    button,
    confirm_dialog,
    context,
    divider,
    finish,
    fit,
    header,
    plural,
    section,
)
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import (
    date_token,
    escape,
    escape_truncated,
    link,
    truncate,
    truncate_mrkdwn,
)
from bot.zuora.models import Account, CalloutHistory, EmailHistory

ROWS_PER_PAGE = 20  # callouts and emails together
NOTICE_CHARS = 300
MAX_PAGE = 1000  # CardRef.p's upper bound
HEADER_CHARS = 150


@dataclass(frozen=True)
class PageSlice:
    """Which callouts and emails (offsets into the newest-first lists) one page shows."""

    callout_start: int
    callout_count: int
    email_start: int
    email_count: int

    @property
    def callouts(self) -> slice:
        """The page's callouts as a slice of the list."""
        return slice(self.callout_start, self.callout_start + self.callout_count)

    @property
    def emails(self) -> slice:
        """The page's emails as a slice of the list."""
        return slice(self.email_start, self.email_start + self.email_count)

    @property
    def rows(self) -> int:
        """Rows on the page."""
        return self.callout_count + self.email_count

    @property
    def before(self) -> int:
        """Rows on the pages before this one."""
        return self.callout_start + self.email_start


def page_slice(callouts: int, emails: int, page: int) -> PageSlice:
    """The rows of page `page` (0-based): 20 a page, shared half and half while both kinds last.

    A kind with fewer rows left than its half lends the rest to the other, so every page but the
    last is full and each row is on exactly one page.
    """
    half = ROWS_PER_PAGE // 2
    c_start = e_start = 0
    for _ in range(page):
        c_take, e_take = _takes(callouts - c_start, emails - e_start, half)
        c_start, e_start = c_start + c_take, e_start + e_take
    c_take, e_take = _takes(callouts - c_start, emails - e_start, half)
    return PageSlice(c_start, c_take, e_start, e_take)


def _takes(callouts_left: int, emails_left: int, half: int) -> tuple[int, int]:
    c_take = min(callouts_left, max(half, ROWS_PER_PAGE - emails_left))
    return c_take, min(emails_left, ROWS_PER_PAGE - c_take)


def page_count(failures: AccountFailures) -> int:
    """How many pages the card has (at least one); every page but the last holds 20 rows."""
    total = len(failures.callouts) + len(failures.emails)
    return max(1, -(-total // ROWS_PER_PAGE))


def account_url(ui_url: str, account: Account) -> str:
    """The account's page in Zuora's UI; its Notification History tab has Zuora's own Resend."""
    return (
        f"{ui_url.rstrip('/')}/apps/CustomerAccount.do?method=view&id={quote(account.id, safe='')}"
    )


def build_failures_card(
    failures: AccountFailures,
    *,
    ui_url: str,
    page: int = 0,
    notice: str | None = None,
    resent: Sequence[Resent] = (),
) -> SlackMessage:
    """The card for one account and window; `notice` is mrkdwn the caller built (e.g. "Refreshed");
    `resent` (rows another resend holds) feeds the Resend all preview."""
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
        lambda room: _card_blocks(
            failures, ui_url=ui_url, page=page, notice=notice, room=room, resent=resent
        ),
        ROOMS,
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
    failures: AccountFailures,
    *,
    ui_url: str,
    page: int,
    notice: str | None,
    room: Room,
    resent: Sequence[Resent] = (),
) -> list[dict[str, Any]]:
    account, window = failures.account, failures.window
    pages = page_count(failures)
    card = card_ref_for(account, window, page)
    plan = page_slice(len(failures.callouts), len(failures.emails), page)
    callouts = failures.callouts[plan.callouts]
    emails = failures.emails[plan.emails]
    rows = Rows(
        card=card,
        account_url=_safe_account_url(ui_url, account),
        room=room,
        ids_pending=failures.ids_pending,
        retry=failures.retry,
        remembered=failures.remembered,
    )

    blocks: list[dict[str, Any]] = [header(_header_text(failures, plan, room=room))]
    if notice:
        blocks.append(context(truncate_mrkdwn(notice, min(NOTICE_CHARS, room.notice))))
    blocks.append(_summary(failures, ui_url=ui_url))
    missing_ids = any(resend_id(c.id) is None for c in callouts) or any(
        resend_id(e.id) is None for e in emails
    )
    if missing_ids or failures.ids_pending or failures.ids_error:
        on_page: list[CalloutHistory | EmailHistory] = [*callouts, *emails]
        problems = [row.id_problem for row in on_page if not row.id and row.id_problem]
        blocks.append(context(_ids_note(failures, ui_url=ui_url, room=room, problems=problems)))

    callout_boxes: list[tuple[int, str, str]] = []  # (row number, history id, label)
    if callouts:
        first = plan.callout_start
        blocks.append(divider())
        blocks.append(
            section(f"*Failed callouts* · {_span(first, len(callouts), len(failures.callouts))}")
        )
        for offset, callout in enumerate(callouts):
            number = first + offset + 1
            blocks.append(rows.callout(callout, number))
            history_id = resend_id(callout.id)
            if history_id is not None and keeps_resend(callout, failures.retry):
                callout_boxes.append((number, history_id, callout_option(callout)))
        blocks.extend(checkboxes("callout", callout_boxes, page=page, notice=notice, room=room))
        if room.controls == "details":
            blocks.append(details_menu(callouts, first=first, card=card, room=room))

    email_boxes: list[tuple[int, str, str]] = []
    if emails:
        first = plan.email_start
        blocks.append(divider())
        blocks.append(
            section(f"*Failed emails* · {_span(first, len(emails), len(failures.emails))}")
        )
        for offset, email in enumerate(emails):
            number = first + offset + 1
            blocks.append(rows.email(email, number))
            history_id = resend_id(email.id)
            if history_id is not None:
                email_boxes.append((number, history_id, email_option(email)))
        blocks.extend(checkboxes("email", email_boxes, page=page, notice=notice, room=room))

    blocks.append(divider())
    has_selection = bool(callout_boxes or email_boxes)
    blocks.extend(
        _card_actions(
            failures,
            card=card,
            page=page,
            pages=pages,
            has_selection=has_selection,
            name_chars=min(40, room.name),
            resent=resent,
        )
    )
    return blocks


def _header_text(failures: AccountFailures, plan: PageSlice, *, room: Room) -> str:
    """`Failed notifications · Acme (A1)`, and `· 20 of 212` when the rows span several pages."""
    account = failures.account
    total = len(failures.callouts) + len(failures.emails)
    tail = ""
    if plan.rows < total:
        first, last = plan.before + 1, plan.before + plan.rows
        shown = f"{last}" if first == 1 else f"{first}–{last}"
        tail = f" · {shown} of {total}"
    name = truncate(account.name.strip() or account.number, room.name)
    # The counts always show: the name gives way first.
    return (
        truncate(f"Failed notifications · {name} ({account.number})", HEADER_CHARS - len(tail))
        + tail
    )


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
    failures: AccountFailures, *, ui_url: str, room: Room, problems: Sequence[str] = ()
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
    if problems:  # the matcher never guesses; each such row says why
        return (
            f":information_source: {plural(len(problems), 'row')} without a resend ID say why; "
            f"resend those from {zuora}."
        )
    return f":information_source: Zuora gave no resend ID for some rows; resend those from {zuora}."


def _card_actions(
    failures: AccountFailures,
    *,
    card: CardRef,
    page: int,
    pages: int,
    has_selection: bool,
    name_chars: int,
    resent: Sequence[Resent] = (),
) -> list[dict[str, Any]]:
    account = failures.account
    elements = []
    if has_selection:
        elements.append(
            button(
                "Resend selected", ActionId.RESEND_SELECTED, value=card_value(card), style="primary"
            )
        )
    resendable = sum(1 for email in failures.emails if resend_id(email.id) is not None)
    if resendable and not failures.ids_pending:
        noun = plural(resendable, "failed email")
        who = f"{truncate(account.name, name_chars)} ({truncate(account.number, 24)})"
        elements.append(
            button(
                f"Resend all {noun}",
                ActionId.RESEND_ALL,
                value=ResendAllRef(card=card, count=resendable),
                style="danger",
                confirm=confirm_dialog(
                    title=f"Resend {noun}?",
                    text=preview_text(
                        email_preview(failures.emails, resent=resent),
                        lead=f"Resend all {noun} for {who}? Zuora sends each one to its "
                        "recipients again.",
                    ),
                    confirm=f"Resend {resendable}",
                ),
            )
        )
    elements.append(button("Refresh", ActionId.REFRESH, value=card_value(card)))
    # Watch: DM me when this account fails anew (handlers.watches; open to every reader).
    elements.append(button("Watch", ActionId.WATCH_ACCOUNT, value=card_value(card)))
    if page > 0:
        elements.append(
            button(
                "◂ Previous",
                ActionId.PAGE,
                value=card_value(card_ref_for(account, failures.window, page - 1)),
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
                    "Next ▸",
                    ActionId.PAGE,
                    value=card_value(card_ref_for(account, failures.window, page + 1)),
                )
                if has_next
                else None,
                block_id="card_page",
            )
        )
    return blocks


def _safe_account_url(ui_url: str, account: Account) -> str | None:
    """The account's Zuora URL if it is one a button may carry (http(s), within 3,000 chars)."""
    url = account_url(ui_url, account)
    return url if url.startswith(("https://", "http://")) and len(url) <= 3000 else None


def _span(first: int, shown: int, total: int) -> str:
    if shown == total:
        return f"{total}"
    return f"{first + 1}–{first + shown} of {total}"


def _zuora_link(ui_url: str, account: Account, label: str) -> str:
    try:
        return link(account_url(ui_url, account), label)
    except ValueError:
        return escape(label)
