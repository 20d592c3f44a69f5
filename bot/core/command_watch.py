"""`/zuora watch <account>`, `/zuora watch list`, `/zuora unwatch <account>`: pure parsing.

Watching DMs the watcher when the account gets a new failure (bot.watches.service).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.command_words import UsageError, parse_account

WATCH_FORM = "`/zuora watch <account>`, `/zuora watch list` or `/zuora unwatch <account>`"


@dataclass(frozen=True)
class WatchCommand:
    """`/zuora watch <account>`: DM me when this account gets a new failure."""

    account: str


@dataclass(frozen=True)
class WatchListCommand:
    """`/zuora watch list`: the accounts I watch in this workspace."""


@dataclass(frozen=True)
class UnwatchCommand:
    """`/zuora unwatch <account>`: stop watching this account."""

    account: str


def parse_watch(args: list[str]) -> WatchCommand | WatchListCommand:
    """`watch <account>` or `watch list`."""
    if not args:
        raise UsageError(f"Which account should I watch? Use {WATCH_FORM}.")
    if len(args) > 1:
        raise UsageError(f"`watch` takes one account. Use {WATCH_FORM}.")
    if args[0].lower() in ("list", "ls"):
        return WatchListCommand()
    return WatchCommand(account=parse_account(args[0]))


def parse_unwatch(args: list[str]) -> UnwatchCommand:
    """`unwatch <account>`."""
    if len(args) != 1:
        raise UsageError(f"`unwatch` takes one account. Use {WATCH_FORM}.")
    return UnwatchCommand(account=parse_account(args[0]))
