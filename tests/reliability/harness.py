"""The hub under test for the fault suite: every process real, every one of them killable.

``HubUnderTest`` starts what a production node runs, each as its own process so a fault is a real one:
redis-server, the web server (gunicorn), several ``trackerhub worker`` processes and the scheduler. The
tracker is the Jira look-alike in its own process, with its fault injection (``/_sandbox/faults``);
Telegram is its Bot API stand-in; mail goes to the SMTP sink. The harness also plays systemd: a worker
that exits is started again (``Restart=always``), which is how the README tells operators to run them.

With ``HubOptions.nodes`` above 1 it runs that many nodes, as the README's "Running several nodes" lays
them out: each node its own web server, workers and scheduler, with its own ``HUB_VAR_DIR``, all on the
one database (PostgreSQL) and the one Redis. ``hub_urls`` are the nodes' web servers, for traffic spread
as a load balancer would; ``kill_node`` loses a node whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from aiosmtpd.controller import Controller
from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from cli.waits import wait_for_http, wait_for_redis
from jobs.periodic import SCHEDULER_LOCK, scheduler_pid
from jobs.queues import DELIVERY_QUEUE
from sandbox.smtp import start_sink
from tests.conftest import REPO_ROOT, free_port
from tests.sandboxes import CONTROL, CONTROL_TOKEN

TELEGRAM_SECRET = "reliability-telegram-secret"  # noqa: S105 - a test secret
INBOUND_TOKEN = "reliability-inbound-token"  # noqa: S105 - a test secret
PROJECT = "SUP"
TRAP_PREFIX = "hub:trap:"  # jobs/worker.py trap


@dataclass(frozen=True)
class Trapped:
    """A worker killed at a trap point: the messages it held and when it died (epoch seconds)."""

    point: str
    messages: list[str]
    killed_at: float


@dataclass
class HubOptions:
    """What a scenario changes about the node: worker count, the database, Redis persistence, env."""

    workers: int = 3
    slots: int = 1  # above 1: each worker is one `trackerhub worker --slots N` process (issue 18)
    # each worker is a `trackerhub node --slots N` instead: its own web server on a free port (beside the
    # node's, which takes the messages) and the scheduler as a thread of a slot (beside the node's, so one
    # of the two is active)
    node_command: bool = False
    database_url: str | None = None  # default: a SQLite file in the run's folder
    redis_appendonly: bool = True
    sandbox_latency_ms: int = 0
    env: dict[str, str] = field(default_factory=dict)
    nodes: int = (
        1  # above 1: that many nodes (web + ``workers`` workers + scheduler each) on one DB and Redis
    )


@dataclass
class Node:
    """One node's web server and its folder; its workers and schedulers are the hub's, by node index."""

    index: int
    web_port: int
    folder: Path
    lost: bool = False  # killed whole: the supervisor starts none of its workers again

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"


class HubUnderTest:
    """A running hub node plus its stand-ins; use as a context manager."""

    def __init__(self, folder: Path, options: HubOptions | None = None) -> None:
        self.folder = folder
        self.options = options or HubOptions()
        self.redis_port = free_port()
        self.nodes = [
            Node(i, free_port(), folder if i == 0 else folder / f"node-{i}")
            for i in range(self.options.nodes)
        ]
        self.web_port = self.nodes[0].web_port
        self.jira_port = free_port()
        self.telegram_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.hub_url = f"http://127.0.0.1:{self.web_port}"
        self.jira_url = f"http://127.0.0.1:{self.jira_port}"
        self.telegram_url = f"http://127.0.0.1:{self.telegram_port}"
        self.jira_db = folder / "sandbox-jira.sqlite3"
        self.outbox = folder / "outbox"
        self.database_url = self.options.database_url or f"sqlite:///{folder / 'hub.sqlite3'}"
        self.workers: list[subprocess.Popen[bytes]] = []
        self.schedulers: list[subprocess.Popen[bytes]] = []
        self.node_of: dict[int, int] = {}  # pid of a web server, worker or scheduler → its node's index
        self.worker_starts = 0
        self._redis: subprocess.Popen[bytes] | None = None
        self._others: list[subprocess.Popen[bytes]] = []
        self._smtp: Controller | None = None
        self._supervising = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._workers_lock = threading.Lock()
        self.env: dict[str, str] = {}
        self.last_stats: dict[str, Any] = {}  # the tracker stand-in's counters, kept by the scenario

    # -- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> HubUnderTest:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the stand-ins, Redis, web, workers and scheduler; return when the hub answers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._smtp = start_sink(self.outbox)
        self.env = self._environment(smtp_port=self._smtp.port)
        self.start_redis()
        me = [sys.executable, "-m"]
        jira = [*me, "sandbox.jira", "--port", str(self.jira_port), "--db", str(self.jira_db)]
        jira += ["--projects", PROJECT, "--latency-ms", str(self.options.sandbox_latency_ms), "--faults"]
        self._others.append(self._spawn(jira, "sandbox-jira"))
        self._others.append(
            self._spawn([*me, "sandbox.telegram", "--port", str(self.telegram_port)], "sandbox-tg")
        )
        wait_for_http(f"{self.jira_url}/rest/api/2/serverInfo", timeout=60)
        wait_for_http(f"{self.telegram_url}/bot1000:sandbox/getMe", timeout=60)
        for node in self.nodes:
            node.folder.mkdir(parents=True, exist_ok=True)
            web = [*me, "cli", "web", "--port", str(node.web_port), "--no-access-log"]
            self._others.append(self._spawn(web, "web", node.index))
            self.start_scheduler(node=node.index)
        for node in self.nodes:
            wait_for_http(f"{node.url}/healthz", timeout=60)
            for _ in range(self.options.workers):
                self.workers.append(self._start_worker(node.index))
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervising.set()
        self._supervisor.start()

    def stop(self) -> None:
        """Stop everything, workers first; anything that does not stop in time is killed."""
        self._supervising.clear()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        for process in [*self.workers, *reversed(self._others), *([self._redis] if self._redis else [])]:
            _terminate(process)
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None

    def _environment(self, smtp_port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_HUB_PREFIXES)}
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            JIRA_URL=self.jira_url,
            JIRA_TOKEN="sandbox",
            JIRA_PROJECT=PROJECT,
            JIRA_TIMEOUT="10",
            TELEGRAM_BOT_TOKEN="1000:sandbox",
            TELEGRAM_API_URL=self.telegram_url,
            TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET,
            HUB_INBOUND_TOKEN=INBOUND_TOKEN,
            SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
            HUB_EMAIL_FROM="support@hub.example.com",
            SANDBOX_CONTROL_TOKEN=CONTROL_TOKEN,  # the look-alikes' (the hub ignores it)
            HUB_PUBLIC_URL=self.hub_url,
            HUB_FORM_RATE_PER_MINUTE="100000",
            HUB_LOG_LEVEL="WARNING",
            HUB_VAR_DIR=str(self.folder),
        )
        env.update(self.options.env)
        return env

    @property
    def hub_urls(self) -> list[str]:
        """The web servers of the nodes, lost or not (a load balancer's list)."""
        return [node.url for node in self.nodes]

    def _spawn(self, args: list[str], name: str, node: int | None = None) -> subprocess.Popen[bytes]:
        """Start a process in its own session; one of a node's (``node``) runs with that node's folder."""
        folder = self.folder if node is None else self.nodes[node].folder
        env = self.env if node is None else {**self.env, "HUB_VAR_DIR": str(folder)}
        log = (folder / f"{name}.log").open("ab")
        process = subprocess.Popen(
            args, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        if node is not None:
            self.node_of[process.pid] = node
        return process

    # -- workers ------------------------------------------------------------------------------------

    def _start_worker(self, node: int = 0) -> subprocess.Popen[bytes]:
        self.worker_starts += 1
        slots = ["--slots", str(self.options.slots)] if self.options.slots > 1 else []
        if self.options.node_command:
            command = ["node", "--port", str(free_port()), "--workers", "1", "--no-access-log", *slots]
        else:
            command = ["worker", *slots]
        return self._spawn([sys.executable, "-m", "cli", *command], "worker", node)

    def _supervise(self) -> None:
        while self._supervising.is_set():
            with self._workers_lock:
                for index, process in enumerate(self.workers):
                    node = self.node_of.get(process.pid, 0)
                    if process.poll() is not None and not self.nodes[node].lost:
                        self.workers[index] = self._start_worker(node)
            time.sleep(0.2)

    def kill_busy_worker(self, timeout: float = 30.0, *, slot_only: bool = False) -> str | None:
        """SIGKILL a worker while it runs a delivery; the id of the job it was running, or None.

        With slots, the busy process is a slot: ``slot_only`` kills that slot alone (its worker forks a
        new one), otherwise the whole worker process group, slots and all."""
        deadline = time.monotonic() + timeout
        redis = Redis.from_url(self.redis_url, socket_timeout=5)
        while time.monotonic() < deadline:
            busy = {pid: job.id for pid, job in busy_workers(redis).items()}
            with self._workers_lock:
                for process in self.workers:
                    for pid, job_id in busy.items():
                        if not job_id.startswith("deliver-") or process.poll() is not None:
                            continue
                        if pid == process.pid and not slot_only:
                            os.killpg(process.pid, signal.SIGKILL)
                            process.wait(timeout=10)
                            return job_id
                        if pid != process.pid and _parent_of(pid) == process.pid:
                            if slot_only:
                                with contextlib.suppress(ProcessLookupError):
                                    os.kill(pid, signal.SIGKILL)
                            else:
                                os.killpg(process.pid, signal.SIGKILL)
                                process.wait(timeout=10)
                            return job_id
            time.sleep(0.02)
        return None

    def kill_at_trap(self, point: str, timeout: float = 60.0) -> Trapped | None:
        """Arm the trap at ``point`` (``jobs.worker.trap``; the node runs with ``HUB_TEST_TRAPS``), wait for a
        worker to stop there and SIGKILL it; what it held, or None if no worker got there in time."""
        redis = Redis.from_url(self.redis_url, socket_timeout=5)
        redis.delete(f"{TRAP_PREFIX}{point}:caught")
        redis.set(f"{TRAP_PREFIX}{point}", "1")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            caught = redis.get(f"{TRAP_PREFIX}{point}:caught")
            if caught:
                found = json.loads(caught)
                self.kill_worker(int(found["pid"]))
                return Trapped(point, list(found["messages"]), time.time())
            time.sleep(0.02)
        redis.delete(f"{TRAP_PREFIX}{point}")
        return None

    def kill_worker(self, pid: int | None = None) -> int | None:
        """SIGKILL the worker with this pid (default: the first running one); its pid, if one was killed."""
        with self._workers_lock:
            for process in self.workers:
                if process.poll() is None and pid in (None, process.pid):
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
                    return process.pid
        return None

    # -- the scheduler ------------------------------------------------------------------------------

    def start_scheduler(self, *, node: int = 0, **env: str) -> subprocess.Popen[bytes]:
        """Start a ``trackerhub scheduler`` on ``node`` (another one, or again after a kill); ``env`` changes
        the environment for it and for every process started after it (workers restarted by the
        supervisor)."""
        self.env.update(env)
        process = self._spawn([sys.executable, "-m", "cli", "scheduler"], "scheduler", node)
        self.schedulers.append(process)
        self._others.append(process)
        return process

    def scheduler_node(self) -> int | None:
        """The node whose scheduler holds the scheduler lock now (its value names the holder's pid)."""
        redis = Redis.from_url(self.redis_url, socket_timeout=5)
        try:
            holder = redis.get(SCHEDULER_LOCK)
        finally:
            redis.close()
        pid = scheduler_pid(holder.decode()) if holder else None
        return self.node_of.get(pid) if pid is not None else None

    # -- nodes ----------------------------------------------------------------------------------------

    def kill_node(self, index: int) -> None:
        """SIGKILL every process of node ``index`` at once (web, workers, scheduler): a machine lost."""
        with self._workers_lock:
            self.nodes[index].lost = True
            mine = [
                p
                for p in [*self.workers, *self._others]
                if self.node_of.get(p.pid) == index and p.poll() is None
            ]
            for process in mine:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            for process in mine:
                process.wait(timeout=10)

    def kill_schedulers(self) -> None:
        """SIGKILL every running scheduler (its Redis lock stays until it expires)."""
        for process in self.schedulers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def kill_all_workers(self) -> None:
        """SIGKILL every worker; the supervisor starts them again with the node's environment as it is now."""
        with self._workers_lock:
            for process in self.workers:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)

    # -- redis ----------------------------------------------------------------------------------------

    def start_redis(self) -> None:
        """Start redis-server on the node's port (again, after a crash: same port, same data folder)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; `make test` installs it")
        data = self.folder / "redis"
        data.mkdir(exist_ok=True)
        args = [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", str(data)]
        args += ["--appendonly", "yes" if self.options.redis_appendonly else "no", "--save", ""]
        self._redis = self._spawn(args, "redis")
        wait_for_redis(self.redis_url, timeout=30)

    def crash_redis(self) -> None:
        """SIGKILL redis-server: whatever it had not persisted is gone."""
        if self._redis is not None:
            os.killpg(self._redis.pid, signal.SIGKILL)
            self._redis.wait(timeout=10)

    # -- the tracker stand-in -------------------------------------------------------------------------

    def add_fault(self, **spec: Any) -> None:
        """Inject a fault into the Jira look-alike (see ``FaultBook.add``)."""
        requests.post(
            f"{self.jira_url}/_sandbox/faults", json=spec, headers=CONTROL, timeout=10
        ).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.jira_url}/_sandbox/faults", headers=CONTROL, timeout=10).raise_for_status()

    def tracker_stats(self) -> dict[str, Any]:
        """The stand-in's request counters (``/_sandbox/stats``)."""
        return dict(requests.get(f"{self.jira_url}/_sandbox/stats", headers=CONTROL, timeout=10).json())


_HUB_PREFIXES = ("JIRA_", "KAITEN_", "TELEGRAM_", "SMTP_", "IMAP_", "HUB_", "REDIS_", "DATABASE_")


def busy_workers(redis: Redis, queue: str = DELIVERY_QUEUE) -> dict[int, Job]:
    """pid → the job each busy worker is running on ``queue``, from RQ's started-job registry."""
    busy: dict[int, Job] = {}
    for job_id in StartedJobRegistry(queue, connection=redis).get_job_ids():
        try:
            job = Job.fetch(job_id, connection=redis)
        except NoSuchJobError:  # finished (and deleted) between the registry read and the fetch
            continue
        pid = redis.hget(f"rq:worker:{job.worker_name}", "pid") if job.worker_name else None
        if pid and job.get_status(refresh=False) == JobStatus.STARTED:
            busy[int(pid)] = job
    return busy


def _parent_of(pid: int) -> int | None:
    """The parent pid of ``pid`` (/proc/<pid>/stat), or None once it is gone."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
