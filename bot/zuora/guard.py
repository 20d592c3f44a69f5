"""Input guard: account keys and history ids are checked before they go near a URL or a body."""

from __future__ import annotations

import re

from bot.core.patterns import (
    HISTORY_ID,
    HISTORY_ID_PATTERN,
    OBJECT_ID_PATTERN,
    is_history_id,
    is_object_id,
)
from bot.zuora.errors import ZuoraInputError

MAX_KEY_LENGTH = 64
_ACCOUNT_KEY = re.compile(r"[A-Za-z0-9_.-]+")


def validate_account_key(key: str) -> str:
    """Return an account number or 32-hex id that is safe in a URL path, else raise ZuoraInputError.

    Account numbers are tenant-configurable, so any of letters, digits, `-`, `_` and `.` is allowed,
    but never `..`, a lone `.`, slashes, `%` (encoded slashes), whitespace, quotes or control characters.
    """
    text = _common_checks("Account key", key)
    if ".." in text or text == ".":
        raise ZuoraInputError(f"Account key {safe_repr(text)} must not contain '..' or be '.'")
    if not _ACCOUNT_KEY.fullmatch(text):
        raise ZuoraInputError(
            f"Account key {safe_repr(text)} may only hold letters, digits, '-', '_' and '.'"
        )
    return text


def validate_history_id(history_id: str) -> str:
    """Return a notification-history id (letters and digits, or a UUID), else raise ZuoraInputError."""
    text = _common_checks("History id", history_id)
    if not HISTORY_ID.fullmatch(text):
        raise ZuoraInputError(
            f"History id {safe_repr(text)} must be letters and digits (at most 64), or a UUID"
        )
    return text


def safe_repr(value: object, limit: int = 32) -> str:
    """A quoted, escaped and truncated rendering of untrusted text for error messages."""
    text = value if isinstance(value, str) else str(value)
    return repr(text[:limit] + "…" if len(text) > limit else text)


def _common_checks(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise ZuoraInputError(f"{what} must be text, got {type(value).__name__}")
    if not value:
        raise ZuoraInputError(f"{what} is empty")
    if len(value) > MAX_KEY_LENGTH:
        raise ZuoraInputError(
            f"{what} {safe_repr(value)} is longer than {MAX_KEY_LENGTH} characters"
        )
    return value


__all__ = [
    "HISTORY_ID_PATTERN",
    "MAX_KEY_LENGTH",
    "OBJECT_ID_PATTERN",
    "is_history_id",
    "is_object_id",
    "safe_repr",
    "validate_account_key",
    "validate_history_id",
]
