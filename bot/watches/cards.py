"""The watch commands' answers and the DM a watcher gets when a watched account fails anew."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.core.actions import ActionId, CardRef
from bot.slack.elements import actions, button, context, finish, plural, section
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import code, date_token, escape_truncated
from bot.store.watches import AccountWatch

NAME_CHARS = 120
LIST_LIMIT = 40


def account_label(watch: AccountWatch) -> str:
    """`*Name* (A00000001)`, escaped."""
    name = escape_truncated(watch.account_name or watch.account_number, NAME_CHARS)
    number = escape_truncated(watch.account_number, 64)
    return f"*{name}* ({number})" if name != number else f"*{number}*"


def build_watch_added(watch: AccountWatch, *, created: bool, check_minutes: int) -> SlackMessage:
    """`/zuora watch A…` answered: what is watched, how often it is checked, how to stop."""
    label = account_label(watch)
    lead = f":eyes: Watching {label}." if created else f"You already watch {label}."
    recent = watch.recent_failures
    lines = [
        lead,
        f"I DM you when it gets a new failure: at most once an hour, checked every "
        f"{plural(check_minutes, 'minute')}.",
    ]
    if recent is not None:
        lines.append(f"Failures in the last 24 h: *{recent}*.")
    hint = f"Stop with {code('/zuora unwatch ' + watch.account_number, 80)}."
    return finish(lead, [section("\n".join(lines)), context(hint)])


def build_watch_list(watches: Sequence[AccountWatch]) -> SlackMessage:
    """`/zuora watch list`: the accounts this user watches here, with their last 24 h counts."""
    if not watches:
        text = "You watch no accounts. Start with `/zuora watch A00000001`."
        return finish(text, [section(escape_truncated(text, 200))])
    lines = [_watch_line(w) for w in watches[:LIST_LIMIT]]
    if len(watches) > LIST_LIMIT:
        lines.append(f"…and {len(watches) - LIST_LIMIT} more")
    text = f"You watch {plural(len(watches), 'account')}."
    return finish(
        text,
        [
            section(f"*{text}*\n" + "\n".join(lines)),
            context(escape_truncated("Stop one with `/zuora unwatch <account>`.", 200)),
        ],
    )


def _watch_line(watch: AccountWatch) -> str:
    count = "not checked yet" if watch.recent_failures is None else str(watch.recent_failures)
    told = f" · last DM {date_token(watch.last_notified_at)}" if watch.last_notified_at else ""
    return f"• {account_label(watch)} · 24 h failures: {count}{told}"


def build_unwatched(watch: AccountWatch | None, account: str) -> SlackMessage:
    """`/zuora unwatch A…` answered."""
    if watch is None:
        text = f"You were not watching {account}; nothing changed."
        return finish(text, [section(escape_truncated(text, 300))])
    text = f"Stopped watching {account_label(watch)}."
    return finish(text, [section(text)])


def build_watch_limit(limit: int) -> SlackMessage:
    """Refusal: this user already watches as many accounts as allowed."""
    text = (
        f"You already watch {plural(limit, 'account')}, the most one person may. "
        "Stop one with `/zuora unwatch <account>` first (see `/zuora watch list`)."
    )
    return finish(text, [section(f":warning: {escape_truncated(text, 500)}")])


def build_watch_dm(
    watch: AccountWatch, *, new_failures: int, last_failure_at: datetime, card: CardRef
) -> SlackMessage:
    """The DM: the account, how many failures are new, when the last was, and Open failures."""
    label = account_label(watch)
    text = f"New failures on {watch.account_number}: {new_failures}"
    lines = [
        f":rotating_light: {label} has {plural(new_failures, 'new failure')}"
        + f", the last {date_token(last_failure_at)}.",
    ]
    return finish(
        escape_truncated(text, 300),
        [
            section("\n".join(lines)),
            actions([button("Open failures", ActionId.OPEN_FAILURES, value=card)]),
            context(
                "You watch this account: at most one DM an hour. "
                + escape_truncated(f"Stop with `/zuora unwatch {watch.account_number}`.", 200)
            ),
        ],
    )
