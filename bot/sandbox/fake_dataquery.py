"""The sandbox's Data Query engine: Zuora's two notification-history tables, as strict as Trino.

It holds exactly the columns Zuora documents for `notificationhistoryemail` and
`notificationhistorycallout` (Data Source EmailHistory / CalloutHistory fields and the Data Query
samples), refuses any other column with Trino's words, reads a zone-less TIMESTAMP literal as UTC
(Zuora's Data Query docs), honours an explicit offset or zone, and refuses to compare a timestamp
column with plain text. It understands the SQL the bot and the tests write:

    SHOW COLUMNS FROM <table>
    SELECT <cols | *> FROM <table> [WHERE c op v AND ...] [ORDER BY c [ASC|DESC]] [LIMIT n]
    SELECT max(c) [AS a], ... FROM <table> [WHERE ...]      (aggregates only: no GROUP BY)

where a condition's column may be `CAST(c AS varchar)` and its operator `[NOT] LIKE 'pattern'`
besides comparisons, `[NOT] IN (...)` and `IS [NOT] NULL`, and a selected column may be `"Quoted"`, aliased with AS, or wrapped as `to_iso8601(c)` /
`to_iso8601(c AT TIME ZONE 'UTC')`. Guesses (Zuora does not document them) are marked as such.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.sandbox.tenant import FakeCallout, FakeEmail

EMAIL_TABLE = "notificationhistoryemail"
CALLOUT_TABLE = "notificationhistorycallout"
#: Guess: a system user's id for CreatedById (Zuora documents the column, not its value).
SYSTEM_USER_ID = "2c92c0f8" + "0" * 24
#: Guess: AttemptLimit of a callout definition (Zuora's UI default retry count is 3 attempts).
ATTEMPT_LIMIT = 3

_Getter = Callable[[Any], Any]


class QueryError(ValueError):
    """The query cannot run; the job ends `failed` with this message (Trino's wording)."""


@dataclass(frozen=True)
class Column:
    """One documented column: its name as Zuora spells it, its Trino type, how to read it."""

    name: str
    type: str
    get: _Getter


def _derived_id(*parts: object) -> str:
    """A stable 32-hex id for fields the sandbox does not model (ContactId, NotificationId)."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def email_created_on(record: FakeEmail) -> datetime:
    """CreatedOn: 0-3 s before the REST sendTime (Zuora does not promise they are equal)."""
    jitter = int(hashlib.sha256(record.id.encode()).hexdigest()[:4], 16) % 3000
    return record.send_time - timedelta(milliseconds=jitter)


def callout_create_time(record: FakeCallout) -> datetime:
    """CreateTime with milliseconds; the REST createTime is the same instant cut to the second."""
    millis = int(hashlib.sha256(record.id.encode()).hexdigest()[:4], 16) % 1000
    return record.create_time.replace(microsecond=0) + timedelta(milliseconds=millis)


def _integer(value: object) -> int | None:
    text = str(value).strip()
    return int(text) if text.lstrip("-").isdigit() else None


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


_EMAIL_COLUMNS: tuple[Column, ...] = (
    Column("Id", "varchar", lambda e: e.id),
    Column("AccountId", "varchar", lambda e: e.account_id),
    Column("ContactId", "varchar", lambda e: _derived_id("contact", e.account_id)),
    Column("NotificationId", "varchar", lambda e: _derived_id("notification", e.notification)),
    Column("ObjectId", "varchar", lambda e: _text(e.object_id)),
    Column("CreatedOn", "timestamp(3)", email_created_on),
    Column("CreatedById", "varchar", lambda e: SYSTEM_USER_ID),
    Column("EventCategory", "varchar", lambda e: _text(e.event_category)),
    Column("EventName", "varchar", lambda e: e.notification),
    Column("Subject", "varchar", lambda e: e.subject),
    Column("To", "varchar", lambda e: e.to_email),
    Column("Cc", "varchar", lambda e: e.cc),
    Column("Bcc", "varchar", lambda e: e.bcc),
    Column("ReplyTo", "varchar", lambda e: e.reply_to),
    Column("Sender", "varchar", lambda e: e.from_email),
    Column("Status", "varchar", lambda e: e.result),
    Column("ErrorMessage", "varchar", lambda e: e.error_message),
)
_CALLOUT_COLUMNS: tuple[Column, ...] = (
    Column("Id", "varchar", lambda c: c.id),
    Column("AccountId", "varchar", lambda c: c.account_id),
    Column("ContactId", "varchar", lambda c: c.account_id and _derived_id("contact", c.account_id)),
    Column("NotificationId", "varchar", lambda c: _derived_id("notification", c.notification)),
    Column("ObjectId", "varchar", lambda c: c.object_id),
    Column("EventCategory", "varchar", lambda c: _text(c.event_category)),
    Column("RequestUrl", "varchar", lambda c: c.request_url),
    Column("ResponseCode", "varchar", lambda c: _text(c.response_code)),
    Column("ResponseContent", "varchar", lambda c: c.response_content),
    Column("CreateTime", "timestamp(3)", callout_create_time),
    Column("AttemptLimit", "integer", lambda c: ATTEMPT_LIMIT),
    Column("AttemptNumber", "integer", lambda c: _integer(c.attempted_num)),
)
DOCUMENTED_COLUMNS: Mapping[str, tuple[Column, ...]] = {
    EMAIL_TABLE: _EMAIL_COLUMNS,
    CALLOUT_TABLE: _CALLOUT_COLUMNS,
}

_IDENT = r'(?:"[^"]+"|[A-Za-z_][\w.]*)'
_SHOW_RE = re.compile(rf"^\s*show\s+columns\s+from\s+(?P<table>{_IDENT})\s*;?\s*$", re.I)
_SELECT_RE = re.compile(
    rf"^\s*select\s+(?P<cols>.+?)\s+from\s+(?P<table>{_IDENT})(?P<rest>.*?)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_REST_RE = re.compile(
    r"^(?:\s+where\s+(?P<where>.+?))?"
    rf"(?:\s+order\s+by\s+(?P<order>{_IDENT})(?:\s+(?P<dir>asc|desc))?)?"
    r"(?:\s+limit\s+(?P<limit>\d+))?$",
    re.IGNORECASE | re.DOTALL,
)
_LITERAL = r"(?:timestamp\s+)?'(?:[^']|'')*'|-?\d+(?:\.\d+)?"
_COND_RE = re.compile(
    rf"\s*(?:cast\s*\(\s*(?P<cast>{_IDENT})\s+as\s+varchar\s*\)|(?P<col>{_IDENT}))\s*(?:"
    rf"(?P<op>=|!=|<>|>=|<=|>|<)\s*(?P<val>{_LITERAL})"
    r"|\s+(?P<lneg>not\s+)?like\s+(?P<pattern>'(?:[^']|'')*')"
    r"|\s+(?P<neg>not\s+)?in\s*\((?P<list>[^)]*)\)"
    r"|\s+is\s+(?P<isnot>not\s+)?null)\s*",
    re.IGNORECASE,
)
_AND_RE = re.compile(r"and\b", re.IGNORECASE)
_LITERAL_RE = re.compile(_LITERAL, re.IGNORECASE)
_SELECT_ITEM_RE = re.compile(
    rf"^(?:to_iso8601\s*\(\s*(?P<fcol>{_IDENT})(?P<utc>\s+at\s+time\s+zone\s+'utc')?\s*\)"
    rf"|max\s*\(\s*(?P<mcol>{_IDENT})\s*\)"
    rf"|(?P<col>{_IDENT}))(?:\s+as\s+(?P<alias>{_IDENT}))?$",
    re.IGNORECASE,
)
_TIME_LITERAL_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})(?:[ T](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?))?"
    r"(?:\s*(?P<zone>[+-]\d{2}:\d{2}|Z|UTC|[A-Za-z_]+/[A-Za-z_/+-]+))?$"
)


def _unquote(ident: str) -> str:
    return ident[1:-1] if ident.startswith('"') else ident


def _position(text: str, fragment: str) -> str:
    """Trino's `line L:C` prefix for where `fragment` first appears in the query."""
    index = max(text.lower().find(fragment.lower()), 0)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}:{column}"


def parse_time_literal(text: str) -> datetime:
    """A TIMESTAMP literal's instant: zone-less means UTC; `+hh:mm`, `UTC` or a zone name apply."""
    match = _TIME_LITERAL_RE.match(text.strip())
    if match is None:
        raise QueryError(f"Value cannot be cast to timestamp: {text}")
    clock = match["time"] or "00:00:00"
    try:
        moment = datetime.fromisoformat(f"{match['date']}T{clock}")
    except ValueError as exc:
        raise QueryError(f"Value cannot be cast to timestamp: {text}") from exc
    zone = match["zone"]
    if zone is None or zone in ("Z", "UTC"):
        return moment.replace(tzinfo=UTC)
    if zone[0] in "+-":
        return datetime.fromisoformat(f"{match['date']}T{clock}{zone}").astimezone(UTC)
    try:
        return moment.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise QueryError(f"Time zone not supported: {zone}") from exc


def _render_time(moment: datetime, *, iso: bool, utc_zone: bool) -> str:
    """Trino's text for a timestamp(3): `yyyy-MM-dd HH:mm:ss.SSS`, or ISO-8601 via to_iso8601.

    Guess: how Data Query writes a bare timestamp in a result file is not documented; the sandbox
    writes Trino's display form followed by ` UTC`, which a parser assuming the tenant's zone or a
    bare ISO form would misread. to_iso8601 output is Trino's documented form.
    """
    utc = moment.astimezone(UTC)
    millis = f"{utc.microsecond // 1000:03d}"
    if iso:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + millis + ("Z" if utc_zone else "")
    return utc.strftime("%Y-%m-%d %H:%M:%S.") + millis + " UTC"


@dataclass(frozen=True)
class _Condition:
    column: Column
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class _Output:
    column: Column
    label: str
    iso: bool = False
    utc_zone: bool = False
    maximum: bool = False  # `max(column)`: one row over every matching record


def _as_varchar(column: Column) -> Column:
    """`CAST(column AS varchar)`: numbers as their digits, NULL stays NULL."""

    def text(record: Any) -> str | None:
        value = column.get(record)
        return None if value is None else str(value)

    return Column(f"CAST({column.name} AS varchar)", "varchar", text)


def _like(pattern: str) -> re.Pattern[str]:
    """A LIKE pattern as a regex: `%` any run, `_` one character, the rest literal."""
    parts = ("." if ch == "_" else ".*" if ch == "%" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.DOTALL)


def _compare(left: Any, op: str, right: Any) -> bool:
    if left is None:
        return False
    if isinstance(right, int | float) and not isinstance(right, bool):
        try:
            left = float(left)
        except (TypeError, ValueError):
            return False
    elif not isinstance(right, datetime):
        left, right = str(left), str(right)
    if op == "=":
        return bool(left == right)
    if op in ("!=", "<>"):
        return bool(left != right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


class Table:
    """One history table as a tenant sees it: the documented columns minus any it hides."""

    def __init__(self, name: str, hidden: Collection[str] = ()) -> None:
        hidden_lower = {h.lower() for h in hidden}
        self.name = name
        self.columns: dict[str, Column] = {
            c.name.lower(): c
            for c in DOCUMENTED_COLUMNS[name]
            if c.name.lower() not in hidden_lower
        }


class Query:
    """A parsed query against one table; `run` answers it over that table's records."""

    def __init__(self, text: str, tables: Mapping[str, Table]) -> None:
        self.text = text
        show = _SHOW_RE.match(text)
        if show is not None:
            self.table = self._table(show["table"], tables)
            self.show_columns = True
            self.outputs: list[_Output] = []
            self.conditions: list[_Condition] = []
            self.order: Column | None = None
            self.descending = False
            self.limit: int | None = None
            return
        self.show_columns = False
        match = _SELECT_RE.match(text)
        if match is None:
            raise QueryError(
                f"{_position(text, text.strip()[:1])}: mismatched input. Expecting SELECT"
            )
        self.table = self._table(match["table"], tables)
        self.outputs = self._select(match["cols"])
        rest = _REST_RE.match(match["rest"])
        if rest is None:
            fragment = match["rest"].strip()[:40]
            raise QueryError(f"{_position(text, fragment)}: mismatched input '{fragment}'")
        self.conditions = self._where(rest["where"]) if rest["where"] else []
        self.order = self._column(rest["order"]) if rest["order"] else None
        self.descending = (rest["dir"] or "").lower() == "desc"
        self.limit = int(rest["limit"]) if rest["limit"] else None

    def _table(self, ref: str, tables: Mapping[str, Table]) -> Table:
        name = _unquote(ref).lower().rsplit(".", 1)[-1]
        if name not in tables:
            raise QueryError(f"{_position(self.text, ref)}: Table 'zuora.{name}' does not exist")
        return tables[name]

    def _column(self, ref: str) -> Column:
        name = _unquote(ref).rsplit(".", 1)[-1]
        column = self.table.columns.get(name.lower())
        if column is None:
            raise QueryError(f"{_position(self.text, ref)}: Column '{name}' cannot be resolved")
        return column

    def _select(self, cols: str) -> list[_Output]:
        if cols.strip() == "*":
            return [_Output(c, c.name.lower()) for c in self.table.columns.values()]
        outputs: list[_Output] = []
        for part in cols.split(","):
            item = _SELECT_ITEM_RE.match(part.strip())
            if item is None:
                fragment = part.strip()[:60]
                raise QueryError(
                    f"{_position(self.text, fragment)}: Unsupported expression in the sandbox: {fragment}"
                )
            ref = item["fcol"] or item["mcol"] or item["col"]
            column = self._column(ref)
            iso = item["fcol"] is not None
            if item["mcol"] is not None:
                label = _unquote(item["alias"]) if item["alias"] else f"_col{len(outputs)}"
                outputs.append(_Output(column, label.lower(), maximum=True))
                continue
            if iso and not column.type.startswith("timestamp"):
                raise QueryError(
                    f"{_position(self.text, part.strip())}: Unexpected parameters ({column.type}) "
                    "for function to_iso8601"
                )
            default_label = f"_col{len(outputs)}" if iso else _unquote(ref).rsplit(".", 1)[-1]
            label = _unquote(item["alias"]) if item["alias"] else default_label
            outputs.append(_Output(column, label.lower(), iso=iso, utc_zone=bool(item["utc"])))
        if any(o.maximum for o in outputs) and not all(o.maximum for o in outputs):
            plain = next(o for o in outputs if not o.maximum)
            raise QueryError(
                f"{_position(self.text, plain.column.name)}: '{plain.column.name}' must be an "
                "aggregate expression or appear in GROUP BY clause"
            )
        return outputs

    def _where(self, where: str) -> list[_Condition]:
        conditions: list[_Condition] = []
        pos = 0
        while True:
            match = _COND_RE.match(where, pos)
            if match is None:
                fragment = where[pos : pos + 40]
                raise QueryError(f"{_position(self.text, fragment)}: mismatched input '{fragment}'")
            column = self._column(match["cast"] or match["col"])
            values: tuple[Any, ...]
            if match["cast"]:
                column = _as_varchar(column)
            if match["pattern"] is not None:
                if not column.type.startswith("varchar"):
                    raise QueryError(
                        f"{_position(self.text, column.name)}: Cannot apply operator: "
                        f"{column.type} LIKE varchar"
                    )
                op = "not like" if match["lneg"] else "like"
                values = (_like(match["pattern"][1:-1].replace("''", "'")),)
            elif match["op"]:
                values = (self._literal(column, match["op"], match["val"]),)
                op = match["op"]
            elif match["list"] is not None:
                op = "not in" if match["neg"] else "in"
                items = _LITERAL_RE.findall(match["list"])
                values = tuple(self._literal(column, op, item) for item in items)
            else:
                op = "is not null" if match["isnot"] else "is null"
                values = ()
            conditions.append(_Condition(column, op, values))
            pos = match.end()
            if pos >= len(where):
                return conditions
            more = _AND_RE.match(where, pos)
            if more is None:
                fragment = where[pos : pos + 40]
                raise QueryError(f"{_position(self.text, fragment)}: mismatched input '{fragment}'")
            pos = more.end()

    def _literal(self, column: Column, op: str, text: str) -> Any:
        text = text.strip()
        is_timestamp = text[:9].lower() == "timestamp"
        if is_timestamp:
            text = text[9:].strip()
        if column.type.startswith("timestamp"):
            if not is_timestamp:
                kind = f"varchar({len(text) - 2})" if text.startswith("'") else "integer"
                raise QueryError(
                    f"{_position(self.text, column.name)}: Cannot apply operator: "
                    f"{column.type} {op} {kind}"
                )
            return parse_time_literal(text[1:-1].replace("''", "'"))
        if is_timestamp:
            raise QueryError(
                f"{_position(self.text, column.name)}: Cannot apply operator: "
                f"{column.type} {op} timestamp(3) with time zone"
            )
        if text.startswith("'"):
            return text[1:-1].replace("''", "'")
        return float(text) if "." in text else int(text)

    def account_filter(self) -> str | None:
        """The AccountId equality value, if any, so the engine can use the account index."""
        for cond in self.conditions:
            if cond.column.name == "AccountId" and cond.op == "=":
                return str(cond.values[0])
        return None

    def labels(self) -> list[str]:
        """The result's column labels, in order."""
        if self.show_columns:
            return ["column", "type", "extra", "comment"]
        return [output.label for output in self.outputs]

    def _matches(self, record: Any) -> bool:
        for cond in self.conditions:
            value = cond.column.get(record)
            if cond.op == "is null":
                ok = value is None
            elif cond.op == "is not null":
                ok = value is not None
            elif cond.op == "in":
                ok = any(_compare(value, "=", v) for v in cond.values)
            elif cond.op in ("like", "not like"):
                found = value is not None and cond.values[0].fullmatch(str(value)) is not None
                ok = value is not None and found == (cond.op == "like")
            elif cond.op == "not in":
                ok = value is not None and not any(_compare(value, "=", v) for v in cond.values)
            else:
                ok = _compare(value, cond.op, cond.values[0])
            if not ok:
                return False
        return True

    def run(self, records: Sequence[Any]) -> list[dict[str, Any]]:
        """Rows keyed by the lower-cased output labels (Trino lower-cases unquoted names)."""
        if self.show_columns:
            return [
                {"column": c.name.lower(), "type": c.type, "extra": "", "comment": ""}
                for c in self.table.columns.values()
            ]
        hits = [r for r in records if self._matches(r)]
        if self.outputs and self.outputs[0].maximum:  # aggregates only (checked when parsed)
            maxima: dict[str, Any] = {}
            for output in self.outputs:
                values = [v for v in map(output.column.get, hits) if v is not None]
                maxima[output.label] = max(values) if values else None
            return [maxima]
        if self.order is not None:
            getter = self.order.get
            present = [r for r in hits if getter(r) is not None]
            missing = [r for r in hits if getter(r) is None]
            if self.order.type.startswith("timestamp"):
                present.sort(key=getter, reverse=self.descending)
            else:
                present.sort(key=lambda r: str(getter(r)), reverse=self.descending)
            hits = present + missing  # NULLS LAST
        if self.limit is not None:
            hits = hits[: self.limit]
        rows: list[dict[str, Any]] = []
        for record in hits:
            row: dict[str, Any] = {}
            for output in self.outputs:
                value = output.column.get(record)
                if isinstance(value, datetime):
                    value = _render_time(value, iso=output.iso, utc_zone=output.utc_zone)
                row[output.label] = value
            rows.append(row)
        return rows


def render_rows(rows: list[dict[str, Any]], labels: list[str], output_format: str) -> bytes:
    """A result file: JSON lines, or CSV with a header row (written even when there are no rows)."""
    if output_format == "CSV":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(labels)
        for row in rows:
            writer.writerow(["" if row[k] is None else row[k] for k in labels])
        return buffer.getvalue().encode()
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


__all__ = [
    "CALLOUT_TABLE",
    "DOCUMENTED_COLUMNS",
    "EMAIL_TABLE",
    "Column",
    "Query",
    "QueryError",
    "Table",
    "callout_create_time",
    "email_created_on",
    "parse_time_literal",
    "render_rows",
]
