"""The failures card's rows: a section per callout or email with its controls, the checkbox groups,
the callout details menu, and the budgets (`ROOMS`) the card tries until its JSON fits Slack's limits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

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
    RowAction,
    option_value,
    row_block_id,
)
from bot.core.secrets_mask import mask_url
from bot.failures.retry_policy import RetryRule
from bot.failures.retry_rows import retry_line, retry_state
from bot.slack.elements import (
    actions,
    button,
    plain,
    plural,
    response_code_text,
    section,
)
from bot.slack.message import MAX_CHECKBOX_OPTIONS
from bot.slack.mrkdwn import (
    code,
    date_token,
    escape_truncated,
    redact_url,
    truncate,
)
from bot.zuora.guard import is_history_id
from bot.zuora.models import CalloutHistory, EmailHistory

MAX_OPTION_CHARS = 75  # Slack's limit on an option's text (slack-platform.md)


Controls = Literal["all", "details", "none"]


@dataclass(frozen=True)
class Room:
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
ROOMS = (
    Room(
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
    Room(
        event=40, url=48, recipient=48, subject=0, error=100, option=40, note=120, zuora_links=True
    ),
    Room(event=32, url=40, recipient=40, subject=0, error=60, option=36, note=80, name=60),
    Room(event=24, url=28, recipient=28, subject=0, error=40, option=28, note=48, name=60),
    Room(
        event=40,
        url=48,
        recipient=48,
        subject=0,
        error=100,
        option=28,
        note=120,
        controls="details",
    ),
    Room(
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
    Room(
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
    Room(
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
    Room(
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
    Room(
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
class Rows:
    """Builds row sections for one card: text, and the row's actions in its accessory."""

    card: CardRef
    account_url: str | None
    room: Room
    ids_pending: bool
    retry: RetryRule | None = None  # judges Zuora's own retries (None: every row keeps Resend)
    remembered: Mapping[str, str] = field(default_factory=dict)  # id -> "resent by @u …"

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
        history_id = resend_id(callout.id)
        lines.extend(self._no_id_line(callout.id_problem, history_id))
        state = retry_state(callout, self.retry)
        retry = retry_line(state, short=room.note < 80)
        lines.extend([retry] if retry else [])
        blocked = state is not None and not state.resendable  # Zuora retries it / invalid body
        lines.extend(self._resent_line(history_id))
        details = RowAction(
            verb="details",
            created=int(callout.create_time.timestamp()),
            event_id=callout.event_id,
        )
        options: list[tuple[str, RowAction, str | None]] = []
        if history_id is not None and room.controls == "all" and not blocked:
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
        if room.controls != "all":  # Details moves to the card's one menu (`details_menu`)
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
        history_id = resend_id(email.id)
        lines.extend(self._no_id_line(email.id_problem, history_id))
        lines.extend(self._resent_line(history_id))
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

    def _resent_line(self, history_id: str | None) -> list[str]:
        """An earlier resend of this row and what became of it (bot.resend.remembered)."""
        note = self.remembered.get(history_id) if history_id else None
        return [f":repeat: {note}"] if note else []

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


def callout_option(callout: CalloutHistory) -> str:
    """A callout's checkbox label, most telling part first: `500 /zuora/invoice · Invoice Posted`
    (response code and endpoint path; the host is the same on most rows and shows in the row)."""
    path = (urlsplit(redact_url(callout.request_url)).path or "/") if callout.request_url else ""
    code = (callout.response_code or "").strip()
    no_answer = not code or (code.lstrip("-").isdigit() and int(code) <= 0)
    answer = "no response" if no_answer else code
    return _one_line(f"{answer} {path or '(no URL)'} · {callout.event_name}")


def email_option(email: EmailHistory) -> str:
    """An email's checkbox label: `Invoice INV00123 is available · Invoice Posted` (the subject
    first: it names the invoice or payment; the recipient is often the same on every row)."""
    if email.subject and email.subject.strip():
        return _one_line(f"{email.subject} · {email.event_name}")
    return _one_line(f"{email.event_name} → {email.to_email or '?'}")


def _one_line(text: str) -> str:
    """Whitespace (newlines, tabs) folded to single spaces: an option label is one line."""
    return " ".join(text.split())


def _option_text(number: int, label: str, room: Room) -> str:
    """`12. label`, cut to the room and to Slack's 75 characters of option text (plain_text,
    which Slack never parses, so Zuora's text needs no mrkdwn escaping here)."""
    return truncate(f"{number}. {label}", min(room.option, MAX_OPTION_CHARS))


def details_menu(
    callouts: Sequence[CalloutHistory], *, first: int, card: CardRef, room: Room
) -> dict[str, Any]:
    """One select of the page's callouts for Details, when a menu per row costs too much.

    It is a row control like the others (ROW_MENU, compact values); row 0 of the block_id names
    the card itself.
    """
    options = [
        Option(
            text=plain(_option_text(first + offset + 1, callout_option(callout), room)),
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


def checkboxes(
    kind: Literal["email", "callout"],
    rows: Sequence[tuple[int, str, str]],
    *,
    page: int,
    notice: str | None,
    room: Room,
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


def _label(text: str, room: Room) -> str | None:
    """A row's label for the outcome card (raw text; the outcome escapes it)."""
    return truncate(text, room.label) if room.label else None


def resend_id(history_id: str | None) -> str | None:
    """The history id if the resend API (and our button values) can take it, else None."""
    return history_id if is_history_id(history_id) else None
