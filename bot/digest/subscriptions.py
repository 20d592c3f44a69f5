"""Digest subscription rules: refuse overlaps in one channel, and describe a subscription in one line.

Two digests of the same failures in one channel are noise (slack-platform.md §12, trap 17), whatever
their times, so a new subscription is refused when its kind and accounts overlap an existing one there.
Texts returned here are plain (backticks meant as code); card builders escape them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.store import DigestKind, NewSubscription, Subscription

KIND_WORDS: dict[DigestKind, str] = {
    "callouts": "callouts",
    "emails": "emails",
    "all": "callouts and emails",
}
_ACCOUNTS_SHOWN = 3


def kinds_overlap(a: DigestKind, b: DigestKind) -> bool:
    """'all' overlaps everything; callouts and emails do not overlap each other."""
    return a == b or "all" in (a, b)


def shared_accounts(a: Sequence[str], b: Sequence[str]) -> tuple[str, ...] | None:
    """Accounts both sets follow (empty: all accounts), in `a`'s order; None when they are disjoint."""
    if not a:
        return tuple(b)
    if not b:
        return tuple(a)
    keys_b = {_key(account) for account in b}
    shared = tuple(account for account in a if _key(account) in keys_b)
    return shared or None


def overlaps(new: NewSubscription, existing: Subscription) -> str | None:
    """Why `new` would repeat `existing` in the same channel, or None when it would not."""
    if not existing.active:
        return None
    if (new.team_id, new.channel_id) != (existing.team_id, existing.channel_id):
        return None
    if not kinds_overlap(new.kind, existing.kind):
        return None
    shared = shared_accounts(new.accounts, existing.accounts)
    if shared is None:
        return None
    both = ""
    if new.accounts and existing.accounts:
        both = f" ({accounts_text(shared)} in both)"
    return (
        f"Digest #{existing.id} in this channel already covers {KIND_WORDS[existing.kind]} "
        f"for {accounts_text(existing.accounts)}{both} at {time_text(existing)}; "
        f"unsubscribe it first (`/zuora digest unsubscribe {existing.id}`) "
        "or subscribe a different kind or accounts."
    )


def is_repeat(new: NewSubscription, existing: Subscription) -> bool:
    """Whether `new` asks for exactly what active `existing` already is (a repeated command)."""
    return existing.active and (
        new.team_id,
        new.channel_id,
        new.kind,
        tuple(new.accounts),
        new.hour,
        new.minute,
        new.timezone,
        new.quiet,
    ) == (
        existing.team_id,
        existing.channel_id,
        existing.kind,
        tuple(existing.accounts),
        existing.hour,
        existing.minute,
        existing.timezone,
        existing.quiet,
    )


def find_overlap(new: NewSubscription, existing: Iterable[Subscription]) -> str | None:
    """The first overlap of `new` with any of `existing`, explained; None if it overlaps none."""
    for sub in existing:
        reason = overlaps(new, sub)
        if reason is not None:
            return reason
    return None


def describe_digest(sub: Subscription | NewSubscription) -> str:
    """One line: what a digest subscription posts, for which accounts, when, and whether it stays quiet."""
    prefix = f"#{sub.id}: " if isinstance(sub, Subscription) else ""
    quiet = "; nothing on days without failures" if sub.quiet else ""
    return (
        f"{prefix}failed {KIND_WORDS[sub.kind]} for {accounts_text(sub.accounts)}, "
        f"daily at {time_text(sub)}{quiet}"
    )


def digest_label(sub: Subscription) -> str:
    """A short label for a digest's footer, e.g. "Digest #3 · emails · A00000001"."""
    return f"Digest #{sub.id} · {KIND_WORDS[sub.kind]} · {accounts_text(sub.accounts)}"


def accounts_text(accounts: Sequence[str]) -> str:
    """'all accounts', 'A1', 'A1 and A2', 'A1, A2, A3 and 4 more'."""
    if not accounts:
        return "all accounts"
    if len(accounts) == 1:
        return accounts[0]
    shown = list(accounts[:_ACCOUNTS_SHOWN])
    rest = len(accounts) - len(shown)
    if rest:
        return f"{', '.join(shown)} and {rest} more"
    return f"{', '.join(shown[:-1])} and {shown[-1]}"


def time_text(sub: Subscription | NewSubscription) -> str:
    """'09:00 Europe/Paris'."""
    return f"{sub.hour:02d}:{sub.minute:02d} {sub.timezone}"


def _key(account: str) -> str:
    return account.strip().casefold()
