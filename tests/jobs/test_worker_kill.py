"""A worker killed with SIGKILL after Jira created the issue but before the hub recorded it.

The real `trackerhub worker` process runs the job against the sandbox Jira, whose answer to the create
is held back after the commit; the worker is killed while it waits. When the lease runs out, the sweep
re-enqueues the message and the next attempt finds the issue by its idempotency label: one issue.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from rq import Worker

from jobs.context import Context
from jobs.deliver import deliver_with
from jobs.periodic import sweep
from jobs.queues import DELIVERY_QUEUE
from sandbox.server import RunningSandbox
from store import journal
from tests.conftest import REPO_ROOT
from tests.jobs.conftest import (
    add_fault,
    drain,
    journal_message,
    make_due,
    process_env,
    sandbox_issues,
    wait_disconnected,
    wait_until,
)
from tests.mappers.factories import telegram_message
from tests.sandboxes import CONTROL


def start_worker(ctx: Context, *, traps: bool = False, log: Path | None = None) -> subprocess.Popen[bytes]:
    env = process_env(ctx)
    if traps:
        env["HUB_TEST_TRAPS"] = "1"
    output = log.open("ab") if log else None
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "worker"],
        cwd=REPO_ROOT,
        env=env,
        start_new_session=True,
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
    )


def deliver_with_a_worker(ctx: Context, ids: list[str], log: Path) -> None:
    """Run a real worker until these messages are delivered; RQ's side of it must log no error."""
    worker = start_worker(ctx, log=log)
    try:
        wait_until(
            lambda: all(journal.get(ctx.engine, i).status == "delivered" for i in ids),  # type: ignore[union-attr]
            what="every message delivered",
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "level=ERROR" not in text, text[-3000:]


def kill_worker_once_created(ctx: Context, sandbox: RunningSandbox, issues: int) -> None:
    """Run a real worker until Jira holds ``issues`` issues (its answer held back), then SIGKILL it; return
    once Redis has seen its connections close, as a sweep a moment later would."""
    worker = start_worker(ctx)
    try:
        wait_until(lambda: len(sandbox_issues(sandbox)) == issues)
        names = {str(w.name) for w in Worker.all(connection=ctx.redis)}
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        wait_disconnected(ctx, names)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    requests.delete(f"{sandbox.url}/_sandbox/faults", headers=CONTROL, timeout=5)


def leases_run_out(ctx: Context) -> None:
    """Time passes: the dead attempts' leases and their conversation locks expire."""
    make_due(ctx)
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


def kill_at(ctx: Context, point: str) -> list[str]:
    """Run a real worker with ``point`` armed, SIGKILL it once it stops there; the messages it held."""
    ctx.redis.set(f"hub:trap:{point}", "1")
    worker = start_worker(ctx, traps=True)
    try:
        wait_until(lambda: ctx.redis.exists(f"hub:trap:{point}:caught"), what=f"a worker at {point}")
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    caught = json.loads(ctx.redis.get(f"hub:trap:{point}:caught") or b"{}")
    return list(caught["messages"])


def assert_delivered_once(ctx: Context, sandbox: RunningSandbox, ids: list[str]) -> None:
    issues = {issue["key"]: issue for issue in sandbox_issues(sandbox)}
    assert len(issues) == len(ids)
    for message_id in ids:
        entry = journal.get(ctx.engine, message_id)
        assert entry is not None and entry.status == "delivered"
        assert f"hub-{message_id}" in issues[entry.issue_key or ""]["fields"]["labels"]


@pytest.mark.parametrize(
    ("point", "handed_back"),
    [
        ("dequeued", 1),  # popped by BLPOP, in no list, hash "queued"
        ("registered", 1),  # in the started registry, hash still "queued"
        ("claimed", 1),  # journal claimed (the attempt counted) and conversation locked
    ],
)
def test_a_worker_killed_between_two_writes_of_one_delivery_is_undone_by_the_next_sweep(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path, point: str, handed_back: int
) -> None:
    message_id = journal_message(ctx, telegram_message(f"killed at {point}"))
    assert kill_at(ctx, point) == [message_id]
    if point == "dequeued":  # nothing but the journal remembers the message: its row must be due
        make_due(ctx, message_id)

    assert sweep(ctx, wait=lambda _seconds: None) == handed_back  # no lease or lock had to run out
    deliver_with_a_worker(ctx, [message_id], tmp_path / "worker.log")
    assert_delivered_once(ctx, jira_sandbox, [message_id])


@pytest.mark.parametrize(
    ("point", "handed_back"),
    [
        ("companions-locked", 1),  # companions locked and leased, their jobs still queued: the leader's
        ("taken", 5),  # their jobs taken out of the queue: the leader's and all four taken
    ],
)
def test_a_worker_killed_inside_a_bulk_take_frees_every_message_it_held_at_the_next_sweep(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path, point: str, handed_back: int
) -> None:
    ids = [journal_message(ctx, telegram_message(f"backlog {n}", chat_id=800 + n)) for n in range(5)]
    held = kill_at(ctx, point)
    assert sorted(held) == sorted(ids)  # the leader and its four companions

    assert sweep(ctx, wait=lambda _seconds: None) == handed_back
    assert list(ctx.redis.scan_iter("hub:lock:*")) == []  # the dead worker's locks are broken
    deliver_with_a_worker(ctx, ids, tmp_path / "worker.log")
    assert_delivered_once(ctx, jira_sandbox, ids)
