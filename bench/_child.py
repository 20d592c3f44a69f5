"""Child process for memory figures: runs only our client (and the digest code) against a fake Zuora.

`python -m bench._child stream '<json>'` streams every failed callout and email of the tenant in a
window with `iter_failed_callouts` / `iter_failed_emails`, keeping nothing; `digest` also folds them
with `summarize` and builds the Slack message with `build_digest`. Either prints one JSON line:
counts, seconds, and peak RSS (ru_maxrss) before and after the work. Nothing else is imported, so
the peak is the client's own.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta
from typing import Any

from bench._support import child_settings, peak_rss_mb
from bot.zuora.client import ZuoraClient
from bot.zuora.models import TimeWindow
from bot.zuora.track import new_track_id


def _window(spec: dict[str, Any]) -> TimeWindow:
    end = datetime.fromisoformat(spec["end"])
    return TimeWindow.ending_at(end, timedelta(seconds=float(spec["seconds"])), spec["label"])


def stream(spec: dict[str, Any]) -> dict[str, Any]:
    """Count every failed record of the tenant in the window without keeping any."""
    window = _window(spec)
    with ZuoraClient.from_settings(child_settings(spec)) as client:
        track_id = new_track_id("bench", "stream")
        client.check_credentials(track_id)
        baseline = peak_rss_mb()
        started = time.perf_counter()
        callouts = sum(1 for _ in client.iter_failed_callouts(window, track_id=track_id))
        emails = sum(1 for _ in client.iter_failed_emails(window, track_id=track_id))
        seconds = time.perf_counter() - started
    return {
        "callouts": callouts,
        "emails": emails,
        "seconds": seconds,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
    }


def digest(spec: dict[str, Any]) -> dict[str, Any]:
    """Scan + summarize + build_digest for the whole tenant, timing the phases."""
    from bot.digest.cards import build_digest
    from bot.digest.summary import summarize

    window = _window(spec)
    with ZuoraClient.from_settings(child_settings(spec)) as client:
        track_id = new_track_id("bench", "digest")
        client.check_credentials(track_id)
        baseline = peak_rss_mb()
        started = time.perf_counter()
        summary = summarize(
            client.iter_failed_callouts(window, track_id=track_id),
            client.iter_failed_emails(window, track_id=track_id),
            window=window,
        )
        scanned = time.perf_counter()
        message = build_digest(
            summary,
            None,
            subscription_label="All accounts",
            ui_url=spec["base_url"],
            top_n=8,
        )
        built = time.perf_counter()
    return {
        "callouts": summary.total_callouts,
        "emails": summary.total_emails,
        "accounts": len(summary.accounts),
        "blocks": len(message.blocks),
        "scan_summarize_seconds": scanned - started,
        "build_seconds": built - scanned,
        "seconds": built - started,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
    }


def main(argv: list[str]) -> int:
    """Dispatch on the mode and print the result as one JSON line."""
    mode, spec = argv[0], json.loads(argv[1])
    result = {"stream": stream, "digest": digest}[mode](spec)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
