"""Matching Data Query's history IDs to the rows Zuora lists without one, strictly.

An email matches on account, event category, recipient, subject and result (Status) with its send
time within `ZUORA_ID_MATCH_TOLERANCE` of CreatedOn; a callout on `<Object.ID>`, event category,
attempt number and response code with its create time within the tolerance of CreateTime. A value
missing on either side is a mismatch, and a record lacking one of those values gets no ID at all.
A row gets an ID only when exactly one Data Query record fits it and that record fits no other row;
otherwise it keeps none and says why. Pure: the lookups themselves are `bot.failures.history_ids`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from bot.failures.results import AccountFailures
from bot.zuora.dataquery import CALLOUT_TABLE, EMAIL_TABLE, UTC_TIME_LABEL, match_columns, parse_utc
from bot.zuora.guard import is_history_id
from bot.zuora.models import CalloutHistory, EmailHistory, NotificationKind

_R = TypeVar("_R", EmailHistory, CalloutHistory)

IdMode = Literal["auto", "rest", "data-query"]
KINDS: tuple[NotificationKind, ...] = ("callout", "email")
TABLES: Mapping[NotificationKind, str] = {"email": EMAIL_TABLE, "callout": CALLOUT_TABLE}

NO_MATCH = "no Data Query record matches it yet; resend it from Zuora"
AMBIGUOUS = "{count} Data Query records match it equally; resend it from Zuora"
_AMBIGUOUS_TAIL = AMBIGUOUS.removeprefix("{count}")
SHARED = "another row on this card matches the same Data Query record; resend it from Zuora"
MISSING = (
    "Zuora's record has no {fields}, so its Data Query record cannot be told apart from others; "
    "resend it from Zuora"
)
DELIVERED_LOOKALIKE = (
    "Zuora marked this {code} answer failed; Data Query cannot tell it from a delivered callout, "
    "so resend it from Zuora"
)
#: How a row names a match field it lacks (lower-cased Data Query column → words on the card).
FIELD_NAMES: Mapping[str, str] = {
    "objectid": "<Object.ID>",
    "eventcategory": "event category",
    "attemptnumber": "attempt number",
    "responsecode": "response code",
    "to": "recipient",
    "subject": "subject",
    "status": "result",
}


@dataclass(frozen=True)
class TableSchema:
    """The columns one history table has on this tenant (lower-cased) and how they were learned."""

    table: str
    columns: frozenset[str]
    source: str  # "SHOW COLUMNS" or "a one-row query"


@dataclass(frozen=True)
class Candidate:
    """One Data Query row: its history ID, its time in UTC, and its match fields (normalised)."""

    id: str
    at: datetime | None
    fields: Mapping[str, str]
    account: str = ""  # the row's AccountId, lower-cased (a replay matches per account)


@dataclass(frozen=True)
class HistoryIds:
    """Data Query's history IDs for one account's emails or callouts, ready for matching."""

    kind: NotificationKind
    candidates: tuple[Candidate, ...]
    columns: tuple[str, ...]  # the match columns this tenant has (lower-cased)
    rows: int = 0


@dataclass(frozen=True)
class Match:
    """What matching decided for one row: an ID, or why it has none."""

    id: str | None
    problem: str | None = None


@dataclass
class MatchStats:
    """How the last matching went, for /zuora status: rows matched, ambiguous, unmatched."""

    matched: int = 0
    ambiguous: int = 0
    unmatched: int = 0


@dataclass(frozen=True)
class TableStatus:
    """One table's state for /zuora status: its columns, or why they could not be learned."""

    table: str
    columns: tuple[str, ...] = ()
    source: str | None = None
    error: str | None = None
    missing: tuple[str, ...] = ()  # lookup columns the table lacks


@dataclass(frozen=True)
class IdSourceStatus:
    """Which ID source this tenant uses and whether it works (the /zuora status section)."""

    mode: IdMode
    rest_ids_seen: bool | None  # whether the last REST rows carried ids (None: no card yet)
    tables: tuple[TableStatus, ...] = ()
    stats: Mapping[NotificationKind, MatchStats] = field(default_factory=dict)


# -- matching ------------------------------------------------------------------------------------


def normalise(value: object) -> str:
    """A field for matching: numbers as in str(), text stripped and case-folded, missing as ''."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().casefold()


def record_fields(record: EmailHistory | CalloutHistory) -> dict[str, str]:
    """A REST record's values for the match columns (lower-cased Data Query names)."""
    if isinstance(record, EmailHistory):
        values: dict[str, object] = {
            "eventcategory": record.event_category,
            "to": record.to_email,
            "subject": record.subject,
            "status": record.result,  # REST `result` holds what Data Query calls Status
        }
    else:
        values = {
            "objectid": record.object_id,
            "eventcategory": record.event_category,
            "attemptnumber": record.attempted_num,
            "responsecode": record.response_code,
        }
    return {name: normalise(value) for name, value in values.items()}


def record_time(record: EmailHistory | CalloutHistory) -> datetime:
    """The REST time compared with Data Query's CreatedOn / CreateTime."""
    return record.send_time if isinstance(record, EmailHistory) else record.create_time


def index_rows(
    kind: NotificationKind, rows: Sequence[Mapping[str, Any]], columns: Collection[str]
) -> HistoryIds:
    """Data Query rows (lower-cased labels) as candidates; rows without a usable ID are dropped."""
    used = match_columns(TABLES[kind], columns)
    candidates: list[Candidate] = []
    for row in rows:
        raw_id = str(row.get("id") or "").strip()
        if not is_history_id(raw_id):
            continue
        candidates.append(
            Candidate(
                id=raw_id,
                at=parse_utc(row.get(UTC_TIME_LABEL)),
                fields={name: normalise(row.get(name)) for name in used},
                account=normalise(row.get("accountid")),
            )
        )
    return HistoryIds(kind=kind, candidates=tuple(candidates), columns=used, rows=len(rows))


def _fits(
    record: EmailHistory | CalloutHistory,
    wanted: Mapping[str, str],
    candidate: Candidate,
    tolerance: timedelta,
) -> bool:
    if candidate.at is None or abs(candidate.at - record_time(record)) > tolerance:
        return False
    # Every match column the tenant has must hold the same value on both sides: a value missing
    # on either side is a mismatch, never a wildcard (a lagging row's look-alike must not fit).
    return all(value and wanted.get(name, "") == value for name, value in candidate.fields.items())


def unmatchable(record: EmailHistory | CalloutHistory, columns: Collection[str]) -> str | None:
    """Why no Data Query row can be tied to `record` with these match columns, or None if one can.

    A record lacking a value the tenant's rows are told apart by (a callout without <Object.ID>)
    would fit any row that differs only there; a callout Zuora failed with a 2xx answer looks like
    a delivered one in Data Query, whose lookups keep to non-2xx rows.
    """
    wanted = record_fields(record)
    lacking = [name for name in columns if not wanted.get(name)]
    if lacking:
        return MISSING.format(fields=" or ".join(FIELD_NAMES.get(n, n) for n in lacking))
    if isinstance(record, CalloutHistory) and _is_2xx(wanted.get("responsecode", "")):
        return DELIVERED_LOOKALIKE.format(code=wanted["responsecode"])
    return None


def _is_2xx(code: str) -> bool:
    return len(code) == 3 and code.startswith("2") and code.isdigit()


def match_records(
    records: Sequence[EmailHistory | CalloutHistory],
    found: HistoryIds,
    *,
    tolerance: timedelta,
    taken: Collection[str] = (),
) -> list[Match]:
    """One Match per record: an ID only where the record and a candidate fit each other alone.

    `taken` holds IDs other rows already carry (REST ids), which no record may get again.
    """
    pool = [c for c in found.candidates if c.id not in taken]
    fits: list[list[int]] = []
    reasons: list[str | None] = []
    claimed_by: dict[int, list[int]] = {}
    for row, record in enumerate(records):
        reason = unmatchable(record, found.columns)
        wanted = record_fields(record)
        hits = [
            i
            for i, candidate in enumerate(pool)
            if reason is None and _fits(record, wanted, candidate, tolerance)
        ]
        fits.append(hits)
        reasons.append(reason)
        for hit in hits:
            claimed_by.setdefault(hit, []).append(row)
    out: list[Match] = []
    for hits, reason in zip(fits, reasons, strict=True):
        if reason is not None:
            out.append(Match(None, reason))
        elif not hits:
            out.append(Match(None, NO_MATCH))
        elif len(hits) > 1:
            out.append(Match(None, AMBIGUOUS.format(count=len(hits))))
        elif len(claimed_by[hits[0]]) > 1:
            out.append(Match(None, SHARED))
        else:
            out.append(Match(pool[hits[0]].id))
    return out


def assign_ids(
    failures: AccountFailures,
    found: Mapping[NotificationKind, HistoryIds],
    *,
    tolerance: timedelta,
    override: bool,
) -> AccountFailures:
    """`failures` with matched IDs on the rows that need one (every row when `override`)."""
    callouts, emails = failures.callouts, failures.emails
    if "email" in found:
        emails = _assign(emails, found["email"], tolerance, override)
    if "callout" in found:
        callouts = _assign(callouts, found["callout"], tolerance, override)
    return replace(failures, callouts=callouts, emails=emails, ids_pending=False, ids_error=None)


def _assign(
    records: Sequence[_R], found: HistoryIds, tolerance: timedelta, override: bool
) -> list[_R]:
    needing = [r for r in records if override or not r.id]
    taken = set() if override else {r.id for r in records if r.id}
    matches = iter(match_records(needing, found, tolerance=tolerance, taken=taken))
    out: list[_R] = []
    for record in records:
        if record.id and not override:
            out.append(record)
            continue
        match = next(matches)
        out.append(record.model_copy(update={"id": match.id, "id_problem": match.problem}))
    return out


def tally(failures: AccountFailures, kind: NotificationKind) -> MatchStats:
    """Rows of `kind` with an ID, with an ambiguous match, and with none (or none possible)."""
    rows: Sequence[EmailHistory | CalloutHistory] = (
        failures.emails if kind == "email" else failures.callouts
    )
    stats = MatchStats()
    for row in rows:
        if row.id:
            stats.matched += 1
        elif row.id_problem == SHARED or (row.id_problem or "").endswith(_AMBIGUOUS_TAIL):
            stats.ambiguous += 1
        else:
            stats.unmatched += 1
    return stats
