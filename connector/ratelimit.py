"""A client-side rate limit shared by every worker through Redis.

Kaiten allows 5 requests per second per API token and answers 429 beyond that, with
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (UTC epoch) and no documented ``Retry-After``
(https://developers.kaiten.ru/, "API Rate Limits"). The limit belongs to the token, so N worker
processes must share one budget: every request first takes a token from one Redis key.

One Lua script (atomic, so no two workers can take the same slot) enforces two things:

- a token bucket of ``burst`` tokens refilled at ``rate`` per ``period`` (smoothing), and
- a sliding-window cap: at most ``rate`` grants in any ``period`` (1 s) window.

The cap matters: a plain token bucket with ``burst=5, rate=5`` grants 5 at once and then one every
200 ms, i.e. up to 9 in one second, which would still trip Kaiten's limit. With the cap, every
half-open window ``[t, t + period)`` holds at most ``rate`` grants, whatever the window's phase.

The clock is Redis's own (``TIME``), so workers on hosts with skewed clocks agree. The keys carry a
hash of the token (``limiter_key``), never the token itself, in a ``{...}`` hash tag so both keys
land in the same Redis Cluster slot.

A one-off command with no Redis to share (``trackerhub kaiten ls`` or ``check`` before ``up``) uses
:class:`LocalRateLimiter`, the same sliding-window cap kept in the process.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import redis

from connector.errors import TrackerUnavailable

KEY_PREFIX = "trackerhub:ratelimit"

# KEYS[1] window zset (grant times, ms), KEYS[2] bucket hash.
# ARGV: rate, burst, period_ms, unique member. Returns {granted (0|1), wait_ms, now_ms}.
ACQUIRE_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local wait = 0
if redis.call('ZCARD', KEYS[1]) >= rate then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  wait = tonumber(oldest[2]) + period - now + 1
end
local state = redis.call('HMGET', KEYS[2], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate / period)
if tokens < 1 then
  wait = math.max(wait, math.ceil((1 - tokens) * period / rate))
end
if wait > 0 then
  return {0, wait, now}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('HSET', KEYS[2], 'tokens', tostring(tokens - 1), 'ts', now)
redis.call('PEXPIRE', KEYS[1], period * 2)
redis.call('PEXPIRE', KEYS[2], math.ceil(burst * period / rate) + period)
return {1, 0, now}
"""


class RateLimiter(Protocol):
    """What a client asks before each request."""

    def acquire(self, timeout: float | None = None) -> float:
        """Block until a request may go out; ``TrackerUnavailable`` past ``timeout``."""
        ...


def limiter_key(scope: str, secret: str) -> str:
    """A Redis key for ``secret``'s budget that does not reveal the secret (a SHA-256 prefix)."""
    digest = hashlib.sha256(secret.encode()).hexdigest()[:24]
    return f"{KEY_PREFIX}:{scope}:{digest}"


class RedisRateLimiter:
    """At most ``rate`` requests per ``period`` seconds for everyone sharing ``key``."""

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        *,
        rate: int = 5,
        burst: int = 5,
        period: float = 1.0,
        max_wait: float = 10.0,
    ) -> None:
        if rate < 1 or burst < 1 or period <= 0:
            raise ValueError("rate and burst must be >= 1 and period > 0")
        self.key = key
        self.rate = rate
        self.burst = min(burst, rate)
        self.period_ms = max(1, round(period * 1000))
        self.max_wait = max_wait
        self._redis = client
        self._script = client.register_script(ACQUIRE_LUA)
        self._keys = [f"{{{key}}}:window", f"{{{key}}}:bucket"]

    def try_acquire(self) -> tuple[bool, float, float]:
        """One attempt: (granted, seconds to wait before the next attempt, Redis time in seconds)."""
        member = f"{time.time_ns()}-{random.getrandbits(48):012x}"
        try:
            result: Any = self._script(keys=self._keys, args=[self.rate, self.burst, self.period_ms, member])
        except redis.RedisError as exc:
            raise TrackerUnavailable(f"rate limiter unavailable: {type(exc).__name__}") from None
        granted, wait_ms, now_ms = (int(x) for x in result)
        return bool(granted), wait_ms / 1000, now_ms / 1000

    def acquire(self, timeout: float | None = None) -> float:
        """Block until a request may go out; return the grant time (Redis clock, epoch seconds).

        Waits at most ``timeout`` seconds (default ``max_wait``), then raises ``TrackerUnavailable``
        with ``retry_after`` set, so a job re-enqueues instead of holding a worker.
        """
        budget = self.max_wait if timeout is None else timeout
        deadline = time.monotonic() + budget
        while True:
            granted, wait, now = self.try_acquire()
            if granted:
                return now
            left = deadline - time.monotonic()
            if wait > left:
                raise TrackerUnavailable("client-side rate limit reached", retry_after=max(wait, 0.001))
            time.sleep(wait + random.uniform(0, 0.01))


class LocalRateLimiter:
    """At most ``rate`` requests in any ``period`` seconds within this process (all its threads).

    For a command that runs alone; a process that shares a token with others uses
    :class:`RedisRateLimiter`. With ``start_full`` the first window counts as used up: the process
    cannot see who used the token just before it (the same command run twice in a row), so its first
    request waits one ``period``. ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        *,
        rate: int = 5,
        period: float = 1.0,
        max_wait: float = 10.0,
        start_full: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < 1 or period <= 0:
            raise ValueError("rate must be >= 1 and period > 0")
        self.rate = rate
        self.period = period
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._grants: deque[float] = deque([clock()] * rate if start_full else [])
        self._lock = threading.Lock()

    def try_acquire(self) -> tuple[bool, float]:
        """One attempt: (granted, seconds to wait before the next attempt)."""
        with self._lock:
            now = self._clock()
            while self._grants and self._grants[0] <= now - self.period:
                self._grants.popleft()
            if len(self._grants) < self.rate:
                self._grants.append(now)
                return True, 0.0
            return False, self._grants[0] + self.period - now

    def acquire(self, timeout: float | None = None) -> float:
        """Block until a request may go out; return the grant time (``clock``'s)."""
        deadline = self._clock() + (self.max_wait if timeout is None else timeout)
        while True:
            granted, wait = self.try_acquire()
            if granted:
                return self._clock()
            if self._clock() + wait > deadline:
                raise TrackerUnavailable("client-side rate limit reached", retry_after=max(wait, 0.001))
            self._sleep(wait)
