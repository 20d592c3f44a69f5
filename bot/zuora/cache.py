"""A small thread-safe TTL cache for identical Zuora reads, with one computation per key at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from cachetools import TTLCache

V = TypeVar("V")
_MISSING = object()


class ReadCache:
    """Serves repeated identical reads for `ttl` seconds; `ttl == 0` turns caching off.

    cachetools is not thread-safe, so every access holds a lock; concurrent misses on one key wait on a
    per-key lock so the value is computed once. Errors are never cached.
    """

    def __init__(self, *, ttl: float, maxsize: int = 256, timer: Callable[[], float]) -> None:
        self.ttl = ttl
        self._cache: TTLCache[Hashable, Any] | None = (
            TTLCache(maxsize=maxsize, ttl=ttl, timer=timer) if ttl > 0 else None
        )
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, tuple[threading.Lock, int]] = {}

    @property
    def enabled(self) -> bool:
        """Whether values are kept at all."""
        return self._cache is not None

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached value for `key`, else `compute()` (once, however many threads ask) stored."""
        if self._cache is None:
            return compute()
        found = self._get(key)
        if found is not _MISSING:
            return cast(V, found)
        key_lock = self._acquire_key_lock(key)
        try:
            with key_lock:
                found = self._get(key)
                if found is not _MISSING:
                    return cast(V, found)
                value = compute()
                self.put(key, value)
                return value
        finally:
            self._release_key_lock(key)

    def put(self, key: Hashable, value: object) -> None:
        """Store `value` under `key` (no-op when disabled)."""
        if self._cache is None:
            return
        with self._lock:
            self._cache[key] = value

    def discard(self, key: Hashable) -> None:
        """Forget the value under `key`, if any."""
        if self._cache is None:
            return
        with self._lock:
            self._cache.pop(key, None)

    def clear(self) -> None:
        """Forget every value."""
        if self._cache is None:
            return
        with self._lock:
            self._cache.clear()

    def __len__(self) -> int:
        if self._cache is None:
            return 0
        with self._lock:
            self._cache.expire()
            return len(self._cache)

    def _get(self, key: Hashable) -> object:
        assert self._cache is not None
        with self._lock:
            return self._cache.get(key, _MISSING)

    def _acquire_key_lock(self, key: Hashable) -> threading.Lock:
        with self._lock:
            entry = self._key_locks.get(key)
            lock, users = entry if entry is not None else (threading.Lock(), 0)
            self._key_locks[key] = (lock, users + 1)
            return lock

    def _release_key_lock(self, key: Hashable) -> None:
        with self._lock:
            lock, users = self._key_locks[key]
            if users <= 1:
                del self._key_locks[key]
            else:
                self._key_locks[key] = (lock, users - 1)
