"""Waiting for a started service to answer, for ``up`` and for the tests and benchmarks that start
the hub's processes themselves."""

from __future__ import annotations

import logging
import time

import click

log = logging.getLogger("trackerhub")


def wait_for_redis(url: str, timeout: float = 15.0) -> None:
    """Wait until Redis answers PING; a ClickException after ``timeout`` seconds."""
    from redis import Redis
    from redis.exceptions import RedisError

    deadline = time.monotonic() + timeout
    client = Redis.from_url(url, socket_connect_timeout=1)
    while time.monotonic() < deadline:
        try:
            client.ping()
            return
        except RedisError:
            time.sleep(0.2)
    raise click.ClickException(f"Redis at {url} did not answer within {timeout:.0f} s")


def wait_for_scheduler(redis_url: str, timeout: float = 30.0) -> None:
    """Wait until the scheduler has ticked (jobs/heartbeat.py); after ``timeout``, go on with a warning
    (the worker repeats it)."""
    from redis import Redis
    from redis.exceptions import RedisError

    from jobs.heartbeat import scheduler_seen

    deadline = time.monotonic() + timeout
    client = Redis.from_url(redis_url, socket_connect_timeout=1)
    while time.monotonic() < deadline:
        try:
            if scheduler_seen(client).ok:
                return
        except RedisError:
            pass
        time.sleep(0.2)
    log.warning("up.scheduler-slow waited=%.0fs", timeout)


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    """Wait until ``url`` answers below 500; a ClickException after ``timeout`` seconds."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1, headers={"Authorization": "Bearer sandbox"}).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise click.ClickException(f"{url} did not answer within {timeout:.0f} s")
