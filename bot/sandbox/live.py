"""A live spike for the demo: one sandbox webhook endpoint failing now, a callout every few seconds.

The seeded tenant's failures are all history, and an alert posts only for a spike that is still going on,
so without this `/zuora alerts subscribe` could never be tried offline. The endpoint is not the seeded
outage's, so `/zuora outages` keeps showing that outage as seeded, with this spike as a cause of its own.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import ContextStyle

logger = logging.getLogger(__name__)

LIVE_ENDPOINT = "https://hooks.parcelpost.example/zuora/accounts/{number}/notify"
LIVE_CODE = 503
LIVE_CONTENT = "503 Service Unavailable: upstream connect error"


class LiveSpike:
    """Adds one fresh failed callout of LIVE_ENDPOINT to the sandbox tenant every `every` seconds."""

    def __init__(
        self,
        zuora: FakeZuora,
        *,
        every: float,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._zuora = zuora
        self._every = every
        self._clock = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.added = 0

    def add_one(self) -> None:
        """Append one failed callout timed now, for the next of the tenant's accounts in turn."""
        tenant = self._zuora.tenant
        template = next(c for c in reversed(tenant.callouts) if c.account is not None)
        accounts = [a for a in tenant.accounts if a.id != tenant.big_account_id] or tenant.accounts
        account = accounts[self.added % len(accounts)]
        n = self.added
        record = dataclasses.replace(
            template,
            id=f"9a{n:030x}",
            event_id=f"9b{n:030x}",
            object_id=account.id,
            account=account,
            create_time=self._clock().astimezone(UTC).replace(microsecond=0),
            request_url=LIVE_ENDPOINT.format(number=account.number),
            response_code=LIVE_CODE,
            response_content=LIVE_CONTENT,
            attempted_num=3,
            failed=True,
            context_override=None,
            context_style=ContextStyle.ACCOUNT,
        )
        # A new list, then a new index: requests being served keep reading the old ones meanwhile.
        tenant.callouts = [*tenant.callouts, record]
        self._zuora.reindex()
        self.added += 1

    def start(self) -> LiveSpike:
        """Add a failure now and then every `every` seconds on a daemon thread, until stop()."""
        self.add_one()
        self._thread = threading.Thread(target=self._run, name="sandbox-live-spike", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.add_one()
            except Exception:  # the demo goes on without new failures rather than die
                logger.exception("live spike: could not add a failure")

    def stop(self) -> None:
        """Stop adding failures."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
