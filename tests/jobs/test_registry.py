"""The periodic jobs registry: due jobs run, a job that came due during downtime runs once after restart,
a cron job runs once per named time, and only the scheduler holding the lock runs anything."""

from __future__ import annotations

import datetime as dt
import os
import socket

import pytest
from redis import Redis

from config.settings import Settings
from jobs.context import Context, build_context
from jobs.periodic import SCHEDULER_LOCK, hub_jobs, run_scheduler, scheduler_pid
from jobs.registry import Cron, Every, Registry, last_runs, run_due
from tests.clock import ManualClock


@pytest.fixture
def redis(redis_url: str) -> Redis:
    return Redis.from_url(redis_url)


def counting_registry(*schedules: tuple[str, Every | Cron]) -> tuple[Registry, dict[str, int]]:
    runs: dict[str, int] = {}
    registry = Registry()
    for name, schedule in schedules:
        runs[name] = 0

        def run(name: str = name) -> None:
            runs[name] += 1

        registry.register(name, schedule, run)
    return registry, runs


def test_each_job_runs_when_its_interval_has_passed(redis: Redis) -> None:
    registry, runs = counting_registry(("fast", Every(5)), ("slow", Every(60)))
    clock = ManualClock(1_800_000_000.0)
    for _ in range(24):  # two minutes of 5-second ticks
        run_due(redis, registry, clock())
        clock.now += 5
    assert runs == {"fast": 24, "slow": 2}


def test_a_job_missed_during_downtime_runs_once_after_restart(redis: Redis) -> None:
    registry, runs = counting_registry(("imap", Every(60)))
    start = 1_800_000_000.0
    assert run_due(redis, registry, start) == ["imap"]
    # the scheduler is down for three hours: 180 runs were missed; a new registry (a new process) starts
    registry, runs = counting_registry(("imap", Every(60)))
    assert run_due(redis, registry, start + 3 * 3600) == ["imap"]
    assert run_due(redis, registry, start + 3 * 3600 + 5) == []
    assert runs == {"imap": 1}
    assert last_runs(redis)["imap"] == start + 3 * 3600


def test_a_cron_job_runs_once_per_named_time_in_its_zone(redis: Redis) -> None:
    registry, runs = counting_registry(("digest", Cron("0 10 * * 1-5", "Europe/Moscow")))
    monday_0955 = dt.datetime(2027, 3, 1, 9, 55, tzinfo=dt.timezone(dt.timedelta(hours=3))).timestamp()
    run_due(redis, registry, monday_0955)  # never run: it runs (and records) now
    assert runs == {"digest": 1}
    assert run_due(redis, registry, monday_0955 + 240) == []  # 09:59
    assert run_due(redis, registry, monday_0955 + 300) == ["digest"]  # 10:00 Moscow
    assert run_due(redis, registry, monday_0955 + 3600) == []
    saturday = monday_0955 + 5 * 86400 + 300  # Saturday 10:00: not a day the expression names
    assert run_due(redis, registry, saturday) == ["digest"]  # Friday 10:00 was missed: once
    assert run_due(redis, registry, saturday + 86400) == []  # Sunday 10:00 is not named
    assert runs == {"digest": 3}


def test_one_failing_job_does_not_stop_the_others(redis: Redis) -> None:
    registry = Registry()
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    registry.register("broken", Every(5), broken)
    registry.register("after", Every(5), lambda: ran.append("after"))
    assert run_due(redis, registry, 1000.0) == ["broken", "after"]
    assert ran == ["after"]
    assert run_due(redis, registry, 1001.0) == []  # the failed job waits for its next due time too


def test_a_name_registers_once() -> None:
    registry = Registry()
    registry.register("sweep", Every(5), lambda: None)
    with pytest.raises(ValueError, match="registered already"):
        registry.register("sweep", Every(5), lambda: None)


HUB_JOBS = [
    "heartbeat",
    "rq-scheduled",
    "sweep",
    "routes-sweep",
    "imap",
    "events-reconcile",
    "automations-scan",
    "automations-sweep",
    "csat",
    "weekly-report",
]  # in the order they run within a tick


def test_the_hub_registers_its_periodic_work_as_data(settings: Settings) -> None:
    ctx = build_context(settings)
    names = hub_jobs(ctx, rq_scheduler=None, cursor=None).names()  # type: ignore[arg-type]
    assert names == HUB_JOBS


def test_polling_reconciliation_can_be_turned_off(settings: Settings) -> None:
    ctx = build_context(settings.model_copy(update={"HUB_RECONCILE_SECONDS": 0}))
    names = hub_jobs(ctx, rq_scheduler=None, cursor=None).names()  # type: ignore[arg-type]
    assert names == [name for name in HUB_JOBS if name != "events-reconcile"]


def test_only_the_lock_holder_runs_the_jobs(settings: Settings, redis: Redis) -> None:
    ctx: Context = build_context(settings)
    redis.set(SCHEDULER_LOCK, "another-scheduler", ex=60)
    run_scheduler(ctx, ticks=1, wait=lambda _s: None)  # one tick, no sleep
    run_scheduler(ctx, ticks=1, wait=lambda _s: None)
    assert last_runs(redis) == {}  # standing by: nothing ran
    redis.delete(SCHEDULER_LOCK)
    run_scheduler(ctx, ticks=1, wait=lambda _s: None, clock=lambda: 5000.0)
    assert set(last_runs(redis)) == set(HUB_JOBS)


def test_the_scheduler_lock_names_the_active_schedulers_host_and_pid(
    settings: Settings, redis: Redis
) -> None:
    """How an operator (and the two-node fault scenario) tells which node's scheduler is active."""
    run_scheduler(build_context(settings), ticks=1, wait=lambda _s: None, clock=lambda: 5000.0)
    holder = redis.get(SCHEDULER_LOCK)
    assert holder is not None
    host, _pid, _random = holder.decode().split(":")
    assert host == socket.gethostname()
    assert scheduler_pid(holder.decode()) == os.getpid()
    assert scheduler_pid("another-scheduler") is None
