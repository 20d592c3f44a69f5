"""The `/zuora digest …` and `/zuora alerts …` grammar: subscriptions, their lists and removals.

Pure, like the rest of the grammar (`bot.core.command_text` dispatches here).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.core.command_words import (
    MAX_GUESS_CHARS,
    UsageError,
    closest,
    echo,
    no_more,
    parse_account,
)

DigestKind = Literal["callouts", "emails", "all"]
MAX_DIGEST_ACCOUNTS = 20
DIGEST_SUBCOMMANDS = ("subscribe", "list", "unsubscribe", "preview")
ALERT_SUBCOMMANDS = ("subscribe", "list", "unsubscribe", "updates")
DEFAULT_ALERT_THRESHOLD = 10
DEFAULT_ALERT_MINUTES = 15
MAX_ALERT_THRESHOLD = 100_000
MIN_ALERT_MINUTES = 5
MAX_ALERT_MINUTES = 24 * 60
_CHANNEL = re.compile(r"^<#([CG][A-Z0-9]{2,30})(?:\|[^>]*)?>$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class DigestSubscribeCommand:
    """`/zuora digest subscribe …`: a daily summary in a channel; None channel means "here"."""

    channel_id: str | None = None
    hour: int = 9
    minute: int = 0
    timezone: str = "UTC"
    accounts: tuple[str, ...] = ()
    kind: DigestKind = "all"
    quiet: bool = False


@dataclass(frozen=True)
class DigestListCommand:
    """`/zuora digest list`: this workspace's digest subscriptions."""


@dataclass(frozen=True)
class DigestUnsubscribeCommand:
    """`/zuora digest unsubscribe <id>`: remove one subscription."""

    subscription_id: int


@dataclass(frozen=True)
class DigestPreviewCommand:
    """`/zuora digest preview`: show what today's digest would say, only to the caller."""


@dataclass(frozen=True)
class AlertSubscribeCommand:
    """`/zuora alerts subscribe …`: alert a channel when one cause fails N times within M minutes."""

    channel_id: str | None = None
    threshold: int = DEFAULT_ALERT_THRESHOLD
    minutes: int = DEFAULT_ALERT_MINUTES
    kind: DigestKind = "all"


@dataclass(frozen=True)
class AlertListCommand:
    """`/zuora alerts list`: this workspace's spike alerts."""


@dataclass(frozen=True)
class AlertUnsubscribeCommand:
    """`/zuora alerts unsubscribe <id>`: stop one spike alert."""

    subscription_id: int


@dataclass(frozen=True)
class AlertUpdatesCommand:
    """`/zuora alerts updates <id> thread|edit`: how one spike alert shows growth."""

    subscription_id: int
    updates: Literal["thread", "edit"]


DigestCommand = (
    DigestSubscribeCommand | DigestListCommand | DigestUnsubscribeCommand | DigestPreviewCommand
)
AlertCommand = (
    AlertSubscribeCommand | AlertListCommand | AlertUnsubscribeCommand | AlertUpdatesCommand
)


def parse_digest(args: list[str], default_time: tuple[int, int]) -> DigestCommand:
    """`/zuora digest …` after the word `digest`: subscribe, list, unsubscribe or preview."""
    forms = (
        "`/zuora digest subscribe`, `/zuora digest list`, `/zuora digest unsubscribe <id>` "
        "or `/zuora digest preview`"
    )
    if not args:
        raise UsageError(f"What should the digest do? Use {forms}.")
    name, rest = args[0].lower(), args[1:]
    if name == "subscribe":
        return _subscribe(rest, default_time)
    if name == "list":
        no_more(rest, "digest list")
        return DigestListCommand()
    if name == "preview":
        no_more(rest, "digest preview")
        return DigestPreviewCommand()
    if name == "unsubscribe":
        return _unsubscribe(rest)
    guess = closest(name, DIGEST_SUBCOMMANDS)
    raise UsageError(
        f"`digest` has no {echo(args[0])} command. Use {forms}.",
        did_you_mean=" ".join(["digest", guess, *rest]) if guess else None,
    )


def _unsubscribe(args: list[str]) -> DigestUnsubscribeCommand:
    form = "`/zuora digest unsubscribe <id>` (the id is in `/zuora digest list`)"
    if len(args) != 1:
        raise UsageError(f"Which subscription? Use {form}.")
    text = args[0].lstrip("#")
    if not text.isascii() or not text.isdigit() or int(text) < 1 or len(text) > 12:
        raise UsageError(f"{echo(args[0])} is not a subscription id. Use {form}.")
    return DigestUnsubscribeCommand(subscription_id=int(text))


_SUBSCRIBE_FORM = (
    "`/zuora digest subscribe [#channel] [at HH:MM] [tz Area/City] [account <account> …] "
    "[kind callouts|emails|all] [quiet]`"
)

_SUBSCRIBE_KEYWORDS = ("at", "tz", "account", "accounts", "kind", "quiet")


def _subscribe(args: list[str], default_time: tuple[int, int]) -> DigestSubscribeCommand:
    channel_id: str | None = None
    time: tuple[int, int] | None = None
    timezone: str | None = None
    accounts: list[str] = []
    kind: DigestKind | None = None
    quiet = False
    seen: set[str] = set()
    i = 0
    while i < len(args):
        token, key = args[i], args[i].lower()
        if token.startswith(("<#", "#")):
            _once(seen, "channel")
            channel_id = _channel(token)
            i += 1
        elif key == "quiet":
            _once(seen, "quiet")
            quiet = True
            i += 1
        elif key in ("at", "tz", "kind"):
            _once(seen, key)
            value = _value_after(args, i)
            if key == "at":
                time = _time_of_day(value)
            elif key == "tz":
                timezone = _timezone(value)
            else:
                kind = _digest_kind(value)
            i += 2
        elif key in ("account", "accounts"):
            _once(seen, "account")
            i += 1
            start = i
            while i < len(args) and args[i].lower() not in _SUBSCRIBE_KEYWORDS:
                if args[i].startswith(("<#", "#")):
                    break
                for part in args[i].split(","):
                    if part and parse_account(part) not in accounts:
                        accounts.append(part)
                i += 1
            if i == start:
                raise UsageError(f"Which accounts? Put them after `account`: {_SUBSCRIBE_FORM}.")
        else:
            guess = closest(key, _SUBSCRIBE_KEYWORDS)
            raise UsageError(
                f"`digest subscribe` does not understand {echo(token)}. Use {_SUBSCRIBE_FORM}.",
                did_you_mean=(
                    " ".join(["digest", "subscribe", *args[:i], guess, *args[i + 1 :]])
                    if guess
                    else None
                ),
            )
    if len(accounts) > MAX_DIGEST_ACCOUNTS:
        raise UsageError(
            f"A digest can follow at most {MAX_DIGEST_ACCOUNTS} named accounts "
            "(leave out `account` to follow them all)."
        )
    hour, minute = time if time is not None else default_time
    return DigestSubscribeCommand(
        channel_id=channel_id,
        hour=hour,
        minute=minute,
        timezone=timezone or "UTC",
        accounts=tuple(accounts),
        kind=kind or "all",
        quiet=quiet,
    )


_ALERT_FORMS = (
    "`/zuora alerts subscribe [#channel] [threshold N per M minutes] [kind callouts|emails|all]`, "
    "`/zuora alerts list`, `/zuora alerts unsubscribe <id>` or `/zuora alerts updates <id> thread|edit`"
)

_ALERT_SUBSCRIBE_FORM = (
    "`/zuora alerts subscribe [#channel] [threshold N per M minutes] [kind callouts|emails|all]`, "
    "e.g. `/zuora alerts subscribe #billing-ops threshold 10 per 15 minutes kind callouts`"
)

_ALERT_KEYWORDS = ("threshold", "kind")

_MINUTE_WORDS = ("m", "min", "mins", "minute", "minutes")

_HOUR_WORDS = ("h", "hour", "hours")

_DURATION = re.compile(r"^(\d{1,5})(m|min|mins|minutes?|h|hours?)?$", re.IGNORECASE)


def parse_alerts(args: list[str]) -> AlertCommand:
    """`/zuora alerts …` after the word `alerts`: subscribe, list or unsubscribe."""
    if not args:
        raise UsageError(f"What should alerts do? Use {_ALERT_FORMS}.")
    name, rest = args[0].lower(), args[1:]
    if name == "subscribe":
        return _alert_subscribe(rest)
    if name == "list":
        no_more(rest, "alerts list")
        return AlertListCommand()
    if name == "unsubscribe":
        form = "`/zuora alerts unsubscribe <id>` (the id is in `/zuora alerts list`)"
        if len(rest) != 1:
            raise UsageError(f"Which alert? Use {form}.")
        text = rest[0].lstrip("#")
        if not text.isascii() or not text.isdigit() or int(text) < 1 or len(text) > 12:
            raise UsageError(f"{echo(rest[0])} is not an alert id. Use {form}.")
        return AlertUnsubscribeCommand(subscription_id=int(text))
    if name == "updates":
        return _alert_updates(rest)
    guess = closest(name, ALERT_SUBCOMMANDS)
    raise UsageError(
        f"`alerts` has no {echo(args[0])} command. Use {_ALERT_FORMS}.",
        did_you_mean=" ".join(["alerts", guess, *rest]) if guess else None,
    )


def _alert_updates(args: list[str]) -> AlertUpdatesCommand:
    """`<id> thread|edit`: thread replies (the alert still edited) or edits in place only."""
    form = "`/zuora alerts updates <id> thread|edit` (the id is in `/zuora alerts list`)"
    if len(args) != 2:
        raise UsageError(f"Which alert, and thread or edit? Use {form}.")
    text, mode = args[0].lstrip("#"), args[1].lower()
    if not text.isascii() or not text.isdigit() or int(text) < 1 or len(text) > 12:
        raise UsageError(f"{echo(args[0])} is not an alert id. Use {form}.")
    if mode == "thread":
        return AlertUpdatesCommand(subscription_id=int(text), updates="thread")
    if mode == "edit":
        return AlertUpdatesCommand(subscription_id=int(text), updates="edit")
    raise UsageError(f"Updates are `thread` or `edit`, not {echo(args[1])}. Use {form}.")


def _alert_subscribe(args: list[str]) -> AlertSubscribeCommand:
    channel_id: str | None = None
    threshold, minutes = DEFAULT_ALERT_THRESHOLD, DEFAULT_ALERT_MINUTES
    kind: DigestKind = "all"
    seen: set[str] = set()
    i = 0
    while i < len(args):
        token, key = args[i], args[i].lower()
        if token.startswith(("<#", "#")):
            _once_in(seen, "channel", _ALERT_SUBSCRIBE_FORM)
            channel_id = _channel(token)
            i += 1
        elif key == "threshold":
            _once_in(seen, "threshold", _ALERT_SUBSCRIBE_FORM)
            threshold, minutes, i = _threshold(args, i + 1)
        elif key == "kind":
            _once_in(seen, "kind", _ALERT_SUBSCRIBE_FORM)
            if i + 1 >= len(args):
                raise UsageError(f"`kind` needs a value. Use {_ALERT_SUBSCRIBE_FORM}.")
            kind = _digest_kind(args[i + 1])
            i += 2
        else:
            guess = closest(key, _ALERT_KEYWORDS)
            raise UsageError(
                f"`alerts subscribe` does not understand {echo(token)}. Use {_ALERT_SUBSCRIBE_FORM}.",
                did_you_mean=(
                    " ".join(["alerts", "subscribe", *args[:i], guess, *args[i + 1 :]])
                    if guess
                    else None
                ),
            )
    return AlertSubscribeCommand(
        channel_id=channel_id, threshold=threshold, minutes=minutes, kind=kind
    )


def _threshold(args: list[str], i: int) -> tuple[int, int, int]:
    """Read `N per M minutes` (also `per 15m`, `per 15 min`, `per 2h`) from args[i:]."""
    form = "`threshold 10 per 15 minutes`"
    words = args[i : i + 4]
    if not words or not words[0].isascii() or not words[0].isdigit():
        shown = echo(words[0]) if words else "nothing"
        raise UsageError(f"`threshold` needs a number of failures, not {shown}: use {form}.")
    if len(words[0]) > 7 or not 1 <= int(words[0]) <= MAX_ALERT_THRESHOLD:
        raise UsageError(
            f"The threshold {echo(words[0])} is out of range: use 1 to {MAX_ALERT_THRESHOLD} "
            f"failures, e.g. {form}."
        )
    threshold = int(words[0])
    if len(words) < 3 or words[1].lower() != "per":
        raise UsageError(f"Say over how long: {form}.")
    duration = _DURATION.match(words[2])
    if not duration:
        raise UsageError(f"{echo(words[2])} is not a number of minutes: use {form}.")
    amount, unit = int(duration.group(1)), (duration.group(2) or "").lower()
    used = 3
    if not unit and len(words) > 3 and words[3].lower() in (*_MINUTE_WORDS, *_HOUR_WORDS):
        unit = words[3].lower()
        used = 4
    minutes = amount * 60 if unit in _HOUR_WORDS else amount
    if not MIN_ALERT_MINUTES <= minutes <= MAX_ALERT_MINUTES:
        raise UsageError(
            f"The period {echo(' '.join(words[2 : 2 + used - 2]))} is out of range: use {MIN_ALERT_MINUTES} to "
            f"{MAX_ALERT_MINUTES} minutes (24 hours), e.g. {form}."
        )
    return threshold, minutes, i + used


def _once_in(seen: set[str], key: str, form: str) -> None:
    if key in seen:
        raise UsageError(f"`{key}` is given twice. Use {form}.")
    seen.add(key)


def _channel(token: str) -> str:
    match = _CHANNEL.match(token)
    if not match:
        raise UsageError(
            f"Couldn't read the channel {echo(token)}. Pick it from Slack's `#` suggestions, "
            "or run the command in that channel and leave the channel out."
        )
    return match.group(1)


def _time_of_day(text: str) -> tuple[int, int]:
    match = _TIME.match(text)
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour <= 23 and minute <= 59:
            return hour, minute
    raise UsageError(
        f"{echo(text)} is not a time of day. Use 24-hour `HH:MM` from `00:00` to `23:59`, "
        "e.g. `at 09:30`."
    )


def _timezone(text: str) -> str:
    name = _zone_name(text)
    if name is None:
        zones = sorted(available_timezones())
        guesses = difflib.get_close_matches(text[:MAX_GUESS_CHARS], zones, n=1, cutoff=0.6)
        hint = f" Did you mean `{guesses[0]}`?" if guesses else ""
        raise UsageError(
            f"{echo(text)} is not a time zone.{hint} Use an `Area/City` name such as "
            "`Europe/Paris` or `America/New_York`, or `UTC`."
        )
    return name


def _zone_name(text: str) -> str | None:
    if text.upper() == "UTC":
        return "UTC"
    zones = available_timezones()
    name = text if text in zones else {z.lower(): z for z in zones}.get(text.lower())
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def _digest_kind(text: str) -> DigestKind:
    kinds: dict[str, DigestKind] = {
        "callouts": "callouts",
        "callout": "callouts",
        "emails": "emails",
        "email": "emails",
        "all": "all",
    }
    kind = kinds.get(text.lower())
    if kind is None:
        raise UsageError(
            f"{echo(text)} is not a kind. Use `kind callouts`, `kind emails` or `kind all`."
        )
    return kind


def _value_after(args: list[str], i: int) -> str:
    if i + 1 >= len(args) or args[i + 1].lower() in _SUBSCRIBE_KEYWORDS:
        raise UsageError(f"`{args[i].lower()}` needs a value. Use {_SUBSCRIBE_FORM}.")
    return args[i + 1]


def _once(seen: set[str], key: str) -> None:
    if key in seen:
        raise UsageError(f"`{key}` is given twice. Use {_SUBSCRIBE_FORM}.")
    seen.add(key)
