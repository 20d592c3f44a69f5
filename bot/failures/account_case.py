"""Did you mean `A00000001`? An account key Zuora did not find, tried again in the other case.

Whether Zuora matches account numbers case-insensitively is not documented (zuora-api.md says
nothing about it), so the bot never rewrites what was typed: the key goes to Zuora as typed, and
only when Zuora answers "not found" are its upper- and lower-case forms looked up. One that exists
is offered as a suggestion; nothing runs for it until the user asks. A tenant that does match case-
insensitively never gets here, because the first lookup already found the account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.zuora.errors import ZuoraNotFoundError
from bot.zuora.models import Account

logger = logging.getLogger(__name__)


def case_variants(key: str) -> list[str]:
    """The key's upper- and lower-case forms that differ from it (at most two, in that order)."""
    variants: list[str] = []
    for variant in (key.upper(), key.lower()):
        if variant != key and variant not in variants:
            variants.append(variant)
    return variants


def account_in_other_case(lookup: Callable[[str], Account], key: str) -> Account | None:
    """The account Zuora finds under `key` in another case, or None (other errors propagate)."""
    for variant in case_variants(key):
        try:
            return lookup(variant)
        except ZuoraNotFoundError:
            logger.debug("no account %r either", variant)
    return None


def other_case_message(typed: str, found: Account, command: str) -> tuple[str, str]:
    """(message, hint) for build_error: no such account as typed, but this one; run `command`."""
    return (
        f"Zuora has no account `{typed}`, but it has `{found.number}` ({found.name}).",
        f"Did you mean `/zuora {command}`? The bot sends account numbers to Zuora as typed.",
    )
