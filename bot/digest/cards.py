"""Pure builders for the daily digest and the `/zuora digest …` replies; everything from Zuora is escaped.

The digest fits Slack's limits for any tenant: it names at most `top_n` accounts (then "…and K more"),
caps every list and text, and when the JSON is still over budget it is rebuilt with smaller budgets
(`_ROOMS`); the last room fits any data (see the tests).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import ButtonElement

from bot.core.actions import ActionId, CardRef, ResendAllRef
from bot.digest.subscriptions import describe_digest
from bot.digest.summary import AccountDigest, DigestDelta, DigestSummary, FailureCounts
from bot.failures.cards import account_url
from bot.failures.results import ResendOutcome, card_ref_for
from bot.slack.elements import (
    actions,
    button,
    confirm_dialog,
    context,
    divider,
    finish,
    fit,
    header,
    mention,
    plural,
    response_code_text,
    section,
)
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import (
    channel_mention,
    date_token,
    escape,
    escape_truncated,
    link,
    truncate,
)
from bot.store import Subscription
from bot.zuora.guard import is_history_id
from bot.zuora.models import Account, TimeWindow

REFUSED_CHARS = 1000
RESEND_ALL_BUTTONS = 5  # danger buttons in one digest: the top accounts with failed emails only
LIST_ROOMS = (40, 20, 10)  # subscriptions listed, tried in order until the JSON fits


@dataclass(frozen=True)
class _Room:
    """How much of each account the digest may show."""

    accounts: int  # at most this many accounts (and never more than top_n)
    name: int  # characters of an account name (escaped)
    number: int  # characters of an account number
    items: int  # entries per breakdown (events, codes, errors)
    item: int  # characters per code or error entry (escaped)
    event: int  # characters per event name (escaped): names need more than codes
    wordy: bool = True  # the confirm dialog explains what a resend does


# Tried in order until the JSON fits; the last one fits any data (see the tests).
_ROOMS = (
    _Room(accounts=15, name=60, number=32, items=3, item=40, event=48),
    _Room(accounts=15, name=40, number=24, items=2, item=24, event=36),
    _Room(accounts=10, name=30, number=20, items=2, item=20, event=30, wordy=False),
    _Room(accounts=8, name=24, number=16, items=1, item=16, event=24, wordy=False),
    _Room(accounts=5, name=20, number=16, items=1, item=12, event=16, wordy=False),
)


# --- the digest --------------------------------------------------------------------------------


def build_digest(
    summary: DigestSummary,
    delta: DigestDelta | None,
    *,
    subscription_label: str,
    ui_url: str,
    top_n: int,
    muted: Sequence[str] = (),
) -> SlackMessage:
    """The daily digest: totals and change, then the most-failing accounts with their buttons.

    `muted`: one mrkdwn line per alert cause muted now (bot.outages.muted), listed at the end.
    """
    if summary.is_empty:
        return build_all_clear(subscription_label, summary.window)
    top_n = max(1, top_n)
    blocks = fit(
        lambda room: _digest_blocks(
            summary, delta, label=subscription_label, ui_url=ui_url, top_n=top_n, room=room
        ),
        _ROOMS,
    )
    if muted:
        blocks.append(context("*Muted alert causes* (still counted above):\n" + "\n".join(muted)))
    return finish(_fallback(summary, delta), blocks)


def build_all_clear(subscription_label: str, window: TimeWindow) -> SlackMessage:
    """One short line: nothing failed in the window."""
    text = f"No failed Zuora notifications in the last {window.label}."
    return finish(
        text,
        [
            context(
                f":white_check_mark: {escape(text)} · {escape_truncated(subscription_label, 200)}"
            )
        ],
    )


def _fallback(summary: DigestSummary, delta: DigestDelta | None) -> str:
    parts = []
    if summary.kind != "emails":
        parts.append(plural(summary.total_callouts, "failed callout"))
    if summary.kind != "callouts":
        parts.append(plural(summary.total_emails, "failed email"))
    text = f"Zuora failures in the last {escape(summary.window.label)}: {' and '.join(parts)}"
    if summary.accounts:
        text += f" across {plural(len(summary.accounts), 'account')}"
    if delta is not None:
        text += f" ({_change(delta.total_change)} vs the day before)"
    return text


def _digest_blocks(
    summary: DigestSummary,
    delta: DigestDelta | None,
    *,
    label: str,
    ui_url: str,
    top_n: int,
    room: _Room,
) -> list[dict[str, Any]]:
    window = summary.window
    blocks: list[dict[str, Any]] = [
        header(f"Zuora failures · last {window.label}"),
        section(_totals(summary, delta)),
        context(
            f"{date_token(window.start)} – {date_token(window.end)} · "
            f"{escape_truncated(label, 200)}"
        ),
    ]
    shown = summary.accounts[: min(top_n, room.accounts)]
    if shown:
        blocks.append(divider())
    # A danger button on every account is noise: only the top few accounts with emails get one,
    # and a note says how to resend the others' emails (their failures card has Resend all).
    resendable = [i for i, a in enumerate(shown) if _can_resend_all(a, room)]
    resend_at = resendable[:RESEND_ALL_BUTTONS]
    for index, account in enumerate(shown):
        blocks.extend(
            _account_blocks(
                account, window, ui_url=ui_url, room=room, resend_all=index in resend_at
            )
        )
    if len(resendable) > len(resend_at):
        blocks.append(
            context(_other_resends_note(len(resend_at), len(resendable) - len(resend_at)))
        )
    rest = summary.accounts[len(shown) :]
    if rest:
        failures = sum(account.failures for account in rest)
        blocks.append(
            context(
                f"…and {plural(len(rest), 'more account')} "
                f"with {plural(failures, 'failure')} between them."
            )
        )
    if summary.tenant.failures:
        blocks.append(divider())
        blocks.append(section(_tenant_text(summary.tenant, room)))
    return blocks


def _totals(summary: DigestSummary, delta: DigestDelta | None) -> str:
    lines = []
    if summary.kind != "emails":
        change = f" · {_change_text(delta.callouts_change)}" if delta is not None else ""
        lines.append(f"*{plural(summary.total_callouts, 'failed callout')}*{change}")
    if summary.kind != "callouts":
        change = f" · {_change_text(delta.emails_change)}" if delta is not None else ""
        lines.append(f"*{plural(summary.total_emails, 'failed email')}*{change}")
    lines.append(f"across {summary.affected.describe()}")
    return "\n".join(lines)


def _change(change: int) -> str:
    if change > 0:
        return f"▲ {change}"
    if change < 0:
        return f"▼ {-change}"
    return "no change"


def _change_text(change: int) -> str:
    return f"{_change(change)} vs the day before" if change else "same as the day before"


def _other_resends_note(with_button: int, without: int) -> str:
    """How to resend the failed emails of listed accounts that got no Resend button here."""
    return (
        f":information_source: Resend buttons are on the first {with_button} accounts with failed "
        f"emails. For the other {plural(without, 'account')} listed with failed emails, press "
        "*Open failures* beside the account, then *Resend all* on its card."
    )


def _account_blocks(
    account: AccountDigest, window: TimeWindow, *, ui_url: str, room: _Room, resend_all: bool
) -> list[dict[str, Any]]:
    """The account's section (Open failures beside it) and, if `resend_all`, its Resend button."""
    name = account.account_name or account.account_number or account.account_id or "?"
    shown_name = escape_truncated(name, room.name)
    target = _account(account, room)
    if target is not None and account.account_id:
        try:
            shown_name = link(account_url(ui_url, target), _raw_within(name, room.name))
        except ValueError:  # a ui_url we cannot link to: show the name alone
            pass
    ident = ""
    if account.account_number and account.account_number != name:
        ident = f" · {escape_truncated(account.account_number, room.number)}"
    counts = []
    if account.callouts:
        counts.append(plural(account.callouts, "callout"))
    if account.emails:
        counts.append(plural(account.emails, "email"))
    last = account.last_failure_at
    lines = [
        f"*{shown_name}*{ident} · *{', '.join(counts)}*"
        + (f" · last {date_token(last)}" if last else ""),
        *_breakdown(account, room),
    ]
    card = _card(target, window)
    accessory = (
        button("Open failures", ActionId.OPEN_FAILURES, value=card) if card is not None else None
    )
    blocks = [section("\n".join(lines), accessory=accessory)]
    if resend_all and card is not None and _can_resend_all(account, room):
        blocks.append(actions([_resend_all(account, card, target_name=name, room=room)]))
    return blocks


def _can_resend_all(account: AccountDigest, room: _Room) -> bool:
    """Whether the account may get a Resend-all button: failed emails and a Zuora account id."""
    return bool(account.emails and account.account_id) and _account(account, room) is not None


def _breakdown(counts: FailureCounts, room: _Room) -> list[str]:
    lines = []
    if counts.events:
        lines.append(f"Events: {_items(counts.events, room, room.event)}")
    if counts.response_codes:
        lines.append(
            f"Callout responses: {_items(counts.response_codes, room, room.item, response_code_text)}"
        )
    if counts.email_errors:
        lines.append(f"Email errors: {_items(counts.email_errors, room, room.item)}")
    return lines


def _items(
    counts: Sequence[tuple[str, int]],
    room: _Room,
    chars: int,
    show: Callable[[str, int], str] = escape_truncated,
) -> str:
    """`name ×count` for the first few entries (each shown escaped within `chars`), then `+N more`."""
    shown = [f"{show(name, chars)} ×{count}" for name, count in counts[: room.items]]
    rest = len(counts) - room.items
    if rest > 0:
        shown.append(f"+{rest} more")
    return " · ".join(shown)


def _tenant_text(tenant: FailureCounts, room: _Room) -> str:
    counts = []
    if tenant.callouts:
        counts.append(plural(tenant.callouts, "callout"))
    if tenant.emails:
        counts.append(plural(tenant.emails, "email"))
    return "\n".join(
        [f"*Tenant events with no account* · *{', '.join(counts)}*", *_breakdown(tenant, room)]
    )


def _account(account: AccountDigest, room: _Room) -> Account | None:
    """An Account to build button values from; None when no key Zuora can look up is known."""
    key = account.account_id or account.account_number
    if key is None or not is_history_id(key):
        return None
    # The number only labels the failures card until it has read the account again.
    number = truncate(account.account_number or key, room.number)
    return Account(id=key, number=number, name=number)


def _raw_within(text: str, limit: int) -> str:
    """`text` cut so that, once escaped (as link() does), it takes at most `limit` characters."""
    shown = truncate(text, limit)
    while len(escape(shown)) > limit and len(shown) > 1:
        shown = truncate(shown, max(1, len(shown) - (len(escape(shown)) - limit)))
    return shown


def _card(account: Account | None, window: TimeWindow) -> CardRef | None:
    return card_ref_for(account, window) if account is not None else None


def _resend_all(
    account: AccountDigest, card: CardRef, *, target_name: str, room: _Room
) -> ButtonElement:
    count = account.emails
    noun = plural(count, "failed email")
    number = account.account_number or account.account_id or ""
    who = truncate(target_name, room.name)
    if number != target_name:
        who += f" ({truncate(number, room.number)})"
    text = f"Resend all {noun} of {who} from the last {card.w}?"
    if room.wordy:
        text += " Zuora sends each one to its recipients again."
    return button(
        f"Resend {noun}",
        ActionId.RESEND_ALL,
        value=ResendAllRef(card=card, count=count),
        style="danger",
        confirm=confirm_dialog(title=f"Resend {noun}?", text=text, confirm=f"Resend {count}"),
    )


# --- after a Resend all on the digest -----------------------------------------------------------


def resend_note(outcome: ResendOutcome) -> str:
    """The digest's context line after a Resend all: who resent what and when; details in thread."""
    target = ""
    if outcome.account is not None:
        target = (
            f" of {escape_truncated(outcome.account.name, 80)}"
            f" ({escape_truncated(outcome.account.number, 64)})"
        )
    asked = plural(len(outcome.ids), "failed email")
    when = date_token(outcome.at)
    if outcome.waiting:
        return (
            f":hourglass_flowing_sand: {mention(outcome.requested_by)} asked to resend {asked}"
            f"{target} {when}; waiting for Zuora's answer (see the thread)."
        )
    if outcome.result is None:
        return (
            f":x: {mention(outcome.requested_by)} tried to resend {asked}{target} {when}; "
            "it did not go through (see the thread)."
        )
    failed = len(outcome.result.failed)
    tail = f", {failed} failed" if failed else ""
    return (
        f":repeat: {mention(outcome.requested_by)} resent {len(outcome.result.succeeded)} of "
        f"{asked}{target} {when}{tail} (details in the thread)."
    )


def build_digest_with_note(
    text: str, blocks: Sequence[dict[str, Any]], *, resend_value: str, note: str
) -> SlackMessage:
    """The digest as posted, text and blocks untouched, plus `note` as a context line.

    The line goes under the actions block holding the Resend-all button whose value is
    `resend_value` (the one clicked), else at the end. Raises BlockLimitError past Slack's limits.
    """
    shown = [copy.deepcopy(block) for block in blocks]
    at = len(shown)
    for index, block in enumerate(shown):
        if block.get("type") == "actions" and any(
            element.get("action_id") == ActionId.RESEND_ALL.value
            and element.get("value") == resend_value
            for element in block.get("elements") or []
        ):
            at = index + 1
            break
    shown.insert(at, context(note))
    return finish(text, shown)


# --- subscription replies ----------------------------------------------------------------------


def build_subscription_list(subs: Sequence[Subscription]) -> SlackMessage:
    """This workspace's digest subscriptions, one line each, with how to remove one."""
    if not subs:
        return finish(
            "No digest subscriptions yet.",
            [
                section(
                    "No digest subscriptions yet. Start one with "
                    "`/zuora digest subscribe #channel at 09:00`."
                )
            ],
        )
    text = f"{plural(len(subs), 'digest subscription')} in this workspace"
    blocks = fit(lambda limit: _list_blocks(subs, limit), LIST_ROOMS)
    return finish(text, blocks)


def _list_blocks(subs: Sequence[Subscription], limit: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        section(f"*{plural(len(subs), 'digest subscription')}* in this workspace")
    ]
    lines = [
        f"• {channel_mention(sub.channel_id)} {escape(describe_digest(sub))}"
        for sub in subs[:limit]
    ]
    for start in range(0, len(lines), 10):
        blocks.append(section("\n".join(lines[start : start + 10])))
    rest = len(subs) - limit
    hint = "Remove one with `/zuora digest unsubscribe <id>`."
    if rest > 0:
        hint = f"…and {rest} more. " + hint
    blocks.append(context(escape(hint)))
    return blocks


def build_subscribed(sub: Subscription, *, first_post_at: datetime | None = None) -> SlackMessage:
    """Confirms a new subscription: where, what, when the first digest comes."""
    when = f" First digest {date_token(first_post_at)}." if first_post_at is not None else ""
    text = f"Subscribed: digest #{sub.id}."
    blocks = [
        section(
            f":white_check_mark: Subscribed {channel_mention(sub.channel_id)} to digest "
            f"{escape(describe_digest(sub))}.{when}"
        ),
        context(
            escape(
                f"Stop it with `/zuora digest unsubscribe {sub.id}`; "
                "see them all with `/zuora digest list`."
            )
        ),
    ]
    return finish(text, blocks)


def build_unsubscribed(subscription_id: int) -> SlackMessage:
    """Confirms a removed subscription."""
    text = f"Digest #{subscription_id} unsubscribed; it will not post again."
    return finish(text, [section(f":wave: {text}")])


def build_subscription_refused(reason: str) -> SlackMessage:
    """Why a subscription was not created (e.g. it overlaps another in the channel)."""
    shown = escape_truncated(reason, REFUSED_CHARS)
    return finish(
        f"Not subscribed: {escape_truncated(reason, 200)}", [section(f":no_entry_sign: {shown}")]
    )


def build_digest_already_subscribed(sub: Subscription) -> SlackMessage:
    """An identical digest exists: name it, add nothing."""
    text = f"Already subscribed (id {sub.id}): digest #{sub.id} is unchanged."
    return finish(
        text,
        [
            section(
                f":information_source: Already subscribed (id {sub.id}): digest "
                f"{escape(describe_digest(sub))} already posts to this channel; nothing was added."
            ),
            context(escape(f"Stop it with `/zuora digest unsubscribe {sub.id}`.")),
        ],
    )
