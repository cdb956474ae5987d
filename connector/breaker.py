"""A circuit breaker per tracker, shared by every worker through Redis.

When a tracker answers 5xx or 429 or stops answering, every worker pausing at once is both kinder to it
(it asked us to slow down, or it is struggling) and faster for us: instead of each queued message
spending its own retries against a dead tracker and backing off exponentially on its own, calls stop
for a short pause (the tracker's ``Retry-After`` when it gave one), then a single call probes. When the
probe succeeds the circuit closes and ``on_close`` runs (the jobs use it to make every message that was
waiting for this tracker due at once), so recovery takes about one pause, not one back-off.

An error *answer* (5xx, 429) opens the circuit at once: the tracker said so. A call that got no answer
(a timeout, a refused connection) is only a strike: one slow call must not stop every worker, so the
circuit opens after ``STRIKES`` unanswered calls in a row, with no answered call in between.

The breaker never makes Redis a new point of failure: if Redis cannot be asked, calls go through.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from connector.errors import CircuitOpen, TrackerError, TrackerUnavailable

log = logging.getLogger(__name__)

FIRST_PAUSE = 1.0  # seconds
MAX_PAUSE = 10.0  # without a Retry-After, a probe at least this often while the tracker is down
STATE_TTL = 3600  # a breaker nobody closes (every worker gone) is forgotten after an hour
STRIKES = 5  # unanswered calls in a row that open the circuit


@dataclass(frozen=True)
class CallState:
    """What :meth:`CircuitBreaker.before_call` found: whether this call probes, whether strikes stand."""

    probe: bool
    strikes: bool


class CircuitBreaker:
    """The shared open/closed state of one tracker's circuit (``hub:breaker:<name>`` in Redis)."""

    def __init__(self, redis: Redis, name: str, on_close: Callable[[], None] | None = None) -> None:
        self.redis = redis
        self.name = name
        self.on_close = on_close
        self.key = f"hub:breaker:{name}"
        self.probe_key = f"{self.key}:probe"

    def before_call(self) -> CallState:
        """Raise :class:`CircuitOpen` while the circuit is open; else how this call stands."""
        try:
            until, strikes = self.redis.hmget(self.key, "until", "strikes")
            if until is None:
                return CallState(probe=False, strikes=bool(strikes))
            wait = float(until) - time.time()
            if wait > 0:
                raise self._open(f"{self.name} is unavailable; calls paused", wait)
            if self.redis.set(self.probe_key, "1", nx=True, px=int(MAX_PAUSE * 1000)):
                return CallState(probe=True, strikes=bool(strikes))
        except RedisError:
            return CallState(probe=False, strikes=False)
        raise self._open(f"{self.name} is being probed", FIRST_PAUSE)

    def _open(self, message: str, wait: float) -> CircuitOpen:
        exc = CircuitOpen(message, retry_after=wait)
        exc.tracker = self.name
        return exc

    def failed(self, exc: TrackerUnavailable, call: CallState) -> None:
        """Count the failure; open the circuit (or keep it open longer) when it is time to pause."""
        try:
            if exc.status is None and not call.probe:
                strikes = int(self.redis.hincrby(self.key, "strikes", 1))
                self.redis.expire(self.key, STATE_TTL)
                if strikes < STRIKES:
                    return
            failures = int(self.redis.hincrby(self.key, "failures", 1))
            pause = max(exc.retry_after or 0.0, min(FIRST_PAUSE * 2 ** (failures - 1), MAX_PAUSE))
            with self.redis.pipeline() as pipe:
                pipe.hset(self.key, "until", time.time() + pause)
                pipe.expire(self.key, STATE_TTL)
                pipe.delete(self.probe_key)
                pipe.execute()
        except RedisError:
            return
        log.warning(
            "breaker.open tracker=%s pause=%.1f failures=%d reason=%s", self.name, pause, failures, exc
        )

    def succeeded(self, call: CallState) -> None:
        """The tracker answered: a successful probe closes the circuit, any answer clears the strikes."""
        try:
            if call.probe:
                self.redis.delete(self.key, self.probe_key)
            elif call.strikes:
                self.redis.hdel(self.key, "strikes")
        except RedisError:
            return
        if call.probe:
            log.info("breaker.closed tracker=%s", self.name)
            if self.on_close is not None:
                self.on_close()

    def abandon_probe(self) -> None:
        """The probe ended without an answer about the tracker (a bug, a kill): let another call probe."""
        with contextlib.suppress(RedisError):
            self.redis.delete(self.probe_key)


class GuardedTracker:
    """A tracker connector whose every call goes through its :class:`CircuitBreaker`.

    Transient failures are tagged with the tracker's name (``TrackerUnavailable.tracker``), so the job
    can say which tracker a message is waiting for.
    """

    UNGUARDED = frozenset({"issue_url", "name", "url"})  # no I/O behind these

    def __init__(self, tracker: Any, breaker: CircuitBreaker) -> None:
        self._tracker = tracker
        self._breaker = breaker

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._tracker, name)
        if name in self.UNGUARDED or name.startswith("_") or not callable(attribute):
            return attribute
        return self._guard(attribute)

    def _guard(self, call: Callable[..., Any]) -> Callable[..., Any]:
        breaker = self._breaker

        @functools.wraps(call)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            state = breaker.before_call()
            try:
                result = call(*args, **kwargs)
            except TrackerUnavailable as exc:
                exc.tracker = breaker.name
                if not isinstance(exc, CircuitOpen):
                    breaker.failed(exc, state)
                raise
            except (TrackerError, StopIteration):
                breaker.succeeded(state)  # it answered, even if with a refusal (or no more pages): it is up
                raise
            except BaseException:
                if state.probe:
                    breaker.abandon_probe()
                raise
            breaker.succeeded(state)
            if isinstance(result, Iterator):
                return self._guard_pages(result)
            return result

        return guarded

    def _guard_pages(self, pages: Iterator[Any]) -> Iterator[Any]:
        """A lazy result (``search``) fetches its later pages while it is read: each page is a call of
        its own through the breaker, so a failure halfway through a scan counts and names the tracker."""
        guarded_next = self._guard(functools.partial(next, pages))
        while True:
            try:
                yield guarded_next()
            except StopIteration:
                return
