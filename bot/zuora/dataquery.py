"""Zuora Data Query: job payloads, job status parsing, result-file rows, and the history-ID queries.

The SQL here is built only from values this module validates itself (a 32-hex account ID and aware
datetimes it formats), never from text a user typed, so nothing from Slack can reach a query.
Zone-less timestamps are written in the tenant's zone, the zone Zuora reads them in.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal

from bot.zuora.errors import ZuoraInputError, ZuoraResponseValidationError
from bot.zuora.guard import OBJECT_ID_PATTERN
from bot.zuora.models import TimeWindow

QUERY_JOBS_PATH = "/query/jobs"
QUERY_JOB_PATH = "/query/jobs/{job_id}"
OutputFormat = Literal["JSON", "CSV"]
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "aborted"})
SQL_TIME = "%Y-%m-%d %H:%M:%S"
# Zone-less times in the repeated hour of a DST fall-back are ambiguous; widening the query by this
# much keeps every record of the window in the result (rows are matched exactly afterwards).
WINDOW_PAD = timedelta(hours=1)

_ZUORA_ID = re.compile(OBJECT_ID_PATTERN)
_JOB_ID = re.compile(r"[0-9A-Za-z-]{1,64}")

EMAIL_ID_QUERY = (
    "SELECT Id, AccountId, SendTime, EventCategory, ToEmail, Subject "
    "FROM notificationhistoryemail "
    "WHERE AccountId = '{account}' "
    "AND SendTime >= TIMESTAMP '{start}' AND SendTime < TIMESTAMP '{end}'"
)
CALLOUT_ID_QUERY = (
    "SELECT Id, AccountId, CreateTime, EventId, EventCategory "
    "FROM notificationhistorycallout "
    "WHERE AccountId = '{account}' "
    "AND CreateTime >= TIMESTAMP '{start}' AND CreateTime < TIMESTAMP '{end}'"
)


@dataclass(frozen=True)
class QueryJob:
    """What Zuora says about one Data Query job: its status, result file URL, or failure reason."""

    id: str
    status: str
    data_file: str | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the job will not change any more (completed, failed or cancelled)."""
        return self.status in TERMINAL_STATUSES

    def __repr__(self) -> str:  # the data file URL carries a signature: keep it out of logs
        return f"QueryJob(id={self.id!r}, status={self.status!r}, error={self.error!r})"


def job_request(query: str, output_format: OutputFormat = "JSON") -> dict[str, Any]:
    """The POST /query/jobs body: uncompressed JSON (or CSV) written to Zuora's S3."""
    return {
        "query": query,
        "outputFormat": output_format,
        "compression": "NONE",
        "output": {"target": "S3"},
    }


def parse_job(body: object) -> QueryJob:
    """The job in a `{"data": {...}}` answer; ZuoraResponseValidationError if it has no id/status."""
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, Mapping):
        raise ZuoraResponseValidationError("Zuora's Data Query answer has no job in 'data'")
    job_id, status = data.get("id"), data.get("queryStatus")
    if not isinstance(job_id, str) or not isinstance(status, str):
        raise ZuoraResponseValidationError("Zuora's Data Query job has no id or queryStatus")
    data_file = data.get("dataFile")
    reason = data.get("errorMessage") or data.get("errorCode")
    return QueryJob(
        id=validate_job_id(job_id),
        status=status.strip().lower(),
        data_file=data_file if isinstance(data_file, str) and data_file else None,
        error=str(reason)[:500] if reason else None,
    )


def validate_job_id(job_id: str) -> str:
    """A job id safe in a URL path (Zuora's are UUIDs)."""
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise ZuoraResponseValidationError("Zuora returned a malformed Data Query job id")
    return job_id


def poll_delays(first: float = 0.25, factor: float = 1.5, cap: float = 1.0) -> Iterator[float]:
    """Seconds to wait before each status poll: growing from `first` by `factor` up to `cap`."""
    delay = first
    while True:
        yield delay
        delay = min(cap, delay * factor)


def parse_rows(content: bytes, output_format: OutputFormat = "JSON") -> list[dict[str, Any]]:
    """The rows of a result file, keys lower-cased: JSON lines, a JSON array, or CSV with a header."""
    if content[:2] == b"\x1f\x8b":  # gzip even though we asked for none
        content = gzip.decompress(content)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ZuoraResponseValidationError("The Data Query result file is not UTF-8") from exc
    if output_format == "CSV":
        return [
            {key.strip().lower(): (value if value != "" else None) for key, value in row.items()}
            for row in csv.DictReader(io.StringIO(text))
        ]
    stripped = text.strip()
    try:
        if stripped.startswith("["):
            items: list[Any] = json.loads(stripped)
        else:
            items = [json.loads(line) for line in stripped.splitlines() if line.strip()]
    except ValueError as exc:
        raise ZuoraResponseValidationError("The Data Query result file is not valid JSON") from exc
    rows = []
    for item in items:
        if not isinstance(item, Mapping):
            raise ZuoraResponseValidationError("A Data Query result row is not an object")
        rows.append({str(key).lower(): value for key, value in item.items()})
    return rows


def validate_zuora_id(value: str) -> str:
    """A Zuora object ID, 32 hex or a UUID (the only account value a query may hold), lower-cased."""
    if not isinstance(value, str) or not _ZUORA_ID.fullmatch(value):
        raise ZuoraInputError("Data Query needs the account's ID (32 hex characters or a UUID)")
    return value.lower()


def sql_time(moment: datetime, tz: tzinfo) -> str:
    """`yyyy-MM-dd HH:mm:ss` on the tenant's wall clock (an aware datetime in, digits only out)."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ZuoraInputError("Query times must be timezone-aware datetimes")
    return moment.astimezone(tz).strftime(SQL_TIME)


def email_ids_query(account_id: str, window: TimeWindow, tz: tzinfo) -> str:
    """SQL for the IDs (and matching fields) of one account's emails around `window`."""
    return _history_query(EMAIL_ID_QUERY, account_id, window, tz)


def callout_ids_query(account_id: str, window: TimeWindow, tz: tzinfo) -> str:
    """SQL for the IDs (and matching fields) of one account's callouts around `window`."""
    return _history_query(CALLOUT_ID_QUERY, account_id, window, tz)


def _history_query(template: str, account_id: str, window: TimeWindow, tz: tzinfo) -> str:
    return template.format(
        account=validate_zuora_id(account_id),
        start=sql_time(window.start - WINDOW_PAD, tz),
        end=sql_time(window.end + WINDOW_PAD, tz),
    )


def wall_clock(value: object, tz: tzinfo) -> str | None:
    """A timestamp (ours or a result row's) as `yyyy-MM-dd HH:mm:ss` on the tenant's wall clock.

    Aware values (and texts with an offset or `Z`) are converted to `tz`; zone-less texts are already
    tenant-local, the way Zuora writes them. None when the value is not a timestamp.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "T", 1)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    return moment.replace(tzinfo=None, microsecond=0).strftime(SQL_TIME)


__all__ = [
    "QueryJob",
    "callout_ids_query",
    "email_ids_query",
    "job_request",
    "parse_job",
    "parse_rows",
    "poll_delays",
    "sql_time",
    "validate_zuora_id",
    "wall_clock",
]
