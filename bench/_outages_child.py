"""Child process for the outages benchmark: runs only our code (client, scan, card) against a fake.

`python -m bench._outages_child '<json>'` scans the tenant's window with `scan_outages` (both
histories in one concurrent scan, folded by cause, nothing else kept), builds the first outages card,
and prints one JSON line: time to card, the pages requested and the pages a perfect client needs
(per listing, the number of the page that had no nextPage), and peak RSS before and after.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import httpx

from bench._support import child_settings, peak_rss_mb
from bot.outages.cards import build_outages_card
from bot.outages.scan import scan_outages
from bot.zuora.client import ZuoraClient, build_http_client
from bot.zuora.client.history import CALLOUT_PATH, EMAIL_PATH
from bot.zuora.models import TimeWindow
from bot.zuora.track import new_track_id


class Pages:
    """httpx response hook: history pages requested, and where each listing ended."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requested = 0
        self.busy = 0.0
        self.last: dict[tuple[str, str, str], int] = {}

    def hook(self, response: httpx.Response) -> None:
        url = response.request.url
        if url.path not in (CALLOUT_PATH, EMAIL_PATH):
            return
        response.read()
        listing = (url.path, url.params.get("startTime", ""), url.params.get("endTime", ""))
        page = int(url.params.get("page", "1"))
        more = b'"nextPage"' in response.content
        with self.lock:
            self.requested += 1
            self.busy += response.elapsed.total_seconds()
            if not more:
                known = self.last.get(listing)
                self.last[listing] = page if known is None else min(known, page)

    @property
    def needed(self) -> int:
        with self.lock:
            return sum(self.last.values())


def main(argv: list[str]) -> int:
    """Time one outages scan + card for the spec's window and print the JSON result."""
    spec: dict[str, Any] = json.loads(argv[0])
    settings = child_settings(spec)
    end = datetime.fromisoformat(spec["end"])
    window = TimeWindow.ending_at(end, timedelta(seconds=float(spec["seconds"])), spec["label"])
    pages = Pages()
    http = build_http_client(settings)
    http.event_hooks["response"].append(pages.hook)
    client = ZuoraClient(http, settings)
    try:
        track_id = new_track_id("bench", "outages")
        client.check_credentials(track_id)
        baseline = peak_rss_mb()
        started = time.perf_counter()
        cpu = time.process_time()
        scan = scan_outages(client, window, track_id=track_id)
        scanned = time.perf_counter()
        card = build_outages_card(scan, window)
        done = time.perf_counter()
        cpu = time.process_time() - cpu
    finally:
        client.close()
        http.close()
    groups = scan.groups()
    print(
        json.dumps(
            {
                "callouts": scan.callouts,
                "emails": scan.emails,
                "causes": len(groups),
                "blocks": len(card.blocks),
                "scan_seconds": scanned - started,
                "card_seconds": done - scanned,
                "seconds": done - started,
                "cpu_seconds": cpu,
                "pages": pages.requested,
                "needed": pages.needed,
                "busy": pages.busy,
                "baseline_rss_mb": baseline,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
