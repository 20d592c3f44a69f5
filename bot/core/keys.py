"""Keys that make a click act once: the dedup key and the Idempotency-Key derived from it."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

_NAMESPACE = uuid.UUID("6f0e9d3c-3b55-4a8f-9d5e-6d1d2b7c9a10")


def click_key(body: Mapping[str, Any], action_id: str, subject: Iterable[str]) -> str:
    """Hash of the message clicked (or its response_url), the action and the ids it acts on.

    The clicker is deliberately left out: two people clicking the same card resend once.
    """
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
    message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    where = f"{channel}/{message_ts}" if message_ts else str(body.get("response_url") or "")
    material = "\n".join([where, action_id, *sorted(set(subject))])
    return hashlib.sha256(material.encode()).hexdigest()


def idempotency_key(key: str) -> str:
    """A UUID for Zuora's Idempotency-Key, stable for a given click key."""
    return str(uuid.uuid5(_NAMESPACE, key))
