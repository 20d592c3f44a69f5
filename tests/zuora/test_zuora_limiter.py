"""The adaptive in-flight limit: Zuora's 429 halves it once per burst, successes win it back, and a
tenant-wide scan against a sandbox Zuora that enforces a lower concurrency limit slows down instead
of failing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import build_tenant
from bot.zuora.client import ZuoraClient
from bot.zuora.limiter import AdaptiveLimiter
from bot.zuora.models import TimeWindow
from tests.support.zuora_fakes import settings_for

NOW = datetime(2026, 5, 11, 17, 0, tzinfo=UTC)


def test_limiter_halves_once_per_burst_and_recovers_step_by_step() -> None:
    limiter = AdaptiveLimiter(8, recover_after=3)
    with limiter.slot() as first, limiter.slot() as second:
        first.throttled = True
        second.throttled = True  # the same burst: one cut, not two
    assert limiter.limit == 4
    for _ in range(3):
        with limiter.slot():
            pass
    assert limiter.limit == 5
    with limiter.slot() as third:
        third.throttled = True
    assert limiter.limit == 2
    assert limiter.ceiling == 8


def test_limiter_never_goes_below_its_floor_or_above_its_ceiling() -> None:
    limiter = AdaptiveLimiter(2, recover_after=1)
    for _ in range(5):
        with limiter.slot() as slot:
            slot.throttled = True
    assert limiter.limit == 1
    for _ in range(10):
        with limiter.slot():
            pass
    assert limiter.limit == 2
    with pytest.raises(ValueError):
        AdaptiveLimiter(2, floor=3)


def test_limiter_blocks_beyond_the_limit() -> None:
    limiter = AdaptiveLimiter(2)
    inside = 0
    peak = 0
    lock = threading.Lock()
    gate = threading.Event()

    def hold() -> None:
        nonlocal inside, peak
        with limiter.slot():
            with lock:
                inside += 1
                peak = max(peak, inside)
            gate.wait(0.05)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=hold) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert peak == 2


def test_scan_slows_down_on_the_tenant_concurrency_limit_instead_of_failing() -> None:
    tenant = build_tenant(seed=4, now=NOW, callouts_per_day=400, emails_per_day=10)
    with FakeZuora(tenant, clock=lambda: NOW, latency=0.02, concurrency_limit=3) as fake:
        settings = settings_for(fake, max_concurrency=12, retry_max_delay=0.02)
        with ZuoraClient.from_settings(settings) as client:
            window = TimeWindow.ending_at(NOW, timedelta(days=7), "7d")
            callouts = list(client.iter_failed_callouts(window, track_id="zops-limiter"))
            limit_after = client.in_flight_limit

    expected = [c for c in tenant.callouts if c.failed and window.start <= c.create_time]
    assert len(callouts) == len(expected) > 0, "every page arrived despite the 429s"
    throttled = [r for r in fake.requests("/v1/notification-history/") if r.status == 429]
    assert throttled, "the sandbox did throttle the scan"
    assert limit_after < 12, "Zuora's 429 lowered this process's in-flight limit"
