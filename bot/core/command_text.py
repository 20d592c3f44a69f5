"""Parse the text after `/zuora` into a typed command, or raise UsageError saying how to fix it.

Pure: no Slack, no Zuora, no settings. `UsageError.message` is plain text with `code` spans, to be
escaped when rendered (build_help and build_error do). User input it echoes is also defanged on its
own: `&`, `<`, `>` and backticks become look-alikes, so an echo can never form a Slack token.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.core.actions import MAX_IDS_PER_VALUE, ResendRef
from bot.core.kinds import NotificationKind
from bot.core.patterns import is_history_id

DigestKind = Literal["callouts", "emails", "all"]

MAX_WINDOW = timedelta(days=30)
MIN_WINDOW = timedelta(minutes=5)
DEFAULT_WINDOW = "24h"
MAX_DIGEST_ACCOUNTS = 20
SUBCOMMANDS = ("help", "failures", "outages", "resend", "status", "audit", "digest", "alerts")
MAX_OUTAGE_WINDOW = timedelta(days=7)
DIGEST_SUBCOMMANDS = ("subscribe", "list", "unsubscribe", "preview")
ALERT_SUBCOMMANDS = ("subscribe", "list", "unsubscribe")
DEFAULT_ALERT_THRESHOLD = 10
DEFAULT_ALERT_MINUTES = 15
MAX_ALERT_THRESHOLD = 100_000
MIN_ALERT_MINUTES = 5
MAX_ALERT_MINUTES = 24 * 60

#: Input bounds checked before any pattern or fuzzy match reads the text: far above any real command
#: (40 IDs of 64 characters fit in 2,700), so a pasted megabyte costs no more than a line.
MAX_COMMAND_CHARS = 4000
MAX_WORD_CHARS = 200
MIN_TYPED_ID = 8  # a typed id shorter than this is a typo, not one of Zuora's (32 hex or a UUID)
_WINDOW = re.compile(r"^(\d{1,6})([mhd])$", re.IGNORECASE)
_ACCOUNT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CHANNEL = re.compile(r"^<#([CG][A-Z0-9]{2,30})(?:\|[^>]*)?>$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_UNIT_NAMES = {"m": "minutes", "h": "hours", "d": "days"}
_MAX_WINDOW_CHARS = 16  # `_WINDOW` reads at most 7; anything longer is refused unread
_MAX_GUESS_CHARS = 64  # difflib is quadratic in the word's length: suggest from its start only
_LOOKALIKES = str.maketrans({"&": "＆", "<": "‹", ">": "›", "`": "ˋ"})


class UsageError(Exception):
    """The command text is wrong; `message` says what and shows the right form.

    `usage` names the subcommand it is about ("failures", "digest subscribe", "digest"), so the
    reply can show that subcommand's usage line rather than every command; None for an unknown
    command.
    """

    def __init__(
        self, message: str, did_you_mean: str | None = None, usage: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.did_you_mean = did_you_mean
        self.usage = usage


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


AlertCommand = AlertSubscribeCommand | AlertListCommand | AlertUnsubscribeCommand

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
        _no_more(args, "status")
        return StatusCommand()
    if name == "audit":
        return _audit(args)
    if name == "digest":
        return _digest(args, default_time)
    if name in ("alerts", "alert"):
        return _alerts(args)
    raise _unknown(tokens[0], args)


def parse_window(text: str) -> tuple[timedelta, str]:
    """Read a window like `90m`, `24h` or `7d` into its length and normalised label."""
    match = _WINDOW.match(text) if len(text) <= _MAX_WINDOW_CHARS else None
    if not match:
        raise UsageError(
            f"{echo(text)} is not a time window. Use minutes, hours or days, e.g. `90m`, `24h` or `7d` "
            f"(at most `30d`): `/zuora failures A00000001 7d`."
        )
    amount, unit = int(match.group(1)), match.group(2).lower()
    length = timedelta(**{_UNIT_NAMES[unit]: amount})
    if length > MAX_WINDOW:
        raise UsageError(
            f"The window {echo(text)} is too large: the maximum is 30 days (`30d` or `720h`). "
            "Zuora keeps notification history for a limited time, and longer scans are slow."
        )
    if length < MIN_WINDOW:
        raise UsageError(f"The window {echo(text)} is too small: the minimum is 5 minutes (`5m`).")
    return length, f"{amount}{unit}"


def parse_account(text: str) -> str:
    """Validate an account number or id: letters, digits, `-`, `_`, `.` (no `..`), at most 64."""
    if len(text) > 64 or not _ACCOUNT.match(text) or ".." in text:
        raise UsageError(
            f"That doesn't look like an account number or ID: {echo(text)}. "
            "Use the account number (e.g. `A00000001`) or the 32-character account ID."
        )
    return text


def echo(text: str, limit: int = 40) -> str:
    """User input quoted back in a code span, cut short, with `&<>` and backticks made harmless."""
    shown = text[:limit].translate(_LOOKALIKES)
    if len(text) > limit:
        shown = shown[: limit - 1] + "…"
    return f"`{shown}`"


def _failures(args: list[str]) -> FailuresCommand:
    form = "`/zuora failures <account> [window]`, e.g. `/zuora failures A00000001 7d`"
    if not args:
        raise UsageError(f"Which account? Use {form}.")
    if len(args) > 2:
        raise UsageError(f"Too many words after `failures`. Use {form}.")
    account_text, window_text = args[0], (args[1] if len(args) == 2 else DEFAULT_WINDOW)
    # Forgive the window first ("failures 7d A00000001"): an account number never looks like one.
    if len(args) == 2 and _WINDOW.match(args[0]) and not _WINDOW.match(args[1]):
        account_text, window_text = args[1], args[0]
    account = parse_account(account_text)
    window, label = parse_window(window_text)
    return FailuresCommand(account=account, window=window, label=label)


def parse_outage_window(text: str) -> tuple[timedelta, str]:
    """Read an outages window (`90m` … `7d`, default `24h`) into its length and label."""
    match = _WINDOW.match(text) if len(text) <= _MAX_WINDOW_CHARS else None
    if not match:
        raise UsageError(
            f"{echo(text)} is not a time window. Use minutes, hours or days, e.g. `90m`, `24h` "
            "(the default) or `7d` (at most): `/zuora outages 6h`."
        )
    amount, unit = int(match.group(1)), match.group(2).lower()
    if timedelta(**{_UNIT_NAMES[unit]: amount}) > MAX_OUTAGE_WINDOW:
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


def _digest(args: list[str], default_time: tuple[int, int]) -> Command:
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
        _no_more(rest, "digest list")
        return DigestListCommand()
    if name == "preview":
        _no_more(rest, "digest preview")
        return DigestPreviewCommand()
    if name == "unsubscribe":
        return _unsubscribe(rest)
    guess = _closest(name, DIGEST_SUBCOMMANDS)
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
            guess = _closest(key, _SUBSCRIBE_KEYWORDS)
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
    "`/zuora alerts list` or `/zuora alerts unsubscribe <id>`"
)
_ALERT_SUBSCRIBE_FORM = (
    "`/zuora alerts subscribe [#channel] [threshold N per M minutes] [kind callouts|emails|all]`, "
    "e.g. `/zuora alerts subscribe #billing-ops threshold 10 per 15 minutes kind callouts`"
)
_ALERT_KEYWORDS = ("threshold", "kind")
_MINUTE_WORDS = ("m", "min", "mins", "minute", "minutes")
_HOUR_WORDS = ("h", "hour", "hours")
_DURATION = re.compile(r"^(\d{1,5})(m|min|mins|minutes?|h|hours?)?$", re.IGNORECASE)


def _alerts(args: list[str]) -> Command:
    if not args:
        raise UsageError(f"What should alerts do? Use {_ALERT_FORMS}.")
    name, rest = args[0].lower(), args[1:]
    if name == "subscribe":
        return _alert_subscribe(rest)
    if name == "list":
        _no_more(rest, "alerts list")
        return AlertListCommand()
    if name == "unsubscribe":
        form = "`/zuora alerts unsubscribe <id>` (the id is in `/zuora alerts list`)"
        if len(rest) != 1:
            raise UsageError(f"Which alert? Use {form}.")
        text = rest[0].lstrip("#")
        if not text.isascii() or not text.isdigit() or int(text) < 1 or len(text) > 12:
            raise UsageError(f"{echo(rest[0])} is not an alert id. Use {form}.")
        return AlertUnsubscribeCommand(subscription_id=int(text))
    guess = _closest(name, ALERT_SUBCOMMANDS)
    raise UsageError(
        f"`alerts` has no {echo(args[0])} command. Use {_ALERT_FORMS}.",
        did_you_mean=" ".join(["alerts", guess, *rest]) if guess else None,
    )


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
            guess = _closest(key, _ALERT_KEYWORDS)
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
        guesses = difflib.get_close_matches(text[:_MAX_GUESS_CHARS], zones, n=1, cutoff=0.6)
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


def _no_more(args: list[str], name: str) -> None:
    if args:
        raise UsageError(f"`{name}` takes nothing after it; try `/zuora {name}`.")


def _unknown(word: str, args: list[str]) -> UsageError:
    guess = _closest(word.lower(), SUBCOMMANDS)
    if guess is not None:
        suggestion: str | None = " ".join([guess, *args])
    elif not args and _ACCOUNT.match(word) and any(c.isdigit() for c in word) and ".." not in word:
        suggestion = f"failures {word}"  # "/zuora A00000001" most likely means its failures
    else:
        suggestion = None
    return UsageError(
        f"`/zuora` has no {echo(word)} command. Commands: "
        + ", ".join(f"`{name}`" for name in SUBCOMMANDS)
        + ".",
        did_you_mean=suggestion,
    )


def _closest(word: str, choices: tuple[str, ...]) -> str | None:
    matches = difflib.get_close_matches(word[:_MAX_GUESS_CHARS], choices, n=1, cutoff=0.6)
    return matches[0] if matches else None
