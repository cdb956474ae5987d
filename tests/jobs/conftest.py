"""Job fixtures: the sandbox Jira, the Telegram stand-in and an SMTP sink, and a worker context on them."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from redis import Redis
from rq import Queue
from rq.job import Job

from config.settings import Settings
from jobs.context import Context, build_context
from jobs.deliver import deliver_with
from jobs.intake import accept
from jobs.queues import DELIVERY_QUEUE, delivery_job_id
from mappers.models import InboundMessage
from sandbox.server import RunningSandbox
from sandbox.smtp import start_sink
from store.db import messages
from tests.sandboxes import CONTROL, run_jira, run_telegram


@pytest.fixture
def jira_sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    with run_jira(tmp_path / "sandbox-jira.sqlite3", faults=True) as running:
        yield running


@pytest.fixture
def telegram_sandbox() -> Iterator[str]:
    with run_telegram(faults=True) as running:
        yield running.url


@pytest.fixture
def mail_sink(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    folder = tmp_path / "outbox"
    controller = start_sink(folder)
    yield f"smtp://127.0.0.1:{controller.port}", folder
    controller.stop()


@pytest.fixture
def ctx(
    settings: Settings, jira_sandbox: RunningSandbox, telegram_sandbox: str, mail_sink: tuple[str, Path]
) -> Iterator[Context]:
    """A worker context whose tracker, Telegram and SMTP are the sandboxes.

    Its Redis client is the process-wide one (``get_redis``); a worker a test runs in process names
    that client's connections after itself (``name_connections``), so the name is taken off again
    afterwards: a later test in this process (a preloaded web app's) would find its connections named.
    """
    wired = settings.model_copy(
        update={
            "JIRA_URL": jira_sandbox.url,
            "TELEGRAM_API_URL": telegram_sandbox,
            "SMTP_URL": mail_sink[0],
            "HUB_MAX_ATTEMPTS": 3,
        }
    )
    context = build_context(wired)
    yield context
    if context.redis is not None:
        _drop_worker_name(context.redis)


def _drop_worker_name(redis: Redis) -> None:
    pool = redis.connection_pool
    if pool.connection_kwargs.pop("client_name", None) is not None:
        pool.disconnect()


def process_env(ctx: Context) -> dict[str, str]:
    """The environment for a ``trackerhub`` process started by a test: this test's Redis, database and Jira
    look-alike, and none of the developer's own tracker, Telegram, SMTP or hub settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JIRA_", "KAITEN_", "TELEGRAM_", "SMTP_", "HUB_"))
    }
    env.update(
        REDIS_URL=ctx.settings.REDIS_URL or "",
        DATABASE_URL=ctx.settings.DATABASE_URL,
        JIRA_URL=ctx.settings.JIRA_URL or "",
        JIRA_TOKEN="t",
        HUB_LOG_LEVEL="WARNING",
    )
    return env


def journal_message(ctx: Context, message: InboundMessage) -> str:
    """Accept a message as a hook would (journal + enqueue) and return its id."""
    return accept(ctx.engine, ctx.redis, message).id


def sandbox_issues(
    sandbox: RunningSandbox, jql: str = "project = SUP ORDER BY created ASC"
) -> list[dict[str, Any]]:
    response = requests.get(
        f"{sandbox.url}/rest/api/2/search",
        params={
            "jql": jql,
            "maxResults": 100,
            "fields": "summary,description,labels,comment,attachment,status",
        },
        headers={"Authorization": "Bearer t"},
        timeout=10,
    )
    response.raise_for_status()
    return list(response.json()["issues"])


def add_fault(sandbox: RunningSandbox, **spec: Any) -> None:
    requests.post(f"{sandbox.url}/_sandbox/faults", json=spec, headers=CONTROL, timeout=10).raise_for_status()


def tracker_calls(sandbox: RunningSandbox) -> dict[str, int]:
    """The requests the sandbox Jira has served so far, by method and route (``/_sandbox/stats``)."""
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", headers=CONTROL, timeout=5).json()
    return {key: int(count) for key, count in stats["requests"].items()}


def transition_to_done(sandbox: RunningSandbox, key: str) -> None:
    headers = {"Authorization": "Bearer t"}
    transitions = requests.get(
        f"{sandbox.url}/rest/api/2/issue/{key}/transitions", headers=headers, timeout=10
    ).json()
    done = next(t for t in transitions["transitions"] if t["to"]["statusCategory"]["key"] == "done")
    requests.post(
        f"{sandbox.url}/rest/api/2/issue/{key}/transitions",
        json={"transition": {"id": done["id"]}},
        headers=headers,
        timeout=10,
    ).raise_for_status()


def pause_elapsed(ctx: Context) -> None:
    """Time passes: every open tracker circuit's pause is over, so the next call probes."""
    for key in ctx.redis.scan_iter("hub:breaker:*"):
        if not key.endswith(b":probe"):
            ctx.redis.hset(key, "until", 0)


def drain(ctx: Context) -> None:
    """Run what is left in the delivery queue, as a worker would, until it is empty."""
    key = Queue(DELIVERY_QUEUE, connection=ctx.redis).key
    while job_id := ctx.redis.lpop(key):
        _run(ctx, job_id.decode())


def run_job(ctx: Context, message_id: str) -> str:
    """Take this message's job off the delivery queue and run it, as the worker that popped it would."""
    job_id = delivery_job_id(message_id)
    ctx.redis.lrem(Queue(DELIVERY_QUEUE, connection=ctx.redis).key, 1, job_id)
    return _run(ctx, job_id)


def _run(ctx: Context, job_id: str) -> str:
    status = deliver_with(ctx, job_id.removeprefix(delivery_job_id("")))
    ctx.redis.delete(Job.key_for(job_id))  # a finished delivery job keeps no result (result_ttl=0)
    return status


LONG_AGO = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def make_due(ctx: Context, *message_ids: str, in_order: bool = False) -> None:
    """Time passes: these messages' (or, with none named, all messages') next attempt times are past;
    ``in_order``: one second apart, so they fall due (and the sweep reads them) in the order given."""
    with ctx.engine.begin() as conn:
        if not message_ids:
            conn.execute(messages.update().values(next_attempt_at=LONG_AGO))
        for n, message_id in enumerate(message_ids):
            due_at = LONG_AGO + dt.timedelta(seconds=n if in_order else 0)
            conn.execute(messages.update().where(messages.c.id == message_id).values(next_attempt_at=due_at))


def wait_until(check: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``check`` until it is true; fail the test (not hang it) when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not met in time")
        time.sleep(0.02)


def connected_names(ctx: Context) -> set[str]:
    return {c["name"] for c in ctx.redis.client_list()}


def wait_disconnected(ctx: Context, names: set[str]) -> None:
    """Until Redis has noticed that the killed slots' connections closed (the kernel closes them at once,
    Redis reads the close on its next loop): how the sweep tells a dead worker from a live one."""
    wait_until(lambda: not names & connected_names(ctx), what="the killed slots' connections closed")


@pytest.fixture
def team(ctx: Context) -> Context:
    """``ctx`` with a team chat, and Ann and Bob linked (``tests.jobs.team``)."""
    from tests.jobs.team import team_context

    return team_context(ctx)
