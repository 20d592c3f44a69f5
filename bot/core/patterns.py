"""Pure id patterns: what a Zuora object id and a notification-history id look like, shared by every layer."""

from __future__ import annotations

import re

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#: A Zuora object ID: 32 hex characters by default, or a 36-character UUID on tenants that opted in.
OBJECT_ID_PATTERN = rf"(?:[0-9a-fA-F]{{32}}|{_UUID})"
#: A notification-history ID as our buttons and the resend API take it: 1-64 letters and digits, or
#: a UUID (Zuora's tenant option for 36-character IDs).
HISTORY_ID_PATTERN = rf"(?:[0-9A-Za-z]{{1,64}}|{_UUID})"
HISTORY_ID = re.compile(HISTORY_ID_PATTERN)
OBJECT_ID = re.compile(OBJECT_ID_PATTERN)


def is_history_id(value: object) -> bool:
    """Whether `value` is a history id our buttons and the resend API accept."""
    return isinstance(value, str) and HISTORY_ID.fullmatch(value) is not None


def is_object_id(value: object) -> bool:
    """Whether `value` is a Zuora object ID (32 hex, or a UUID), as opposed to an account number."""
    return isinstance(value, str) and OBJECT_ID.fullmatch(value) is not None


#: An account number as Zuora numbers accounts by default: `A` and eight digits (A00000001).
#: GUESS: tenants may configure another prefix or length; such numbers are not found in free text
#: (a link or `/zuora failures <number>` still works for them).
ACCOUNT_NUMBER_PATTERN = r"A[0-9]{8}"
