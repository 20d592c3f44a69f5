"""The failures card: an account's failed callouts and emails, 20 rows a page, with resend controls.

A row is one section block: its text, and its actions in the accessory (a Resend button for an email,
an overflow menu of Resend / Details / Open in Zuora for a callout). Row controls carry compact values
and the card rides in the row's block_id (see `bot.core.actions`), so more rows fit Slack's budget.
Any data fits Slack's limits: every text is cut to a budget, and when the JSON is still too large the
card is rebuilt with smaller budgets (`_ROOMS`): first shorter texts, then the per-row controls give
way to one "Callout details…" menu (the checkboxes and "Resend selected" stay), then that menu too.
A row is never dropped: paging starts only after 20 rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from slack_sdk.models.blocks import (
    ButtonElement,
    CheckboxesElement,
    Option,
    OverflowMenuElement,
    StaticSelectElement,
)

from bot.core.actions import (
    ActionId,
    CardRef,
    ResendAllRef,
    RowAction,
    card_value,
    option_value,
    row_block_id,
)
from bot.core.secrets_mask import mask_url
from bot.failures.results import AccountFailures, card_ref_for
from bot.slack.elements import (
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
from bot.slack.message import MAX_CHECKBOX_OPTIONS, SlackMessage
from bot.slack.mrkdwn import (
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

ROWS_PER_PAGE = 20  # callouts and emails together
NOTICE_CHARS = 300
MAX_OPTION_CHARS = 75  # Slack's limit on an option's text (slack-platform.md)
MAX_PAGE = 1000  # CardRef.p's upper bound
HEADER_CHARS = 150


Controls = Literal["all", "details", "none"]


@dataclass(frozen=True)
class _Room:
    """How many characters each piece of a row may take, and which row controls it keeps."""

    event: int
    url: int
    recipient: int
    subject: int  # 0 leaves the subject out
    error: int
    option: int  # checkbox option text (Slack allows 75)
    note: int  # the resend-ID error note and a row's id problem
    name: int = 80
    notice: int = 300  # the caller's notice ("Refreshed by …")
    label: int = 0  # the label a row's Resend carries for the outcome card (0: none)
    zuora_links: bool = False  # "Open in Zuora" on rows that can't be resent here
    # all: row Resend buttons and callout menus; details: no row controls, one "Callout details…"
    # menu for the page's callouts (the checkboxes resend); none: neither. Checkboxes stay in all.
    controls: Controls = "all"


# Tried in order until the blocks fit the JSON budget. A row's controls cost ~350 characters of JSON
# before any text, so a page of 20 rows cannot keep Resend buttons, checkboxes and readable text at
# once: up to ~15 ordinary rows keep everything, 20 keep text, checkboxes and Details. The last
# room fits any data (see the tests).
_ROOMS = (
    _Room(
        event=48,
        url=60,
        recipient=60,
        subject=80,
        error=120,
        option=44,
        note=160,
        label=40,
        zuora_links=True,
    ),
    _Room(
        event=40, url=48, recipient=48, subject=0, error=100, option=40, note=120, zuora_links=True
    ),
    _Room(event=32, url=40, recipient=40, subject=0, error=60, option=36, note=80, name=60),
    _Room(event=24, url=28, recipient=28, subject=0, error=40, option=28, note=48, name=60),
    _Room(
        event=40,
        url=48,
        recipient=48,
        subject=0,
        error=100,
        option=28,
        note=120,
        controls="details",
    ),
    _Room(
        event=32,
        url=40,
        recipient=40,
        subject=0,
        error=64,
        option=28,
        note=80,
        name=60,
        controls="details",
    ),
    _Room(
        event=24,
        url=28,
        recipient=28,
        subject=0,
        error=40,
        option=28,
        note=48,
        name=60,
        controls="details",
    ),
    _Room(
        event=16,
        url=16,
        recipient=20,
        subject=0,
        error=16,
        option=20,
        note=30,
        name=24,
        controls="none",
    ),
    _Room(
        event=8,
        url=8,
        recipient=12,
        subject=0,
        error=8,
        option=12,
        note=16,
        name=16,
        notice=80,
        controls="none",
    ),
    _Room(
        event=4,
        url=4,
        recipient=6,
        subject=0,
        error=4,
        option=8,
        note=8,
        name=8,
        notice=40,
        controls="none",
    ),
)


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
    plan = page_slice(len(failures.callouts), len(failures.emails), page)
    callouts = failures.callouts[plan.callouts]
    emails = failures.emails[plan.emails]
    rows = _Rows(
        card=card,
        account_url=_safe_account_url(ui_url, account),
        room=room,
        ids_pending=failures.ids_pending,
    )

    blocks: list[dict[str, Any]] = [header(_header_text(failures, plan, room=room))]
    if notice:
        blocks.append(context(truncate_mrkdwn(notice, min(NOTICE_CHARS, room.notice))))
    blocks.append(_summary(failures, ui_url=ui_url))
    missing_ids = any(_resend_id(c.id) is None for c in callouts) or any(
        _resend_id(e.id) is None for e in emails
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
            history_id = _resend_id(callout.id)
            if history_id is not None:
                callout_boxes.append((number, history_id, _callout_option(callout)))
        blocks.extend(_checkboxes("callout", callout_boxes, page=page, notice=notice, room=room))
        if room.controls == "details":
            blocks.append(_details_menu(callouts, first=first, card=card, room=room))

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
            history_id = _resend_id(email.id)
            if history_id is not None:
                email_boxes.append((number, history_id, _email_option(email)))
        blocks.extend(_checkboxes("email", email_boxes, page=page, notice=notice, room=room))

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
        )
    )
    return blocks


def _header_text(failures: AccountFailures, plan: PageSlice, *, room: _Room) -> str:
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
    if problems:  # the matcher never guesses; each such row says why
        return (
            f":information_source: {plural(len(problems), 'row')} without a resend ID say why; "
            f"resend those from {zuora}."
        )
    return f":information_source: Zuora gave no resend ID for some rows; resend those from {zuora}."


@dataclass(frozen=True)
class _Rows:
    """Builds row sections for one card: text, and the row's actions in its accessory."""

    card: CardRef
    account_url: str | None
    room: _Room
    ids_pending: bool

    def callout(self, callout: CalloutHistory, number: int) -> dict[str, Any]:
        """One callout row: what was called and what came back; Resend / Details / Zuora menu."""
        room = self.room
        attempts = callout.attempted_num
        tail = f" · {plural(attempts, 'attempt')}" if attempts is not None else ""
        target = mask_url(callout.request_url) if callout.request_url else "(no URL)"
        lines = [
            f"{number}. *{escape_truncated(callout.event_name, room.event)}* · "
            f"{date_token(callout.create_time)}",
            f"{code(callout.request_method or 'POST', 8)} {code(target, room.url)} → "
            f"{response_code_text(callout.response_code)}{tail}",
        ]
        history_id = _resend_id(callout.id)
        lines.extend(self._no_id_line(callout.id_problem, history_id))
        details = RowAction(
            verb="details",
            created=int(callout.create_time.timestamp()),
            event_id=callout.event_id,
        )
        options: list[tuple[str, RowAction, str | None]] = []
        if history_id is not None and room.controls == "all":
            resend = RowAction(
                verb="resend",
                kind="callout",
                history_id=history_id,
                label=_label(_callout_label(callout), room),
            )
            options.append(("Resend", resend, None))
        options.append(("Details", details, None))
        if self._links(history_id):
            options.append(("Open in Zuora", RowAction(verb="open"), self.account_url))
        if room.controls != "all":  # Details moves to the card's one menu (`_details_menu`)
            return section("\n".join(lines))
        block_id = row_block_id(self.card, "callout", number)
        accessory: ButtonElement | OverflowMenuElement
        if len(options) == 1:
            accessory = button("Details", ActionId.CALLOUT_DETAILS, value=details.encode())
        else:
            accessory = OverflowMenuElement(
                action_id=ActionId.ROW_MENU.value,
                options=[
                    Option(text=plain(text), value=action.encode(), url=url)
                    for text, action, url in options
                ],
            )
        return section("\n".join(lines), accessory=accessory, block_id=block_id)

    def email(self, email: EmailHistory, number: int) -> dict[str, Any]:
        """One email row: event, time, recipient, subject and Zuora's error; a Resend button."""
        room = self.room
        recipient = escape_truncated(email.to_email or "(no recipient)", room.recipient)
        lines = [
            f"{number}. *{escape_truncated(email.event_name, room.event)}* · "
            f"{date_token(email.send_time)} · to {recipient}"
        ]
        if room.subject and email.subject:
            lines.append(f"Subject: {escape_truncated(email.subject, room.subject)}")
        error = email.error_message or email.result or "Failed"
        lines.append(f":x: {escape_truncated(error, room.error)}")
        history_id = _resend_id(email.id)
        lines.extend(self._no_id_line(email.id_problem, history_id))
        accessory = None
        block_id = None
        if history_id is not None and room.controls == "all":
            resend = RowAction(
                verb="resend",
                kind="email",
                history_id=history_id,
                label=_label(_email_label(email), room),
            )
            accessory = button("Resend", ActionId.RESEND_EMAIL, value=resend.encode())
            block_id = row_block_id(self.card, "email", number)
        elif self._links(history_id) and self.account_url is not None and room.controls != "none":
            accessory = button("Open in Zuora", ActionId.OPEN_LINK, url=self.account_url)
        return section("\n".join(lines), accessory=accessory, block_id=block_id)

    def _links(self, history_id: str | None) -> bool:
        """Whether a row gets its own "Open in Zuora": where it can't be resent here, if room."""
        if self.account_url is None or not self.room.zuora_links:
            return False
        return history_id is None and not self.ids_pending

    def _no_id_line(self, problem: str | None, history_id: str | None) -> list[str]:
        if history_id is not None or not problem:
            return []
        return [f":information_source: No resend ID: {escape_truncated(problem, self.room.note)}"]


def _callout_label(callout: CalloutHistory) -> str:
    """`Invoice Posted → hooks.example.com`: the event and the host it went to."""
    host = urlsplit(redact_url(callout.request_url)).netloc if callout.request_url else ""
    return f"{callout.event_name} → {host or '?'}"


def _email_label(email: EmailHistory) -> str:
    """The recipient, which tells failed emails apart best (the event shows in the row)."""
    return email.to_email or f"{email.event_name} → ?"


def _callout_option(callout: CalloutHistory) -> str:
    """A callout's checkbox label, most telling part first: `500 /zuora/invoice · Invoice Posted`
    (response code and endpoint path; the host is the same on most rows and shows in the row)."""
    path = (urlsplit(redact_url(callout.request_url)).path or "/") if callout.request_url else ""
    code = (callout.response_code or "").strip()
    no_answer = not code or (code.lstrip("-").isdigit() and int(code) <= 0)
    answer = "no response" if no_answer else code
    return _one_line(f"{answer} {path or '(no URL)'} · {callout.event_name}")


def _email_option(email: EmailHistory) -> str:
    """An email's checkbox label: `Invoice INV00123 is available · Invoice Posted` (the subject
    first: it names the invoice or payment; the recipient is often the same on every row)."""
    if email.subject and email.subject.strip():
        return _one_line(f"{email.subject} · {email.event_name}")
    return _one_line(f"{email.event_name} → {email.to_email or '?'}")


def _one_line(text: str) -> str:
    """Whitespace (newlines, tabs) folded to single spaces: an option label is one line."""
    return " ".join(text.split())


def _option_text(number: int, label: str, room: _Room) -> str:
    """`12. label`, cut to the room and to Slack's 75 characters of option text (plain_text,
    which Slack never parses, so Zuora's text needs no mrkdwn escaping here)."""
    return truncate(f"{number}. {label}", min(room.option, MAX_OPTION_CHARS))


def _details_menu(
    callouts: Sequence[CalloutHistory], *, first: int, card: CardRef, room: _Room
) -> dict[str, Any]:
    """One select of the page's callouts for Details, when a menu per row costs too much.

    It is a row control like the others (ROW_MENU, compact values); row 0 of the block_id names
    the card itself.
    """
    options = [
        Option(
            text=plain(_option_text(first + offset + 1, _callout_option(callout), room)),
            value=RowAction(
                verb="details",
                created=int(callout.create_time.timestamp()),
                event_id=callout.event_id,
            ).encode(),
        )
        for offset, callout in enumerate(callouts)
    ]
    menu = StaticSelectElement(
        action_id=ActionId.ROW_MENU.value,
        placeholder=plain("Callout details…"),
        options=options,
    )
    return actions([menu], block_id=row_block_id(card, "callout", 0))


def _checkboxes(
    kind: Literal["email", "callout"],
    rows: Sequence[tuple[int, str, str]],
    *,
    page: int,
    notice: str | None,
    room: _Room,
) -> list[dict[str, Any]]:
    """Checkbox groups (10 a group) for the rows with resend ids; "Resend selected" reads them."""
    if not rows:
        return []
    # A block_id that changes with the content, so Slack drops stale ticks when the card is redrawn.
    digest = hashlib.sha256(
        "\n".join([notice or "", *(history_id for _, history_id, _ in rows)]).encode()
    ).hexdigest()[:8]
    action_id = ActionId.SELECT_EMAILS if kind == "email" else ActionId.SELECT_CALLOUTS
    blocks = []
    for start in range(0, len(rows), MAX_CHECKBOX_OPTIONS):
        options = [
            Option(
                value=option_value(kind, history_id),
                text=plain(_option_text(number, label, room)),
            )
            for number, history_id, label in rows[start : start + MAX_CHECKBOX_OPTIONS]
        ]
        element = CheckboxesElement(action_id=action_id.value, options=options)
        block_id = f"{kind}s_{page}_{start // MAX_CHECKBOX_OPTIONS}_{digest}"
        blocks.append(actions([element], block_id=block_id))
    return blocks


def _card_actions(
    failures: AccountFailures,
    *,
    card: CardRef,
    page: int,
    pages: int,
    has_selection: bool,
    name_chars: int,
) -> list[dict[str, Any]]:
    account = failures.account
    elements = []
    if has_selection:
        elements.append(
            button(
                "Resend selected", ActionId.RESEND_SELECTED, value=card_value(card), style="primary"
            )
        )
    resendable = sum(1 for email in failures.emails if _resend_id(email.id) is not None)
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
                    text=f"Resend all {noun} for {who}? Zuora sends each one to its recipients again.",
                    confirm=f"Resend {resendable}",
                ),
            )
        )
    elements.append(button("Refresh", ActionId.REFRESH, value=card_value(card)))
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


def _label(text: str, room: _Room) -> str | None:
    """A row's label for the outcome card (raw text; the outcome escapes it)."""
    return truncate(text, room.label) if room.label else None


def _safe_account_url(ui_url: str, account: Account) -> str | None:
    """The account's Zuora URL if it is one a button may carry (http(s), within 3,000 chars)."""
    url = account_url(ui_url, account)
    return url if url.startswith(("https://", "http://")) and len(url) <= 3000 else None


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
