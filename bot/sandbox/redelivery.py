"""What the sandbox Zuora does after it accepts a resend: a NEW history record, a little later.

Zuora's resend documents do not say whether a resend appends a history record or changes the old
one. The bot's GUESS (bot.resend.outcomes) is that it appends one; the sandbox behaves exactly so:
each id Zuora accepted becomes a new record ``Tenant.redelivery_delay`` of sandbox time after the
resend (it shows on the first history read after that moment), with a new id and the original's
fields (an email's account, event category, notification, recipient and subject; a callout's
eventContext, so its ``<Event.ID>``, and request URL). It is delivered (email result "OK",
callout response 200) unless the tenant says it fails again (``Tenant.fails_again``: an address,
``@domain`` or URL prefix -> the bounce or response it gets), e.g. an address that still bounces
with "550 5.1.1 user unknown". The original record is left as it was.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from bot.sandbox.tenant import FailAgain, FakeCallout, FakeEmail, Tenant

Kind = Literal["callout", "email"]


@dataclass(frozen=True)
class _Pending:
    """One accepted resend whose new record is not in the history yet."""

    due: datetime
    kind: Kind
    history_id: str
    serial: int


class Redeliveries:
    """The new records accepted resends will add, released into the tenant once they are due."""

    def __init__(self, tenant: Tenant) -> None:
        self._tenant = tenant
        self._pending: list[_Pending] = []
        self._serial = 0
        self._lock = threading.Lock()

    def schedule(self, kind: Kind, history_id: str, *, at: datetime) -> None:
        """Remember that Zuora accepted ``history_id`` at ``at``: its new record comes later."""
        with self._lock:
            self._serial += 1
            due = at + self._tenant.redelivery_delay
            self._pending.append(_Pending(due, kind, history_id, self._serial))

    def release(self, now: datetime, originals: dict[str, FakeCallout | FakeEmail]) -> bool:
        """Add every due record to the tenant; True when any was added (the caller reindexes)."""
        with self._lock:
            due = [p for p in self._pending if p.due <= now]
            if not due:
                return False
            self._pending = [p for p in self._pending if p.due > now]
        for pending in due:
            original = originals.get(pending.history_id)
            if isinstance(original, FakeEmail) and pending.kind == "email":
                self._tenant.add_email(self._email(original, pending))
            elif isinstance(original, FakeCallout) and pending.kind == "callout":
                self._tenant.add_callout(self._callout(original, pending))
        return True

    @property
    def pending(self) -> int:
        """How many accepted resends have no record yet."""
        with self._lock:
            return len(self._pending)

    def _email(self, original: FakeEmail, pending: _Pending) -> FakeEmail:
        """The new email record: same message, sent again, delivered or bounced again."""
        again = self._tenant.fails_again_for(original.to_email)
        return replace(
            original,
            id=_new_id(original.id, pending.serial),
            send_time=pending.due.replace(microsecond=0),
            result="Failed" if again else "OK",
            error_message=_bounce(again, original.to_email) if again else None,
        )

    def _callout(self, original: FakeCallout, pending: _Pending) -> FakeCallout:
        """The new callout record: same event and endpoint, answered 200 or failing again."""
        again = self._tenant.fails_again_for(original.request_url)
        code = again.response_code if again and again.response_code is not None else 200
        return replace(
            original,
            id=_new_id(original.id, pending.serial),
            create_time=pending.due.replace(microsecond=0),
            response_code=code,
            attempted_num=1,
            failed=again is not None,
            response_content=again.message if again else '{"received": true}',
        )


def _bounce(again: FailAgain, to: str) -> str:
    """The mail server's words for a repeated bounce (``{to}`` names the address)."""
    return again.message.replace("{to}", to)


def _new_id(original: str, serial: int) -> str:
    """A fresh 32-hex history id derived from the original and the resend's serial."""
    return hashlib.sha256(f"{original}:{serial}".encode()).hexdigest()[:32]
