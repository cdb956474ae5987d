"""``trackerhub worker --slots N`` and ``trackerhub node --slots N``: N delivery slots forked from one
process, each a worker of its own (the node's parent forks the web server beside them, and its first
slot runs the scheduler in a thread).

The slots share the parent's imported code; each has its own RQ name, Redis connections and database
pool, so killing one is what killing one ``trackerhub worker`` was: the sweep gives its job back and the
parent forks a new slot. Each test runs with both commands.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from rq import Worker

from jobs.context import Context
from jobs.heartbeat import scheduler_seen
from jobs.periodic import sweep
from sandbox.server import RunningSandbox
from store import journal
from tests.conftest import REPO_ROOT, free_port
from tests.jobs.conftest import (
    add_fault,
    connected_names,
    drain,
    journal_message,
    process_env,
    sandbox_issues,
    wait_disconnected,
    wait_until,
)
from tests.jobs.test_worker_kill import assert_delivered_once, leases_run_out
from tests.mappers.factories import telegram_message
from tests.reliability.harness import busy_workers
from tests.sandboxes import CONTROL

LAYOUTS = pytest.mark.parametrize("layout", ["worker", "node"])


def start_slots(
    ctx: Context,
    log: Path,
    layout: str,
    slots: int,
    *,
    scheduler: bool = False,
    env: dict[str, str] | None = None,
    port: int | None = None,
    workers: int = 1,
) -> subprocess.Popen[bytes]:
    """``worker --slots`` (with ``scheduler``, ``--with-scheduler``) or ``node``, whose scheduler always
    runs (a thread of its first slot) and whose web server takes ``workers`` on ``port`` (a free one)."""
    if layout == "node":
        port = port or free_port()
        args = ["node", "--port", str(port), "--workers", str(workers), "--slots", str(slots)]
    else:
        args = ["worker", "--slots", str(slots), *(["--with-scheduler"] if scheduler else [])]
    output = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO_ROOT,
        env=env or process_env(ctx),
        start_new_session=True,
        stdout=output,
        stderr=subprocess.STDOUT,
    )


def tree(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (the node's web workers and slots, a slotted worker's slots)."""
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if parent_of(int(stat.parent.name)) == pid and alive(int(stat.parent.name)):
                found.add(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found | {grandchild for child in found for grandchild in tree(child)}


def given_back(ctx: Context, layout: str, message_id: str) -> None:
    """The killed slot's job, given back by the sweep: this test's own for ``worker``; for ``node``, its
    scheduler's (a thread of a live slot, which would otherwise race this test's)."""
    leases_run_out(ctx)
    if layout == "worker":
        assert sweep(ctx) == 1
    wait_until(
        lambda: journal.get(ctx.engine, message_id).status == "delivered",  # type: ignore[union-attr]
        timeout=60,
        what="delivered by a live slot",
    )


def parent_of(pid: int) -> int:
    """The parent pid of ``pid`` (/proc/<pid>/stat, the field after the state)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def worker_pids(ctx: Context) -> set[int]:
    """The pids of the RQ workers registered in Redis whose processes are alive."""
    return {int(w.pid) for w in Worker.all(connection=ctx.redis) if w.pid and alive(int(w.pid))}


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def slots_holding_a_create(
    ctx: Context, sandbox: RunningSandbox, tmp_path: Path, layout: str, text: str
) -> tuple[subprocess.Popen[bytes], str]:
    """Two slots, one of them mid-delivery of a new message: Jira created its issue and holds the answer
    back for a minute. The worker process and the message's id."""
    add_fault(
        sandbox, latency_ms=60_000, count=1, methods=["POST"], paths=["/rest/api/2/issue"], after_commit=True
    )
    message_id = journal_message(ctx, telegram_message(text))
    worker = start_slots(ctx, tmp_path / "worker.log", layout, 2)
    try:
        wait_until(lambda: len(sandbox_issues(sandbox)) == 1, timeout=60, what="the create held")
    except BaseException:
        stop(worker)
        raise
    return worker, message_id


@LAYOUTS
def test_slots_are_children_of_one_process_and_deliver_with_its_scheduler(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path, layout: str
) -> None:
    log = tmp_path / "worker.log"
    worker = start_slots(ctx, log, layout, 3, scheduler=True)
    try:
        wait_until(lambda: len(worker_pids(ctx)) == 3, timeout=60, what="three slots registered")
        slots = worker_pids(ctx)
        assert {parent_of(pid) for pid in slots} == {worker.pid}  # forked by the one worker process
        names = {w.name for w in Worker.all(connection=ctx.redis)}
        assert names <= connected_names(
            ctx
        )  # each slot's own named Redis connection: how the sweep sees it alive
        ids = [journal_message(ctx, telegram_message(f"slot {n}", chat_id=300 + n)) for n in range(6)]
        wait_until(
            lambda: all(journal.get(ctx.engine, i).status == "delivered" for i in ids),  # type: ignore[union-attr]
            timeout=60,
            what="every message delivered",
        )
        wait_until(lambda: scheduler_seen(ctx.redis).last_seen is not None, timeout=30, what="scheduler tick")
    finally:
        stop(worker)
    assert worker.returncode == 0
    assert len(sandbox_issues(jira_sandbox)) == 6
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "level=ERROR" not in text, text[-3000:]


@LAYOUTS
def test_a_slot_killed_mid_delivery_loses_nothing_and_is_forked_again(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path, layout: str
) -> None:
    worker, message_id = slots_holding_a_create(ctx, jira_sandbox, tmp_path, layout, "a slot killed mid-job")
    try:
        busy = busy_workers(ctx.redis)
        assert len(busy) == 1
        (killed,) = busy
        assert parent_of(killed) == worker.pid
        os.kill(killed, signal.SIGKILL)  # that slot alone
        wait_disconnected(ctx, {str(busy[killed].worker_name)})
        wait_until(
            lambda: killed not in worker_pids(ctx) and len(worker_pids(ctx)) == 2,
            timeout=60,
            what="a new slot in the killed one's place",
        )
        assert worker.poll() is None
        requests.delete(f"{jira_sandbox.url}/_sandbox/faults", headers=CONTROL, timeout=5)
        given_back(ctx, layout, message_id)
    finally:
        stop(worker)
    assert_delivered_once(ctx, jira_sandbox, [message_id])


@LAYOUTS
def test_the_whole_worker_killed_mid_delivery_loses_nothing(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path, layout: str
) -> None:
    """SIGKILL of the worker's process group (what systemd's stop does after its timeout), mid-create."""
    worker, message_id = slots_holding_a_create(
        ctx, jira_sandbox, tmp_path, layout, "the whole worker killed"
    )
    try:
        names = {w.name for w in Worker.all(connection=ctx.redis)}
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        wait_until(lambda: not worker_pids(ctx), timeout=30, what="every slot gone")
        wait_disconnected(ctx, names)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    requests.delete(f"{jira_sandbox.url}/_sandbox/faults", headers=CONTROL, timeout=5)
    leases_run_out(ctx)
    assert sweep(ctx) == 1
    drain(ctx)
    assert_delivered_once(ctx, jira_sandbox, [message_id])


@LAYOUTS
def test_slots_of_a_parent_killed_alone_stop_instead_of_lingering(
    ctx: Context, tmp_path: Path, layout: str
) -> None:
    """The parent SIGKILLed by itself (not its group): its idle slots (and the node's web server, whose
    workers follow it) get SIGTERM from the kernel and stop, so a restarted worker does not run beside
    orphans."""
    worker = start_slots(ctx, tmp_path / "worker.log", layout, 2)
    try:
        wait_until(lambda: len(worker_pids(ctx)) == 2, timeout=60, what="two slots registered")
        children = tree(worker.pid)
        assert worker_pids(ctx) <= children
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        wait_until(lambda: not any(alive(pid) for pid in children), what="every child stopped")
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)


@LAYOUTS
def test_sigterm_to_the_worker_alone_lets_each_slot_finish_its_delivery(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path, layout: str
) -> None:
    """What `trackerhub up` sends on Ctrl-C: the worker passes it on, a slot mid-delivery finishes first;
    every child (the node's web server and its workers too) is gone when it exits."""
    add_fault(jira_sandbox, latency_ms=3_000, count=1, methods=["POST"], paths=["/rest/api/2/issue"])
    message_id = journal_message(ctx, telegram_message("stopped mid-job"))
    worker = start_slots(ctx, tmp_path / "worker.log", layout, 2)
    try:
        wait_until(lambda: len(busy_workers(ctx.redis)) == 1, timeout=60, what="a slot busy with the create")
        slots = tree(worker.pid)
        os.kill(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    assert not any(alive(pid) for pid in slots)
    entry = journal.get(ctx.engine, message_id)
    assert entry is not None and entry.status == "delivered"  # finished, not cut short
    assert_delivered_once(ctx, jira_sandbox, [message_id])
