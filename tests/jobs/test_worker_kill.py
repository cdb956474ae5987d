"""A worker killed with SIGKILL after Jira created the issue but before the hub recorded it.

The real `trackerhub worker` process runs the job against the sandbox Jira, whose answer to the create
is held back after the commit; the worker is killed while it waits. When the lease runs out, the sweep
re-enqueues the message and the next attempt finds the issue by its idempotency label: one issue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from jobs.context import Context
from jobs.deliver import deliver_with
from jobs.periodic import sweep
from jobs.queues import DELIVERY_QUEUE
from sandbox.server import RunningSandbox
from store import journal
from tests.conftest import REPO_ROOT
from tests.jobs.conftest import add_fault, drain, journal_message, sandbox_issues, wait_until
from tests.mappers.factories import telegram_message
from tests.sandboxes import CONTROL


def start_worker(ctx: Context) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "TELEGRAM_", "SMTP_", "HUB_"))}
    env.update(
        REDIS_URL=ctx.settings.REDIS_URL or "",
        DATABASE_URL=ctx.settings.DATABASE_URL,
        JIRA_URL=ctx.settings.JIRA_URL or "",
        JIRA_TOKEN="t",
        HUB_LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "worker"], cwd=REPO_ROOT, env=env, start_new_session=True
    )


def kill_worker_once_created(ctx: Context, sandbox: RunningSandbox, issues: int) -> None:
    """Run a real worker until Jira holds ``issues`` issues (its answer held back), then SIGKILL it."""
    worker = start_worker(ctx)
    try:
        wait_until(lambda: len(sandbox_issues(sandbox)) == issues)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    requests.delete(f"{sandbox.url}/_sandbox/faults", headers=CONTROL, timeout=5)


def leases_run_out(ctx: Context) -> None:
    """Time passes: the dead attempts' leases and their conversation locks expire."""
    with ctx.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE messages SET next_attempt_at = '2000-01-01 00:00:00'")
    for key in ctx.redis.scan_iter("hub:lock:*"):
        ctx.redis.delete(key)


def test_sigkill_between_create_and_record_makes_no_second_issue(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    add_fault(
        jira_sandbox,
        latency_ms=60_000,
        count=1,
        methods=["POST"],
        paths=["/rest/api/2/issue"],
        after_commit=True,
    )
    message_id = journal_message(ctx, telegram_message("killed mid-job"))
    kill_worker_once_created(ctx, jira_sandbox, issues=1)

    entry = journal.get(ctx.engine, message_id)
    assert entry is not None and entry.status == "queued" and entry.create_started_at is not None
    leases_run_out(ctx)
    assert sweep(ctx) == 1  # RQ still thinks the job is started; the journal's lease says it is dead
    job_ids = ctx.redis.lrange(f"rq:queue:{DELIVERY_QUEUE}", 0, -1)
    assert job_ids == [f"deliver-{message_id}".encode()]

    assert deliver_with(ctx, message_id) == "delivered"
    issues = sandbox_issues(jira_sandbox)
    assert len(issues) == 1
    assert journal.get(ctx.engine, message_id).issue_key == issues[0]["key"]  # type: ignore[union-attr]


def test_real_worker_delivers_from_the_queue(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    ids = [journal_message(ctx, telegram_message(f"queued {n}", chat_id=100 + n)) for n in range(3)]
    worker = start_worker(ctx)
    try:
        wait_until(lambda: all(journal.get(ctx.engine, i).status == "delivered" for i in ids))  # type: ignore[union-attr]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
    assert len(sandbox_issues(jira_sandbox)) == 3


def test_sigkill_during_a_bulk_create_makes_no_second_issue(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    """The killed worker had taken its companions' jobs out of the queue: the sweep gives them back."""
    ids = [journal_message(ctx, telegram_message(f"backlog {n}", chat_id=200 + n)) for n in range(5)]
    add_fault(jira_sandbox, latency_ms=60_000, count=1, paths=["/rest/api/2/issue/bulk"], after_commit=True)
    kill_worker_once_created(ctx, jira_sandbox, issues=5)
    assert ctx.redis.lrange(f"rq:queue:{DELIVERY_QUEUE}", 0, -1) == []  # one job ran, four were taken
    leases_run_out(ctx)
    assert sweep(ctx) == 5
    drain(ctx)

    issues = {issue["key"]: issue for issue in sandbox_issues(jira_sandbox)}
    assert len(issues) == 5
    for message_id in ids:
        entry = journal.get(ctx.engine, message_id)
        assert entry is not None and entry.status == "delivered"
        assert f"hub-{message_id}" in issues[entry.issue_key or ""]["fields"]["labels"]
