"""Is an outage's cause over? The pure decision, from recent deliveries to the same place.

A callout cause's place is its endpoint (bot.outages.causes.endpoint_of of the URL); an email
cause's place is the mail domains its failures were sent to. Given the cause's last known failure
and what a short read of recent history (successes included) shows for that place: the first
success after the last failure means Recovered; a failure that recent read saw, with no success
after it, means StillFailing when that failure is recent (after `recent_since`, e.g. the last
hour); an older last failure with nothing to that place since means NoNewsYet.

What counts as a success: an email whose `result` is "OK" (errorMessage empty); a callout answered
2xx. GUESS (the list records carry no success flag): a tenant set to parse callout response bodies
can record a failed 200 (zuora-api.md trap 8), so for a cause whose failures themselves answered
2xx a 2xx is not taken as a success.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.outages.causes import CauseGroup, endpoint_of, recipient_domains
from bot.zuora.models import CalloutHistory, EmailHistory


@dataclass(frozen=True)
class Recovered:
    """A delivery to the same place succeeded after the last failure, first at `at`."""

    at: datetime


@dataclass(frozen=True)
class StillFailing:
    """The last failure to the same place is recent and no success came after it."""

    last_failure: datetime


@dataclass(frozen=True)
class NoNewsYet:
    """No delivery to the same place since its last failure (neither success nor failure)."""

    last_failure: datetime | None


@dataclass(frozen=True)
class RecoveryUnknown:
    """The recent read could not be done (Zuora did not answer): nothing is known."""

    reason: str


Decision = Recovered | StillFailing | NoNewsYet
Recovery = Decision | RecoveryUnknown


@dataclass(frozen=True)
class Delivery:
    """One delivery to the cause's place: when, and whether it got through."""

    at: datetime
    ok: bool


def decide(
    last_failure: datetime | None, deliveries: Iterable[Delivery], *, recent_since: datetime
) -> Decision:
    """The decision for a cause whose last known failure is `last_failure`, from the deliveries to
    its place a recent read returned (any order); a failure after `recent_since` is "recent"."""
    seen = list(deliveries)
    failures = [d.at for d in seen if not d.ok]
    known = [at for at in (last_failure, *failures) if at is not None]
    last = max(known, default=None)
    after = [d.at for d in seen if d.ok and (last is None or d.at > last)]
    if after:
        return Recovered(min(after))
    if last is not None and last >= recent_since:
        return StillFailing(last)
    return NoNewsYet(last)


def code_ok(code: str | None) -> bool:
    """Whether a callout's response code is a 2xx."""
    text = (code or "").strip()
    return len(text) == 3 and text.isdigit() and text.startswith("2")


def callout_deliveries(group: CauseGroup, records: Iterable[CalloutHistory]) -> list[Delivery]:
    """The records that went to the cause's endpoint, as deliveries."""
    endpoint = group.label.partition(" → ")[0]
    answer = group.label.rpartition(" → ")[2]
    # A cause whose failures answered 2xx: only a non-failure we can recognise would count, and the
    # list cannot show one (see the module docstring), so no 2xx counts as a success.
    trust_2xx = not (answer.startswith("HTTP ") and code_ok(answer[5:]))
    return [
        Delivery(r.create_time, trust_2xx and code_ok(r.response_code))
        for r in records
        if endpoint_of(r.request_url) == endpoint
    ]


def email_deliveries(domains: Collection[str], records: Iterable[EmailHistory]) -> list[Delivery]:
    """The records sent to one of `domains`, as deliveries (result "OK" is a success)."""
    wanted = {d.lower() for d in domains}
    return [
        Delivery(r.send_time, (r.result or "").strip().upper() == "OK" and not r.error_message)
        for r in records
        if recipient_domains(r.to_email) & wanted
    ]


__all__ = [
    "Decision",
    "Delivery",
    "NoNewsYet",
    "Recovered",
    "Recovery",
    "RecoveryUnknown",
    "StillFailing",
    "callout_deliveries",
    "code_ok",
    "decide",
    "email_deliveries",
]
