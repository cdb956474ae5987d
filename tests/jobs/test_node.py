"""``trackerhub node``: the web server, the delivery slots and the scheduler forked from one process.

The slots' faults (a slot or the whole node SIGKILLed mid-delivery, the parent killed alone, SIGTERM)
are tests/jobs/test_worker_slots.py's, run with ``node`` too; here is what only the node has: the web
server among its children, the scheduler without a process of its own, and a parent that holds nothing
a child must not share when it forks them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from jobs.context import Context
from jobs.heartbeat import scheduler_seen
from sandbox.server import RunningSandbox
from store import journal
from tests.conftest import REPO_ROOT, free_port
from tests.jobs.conftest import process_env, wait_until
from tests.jobs.test_worker_kill import assert_delivered_once
from tests.jobs.test_worker_slots import alive, parent_of, stop, tree, worker_pids
from tests.routes.conftest import text_update

SECRET = "node-test-telegram-secret"

# What the parent has built when it forks (cli/node.py's preload_node): its threads, and the file
# descriptors that are connections (sockets: Redis, PostgreSQL) or the SQLite journal.
PROBE = """
import json, os, threading
from cli.node import preload_node
preload_node(["RU"])
fds = []
for fd in os.listdir("/proc/self/fd"):
    try:
        fds.append(os.readlink(f"/proc/self/fd/{fd}"))
    except FileNotFoundError:  # listdir's own
        pass
db = os.environ["DATABASE_URL"].split("///", 1)[-1]
print(json.dumps({
    "threads": [t.name for t in threading.enumerate()],
    "sockets": [fd for fd in fds if fd.startswith("socket:")],
    "journal": [fd for fd in fds if fd.startswith(db)],
}))
"""


def post_update(port: int, update_id: int, text: str) -> str:
    answer = requests.post(
        f"http://127.0.0.1:{port}/hooks/telegram",
        json=text_update(update_id=update_id, text=text, chat_id=7000 + update_id),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def web_servers(node: int, ctx: Context) -> set[int]:
    """The node's children that are not delivery slots."""
    return {pid for pid in tree(node) if parent_of(pid) == node} - worker_pids(ctx)


def delivered(ctx: Context, message_id: str) -> bool:
    entry = journal.get(ctx.engine, message_id)
    return entry is not None and entry.status == "delivered"


def test_the_parent_forks_with_no_connection_open_and_no_thread_running(ctx: Context) -> None:
    """What a child would share with its siblings if the parent had it: a socket (two processes'
    statements interleaved on one connection), the SQLite journal's handle, a thread (gone in the child,
    with whatever lock it held)."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT,
        env=process_env(ctx),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert json.loads(probe.stdout.splitlines()[-1]) == {
        "threads": ["MainThread"],
        "sockets": [],
        "journal": [],
    }


def test_the_node_serves_a_message_end_to_end_from_one_process_tree(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """A Telegram update posted to the node's web server is delivered by its slots; the web server (and
    its workers) and the slots are the parent's children, and the scheduler ticks with no process of
    its own. A web server SIGKILLed is forked again and serves the next message."""
    port = free_port()
    log = tmp_path / "node.log"
    node = subprocess.Popen(
        [sys.executable, "-m", "cli", "node", "--port", str(port), "--workers", "2", "--slots", "2"],
        cwd=REPO_ROOT,
        env={**process_env(ctx), "TELEGRAM_WEBHOOK_SECRET": SECRET},
        start_new_session=True,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: answers(port) and len(worker_pids(ctx)) == 2, timeout=90, what="the node up")
        first = post_update(port, 1, "the node's first message")
        wait_until(lambda: delivered(ctx, first), timeout=60, what="the first message delivered")
        wait_until(lambda: scheduler_seen(ctx.redis).last_seen is not None, timeout=30, what="scheduler tick")

        slots = worker_pids(ctx)
        assert slots <= tree(node.pid)
        (web,) = web_servers(node.pid, ctx)  # the slots and the web server; no process for the scheduler
        web_workers = tree(web)
        assert len(web_workers) == 2
        assert {parent_of(pid) for pid in web_workers} == {web}

        os.kill(web, signal.SIGKILL)
        wait_until(lambda: web_servers(node.pid, ctx) - {web}, timeout=60, what="a new web server forked")
        wait_until(lambda: len(tree(*web_servers(node.pid, ctx))) == 2, timeout=60, what="its workers")
        assert node.poll() is None
        second = post_update(port, 2, "after the web server was killed")
        wait_until(lambda: delivered(ctx, second), timeout=60, what="the second message delivered")
        everyone = tree(node.pid)
    finally:
        stop(node)
    assert node.returncode == 0, log.read_text(errors="replace")[-3000:]
    assert not any(alive(pid) for pid in everyone)  # SIGTERM stopped every child
    assert_delivered_once(ctx, jira_sandbox, [first, second])
    text = log.read_text(errors="replace")
    # gunicorn's "Connection in use" while the killed server's workers still hold the port: it retries
    errors = [line for line in text.splitlines() if "level=ERROR" in line and "Connection in use" not in line]
    assert "Traceback" not in text and not errors, text[-3000:]
