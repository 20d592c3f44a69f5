"""Zuora-Track-Id values: validate caller-supplied ones and build safe new ones."""

from __future__ import annotations

import re
import secrets

from bot.zuora.errors import ZuoraInputError

MAX_TRACK_ID_LENGTH = 64
# Printable US-ASCII without space and without the four characters Zuora forbids (: ; " ').
_TRACK_ID = re.compile(r"[!#-&(-9<-~]+")
_PART_JUNK = re.compile(r"[^A-Za-z0-9_.-]+")
_SUFFIX_HEX = 8  # random hex digits that make each id unique
_MAX_PART = 20


def validate_track_id(track_id: str) -> str:
    """Return `track_id` if Zuora accepts it as a Zuora-Track-Id, else raise ZuoraInputError."""
    if not isinstance(track_id, str) or not track_id:
        raise ZuoraInputError("A Zuora track id is required")
    if len(track_id) > MAX_TRACK_ID_LENGTH:
        raise ZuoraInputError(
            f"Zuora track id {_shown(track_id)} is longer than {MAX_TRACK_ID_LENGTH} characters"
        )
    if not _TRACK_ID.fullmatch(track_id):
        raise ZuoraInputError(
            f"Zuora track id {_shown(track_id)} may hold printable ASCII only, "
            "without spaces or any of : ; \" '"
        )
    return track_id


def new_track_id(prefix: str = "zops", *parts: str) -> str:
    """Build a unique, valid track id such as `zops-T0001-U0002-3f9a1c2b` from untrusted parts."""
    cleaned = [_clean(prefix) or "zops"]
    cleaned.extend(piece for piece in (_clean(part) for part in parts) if piece)
    suffix = secrets.token_hex(_SUFFIX_HEX // 2)
    body = "-".join(cleaned)[: MAX_TRACK_ID_LENGTH - _SUFFIX_HEX - 1].rstrip("-")
    return f"{body}-{suffix}"


def _clean(part: object) -> str:
    return _PART_JUNK.sub("", str(part))[:_MAX_PART]


def _shown(value: str) -> str:
    return repr(value[:32] + "…" if len(value) > 32 else value)
