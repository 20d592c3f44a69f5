"""Helper process for tests/store/test_store.py: races one Store call against sibling processes.

Usage: ``python store_race_worker.py URL MODE [ARGS...]`` where MODE is
``migrate``, ``click KEY NOW_ISO`` or ``digest SUBSCRIPTION_ID LOCAL_DATE NOW_ISO OWNER``.
The worker prepares (builds the Store, except in ``migrate`` mode where building it is the race), prints
``ready``, waits for one line on stdin so every sibling starts together, then prints a JSON result line.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta

from bot.store.database import Store


def main(argv: list[str]) -> int:
    """Run one racing call and print its result as JSON on stdout."""
    url, mode, *args = argv
    store = None if mode == "migrate" else Store.from_url(url)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    try:
        if mode == "migrate":
            store = Store.from_url(url)
            result: object = store.schema_versions()
        elif mode == "click":
            assert store is not None
            key, now_iso = args
            result = store.claim_click(
                key, now=datetime.fromisoformat(now_iso), ttl=timedelta(minutes=10)
            )
        elif mode == "digest":
            assert store is not None
            subscription_id, local_date, now_iso, owner = args
            result = store.claim_digest_run(
                int(subscription_id),
                date.fromisoformat(local_date),
                owner=owner,
                now=datetime.fromisoformat(now_iso),
                lease=timedelta(minutes=10),
            )
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    finally:
        if store is not None:
            store.close()
    sys.stdout.write(json.dumps({"result": result}) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
