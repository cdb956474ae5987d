"""Kaiten's rate limit: 5 requests per second per token, answered 429 with ``X-RateLimit-Remaining``
and ``X-RateLimit-Reset``."""

from __future__ import annotations

import threading
import time
from collections import deque

RATE_PER_SECOND = 5


def rate_headers(remaining: int, reset: float) -> dict[str, str]:
    return {"X-RateLimit-Remaining": str(max(remaining, 0)), "X-RateLimit-Reset": str(int(reset))}


class RateWindow:
    """Kaiten's limit, per token: at most ``rate`` requests in any one-second window."""

    def __init__(self, rate: int = RATE_PER_SECOND, period: float = 1.0) -> None:
        self.rate = rate
        self.period = period
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}
        self.limited = 0

    def check(self, token: str) -> tuple[bool, int, float]:
        """(allowed, remaining, reset epoch) for one more request with ``token``."""
        now = time.time()
        with self._lock:
            stamps = self._seen.setdefault(token, deque())
            while stamps and stamps[0] <= now - self.period:
                stamps.popleft()
            if len(stamps) >= self.rate:
                self.limited += 1
                return False, 0, stamps[0] + self.period
            stamps.append(now)
            return True, self.rate - len(stamps), stamps[0] + self.period

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
            self.limited = 0
