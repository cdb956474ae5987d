"""``trackerhub node``: the web server, the delivery slots and the scheduler forked from one process.

The slots' faults (a slot or the whole node SIGKILLed mid-delivery, the parent killed alone, SIGTERM)
are tests/jobs/test_worker_slots.py's, run with ``node`` too; here is what only the node has: the web
server among its children, the scheduler without a process of its own, and a parent that holds nothing
a child must not share when it forks them.
"""

from __future__ import annotations

import gc
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from flask import Flask

from cli.preloaded import WebWorkers
from cli.processes import gunicorn_args, ksmd_running
from jobs.context import Context
from jobs.heartbeat import scheduler_seen
from sandbox.server import RunningSandbox
from store import journal
from tests.conftest import REPO_ROOT, free_port
from tests.jobs.conftest import process_env, wait_until
from tests.jobs.test_worker_kill import assert_delivered_once
from tests.jobs.test_worker_slots import alive, parent_of, start_slots, stop, tree, worker_pids
from tests.routes.conftest import text_update

SECRET = "node-test-telegram-secret"

# What the parent has built when it forks (cli/node.py's preload_node and node_children): its threads,
# and the file descriptors that are connections (sockets: Redis, PostgreSQL) or the SQLite journal; the
# web workers' listening sockets are bound by node_children, on purpose, and are the only ones.
PROBE = """
import _strptime, json, os, socket, sys, threading
from cli.node import node_children, preload_node
from cli.processes import gunicorn_args

def sockets():
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
        except FileNotFoundError:  # listdir's own
            continue
        probe = socket.socket(fileno=int(fd))
        found.append("listening" if probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) else "connected")
        probe.detach()
    return found

app = preload_node(["RU"])
preloaded = sockets()
children = node_children(app, gunicorn_args("127.0.0.1", int(sys.argv[1]), 2, False), 2)  # kept: they hold the socket
fds = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}")]
db = os.environ["DATABASE_URL"].split("///", 1)[-1]
print(json.dumps({
    "threads": [t.name for t in threading.enumerate()],
    "sockets": [preloaded, sockets()],
    "journal": [fd for fd in fds if fd.startswith(db)],
    "strptime": sorted(_strptime._regex_cache),
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


def web_workers(node: int, ctx: Context) -> set[int]:
    """The node's children that are not delivery slots."""
    return {pid for pid in tree(node) if parent_of(pid) == node} - worker_pids(ctx)


def merged(pid: int) -> bool:
    """Whether the kernel may merge ``pid``'s heap with identical pages (its ``mg`` flag, ``VM_MERGEABLE``)."""
    smaps = Path(f"/proc/{pid}/smaps").read_text().split("\n")
    heap = next(n for n, line in enumerate(smaps) if line.endswith("[heap]"))
    flags = next(line for line in smaps[heap:] if line.startswith("VmFlags:"))
    return "mg" in flags.split()


def delivered(ctx: Context, message_id: str) -> bool:
    entry = journal.get(ctx.engine, message_id)
    return entry is not None and entry.status == "delivered"


def test_the_parent_forks_with_no_connection_open_and_no_thread_running(ctx: Context) -> None:
    """What a child would share with its siblings if the parent had it: a socket (two processes'
    statements interleaved on one connection), the SQLite journal's handle, a thread (gone in the child,
    with whatever lock it held); and what it readies for every child: the web workers' listening socket,
    RQ's timestamp pattern compiled."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(free_port())],
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
        "sockets": [[], ["listening"]],  # none after the preload; then the web workers' one
        "journal": [],
        "strptime": ["%Y-%m-%dT%H:%M:%S.%fZ"],  # RQ's timestamps' pattern, compiled once for every slot
    }


def test_the_node_serves_a_message_end_to_end_from_one_process_tree(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """A Telegram update posted to the node's web server is delivered by its slots; the web workers and
    the slots are the parent's children (no process between: gunicorn's arbiter is the parent's job), and
    the scheduler ticks with no process of its own. A web worker SIGKILLed is forked again, and the
    other serves meanwhile on the same socket."""
    port = free_port()
    log = tmp_path / "node.log"
    env = {**process_env(ctx), "TELEGRAM_WEBHOOK_SECRET": SECRET}
    node = start_slots(ctx, log, "node", 2, env=env, port=port, workers=2)
    try:
        wait_until(lambda: answers(port) and len(worker_pids(ctx)) == 2, timeout=90, what="the node up")
        first = post_update(port, 1, "the node's first message")
        wait_until(lambda: delivered(ctx, first), timeout=60, what="the first message delivered")
        wait_until(lambda: scheduler_seen(ctx.redis).last_seen is not None, timeout=30, what="scheduler tick")

        slots = worker_pids(ctx)
        assert slots <= tree(node.pid)
        web = web_workers(node.pid, ctx)  # besides the slots: no process for the scheduler, no arbiter
        assert len(web) == 2
        assert tree(node.pid) == slots | web
        assert not any(merged(pid) for pid in {node.pid} | slots | web)  # HUB_NODE_KSM is off by default

        killed = min(web)
        os.kill(killed, signal.SIGKILL)
        second = post_update(port, 2, "while a web worker was gone")  # the other one answers
        wait_until(
            lambda: len(web_workers(node.pid, ctx) - {killed}) == 2, timeout=60, what="one forked again"
        )
        assert node.poll() is None
        third = post_update(port, 3, "after the web worker was forked again")
        wait_until(
            lambda: delivered(ctx, second) and delivered(ctx, third), timeout=60, what="both delivered"
        )
        everyone = tree(node.pid)
    finally:
        stop(node)
    assert node.returncode == 0, log.read_text(errors="replace")[-3000:]
    assert not any(alive(pid) for pid in everyone)  # SIGTERM stopped every child
    assert_delivered_once(ctx, jira_sandbox, [first, second, third])
    text = log.read_text(errors="replace")
    errors = [line for line in text.splitlines() if "level=ERROR" in line]
    assert "Traceback" not in text and not errors, text[-3000:]


# A supervisor (cli/slots.py's run_slots) with one slot that sleeps; its ``hung`` says SIGKILL while the
# slot is in its first run. Each run writes its pid to the log given.
HUNG_SLOT = """
import os, signal, sys, time
from cli.slots import Slot, run_slots

log = sys.argv[1]

def runs():
    return open(log).read().split() if os.path.exists(log) else []

def run():
    with open(log, "a") as out:
        out.write(f"{os.getpid()}\\n")
    time.sleep(120)
    return 0

def hung():
    return signal.SIGKILL if len(runs()) == 1 else None

raise SystemExit(run_slots([Slot("sleeper", run, hung=hung)]))
"""


def test_a_child_its_supervisor_finds_hung_is_stopped_and_forked_again(tmp_path: Path) -> None:
    """What the node's parent does for a web worker whose heartbeat stopped (the test below): the
    signal ``hung`` names stops the child, and it is forked again like any child that died."""
    runs = tmp_path / "runs"
    supervisor = subprocess.Popen(
        [sys.executable, "-c", HUNG_SLOT, str(runs)],
        cwd=REPO_ROOT,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(
            lambda: runs.exists() and len(runs.read_text().split()) == 2, timeout=30, what="a second run"
        )
        first, second = map(int, runs.read_text().split())
        assert not alive(first) and alive(second)
    finally:
        supervisor.send_signal(signal.SIGTERM)
        output = supervisor.communicate(timeout=30)[0].decode()
    assert f"worker.slot-hung slot=sleeper pid={first} signal=SIGKILL" in output
    assert supervisor.returncode == 0, output


def test_a_web_worker_silent_past_the_timeout_is_aborted_then_killed() -> None:
    """A web worker's heartbeat (gunicorn's: the monotonic time written as its file's mtime) older than
    ``--timeout`` makes its slot hung: SIGABRT first, for gunicorn's worker to log where it was stuck,
    SIGKILL at the next look if it is still there. A fresh heartbeat is well."""
    web = WebWorkers(Flask(__name__), gunicorn_args("127.0.0.1", free_port(), 1, False))
    (slot,) = web.slots()
    assert slot.prepare is not None and slot.hung is not None
    try:
        slot.prepare()  # in the parent, as before its fork: the worker and its heartbeat file
        worker = web.worker("web-1")
        assert worker is not None
        worker.notify()  # a beat, now
        assert slot.hung() is None
        last_beat = time.monotonic() - web.cfg.timeout - 1
        os.utime(worker.tmp.fileno(), (last_beat, last_beat))
        assert slot.hung() is signal.SIGABRT
        assert slot.hung() is signal.SIGKILL
    finally:
        gc.unfreeze()  # what prepare() froze: this test process's objects
        for listener in web.sockets:
            listener.close()


def test_with_hub_node_ksm_every_process_of_the_node_is_open_to_page_merging(
    ctx: Context, tmp_path: Path
) -> None:
    """``HUB_NODE_KSM=1``: the parent marks its memory for same-page merging before it forks, so the
    pages a child copies and leaves as they were can be merged back by the host's ksmd."""
    log = tmp_path / "node.log"
    port = free_port()
    node = start_slots(ctx, log, "node", 1, env={**process_env(ctx), "HUB_NODE_KSM": "1"}, port=port)
    try:
        wait_until(lambda: answers(port) and len(worker_pids(ctx)) == 1, timeout=90, what="the node up")
        everyone = {node.pid} | tree(node.pid)
        assert len(everyone) == 3  # the parent, a web worker, a slot
        assert all(merged(pid) for pid in everyone)
    finally:
        stop(node)
    # and a word in the log when the host's ksmd, which does the merging, does not run
    assert ("node.ksm-idle reason=ksmd-stopped" in log.read_text(errors="replace")) == (not ksmd_running())


def rested_web_workers(text: str) -> set[int]:
    return {int(pid) for pid in re.findall(r"msg=web\.rested pid=(\d+)", text)}


def test_a_web_worker_that_has_served_and_rested_is_forked_afresh_and_the_next_message_is_delivered(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """``HUB_NODE_IDLE_SECONDS``: a web worker that has answered requests and then none for that long
    (health checks do not count) exits between requests and the parent forks a fresh one in its place,
    giving back the pages the old one copied; the slots keep running. Messages before and after are
    delivered once."""
    port = free_port()
    log = tmp_path / "node.log"
    env = {
        **process_env(ctx),
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "HUB_NODE_IDLE_SECONDS": "10",
        "HUB_LOG_LEVEL": "INFO",
    }
    node = start_slots(ctx, log, "node", 2, env=env, port=port, workers=2)
    try:
        wait_until(lambda: answers(port) and len(worker_pids(ctx)) == 2, timeout=90, what="the node up")
        slots = worker_pids(ctx)
        web = web_workers(node.pid, ctx)
        before = [post_update(port, n, f"before the rest, {n}") for n in range(1, 5)]
        wait_until(lambda: all(delivered(ctx, m) for m in before), timeout=60, what="delivered before")

        def rested() -> set[int]:
            return rested_web_workers(log.read_text(errors="replace"))

        # the one(s) that answered; the parent keeps two, forking a fresh one for each that rested; the
        # node is asked for its health all the while, as a load balancer would
        wait_until(
            lambda: (
                answers(port)
                and rested()
                and not rested() & tree(node.pid)
                and len(web_workers(node.pid, ctx)) == 2
            ),
            timeout=60,
            what="a web worker rested and forked afresh",
        )
        assert rested() <= web  # the ones that had served; their fresh successors have not, yet
        after = post_update(port, 9, "after the rest")
        wait_until(lambda: delivered(ctx, after), timeout=60, what="delivered after")
        assert worker_pids(ctx) == slots
        text = log.read_text(errors="replace")
    finally:
        stop(node)
    assert node.returncode == 0, log.read_text(errors="replace")[-3000:]
    assert_delivered_once(ctx, jira_sandbox, [*before, after])
    errors = [line for line in text.splitlines() if "level=ERROR" in line]
    assert "Traceback" not in text and not errors, text[-3000:]
