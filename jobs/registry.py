"""Periodic jobs as data: each registers a name, a schedule and a function; the scheduler runs the due ones.

The active scheduler (jobs/periodic.py, the holder of its Redis lock) calls :func:`run_due` once a tick.
A job's last run is kept in Redis (``LAST_RUN_KEY``, a hash of name → epoch seconds), so a job that came
due while no scheduler ran (downtime, a failover) runs ONCE when one runs again, however many of its
ticks were missed, and a standby scheduler that takes the lock carries on where the last one stopped.

A schedule is :class:`Every` (seconds) or :class:`Cron` (a five-field expression in a time zone); time is
the caller's ``now`` (epoch seconds), never read here, so tests drive it with an injected clock.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from croniter import croniter
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

LAST_RUN_KEY = "hub:periodic:last-run"


@dataclass(frozen=True)
class Every:
    """Run every ``seconds`` (counted from the last run's start)."""

    seconds: float

    def is_due(self, last_run: float | None, now: float) -> bool:
        return last_run is None or now - last_run >= self.seconds

    def describe(self) -> str:
        return f"every {self.seconds:g}s"


@dataclass(frozen=True)
class Cron:
    """Run at each time a five-field cron ``expression`` names, read in ``timezone``."""

    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.expression):
            raise ValueError(f"not a cron expression: {self.expression!r}")

    def latest(self, now: float) -> float:
        """The latest time on or before ``now`` the expression names (epoch seconds)."""
        local = dt.datetime.fromtimestamp(now, ZoneInfo(self.timezone))
        # croniter's get_prev is strictly before its start: start a second later to include ``now`` itself
        start = local + dt.timedelta(seconds=1)
        return float(croniter(self.expression, start).get_prev(dt.datetime).timestamp())

    def is_due(self, last_run: float | None, now: float) -> bool:
        """Due when a named time has passed since the last run (or ever, for a job never run)."""
        return last_run is None or self.latest(now) > last_run

    def describe(self) -> str:
        return f"cron {self.expression} {self.timezone}"


Schedule = Every | Cron


@dataclass(frozen=True)
class PeriodicJob:
    """One periodic job: ``run`` is called with nothing; the registry's owner closes over what it needs."""

    name: str
    schedule: Schedule
    run: Callable[[], object]


class Registry:
    """The periodic jobs, in the order they run within a tick."""

    def __init__(self) -> None:
        self._jobs: dict[str, PeriodicJob] = {}

    def register(self, name: str, schedule: Schedule, run: Callable[[], object]) -> PeriodicJob:
        """Add a job; a name may be registered once."""
        if name in self._jobs:
            raise ValueError(f"periodic job {name!r} is registered already")
        job = PeriodicJob(name, schedule, run)
        self._jobs[name] = job
        return job

    def __iter__(self) -> Iterator[PeriodicJob]:
        return iter(self._jobs.values())

    def names(self) -> list[str]:
        return list(self._jobs)


def last_runs(redis: Redis) -> dict[str, float]:
    """Each job's last run (epoch seconds) as Redis remembers it."""
    raw = redis.hgetall(LAST_RUN_KEY)
    return {_text(name): float(value) for name, value in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def run_due(redis: Redis, registry: Registry, now: float) -> list[str]:
    """Run every registered job that is due at ``now``; return the names of those run.

    A job's run is recorded before it starts, so a job that fails is tried again at its next due time,
    not at every tick. One job's failure is logged and does not keep the others from running; a Redis
    outage (the lock, the last runs) ends the tick, as it would end the scheduler's hold on its lock.
    """
    last = last_runs(redis)
    ran: list[str] = []
    for job in registry:
        if not job.schedule.is_due(last.get(job.name), now):
            continue
        redis.hset(LAST_RUN_KEY, job.name, repr(now))
        ran.append(job.name)
        try:
            job.run()
        except RedisError:
            raise
        except Exception:
            log.exception("periodic.job-failed job=%s", job.name)
    return ran
