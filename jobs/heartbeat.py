"""Whether a scheduler is running: its heartbeat in Redis, read by workers and ``/healthz``.

Retries, lost jobs and the IMAP poll wait for ``trackerhub scheduler`` (jobs/periodic.py); a hub run as
web + worker alone still takes and delivers new messages, so nothing else shows that they wait. The
active scheduler writes the time of each tick; a worker warns when none has been seen for a minute
(at start and then at most once a minute), and ``/healthz`` reports it.

Times are epoch seconds from each process's own clock, so hosts' clocks must agree to well within the
minute (NTP).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "hub:scheduler:heartbeat"
MISSING_AFTER = 60.0  # seconds without a tick before the scheduler counts as missing
WARN_EVERY = 60.0  # a worker repeats its warning at most this often
CHECK_EVERY = 5.0  # how often a worker looks
START_GRACE = 15.0  # a scheduler never seen may be starting alongside the worker: give it a few ticks
KEEP_FOR = 7 * 24 * 3600  # the last tick is remembered this long, so "last seen" can be told


@dataclass(frozen=True)
class SchedulerSeen:
    """When a scheduler last ticked (None: never, as far as Redis remembers), as of ``now``."""

    last_seen: float | None
    now: float

    @property
    def ok(self) -> bool:
        """A tick within the last minute."""
        return self.last_seen is not None and self.now - self.last_seen < MISSING_AFTER

    def describe(self) -> str:
        """``never`` or ``<n>s ago``."""
        return "never" if self.last_seen is None else f"{max(self.now - self.last_seen, 0):.0f}s ago"


def record_scheduler_tick(redis: Redis, now: float | None = None) -> None:
    """The active scheduler ticked (called once per tick of its loop)."""
    redis.set(HEARTBEAT_KEY, repr(time.time() if now is None else now), ex=KEEP_FOR)


def scheduler_seen(redis: Redis, now: float | None = None) -> SchedulerSeen:
    """When the scheduler last ticked; RedisError when Redis does not answer."""
    raw = redis.get(HEARTBEAT_KEY)
    try:
        last = float(raw) if raw is not None else None
    except ValueError:
        last = None
    return SchedulerSeen(last_seen=last, now=time.time() if now is None else now)


class SchedulerWatch:
    """A worker's view of the scheduler: one warning line when it is missing, at most once a minute."""

    def __init__(self, redis: Redis, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._clock = clock
        self._started = clock()
        self._warned_at: float | None = None

    def check(self) -> bool:
        """Look once; log and return True when this look warned."""
        now = self._clock()
        try:
            seen = scheduler_seen(self._redis, now)
        except RedisError:
            return False  # the worker's own loop reports a Redis outage
        if seen.ok:
            self._warned_at = None
            return False
        if seen.last_seen is None and now - self._started < START_GRACE:
            return False
        if self._warned_at is not None and now - self._warned_at < WARN_EVERY:
            return False
        self._warned_at = now
        log.warning(
            "worker.no-scheduler last_seen=%s hint=retries, lost jobs and the IMAP poll wait until "
            "`trackerhub scheduler` runs",
            seen.describe(),
        )
        return True

    def run(self, stop: threading.Event) -> None:
        """Look every ``CHECK_EVERY`` seconds until ``stop`` is set (a worker's daemon thread)."""
        while not stop.wait(CHECK_EVERY):
            self.check()


def watch_scheduler(redis: Redis) -> threading.Event:
    """Warn now if no scheduler has been seen, and keep looking in a daemon thread; set the returned
    event to stop it."""
    watch = SchedulerWatch(redis)
    watch.check()
    stop = threading.Event()
    threading.Thread(target=watch.run, args=(stop,), name="scheduler-watch", daemon=True).start()
    return stop
