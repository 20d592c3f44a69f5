"""ReadCache: TTL by an injected timer, thread-safe, one computation per key at a time."""

from __future__ import annotations

import threading
import time

import pytest

from bot.zuora.cache import ReadCache
from tests.support.zuora_fakes import ManualTimer


def test_cache_hit_then_expiry() -> None:
    timer = ManualTimer()
    cache = ReadCache(ttl=30, timer=timer)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get_or_compute("k", compute) == 1
    timer.advance(29)
    assert cache.get_or_compute("k", compute) == 1
    timer.advance(2)
    assert cache.get_or_compute("k", compute) == 2
    assert len(cache) == 1


def test_cache_disabled_when_ttl_zero() -> None:
    cache = ReadCache(ttl=0, timer=ManualTimer())
    values = iter([1, 2])
    assert cache.get_or_compute("k", lambda: next(values)) == 1
    assert cache.get_or_compute("k", lambda: next(values)) == 2
    assert not cache.enabled and len(cache) == 0


def test_cache_does_not_store_errors() -> None:
    cache = ReadCache(ttl=30, timer=ManualTimer())

    def boom() -> int:
        raise RuntimeError("nope")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", boom)
    assert cache.get_or_compute("k", lambda: 7) == 7


def test_concurrent_identical_misses_compute_once() -> None:
    cache = ReadCache(ttl=30, timer=time.monotonic)
    calls: list[int] = []
    barrier = threading.Barrier(10)
    results: list[int] = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.05)
        return 42

    def worker() -> None:
        barrier.wait()
        results.append(cache.get_or_compute("same", slow))

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [42] * 10
    assert len(calls) == 1
    assert cache._key_locks == {}


def test_different_keys_compute_in_parallel() -> None:
    cache = ReadCache(ttl=30, timer=time.monotonic)
    started = time.monotonic()
    threads = [
        threading.Thread(target=cache.get_or_compute, args=(k, lambda: time.sleep(0.05)))
        for k in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started < 0.2


def test_cache_clear_and_discard() -> None:
    cache = ReadCache(ttl=30, timer=ManualTimer())
    cache.put("k", 1)
    cache.put("j", 1)
    cache.discard("k")
    assert cache.get_or_compute("k", lambda: 2) == 2
    assert cache.get_or_compute("j", lambda: 2) == 1
    cache.clear()
    assert cache.get_or_compute("j", lambda: 3) == 3
