"""Threads released together, for tests that check what stays true when requests race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def race(n: int, call: Callable[[int], T]) -> list[T]:
    """Run ``call(i)`` on ``n`` threads released together by a barrier; an exception is re-raised."""
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        barrier.wait(timeout=30)
        return call(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))
