"""Parse the text after `/zuora` into a typed command, or raise UsageError saying how to fix it.

Pure: no Slack, no Zuora, no settings. `UsageError.message` is plain text with `code` spans, to be
escaped when rendered (build_help and build_error do). User input it echoes is also defanged on its
own: `&`, `<`, `>` and backticks become look-alikes, so an echo can never form a Slack token.

This module holds the dispatch and the one-word families (failures, outages, resend, status, audit);
the shared words are in `bot.core.command_words`, digest and alerts in `bot.core.command_schedules`.
Every public name of the grammar is importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.core.actions import MAX_IDS_PER_VALUE, ResendRef
from bot.core.command_schedules import (
    ALERT_SUBCOMMANDS,
    DEFAULT_ALERT_MINUTES,
    DEFAULT_ALERT_THRESHOLD,
    DIGEST_SUBCOMMANDS,
    MAX_ALERT_MINUTES,
    MAX_ALERT_THRESHOLD,
    MAX_DIGEST_ACCOUNTS,
    MIN_ALERT_MINUTES,
    AlertCommand,
    AlertListCommand,
    AlertSubscribeCommand,
    AlertUnsubscribeCommand,
    AlertUpdatesCommand,
    DigestCommand,
    DigestKind,
    DigestListCommand,
    DigestPreviewCommand,
    DigestSubscribeCommand,
    DigestUnsubscribeCommand,
    parse_alerts,
    parse_digest,
)
from bot.core.command_watch import (
    UnwatchCommand,
    WatchCommand,
    WatchListCommand,
    parse_unwatch,
    parse_watch,
)
from bot.core.command_words import (
    ACCOUNT_RE,
    DEFAULT_WINDOW,
    MAX_COMMAND_CHARS,
    MAX_WINDOW,
    MAX_WINDOW_CHARS,
    MAX_WORD_CHARS,
    MIN_TYPED_ID,
    MIN_WINDOW,
    UNIT_NAMES,
    WINDOW_RE,
    UsageError,
    closest,
    echo,
    no_more,
    parse_account,
    parse_window,
)
from bot.core.kinds import NotificationKind
from bot.core.patterns import is_history_id

SUBCOMMANDS = (
    "help",
    "failures",
    "outages",
    "resend",
    "status",
    "audit",
    "digest",
    "alerts",
    "watch",
    "unwatch",
)
MAX_OUTAGE_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class HelpCommand:
    """`/zuora` or `/zuora help`: list every subcommand with an example."""


@dataclass(frozen=True)
class FailuresCommand:
    """`/zuora failures <account> [window]`: an account's failed notifications in the last window."""

    account: str
    window: timedelta
    label: str


@dataclass(frozen=True)
class OutagesCommand:
    """`/zuora outages [window]`: the tenant's failures in the last window, grouped by cause."""

    window: timedelta
    label: str


@dataclass(frozen=True)
class ResendCommand:
    """`/zuora resend [email|callout] <id> …`: confirm, then resend these history ids."""

    kind: NotificationKind
    ids: tuple[str, ...]


@dataclass(frozen=True)
class StatusCommand:
    """`/zuora status`: Zuora connectivity, token and non-secret configuration."""


@dataclass(frozen=True)
class AuditCommand:
    """`/zuora audit [account]`: the resend audit trail, newest first."""

    account: str | None = None
    offset: int = 0


Command = (
    HelpCommand
    | FailuresCommand
    | OutagesCommand
    | ResendCommand
    | StatusCommand
    | AuditCommand
    | DigestSubscribeCommand
    | DigestListCommand
    | DigestUnsubscribeCommand
    | DigestPreviewCommand
    | AlertSubscribeCommand
    | AlertListCommand
    | AlertUnsubscribeCommand
    | AlertUpdatesCommand
    | WatchCommand
    | WatchListCommand
    | UnwatchCommand
)


def parse_zuora_command(text: str, *, default_time: tuple[int, int] = (9, 0)) -> Command:
    """Turn `/zuora` text into a command; raise UsageError with the right form when it is wrong.

    `default_time` is the (hour, minute) a digest subscription gets without `at HH:MM`.
    """
    if len(text) > MAX_COMMAND_CHARS:
        raise UsageError(
            f"That command is {len(text):,} characters long; `/zuora` takes at most "
            f"{MAX_COMMAND_CHARS:,}. Use `/zuora help` to see the commands."
        )
    tokens = text.split()
    long_word = next((token for token in tokens if len(token) > MAX_WORD_CHARS), None)
    if long_word is not None:
        raise UsageError(
            f"{echo(long_word)} is {len(long_word):,} characters long; no `/zuora` word is longer "
            f"than {MAX_WORD_CHARS}. Separate IDs with spaces or commas: `/zuora resend <id> <id>`."
        )
    if not tokens:
        return HelpCommand()
    name, args = tokens[0].lower(), tokens[1:]
    try:
        return _dispatch(name, args, tokens, default_time)
    except UsageError as exc:
        if exc.usage is None:
            exc.usage = usage_key(name, args)
        raise


def usage_key(name: str, args: list[str]) -> str | None:
    """The subcommand a usage error is about: `failures`, `digest subscribe`, `digest`, or None."""
    name = {"outage": "outages", "alert": "alerts"}.get(name, name)
    if name not in SUBCOMMANDS:
        return None
    nested = {"digest": DIGEST_SUBCOMMANDS, "alerts": ALERT_SUBCOMMANDS}.get(name, ())
    if args and args[0].lower() in nested:
        return f"{name} {args[0].lower()}"
    return name


def _dispatch(
    name: str, args: list[str], tokens: list[str], default_time: tuple[int, int]
) -> Command:
    if name in ("help", "?", "-h", "--help"):
        return HelpCommand()
    if name == "failures":
        return _failures(args)
    if name in ("outages", "outage"):
        return _outages(args)
    if name == "resend":
        return _resend(args)
    if name == "status":
        no_more(args, "status")
        return StatusCommand()
    if name == "audit":
        return _audit(args)
    if name == "digest":
        return parse_digest(args, default_time)
    if name in ("alerts", "alert"):
        return parse_alerts(args)
    if name == "watch":
        return parse_watch(args)
    if name == "unwatch":
        return parse_unwatch(args)
    raise _unknown(tokens[0], args)


def _failures(args: list[str]) -> FailuresCommand:
    form = "`/zuora failures <account> [window]`, e.g. `/zuora failures A00000001 7d`"
    if not args:
        raise UsageError(f"Which account? Use {form}.")
    if len(args) > 2:
        raise UsageError(f"Too many words after `failures`. Use {form}.")
    account_text, window_text = args[0], (args[1] if len(args) == 2 else DEFAULT_WINDOW)
    # Forgive the window first ("failures 7d A00000001"): an account number never looks like one.
    if len(args) == 2 and WINDOW_RE.match(args[0]) and not WINDOW_RE.match(args[1]):
        account_text, window_text = args[1], args[0]
    account = parse_account(account_text)
    window, label = parse_window(window_text)
    return FailuresCommand(account=account, window=window, label=label)


def parse_outage_window(text: str) -> tuple[timedelta, str]:
    """Read an outages window (`90m` … `7d`, default `24h`) into its length and label."""
    match = WINDOW_RE.match(text) if len(text) <= MAX_WINDOW_CHARS else None
    if not match:
        raise UsageError(
            f"{echo(text)} is not a time window. Use minutes, hours or days, e.g. `90m`, `24h` "
            "(the default) or `7d` (at most): `/zuora outages 6h`."
        )
    amount, unit = int(match.group(1)), match.group(2).lower()
    if timedelta(**{UNIT_NAMES[unit]: amount}) > MAX_OUTAGE_WINDOW:
        raise UsageError(
            f"The window {echo(text)} is too large for `outages`: the maximum is 7 days (`7d` or "
            "`168h`), because the scan reads every failure of the whole tenant. For one account's "
            "longer history use `/zuora failures <account> 30d`."
        )
    return parse_window(text)


def _outages(args: list[str]) -> OutagesCommand:
    if len(args) > 1:
        raise UsageError(
            "Too many words after `outages`. Use `/zuora outages [window]`, e.g. "
            "`/zuora outages` (last 24h) or `/zuora outages 6h`."
        )
    window, label = parse_outage_window(args[0] if args else DEFAULT_WINDOW)
    return OutagesCommand(window=window, label=label)


def _resend(args: list[str]) -> ResendCommand:
    form = "`/zuora resend <id> [<id> …]` (or `/zuora resend callout <id> …`)"
    kind: NotificationKind = "email"
    if args and args[0].lower() in ("email", "emails", "callout", "callouts"):
        kind = "callout" if args[0].lower().startswith("callout") else "email"
        args = args[1:]
    raw = [part for arg in args for part in arg.split(",") if part]
    if not raw:
        raise UsageError(
            f"Which history IDs? Paste them from Zuora's Notification History: {form}."
        )
    ids: list[str] = []
    for item in raw:
        if len(item) < MIN_TYPED_ID or not is_history_id(item):
            raise UsageError(
                f"{echo(item)} is not a notification history ID (8 to 64 letters and digits, "
                f"usually 32 hex characters, or a 36-character UUID). Use {form}."
            )
        if item not in ids:
            ids.append(item)
    too_many = len(ids) > MAX_IDS_PER_VALUE
    if not too_many:
        try:
            ResendRef(k=kind, ids=ids).encode()
        except ValueError:  # many very long ids would not fit in one button
            too_many = True
    if too_many:
        raise UsageError(
            f"That is {len(ids)} IDs; `/zuora resend` takes at most {MAX_IDS_PER_VALUE}. "
            "To resend every failed email of an account, run `/zuora failures <account>` and press "
            "*Resend all* on the card."
        )
    return ResendCommand(kind=kind, ids=tuple(ids))


def _audit(args: list[str]) -> AuditCommand:
    if len(args) > 1:
        raise UsageError(
            "Too many words after `audit`. Use `/zuora audit` or `/zuora audit A00000001`."
        )
    return AuditCommand(account=parse_account(args[0]) if args else None)


def _unknown(word: str, args: list[str]) -> UsageError:
    guess = closest(word.lower(), SUBCOMMANDS)
    if guess is not None:
        suggestion: str | None = " ".join([guess, *args])
    elif (
        not args and ACCOUNT_RE.match(word) and any(c.isdigit() for c in word) and ".." not in word
    ):
        suggestion = f"failures {word}"  # "/zuora A00000001" most likely means its failures
    else:
        suggestion = None
    return UsageError(
        f"`/zuora` has no {echo(word)} command. Commands: "
        + ", ".join(f"`{name}`" for name in SUBCOMMANDS)
        + ".",
        did_you_mean=suggestion,
    )


__all__ = [
    "ALERT_SUBCOMMANDS",
    "DEFAULT_ALERT_MINUTES",
    "DEFAULT_ALERT_THRESHOLD",
    "DEFAULT_WINDOW",
    "DIGEST_SUBCOMMANDS",
    "MAX_ALERT_MINUTES",
    "MAX_ALERT_THRESHOLD",
    "MAX_COMMAND_CHARS",
    "MAX_DIGEST_ACCOUNTS",
    "MAX_OUTAGE_WINDOW",
    "MAX_WINDOW",
    "MAX_WORD_CHARS",
    "MIN_ALERT_MINUTES",
    "MIN_TYPED_ID",
    "MIN_WINDOW",
    "SUBCOMMANDS",
    "AlertCommand",
    "AlertListCommand",
    "AlertSubscribeCommand",
    "AlertUnsubscribeCommand",
    "AlertUpdatesCommand",
    "AuditCommand",
    "Command",
    "DigestCommand",
    "DigestKind",
    "DigestListCommand",
    "DigestPreviewCommand",
    "DigestSubscribeCommand",
    "DigestUnsubscribeCommand",
    "FailuresCommand",
    "HelpCommand",
    "OutagesCommand",
    "ResendCommand",
    "StatusCommand",
    "UnwatchCommand",
    "UsageError",
    "WatchCommand",
    "WatchListCommand",
    "echo",
    "parse_account",
    "parse_outage_window",
    "parse_window",
    "parse_zuora_command",
    "usage_key",
]
