"""UnfurlService: Zuora account links in a shared message → one compact unfurl per link.

Bounded work: at most ZUORA_UNFURL_MAX_LINKS links per event, one Zuora scan per account however many
links name it (per-account lock), and a short in-memory cache (the same link pasted in several
channels, or Slack's composer and posted-message events for one message, scan once).

Errors: an account Zuora does not have unfurls into one short line (cached like a summary: the
reader learns the link is wrong). Any other Zuora failure (down, throttled, credentials) is skipped:
the link stays a plain link, logged; an unfurl stays in the channel long after Zuora recovers,
where "Zuora is down" would mislead the next reader.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cachetools import TTLCache

from bot.failures.results import AccountFailures
from bot.failures.service import NotificationService
from bot.links.cards import build_account_unfurl, build_unknown_account_unfurl
from bot.links.urls import AccountLink, parse_account_link
from bot.zuora.errors import ZuoraError, ZuoraNotFoundError

logger = logging.getLogger(__name__)

#: The window an unfurl summarises, as the failures card labels it.
SUMMARY_WINDOW = timedelta(hours=24)
SUMMARY_LABEL = "24h"
#: Seconds a summary (or "no such account") is reused.
CACHE_SECONDS = 60.0
CACHE_ACCOUNTS = 512


@dataclass(frozen=True)
class UnknownAccount:
    """Zuora answered 404 for this key."""

    key: str


Outcome = AccountFailures | UnknownAccount


class UnfurlService:
    """Turns the links of one link_shared event into the `unfurls` map of chat.unfurl."""

    def __init__(
        self,
        service: NotificationService,
        *,
        ui_url: str,
        hosts: frozenset[str],
        max_links: int,
        cache_seconds: float = CACHE_SECONDS,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._service = service
        self._ui_url = ui_url
        self._hosts = hosts
        self._max_links = max_links
        self._cache: TTLCache[str, Outcome] = TTLCache(CACHE_ACCOUNTS, cache_seconds, timer=timer)
        self._locks: TTLCache[str, threading.Lock] = TTLCache(CACHE_ACCOUNTS, 600.0, timer=timer)
        self._guard = threading.Lock()

    def account_links(self, urls: Sequence[str]) -> list[AccountLink]:
        """The Zuora account links among `urls`, at most ZUORA_UNFURL_MAX_LINKS, first ones first."""
        found = [link for url in urls if (link := parse_account_link(url, self._hosts))]
        return found[: self._max_links]

    def unfurls(self, urls: Sequence[str], *, track_id: str) -> dict[str, dict[str, Any]]:
        """URL → unfurl (an attachment with blocks) for each account link that could be read."""
        links = self.account_links(urls)
        outcomes = {key: self.outcome(key, track_id=track_id) for key in {x.key for x in links}}
        result: dict[str, dict[str, Any]] = {}
        for link in links:
            outcome = outcomes[link.key]
            if isinstance(outcome, UnknownAccount):
                result[link.url] = build_unknown_account_unfurl(outcome.key)
            elif outcome is not None:
                result[link.url] = build_account_unfurl(outcome, ui_url=self._ui_url)
        return result

    def outcome(self, key: str, *, track_id: str) -> Outcome | None:
        """The account's summary, or UnknownAccount, or None when Zuora could not answer now."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # a second link to the same account waits for the first one's scan
            with self._guard:
                cached = self._cache.get(key)
            if cached is not None:
                return cached
            try:
                found: Outcome = self._service.failures_without_ids(
                    key, SUMMARY_WINDOW, SUMMARY_LABEL, track_id=track_id
                )
            except ZuoraNotFoundError:
                found = UnknownAccount(key)
            except ZuoraError as exc:
                logger.warning("unfurl of %s skipped: Zuora failed (%s)", key, type(exc).__name__)
                return None
            with self._guard:
                self._cache[key] = found
                if isinstance(found, AccountFailures):  # the id and the number name one account
                    self._cache[found.account.id] = found
                    self._cache[found.account.number] = found
            return found
