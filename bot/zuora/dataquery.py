"""Zuora Data Query: job payloads, job status parsing, result files, and the history-ID queries.

Data Query is Trino: a query naming a column the tenant lacks fails, and a zone-less TIMESTAMP
literal means UTC. So the ID queries are built from the columns the tenant reported (SHOW COLUMNS),
filter with UTC literals that state their offset, and have Zuora return the time as ISO-8601 UTC
text rather than in a display form nobody documents.

The SQL here is built only from values this module validates itself (an account object ID, aware
datetimes it formats, column names from its own documented list), never from text a user typed, so
nothing from Slack can reach a query.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bot.core.patterns import OBJECT_ID_PATTERN
from bot.zuora.errors import ZuoraInputError, ZuoraQueryError, ZuoraResponseValidationError
from bot.zuora.models import TimeWindow

QUERY_JOBS_PATH = "/query/jobs"
QUERY_JOB_PATH = "/query/jobs/{job_id}"
OutputFormat = Literal["JSON", "CSV"]
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "aborted"})

EMAIL_TABLE = "notificationhistoryemail"
CALLOUT_TABLE = "notificationhistorycallout"
#: The columns Zuora documents for the two tables (Data Source EmailHistory / CalloutHistory fields,
#: Data Query samples). A tenant may lack some (or hide `RequestUrl` under BYOK), so the bot learns
#: the real list with SHOW COLUMNS and builds its queries from that; these are the ones it may use.
DOCUMENTED_COLUMNS: Mapping[str, tuple[str, ...]] = {
    EMAIL_TABLE: tuple(
        "Id AccountId ContactId NotificationId ObjectId CreatedOn CreatedById EventCategory "
        "EventName Subject To Cc Bcc ReplyTo Sender Status ErrorMessage".split()
    ),
    CALLOUT_TABLE: tuple(
        "Id AccountId ContactId NotificationId ObjectId EventCategory RequestUrl ResponseCode "
        "ResponseContent CreateTime AttemptLimit AttemptNumber".split()
    ),
}
#: Each table's timestamp column: the one the window filters on and the match compares.
TIME_COLUMNS: Mapping[str, str] = {EMAIL_TABLE: "CreatedOn", CALLOUT_TABLE: "CreateTime"}
#: The label the query gives the time column, converted to ISO-8601 UTC text by Zuora itself.
UTC_TIME_LABEL = "at_utc"
#: Columns an ID lookup cannot do without; the rest only sharpen the match when they exist.
REQUIRED_COLUMNS = ("Id", "AccountId")
#: Each table's outcome column: without it a lookup cannot keep to failed rows, so it is required.
#: Email `Status` is OK, Failed or Warning (Data Source "Notification History - Email"); the callout
#: table has no status, and Zuora's own sample queries call a callout failed by its ResponseCode.
STATUS_COLUMNS: Mapping[str, str] = {EMAIL_TABLE: "Status", CALLOUT_TABLE: "ResponseCode"}
#: The WHERE clause keeping a lookup to failed rows: an email whose Status is not OK, a callout
#: whose response code is not 2xx. The cast makes the callout test work whether a tenant types
#: ResponseCode as integer (Zuora's sample compares it with 200) or as varchar (it can be negative
#: or non-HTTP); a NULL outcome is never selected. A callout Zuora failed *with* a 2xx answer (it
#: parsed the body) cannot be told from a delivered one here, so such a row gets no ID.
FAILED_ROWS: Mapping[str, str] = {
    EMAIL_TABLE: "Status <> 'OK'",
    CALLOUT_TABLE: "CAST(ResponseCode AS varchar) NOT LIKE '2__'",
}
#: Columns compared between a REST record and a Data Query row, per table, when the tenant has them.
#: A value missing on either side disqualifies the row (history_ids._fits).
MATCH_COLUMNS: Mapping[str, tuple[str, ...]] = {
    EMAIL_TABLE: ("EventCategory", "To", "Subject", "Status"),
    CALLOUT_TABLE: ("ObjectId", "EventCategory", "AttemptNumber", "ResponseCode"),
}

_ZUORA_ID = re.compile(OBJECT_ID_PATTERN)
_JOB_ID = re.compile(r"[0-9A-Za-z-]{1,64}")
_SQL_TIME = "%Y-%m-%d %H:%M:%S.{millis:03d} +00:00"


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


@dataclass(frozen=True)
class QueryResult:
    """A result file: its column labels (lower-cased, in file order when known) and its rows."""

    columns: tuple[str, ...]
    rows: list[dict[str, Any]]


def parse_rows(content: bytes, output_format: OutputFormat = "JSON") -> list[dict[str, Any]]:
    """The rows of a result file, keys lower-cased: JSON lines, a JSON array, or CSV with a header."""
    return parse_result(content, output_format).rows


def parse_result(content: bytes, output_format: OutputFormat = "JSON") -> QueryResult:
    """Columns and rows of a result file; a CSV header names the columns even with no rows."""
    if content[:2] == b"\x1f\x8b":  # gzip even though we asked for none
        content = gzip.decompress(content)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ZuoraResponseValidationError("The Data Query result file is not UTF-8") from exc
    if output_format == "CSV":
        reader = csv.DictReader(io.StringIO(text))
        header = tuple(name.strip().lower() for name in reader.fieldnames or ())
        rows = [
            {key.strip().lower(): (value if value != "" else None) for key, value in row.items()}
            for row in reader
        ]
        return QueryResult(columns=header, rows=rows)
    stripped = text.strip()
    try:
        if stripped.startswith("["):
            items: list[Any] = json.loads(stripped)
        else:
            items = [json.loads(line) for line in stripped.splitlines() if line.strip()]
    except ValueError as exc:
        raise ZuoraResponseValidationError("The Data Query result file is not valid JSON") from exc
    rows = []
    labels: dict[str, None] = {}
    for item in items:
        if not isinstance(item, Mapping):
            raise ZuoraResponseValidationError("A Data Query result row is not an object")
        row = {str(key).lower(): value for key, value in item.items()}
        labels.update(dict.fromkeys(row))
        rows.append(row)
    return QueryResult(columns=tuple(labels), rows=rows)


def validate_zuora_id(value: str) -> str:
    """A Zuora object ID, 32 hex or a UUID (the only account value a query may hold), lower-cased."""
    if not isinstance(value, str) or not _ZUORA_ID.fullmatch(value):
        raise ZuoraInputError("Data Query needs the account's ID (32 hex characters or a UUID)")
    return value.lower()


def utc_literal(moment: datetime) -> str:
    """`TIMESTAMP 'yyyy-MM-dd HH:mm:ss.SSS +00:00'`: the instant in UTC with an explicit offset.

    Zuora reads a zone-less literal as UTC and recommends stating the offset; writing it makes the
    window independent of the tenant's zone (an aware datetime in, digits only out).
    """
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ZuoraInputError("Query times must be timezone-aware datetimes")
    utc = moment.astimezone(UTC)
    text = utc.strftime(_SQL_TIME.replace("{millis:03d}", f"{utc.microsecond // 1000:03d}"))
    return f"TIMESTAMP '{text}'"


def parse_utc(value: object) -> datetime | None:
    """An ISO-8601 time the query produced (`…Z`, `…+00:00`, or zone-less UTC) as aware UTC."""
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
    if moment.tzinfo is None:  # the query asked for UTC; a zone-less answer is still UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def show_columns_query(table: str) -> str:
    """`SHOW COLUMNS FROM <table>` for one of the two history tables."""
    return f"SHOW COLUMNS FROM {_table(table)}"


def sample_row_query(table: str) -> str:
    """A one-row query whose CSV header names every column (the fallback to SHOW COLUMNS)."""
    return f"SELECT * FROM {_table(table)} LIMIT 1"


def columns_from_show(rows: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """Lower-cased column names from SHOW COLUMNS rows (Trino's `Column` field)."""
    names = {str(row.get("column") or "").strip().lower() for row in rows}
    names.discard("")
    if not names:
        raise ZuoraQueryError("SHOW COLUMNS returned no column names")
    return frozenset(names)


def ids_query(
    table: str,
    account_id: str,
    window: TimeWindow,
    columns: Collection[str],
    *,
    pad: timedelta,
) -> str:
    """SQL for one account's failed history IDs (and match columns) around `window`, padded by `pad`.

    Uses only columns in `columns` (the tenant's, lower-cased); the time column comes back as
    ISO-8601 UTC text made by Zuora (`to_iso8601(… AT TIME ZONE 'UTC')`) under `UTC_TIME_LABEL`.
    Only failed rows (`FAILED_ROWS`) are selected: a delivered notification's row must never stand
    in for a failed one whose own row Data Query has not caught up with yet.
    ZuoraQueryError when a required column is missing.
    """
    table = _table(table)
    have = {name.lower() for name in columns}
    time_column = TIME_COLUMNS[table]
    missing = [name for name in required_columns(table) if name.lower() not in have]
    if missing:
        raise ZuoraQueryError(
            f"this tenant's Data Query table {table} has no {', '.join(missing)} column"
        )
    selected = [
        "Id",
        "AccountId",
        f"to_iso8601({time_column} AT TIME ZONE 'UTC') AS {UTC_TIME_LABEL}",
        *(_quoted(name) for name in MATCH_COLUMNS[table] if name.lower() in have),
    ]
    return (
        f"SELECT {', '.join(selected)} FROM {table} "
        f"WHERE AccountId = '{validate_zuora_id(account_id)}' "
        f"AND {time_column} >= {utc_literal(window.start - pad)} "
        f"AND {time_column} < {utc_literal(window.end + pad)} "
        f"AND {FAILED_ROWS[table]}"
    )


def ids_query_accounts(
    table: str,
    account_ids: Collection[str],
    window: TimeWindow,
    columns: Collection[str],
    *,
    pad: timedelta,
) -> str:
    """`ids_query` for several accounts at once (`AccountId IN (...)`): one outage's lookup.

    Callers keep the list short (a few hundred IDs) so the SQL stays well inside Zuora's limits.
    """
    ids = sorted({validate_zuora_id(account_id) for account_id in account_ids})
    if not ids:
        raise ZuoraInputError("Data Query needs at least one account ID")
    single = ids_query(table, ids[0], window, columns, pad=pad)
    listed = ", ".join(f"'{account_id}'" for account_id in ids)
    return single.replace(f"AccountId = '{ids[0]}'", f"AccountId IN ({listed})", 1)


def required_columns(table: str) -> tuple[str, ...]:
    """The columns an ID lookup on `table` cannot do without: ids, account, time and outcome."""
    table = _table(table)
    return (*REQUIRED_COLUMNS, TIME_COLUMNS[table], STATUS_COLUMNS[table])


def match_columns(table: str, columns: Collection[str]) -> tuple[str, ...]:
    """The match columns this tenant has (lower-cased, in MATCH_COLUMNS order)."""
    have = {name.lower() for name in columns}
    return tuple(name.lower() for name in MATCH_COLUMNS[_table(table)] if name.lower() in have)


def _table(table: str) -> str:
    if table not in DOCUMENTED_COLUMNS:
        raise ZuoraInputError(f"Unknown Data Query table {table!r}")
    return table


def _quoted(column: str) -> str:
    """`To` is quoted: unquoted it reads like a keyword to a human, and Trino accepts both."""
    return f'"{column}"' if column == "To" else column


__all__ = [
    "CALLOUT_TABLE",
    "DOCUMENTED_COLUMNS",
    "EMAIL_TABLE",
    "FAILED_ROWS",
    "MATCH_COLUMNS",
    "REQUIRED_COLUMNS",
    "STATUS_COLUMNS",
    "TIME_COLUMNS",
    "UTC_TIME_LABEL",
    "QueryJob",
    "QueryResult",
    "columns_from_show",
    "ids_query",
    "ids_query_accounts",
    "job_request",
    "match_columns",
    "parse_job",
    "parse_result",
    "parse_rows",
    "parse_utc",
    "poll_delays",
    "required_columns",
    "sample_row_query",
    "show_columns_query",
    "utc_literal",
    "validate_zuora_id",
]
