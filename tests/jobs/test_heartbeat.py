"""The scheduler's heartbeat: the scheduler records its ticks, a worker warns when none was seen for a
minute (at start, then at most once a minute), and /healthz reports it, staying 200."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis

from config.settings import Settings
from jobs.heartbeat import (
    HEARTBEAT_KEY,
    MISSING_AFTER,
    START_GRACE,
    WARN_EVERY,
    SchedulerWatch,
    record_scheduler_tick,
    scheduler_seen,
)
from tests.conftest import REPO_ROOT, wait_for


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def redis(redis_url: str) -> Redis:
    return Redis.from_url(redis_url)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("worker.no-scheduler")]


def test_a_stale_scheduler_is_warned_about_at_start_then_once_a_minute(
    redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="jobs.heartbeat")
    clock = Clock()
    record_scheduler_tick(redis, now=clock.now - MISSING_AFTER - 30)
    watch = SchedulerWatch(redis, clock=clock)
    assert watch.check() is True  # at start: the last tick is 90 s old
    assert warnings_of(caplog) == [
        "worker.no-scheduler last_seen=90s ago hint=retries, lost jobs and the IMAP poll wait until "
        "`trackerhub scheduler` runs"
    ]
    clock.now += WARN_EVERY - 1
    assert watch.check() is False  # not again within the minute
    clock.now += 1
    assert watch.check() is True
    record_scheduler_tick(redis, now=clock.now)  # the scheduler is back
    clock.now += 5
    assert watch.check() is False
    assert len(warnings_of(caplog)) == 2


def test_a_scheduler_never_seen_gets_a_few_ticks_to_start(redis: Redis) -> None:
    clock = Clock()
    watch = SchedulerWatch(redis, clock=clock)
    assert watch.check() is False  # the scheduler may be starting alongside this worker
    clock.now += START_GRACE
    assert watch.check() is True
    assert scheduler_seen(redis, clock.now).describe() == "never"


def test_a_live_scheduler_is_not_warned_about(redis: Redis) -> None:
    clock = Clock()
    record_scheduler_tick(redis, now=clock.now - MISSING_AFTER + 1)
    assert SchedulerWatch(redis, clock=clock).check() is False


def test_healthz_reports_the_scheduler_and_stays_200(settings: Settings, redis: Redis) -> None:
    from routes import create_app

    client = create_app(settings).test_client()
    missing = client.get("/healthz")
    assert missing.status_code == 200
    assert missing.get_json() == {
        "status": "degraded",
        "database": "ok",
        "redis": "ok",
        "scheduler": "missing",
        "scheduler_last_seen": None,
    }
    record_scheduler_tick(redis, now=time.time() - 120)
    stale = client.get("/healthz").get_json()
    assert stale["scheduler"] == "missing" and stale["scheduler_last_seen"].endswith("Z")
    record_scheduler_tick(redis)
    assert client.get("/healthz").get_json()["status"] == "ok"


# -- the real processes ---------------------------------------------------------------------------------


def hub_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "HUB_", "REDIS_", "DATABASE_"))}
    env.update(
        REDIS_URL=settings.REDIS_URL or "",
        DATABASE_URL=settings.DATABASE_URL,
        JIRA_URL="http://127.0.0.1:9",
        JIRA_TOKEN="t",
        HUB_LOG_LEVEL="INFO",
    )
    return env


Spawn = Callable[[str], tuple[subprocess.Popen[bytes], Path]]


@pytest.fixture
def spawn(settings: Settings, tmp_path: Path) -> Iterator[Spawn]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(command: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"{command}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "cli", command],
                cwd=REPO_ROOT,
                env=hub_env(settings),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        return process, log

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=30)


def test_scheduler_process_records_its_ticks(spawn: Spawn, redis: Redis) -> None:
    spawn("scheduler")
    assert wait_for(lambda: scheduler_seen(redis).ok)
    assert redis.ttl(HEARTBEAT_KEY) > 0  # remembered, not forever


def test_worker_process_warns_at_start_when_the_scheduler_is_gone(spawn: Spawn, redis: Redis) -> None:
    record_scheduler_tick(redis, now=time.time() - 300)  # a scheduler ran, five minutes ago
    _, log = spawn("worker")
    line = wait_for(
        lambda: next((x for x in log.read_text().splitlines() if "worker.no-scheduler" in x), None)
    )
    assert re.search(r"last_seen=3\d\ds ago", line)
