"""The words every `/zuora` subcommand shares: UsageError, windows, accounts, echoing input back.

Pure: no Slack, no Zuora, no settings. `UsageError.message` is plain text with `code` spans, to be
escaped when rendered. User input it echoes is also defanged on its own: `&`, `<`, `>` and backticks
become look-alikes, so an echo can never form a Slack token.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta

MAX_WINDOW = timedelta(days=30)
MIN_WINDOW = timedelta(minutes=5)
DEFAULT_WINDOW = "24h"
#: Input bounds checked before any pattern or fuzzy match reads the text: far above any real command
#: (40 IDs of 64 characters fit in 2,700), so a pasted megabyte costs no more than a line.
MAX_COMMAND_CHARS = 4000
MAX_WORD_CHARS = 200
MIN_TYPED_ID = 8  # a typed id shorter than this is a typo, not one of Zuora's (32 hex or a UUID)
WINDOW_RE = re.compile(r"^(\d{1,6})([mhd])$", re.IGNORECASE)
ACCOUNT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
UNIT_NAMES = {"m": "minutes", "h": "hours", "d": "days"}
MAX_WINDOW_CHARS = 16  # `WINDOW_RE` reads at most 7; anything longer is refused unread
MAX_GUESS_CHARS = 64  # difflib is quadratic in the word's length: suggest from its start only
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


def parse_window(text: str) -> tuple[timedelta, str]:
    """Read a window like `90m`, `24h` or `7d` into its length and normalised label."""
    match = WINDOW_RE.match(text) if len(text) <= MAX_WINDOW_CHARS else None
    if not match:
        raise UsageError(
            f"{echo(text)} is not a time window. Use minutes, hours or days, e.g. `90m`, `24h` or `7d` "
            f"(at most `30d`): `/zuora failures A00000001 7d`."
        )
    amount, unit = int(match.group(1)), match.group(2).lower()
    length = timedelta(**{UNIT_NAMES[unit]: amount})
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
    if len(text) > 64 or not ACCOUNT_RE.match(text) or ".." in text:
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


def no_more(args: list[str], name: str) -> None:
    if args:
        raise UsageError(f"`{name}` takes nothing after it; try `/zuora {name}`.")


def closest(word: str, choices: tuple[str, ...]) -> str | None:
    matches = difflib.get_close_matches(word[:MAX_GUESS_CHARS], choices, n=1, cutoff=0.6)
    return matches[0] if matches else None
