"""`python -m bot.clock`: one long-running process that posts due digests every minute, checks spike
alerts every ALERT_CHECK_INTERVAL (bot.alerts.service), DMs account watchers of new failures every
WATCH_CHECK_INTERVAL (bot.watches.service), keeps house, and finishes resends a killed web worker
left behind (every half resend lease, see bot.resend.service).

Run exactly one (Procfile `clock:`); a second one is harmless because every post is claimed in the
store first (and the claim's lease is renewed while a slow digest runs), but it doubles the Zuora scans.
Between digests it purges expired click keys, once an hour.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from types import FrameType
from typing import Protocol

from bot.deps import Deps
from bot.store import Replay

logger = logging.getLogger(__name__)

TICK_SECONDS = 60.0
PURGE_EVERY = timedelta(hours=1)


def clock_owner() -> str:
    """Who holds a digest claim: host and pid, so a stale claim can be traced, and a per-start suffix.

    The suffix keeps a restarted container (same host name, same pid 1) from passing for its dead self.
    """
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class ClickPurger(Protocol):
    """The part of Store maintenance uses."""

    def purge_expired_clicks(self, now: datetime) -> int: ...


class Maintenance:
    """Housekeeping between ticks: delete expired click keys on the first tick, then every `every`."""

    def __init__(self, store: ClickPurger, *, every: timedelta = PURGE_EVERY) -> None:
        self._store = store
        self._every = every
        self._next: datetime | None = None

    def run(self, now: datetime) -> int | None:
        """Purge if due; return how many keys went, or None when it was not yet time."""
        if self._next is not None and now < self._next:
            return None
        purged = self._store.purge_expired_clicks(now)
        self._next = now + self._every
        logger.info("purged %d expired click key(s)", purged)
        return purged


def seconds_to_next_tick(now: datetime, tick: float = TICK_SECONDS) -> float:
    """Wait until just after the next whole minute, so HH:MM schedules post on time."""
    into = now.timestamp() % tick
    return tick - into + 0.5


def run_clock(
    deps: Deps,
    stop: threading.Event,
    *,
    owner: str | None = None,
    wait: Callable[[float], object] | None = None,
    maintenance: Maintenance | None = None,
) -> None:
    """Tick until `stop` is set: post the digests that are due, keep house, then sleep to the next minute.

    `wait(seconds)` sleeps between ticks (default: `stop.wait`); tests inject it.
    """
    from bot.alerts.service import run_alert_checks
    from bot.core.interval_timer import IntervalTimer
    from bot.digest.posting import DigestMemory
    from bot.digest.service import run_due_digests
    from bot.watches.service import run_watch_checks

    owner = owner or clock_owner()
    alert_timer = IntervalTimer(timedelta(seconds=deps.settings.alert.check_interval))
    watch_timer = IntervalTimer(timedelta(seconds=deps.settings.watch.check_interval))
    wait = wait or stop.wait
    maintenance = maintenance or Maintenance(deps.store)
    memory = DigestMemory()
    logger.info("clock started as %s", owner)
    while not stop.is_set():
        try:
            results = run_due_digests(deps, deps.now(), owner=owner, memory=memory, clock=deps.now)
            if results:
                logger.info("clock tick: %d digest(s) handled", len(results))
        except Exception:  # one bad tick must not end the clock
            logger.exception("clock tick failed; trying again next minute")
        try:
            if alert_timer.due(deps.now()):
                actions = run_alert_checks(deps, deps.now(), owner=owner, clock=deps.now)
                if actions:
                    logger.info("alert check: %d incident action(s)", len(actions))
        except Exception:  # a failed check must not stop the digests
            logger.exception("alert check failed; trying again next interval")
        try:
            if watch_timer.due(deps.now()):
                notices = run_watch_checks(deps, deps.now())
                if notices:
                    logger.info("watch check: %d DM(s) about new failures", len(notices))
        except Exception:  # a failed watch check must not stop the digests
            logger.exception("watch check failed; trying again next interval")
        try:
            maintenance.run(deps.now())
        except Exception:  # housekeeping must never stop the digests
            logger.exception("clock maintenance failed; trying again next tick")
        wait(seconds_to_next_tick(deps.now()))
    logger.info("clock stopped")


def run_redriver(deps: Deps, stop: threading.Event) -> None:
    """Until `stop`: every half resend lease, finish resends whose worker's lease ran out, and
    check resends' outcome watches (at least every half RESEND_WATCH_FIRST_SECONDS)."""
    from bot.outages.replay import redrive_stale_replays
    from bot.resend.redrive import redrive_stale_resends

    resend = deps.settings.resend
    interval = max(0.5, min(resend.resend_lease, resend.resend_watch_first_seconds) / 2)
    while not stop.wait(interval):
        check_outcomes(deps)
        try:
            finished = redrive_stale_resends(deps)
            if finished:
                logger.info("re-drove %d unfinished resend(s)", finished)
            replays = redrive_stale_replays(deps, on_done=lambda r: show_replay_summary(deps, r))
            if replays:
                logger.info("re-drove %d unfinished outage replay(s)", replays)
        except Exception:  # the store may be briefly down: try again next round
            logger.exception("re-driving resends failed; trying again in %.0f s", interval)


def check_outcomes(deps: Deps) -> int:
    """Check the due outcome watches ("did it work?") and show those that ended."""
    from bot.outages.replay_watch import show_replay_outcome
    from bot.resend.outcome_check import run_due_watches

    try:
        ended = run_due_watches(
            deps, show_replay=lambda w: show_replay_outcome(deps.store, deps.responder, w)
        )
    except Exception:  # the store may be briefly down: try again next round
        logger.exception("checking resend outcomes failed; trying again next round")
        return 0
    if ended:
        logger.info("%d resend outcome(s) found and shown", ended)
    return ended


def show_replay_summary(deps: Deps, replay: Replay) -> None:
    """Put a re-driven replay's summary on the card that started it (its click's response_url)."""
    from bot.outages.replay_cards import build_replay_summary

    if replay.reply_url and replay.state != "running":
        deps.responder.send(replay.reply_url, build_replay_summary(replay), replace_original=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: build Deps from the environment and tick until SIGTERM or SIGINT."""
    from bot.deps import build_deps
    from bot.log_config import configure_logging
    from bot.settings import Settings, SettingsError

    del argv
    try:
        settings = Settings.load()
    except SettingsError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    configure_logging(settings.runtime.log_level)
    deps = build_deps(settings)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("received signal %d; finishing the current tick", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    redriver = threading.Thread(
        target=run_redriver, args=(deps, stop), name="resend-redriver", daemon=True
    )
    redriver.start()
    try:
        run_clock(deps, stop)
    finally:
        stop.set()
        redriver.join(timeout=10)
        deps.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
