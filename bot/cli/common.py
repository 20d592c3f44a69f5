"""What every `zuora-ops` subcommand shares: exit codes, the --window rule, progress, tables, the clock."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import IO

import httpx

from bot.core.command_text import MAX_OUTAGE_WINDOW, MAX_WINDOW, MIN_WINDOW, UsageError
from bot.settings import ZuoraSettings
from bot.zuora.client import ZuoraClient

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_ZUORA = 0, 1, 2, 3

_WINDOW = re.compile(r"^(\d{1,6})([mhd])$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
# The one window rule of each command that takes --window: enforced by cli_window, stated in --help.
# outages and replay share the tenant-wide scan's limit; failures reads one account, so it may go further.
WINDOW_LIMITS: dict[str, tuple[timedelta, timedelta]] = {
    "failures": (MIN_WINDOW, MAX_WINDOW),
    "outages": (MIN_WINDOW, MAX_OUTAGE_WINDOW),
    "replay": (MIN_WINDOW, MAX_OUTAGE_WINDOW),
}
DEFAULT_WINDOW = "24h"


def _span(length: timedelta) -> str:
    """A limit as the shortest window text that says it (`5m`, `7d`, `30d`)."""
    minutes = int(length.total_seconds() // 60)
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def window_help(command: str) -> str:
    """The --help text of a command's --window, from the limits it enforces."""
    low, high = WINDOW_LIMITS[command]
    return f"{_span(low)} … {_span(high)} (default {DEFAULT_WINDOW}), e.g. 90m, 6h, 2d"


def cli_window(command: str, text: str) -> tuple[timedelta, str]:
    """A --window value as (length, label), within the command's limits, else UsageError."""
    low, high = WINDOW_LIMITS[command]
    match = _WINDOW.match(text.strip())
    if not match:
        raise UsageError(
            f"--window {text!r} is not a time window: use minutes, hours or days, "
            f"{_span(low)} … {_span(high)} for `{command}` (e.g. 90m, 6h, 2d)."
        )
    amount, unit = int(match.group(1)), match.group(2).lower()
    length = timedelta(**{_UNITS[unit]: amount})
    if not low <= length <= high:
        raise UsageError(
            f"--window {text!r} is out of range for `{command}`: use {_span(low)} … {_span(high)}."
        )
    return length, f"{amount}{unit}"


def plural(count: int, noun: str) -> str:
    """`1 failed email`, `2 failed emails`, `1,000 callouts`."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


class Progress:
    """A one-line progress indicator on stderr (only when stderr is a terminal or forced)."""

    def __init__(self, stream: IO[str], label: str, *, enabled: bool) -> None:
        self._stream = stream
        self._label = label
        self._enabled = enabled
        self._pages = 0
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def page_done(self, _response: httpx.Response) -> None:
        """httpx response hook: one more page fetched."""
        with self._lock:
            self._pages += 1
            pages = self._pages
        if self._enabled:
            elapsed = time.monotonic() - self._started
            bar = "#" * min(30, pages) + "." * max(0, 30 - pages)
            self._stream.write(f"\r{self._label} [{bar}] {pages} requests, {elapsed:4.1f}s")
            self._stream.flush()

    def done(self) -> None:
        """End the progress line."""
        if self._enabled:
            self._stream.write("\n")
            self._stream.flush()


def _client(settings: ZuoraSettings, progress: Progress | None = None) -> ZuoraClient:
    """A Zuora client that owns (and on close() closes) its httpx client; pages tick `progress`."""
    client = ZuoraClient.from_settings(settings)
    if progress is not None:
        client.http.event_hooks["response"].append(progress.page_done)
    return client


def time_now() -> datetime:
    """Now in aware UTC."""
    return datetime.now(UTC)


def _minute(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else ""


def _table(
    out: IO[str], title: str, headers: list[str], rows: list[list[str]], *, width: int = 48
) -> None:
    out.write(f"{title} ({len(rows)})\n")
    if not rows:
        out.write("  none\n\n")
        return
    cut = [
        [cell if len(cell) <= width else cell[: width - 1] + "…" for cell in row] for row in rows
    ]
    widths = [max(len(h), *(len(r[i]) for r in cut)) for i, h in enumerate(headers)]
    out.write("  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + "\n")
    for row in cut:
        out.write("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + "\n")
    out.write("\n")
