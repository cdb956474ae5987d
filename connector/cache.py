"""A small per-process cache whose entries expire: for what a tracker changes rarely (field schemas,
link types), read once and reused for a while instead of on every call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

DEFAULT_TTL = 300.0  # seconds


class TtlCache(Generic[V]):
    """Values by key, each kept ``ttl`` seconds from when it was loaded (``clock`` is injected for tests).

    A failed load is not remembered: the next call tries again.
    """

    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], V]) -> V:
        """The value under ``key``, loaded with ``load`` when missing or expired."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        value = load()
        with self._lock:
            self._entries[key] = (self._clock(), value)
        return value

    def clear(self) -> None:
        """Forget everything (e.g. after the admin changed the tracker's configuration)."""
        with self._lock:
            self._entries.clear()
