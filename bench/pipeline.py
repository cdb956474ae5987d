"""Pipeline benchmark: drain a journaled backlog through ``trackerhub worker`` processes to the sandbox Jira.

Why: the hub promises that a backlog (after an outage, a mail storm, a slow tracker) drains at the speed the
tracker allows, not slower, and that a worker's own work per message is small beside the tracker call
(issue 6). DESIGN.md asks every benchmark to compare against a baseline measured in the same run.

What it does, in one run (``.venv/bin/python bench/pipeline.py``, or ``make bench``):

1. starts a private ``redis-server``, the sandbox Jira in its own process (``sandbox.jira``),
   a fresh SQLite journal, ``--workers`` ``trackerhub worker`` processes (RQ ``SimpleWorker``) and one
   ``trackerhub scheduler`` (the journal sweep every 5 s), as ``trackerhub up`` runs them; no Telegram
   bot token and no SMTP, so each new issue's delivery records its autoreply "skipped"; the rule file
   without its automations and reports, whose scans would run on the same workers (``quiet_rule_file``);
2. before each drain, parks the workers (``rq suspend`` plus one sentinel job each, so none is blocked
   in a dequeue), journals the backlog with ``jobs.intake.accept`` (journal row + delivery job, as a
   hook does), reads the CPU time of every process from /proc, resumes the workers and times the drain
   from the first job taken to the last journal row delivered, then to the last autoreply;
3. drains, at sandbox latency 0 ms and 50 ms (a fault rule ``{"latency_ms": 50}`` on every request):
   ``--messages`` messages each opening a new conversation (one new issue each), then the same number
   of follow-ups on those conversations (one comment each); and, as the baseline, the same number of RQ
   jobs of a no-op (``operator.truth``) through the same worker processes, at the start and at the end;
4. counts the tracker calls each drain made from the sandbox's ``/_sandbox/stats``, measures what one
   tracker call costs the client (the ``jira`` library) in this process, and compares throughput with
   the latency bound: workers / latency (the issue's) and workers / (calls per message × latency);
5. runs steps 2–3 for new issues twice, with fresh workers each time: once with ``HUB_BULK_CREATE_MAX=1``
   (one ``POST /issue`` per message, as before bulk create) and once with the default, where a worker
   that opens an issue takes up to 49 other new conversations waiting in the queue into one Jira
   bulk create (``POST /rest/api/2/issue/bulk``; ``jobs.deliver``), to show what it gains;
6. reads each worker's peak RSS (VmHWM) after all drains, against a bare RQ ``SimpleWorker`` that ran
   the same number of no-op jobs;
7. rewrites its own section of ``BENCHMARKS.md`` (``<!-- pipeline:begin -->`` … ``<!-- pipeline:end -->``).

Everything it starts is stopped on the way out, including on Ctrl-C.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
import yaml
from redis import Redis
from rq import Queue, Worker
from rq.suspension import resume, suspend

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import (
    BENCHMARKS_MD,
    PROJECT_ROOT,
    OtherLoad,
    Sandbox,
    child_env,
    children,
    command_line,
    cpu_seconds,
    describe_db,
    jira_sandbox,
    machine,
    machine_line,
    markers,
    memory_kb,
    mib,
    ms,
    package_version,
    pct,
    publish,
    redis_pid,
    redis_server,
    report,
    run_main,
    stats_delta,
    stop_process,
    tail,
    utc_now_text,
)
from config.settings import Settings
from jobs.context import Context, build_context
from jobs.intake import accept
from jobs.queues import DELIVERY_QUEUE, JOB_TIMEOUT, REPLY_QUEUE
from store import journal
from store.db import create_db_engine, messages, outbound
from tests.mappers.factories import telegram_message

SECTION = "pipeline"
NODES_SECTION = "pipeline-nodes"
NOOP = "operator.truth"  # a C function: the job itself costs nothing, what is left is RQ's own work
PARK_TIMEOUT = 60.0
PER_MESSAGE = "new issues, one create each (`HUB_BULK_CREATE_MAX=1`)"
FOLLOW_UPS = "follow-ups"
TEXT = "Здравствуйте! Не приходит счёт за ноябрь, заказ {n}. Проверьте, пожалуйста."


# -- processes -----------------------------------------------------------------------------------------


def quiet_rule_file(workdir: Path) -> Path:
    """The project's rule file without its automation rules and scheduled reports: their scans search the
    tracker from jobs on the same workers (the ``periodic`` queue), at times set by the clock and the
    rules' calendars, which would count in the drains' CPU per message and in the tracker calls timed."""
    rules = yaml.safe_load((PROJECT_ROOT / "config" / "hub.yaml").read_text(encoding="utf-8"))
    for section in ("automations", "reports"):
        rules.pop(section, None)
    folder = workdir / "config"
    folder.mkdir()
    for beside in (PROJECT_ROOT / "config").iterdir():  # what the file names by relative path (catalogues)
        if beside.is_dir() and not beside.name.startswith(("_", ".")):
            (folder / beside.name).symlink_to(beside)
    path = folder / "hub.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def trackerhub_command(*args: str) -> list[str]:
    """The ``trackerhub`` console script of this virtualenv (or the CLI through ``-c``)."""
    script = Path(sys.executable).parent / "trackerhub"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from cli import main; main()", *args]


@dataclass
class HubProcesses:
    """The worker processes and the schedulers (one per node, one active) this benchmark started."""

    workers: list[subprocess.Popen[bytes]]
    schedulers: list[subprocess.Popen[bytes]]
    logs: list[Path]

    @property
    def scheduler(self) -> subprocess.Popen[bytes]:
        return self.schedulers[0]

    @property
    def worker_pids(self) -> list[int]:
        return [p.pid for p in self.workers]

    @property
    def scheduler_pids(self) -> list[int]:
        return [p.pid for p in self.schedulers]

    def rq_children(self) -> list[int]:
        """Processes the workers forked (RQ's scheduler, in the worker that holds its lock)."""
        return [child for pid in self.worker_pids for child in children(pid)]

    def check_alive(self) -> None:
        for proc, log in zip([*self.workers, *self.schedulers], self.logs, strict=True):
            if proc.poll() is not None:
                raise RuntimeError(f"{shlex.join(map(str, proc.args))} exited:\n{tail(log)}")


@contextmanager
def hub_processes(
    count: int, env: dict[str, str], workdir: Path, redis: Redis, nodes: int = 1
) -> Iterator[HubProcesses]:
    """``count`` ``trackerhub worker`` processes and one ``trackerhub scheduler`` per node, until the
    block ends. With ``nodes`` above 1 the workers are dealt out to the nodes in turn, each node with
    its own ``HUB_VAR_DIR`` (README "Running several nodes"); one scheduler is active, the others stand by."""
    started: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        names = [f"worker-{i}" for i in range(count)] + [
            "scheduler" if n == 0 else f"scheduler-{n}" for n in range(nodes)
        ]
        for index, name in enumerate(names):
            node = (index if index < count else index - count) % nodes
            log_path = workdir / f"{name}.log"
            command = trackerhub_command("worker" if name.startswith("worker") else "scheduler")
            node_env = env if nodes == 1 else {**env, "HUB_VAR_DIR": str(workdir / f"node-{node}")}
            with log_path.open("ab") as log:  # the bulk phase's workers add to the first phase's logs
                started.append(
                    subprocess.Popen(
                        command,
                        cwd=PROJECT_ROOT,
                        env=node_env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            logs.append(log_path)
        procs = HubProcesses(workers=started[:count], schedulers=started[count:], logs=logs)
        deadline = time.monotonic() + 60
        while len(Worker.all(connection=redis)) < count:
            procs.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not register with Redis within 60 s")
            time.sleep(0.2)
        yield procs
    finally:
        for proc in started:
            # SIGTERM (not SIGINT): RQ finishes the job in hand and exits; a stuck one is killed.
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in started:
            stop_process(proc, timeout=20)


def errors_in_logs(workdir: Path) -> list[str]:
    """The lines of the workers' and the scheduler's logs that start a traceback or log at ERROR."""
    found = []
    for log in sorted([*workdir.glob("worker-*.log"), *workdir.glob("scheduler*.log")]):
        for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
            if line.startswith("Traceback") or "level=ERROR" in line:
                found.append(f"{log.name}: {line}")
    return found


# -- one drain -------------------------------------------------------------------------------------------


@dataclass
class Drain:
    """One backlog drained by the workers."""

    name: str
    kind: str  # noop / issue / comment / bulk
    latency_ms: int
    messages: int
    jobs: int
    workers: int
    start_lag_s: float = 0.0  # resume → first job taken (parked workers look every second)
    wall_s: float = float("nan")  # first job taken → last delivery (or no-op job) done
    total_s: float = float("nan")  # first job taken → last autoreply done
    worker_cpu_s: float = 0.0  # the worker processes, until the last delivery
    worker_cpu_total_s: float = 0.0  # … until the last autoreply
    rq_child_cpu_s: float = 0.0  # RQ's scheduler process (a worker's child)
    scheduler_cpu_s: float = 0.0  # trackerhub scheduler (the journal sweep)
    sandbox_cpu_s: float = 0.0
    redis_cpu_s: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)
    other_load: float = float("nan")
    not_delivered: int = 0

    @property
    def per_s(self) -> float:
        return self.messages / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def worker_ms(self) -> float:
        return self.worker_cpu_s * 1000 / self.messages

    @property
    def worker_wall_ms(self) -> float:
        """How long each message held a worker: workers × drain time ÷ messages."""
        return self.workers * self.wall_s * 1000 / self.messages

    @property
    def autoreply_ms(self) -> float:
        return (self.worker_cpu_total_s - self.worker_cpu_s) * 1000 / self.messages

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def calls_per_message(self) -> float:
        return self.total_calls / self.messages

    def bound(self, per_message_calls: float = 1.0) -> float:
        """Messages/s the tracker latency allows: workers / (calls per message × latency)."""
        if not self.latency_ms:
            return float("nan")
        return self.workers / (per_message_calls * self.latency_ms / 1000)


class Bench:
    """The running setup: Redis, the sandbox, the journal, the workers; runs drains on it."""

    def __init__(
        self, redis: Redis, sandbox: Sandbox, engine: sa.Engine, procs: HubProcesses, redis_server_pid: int
    ) -> None:
        self.redis = redis
        self.sandbox = sandbox
        self.engine = engine
        self.procs = procs
        self.redis_server_pid = redis_server_pid
        self.queue = Queue(DELIVERY_QUEUE, connection=redis)
        self.replies = Queue(REPLY_QUEUE, connection=redis)
        self.chat = 10_000_000  # chat ids of new conversations, never reused
        self.noops = 0

    # parking: every worker suspended, none blocked in a dequeue, so a backlog can be queued up front

    def park(self) -> None:
        suspend(self.redis)
        sentinels = [self.queue.enqueue(NOOP, "park", result_ttl=0).id for _ in self.procs.workers]
        deadline = time.monotonic() + PARK_TIMEOUT
        while True:
            states = [w.get_state() for w in Worker.all(connection=self.redis)]
            if states and all(s == "suspended" for s in states):
                # none is blocked in a dequeue now; a worker that saw the suspension before its dequeue
                # left its sentinel in the queue
                for job_id in sentinels:
                    self.queue.remove(job_id)
                if self.queue.count == 0:
                    return
            self.procs.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not park: {states}, jobs left: {self.queue.job_ids[:5]}")
            time.sleep(0.05)

    def cpu(self) -> dict[str, float]:
        workers = sum(cpu_seconds(pid) for pid in self.procs.worker_pids)
        return {
            "workers": workers,
            "rq_children": sum(cpu_seconds(pid) for pid in self.procs.rq_children()),
            "scheduler": sum(cpu_seconds(pid) for pid in self.procs.scheduler_pids),
            "sandbox": cpu_seconds(self.sandbox.pid),
            "redis": cpu_seconds(self.redis_server_pid),
        }

    def pids(self) -> list[int]:
        return [
            *self.procs.worker_pids,
            *self.procs.rq_children(),
            *self.procs.scheduler_pids,
            self.sandbox.pid,
            self.redis_server_pid,
        ]

    def queued_rows(self) -> int:
        query = sa.select(sa.func.count()).select_from(messages).where(messages.c.status == journal.QUEUED)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def outbound_rows(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(outbound)).scalar_one())

    # the drains

    def drain(
        self,
        name: str,
        kind: str,
        latency_ms: int,
        count: int,
        enqueue: Callable[[], int],
        done: Callable[[], bool],
        replies_done: Callable[[], bool],
        timeout: float,
    ) -> Drain:
        """Park, queue the backlog (``enqueue`` returns the number of jobs), resume, time the drain."""
        self.park()
        if latency_ms:
            self.sandbox.add_fault(latency_ms=latency_ms)
        try:
            jobs = enqueue()
            result = Drain(name, kind, latency_ms, count, jobs, len(self.procs.workers))
            stats_before = self.sandbox.stats()
            queued = self.queue.count
            cpu_before = self.cpu()
            other = OtherLoad(self.pids())
            resumed = time.monotonic()
            resume(self.redis)
            while self.queue.count >= queued and time.monotonic() - resumed < 5:
                time.sleep(0.002)
            started = time.monotonic()
            result.start_lag_s = started - resumed
            deadline = started + timeout
            while not done():
                self.procs.check_alive()
                self.sandbox.check_alive()
                if time.monotonic() > deadline:
                    report(f"    {name}: not drained within {timeout:.0f} s")
                    break
                time.sleep(0.05)
            result.wall_s = time.monotonic() - started
            cpu_delivered = self.cpu()
            while not replies_done() and time.monotonic() < deadline:
                time.sleep(0.05)
            result.total_s = time.monotonic() - started
            cpu_after = self.cpu()
            result.other_load = other.share()
        finally:
            if latency_ms:
                self.sandbox.clear_faults()
        result.calls = stats_delta(self.sandbox.stats(), stats_before)
        result.worker_cpu_s = cpu_delivered["workers"] - cpu_before["workers"]
        result.worker_cpu_total_s = cpu_after["workers"] - cpu_before["workers"]
        for key in ("rq_children", "scheduler", "sandbox", "redis"):
            setattr(
                result,
                f"{'rq_child' if key == 'rq_children' else key}_cpu_s",
                cpu_after[key] - cpu_before[key],
            )
        result.not_delivered = self.queued_rows()
        return result

    def noop_drain(self, count: int, label: str) -> Drain:
        """``count`` no-op jobs with the delivery jobs' options, through the same workers."""

        def enqueue() -> int:
            for _ in range(count):
                self.noops += 1
                self.queue.enqueue(
                    NOOP,
                    f"noop-{self.noops}",
                    job_id=f"deliver-noop-{self.noops}",
                    unique=True,
                    job_timeout=JOB_TIMEOUT,
                    result_ttl=0,
                    failure_ttl=3600,
                    description=f"noop {self.noops}",
                )
            return count

        def done() -> bool:
            return self.queue.count == 0 and self.queue.started_job_registry.count == 0

        return self.drain(
            f"RQ no-op jobs ({label})", "noop", 0, count, enqueue, done, lambda: True, timeout=300
        )

    def new_chats(self, count: int) -> list[int]:
        chats = list(range(self.chat, self.chat + count))
        self.chat += count
        return chats

    def message_drain(self, name: str, kind: str, chats: list[int], latency_ms: int, timeout: float) -> Drain:
        """One message per chat, journaled and enqueued by ``accept`` as a hook does."""
        replies_expected = self.outbound_rows() + (len(chats) if kind in ("issue", "bulk") else 0)

        def enqueue() -> int:
            for n, chat in enumerate(chats):
                accept(self.engine, self.redis, telegram_message(TEXT.format(n=n), chat_id=chat))
            return len(chats)

        return self.drain(
            name,
            kind,
            latency_ms,
            len(chats),
            enqueue,
            lambda: self.queued_rows() == 0,
            lambda: self.outbound_rows() >= replies_expected,
            timeout,
        )


# -- what one tracker call costs the client -------------------------------------------------------------


@dataclass(frozen=True)
class CallCost:
    """CPU and wall time per call of one ``JiraTracker`` method, measured in this process."""

    method: str
    request: str
    calls: int
    cpu_ms: float
    wall_ms: float


def tracker_call_costs(ctx: Context, sandbox: Sandbox, count: int) -> list[CallCost]:
    """Time ``create_issue``, ``get_state`` and ``add_comment`` (a delivery's calls) ``count`` times each."""
    from connector.jira import JiraTracker
    from mappers.issue import build_draft

    tracker = JiraTracker.from_settings(ctx.settings)  # the connector alone: what "a tracker call" costs
    guarded = ctx.tracker("jira")  # as the jobs call it (behind the circuit breaker, if there is one)
    samples = [telegram_message(TEXT.format(n=n), chat_id=9_000_000 + n) for n in range(2 * count + 2)]
    drafts = [build_draft(m, ctx.config.rule_for(m), journal.new_message_id()) for m in samples]
    for client in (tracker, guarded):  # builds each client (serverInfo) and caches the project
        client.get_state(client.create_issue(drafts.pop()).key)
    results = []
    keys: list[str] = []

    def timed(method: str, request: str, calls: list[Callable[[], object]]) -> None:
        stats = sandbox.stats()
        cpu, wall = time.process_time(), time.perf_counter()
        for call in calls:
            call()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        made = stats_delta(sandbox.stats(), stats)
        assert set(made) == {request}, made
        results.append(
            CallCost(method, request, len(calls), cpu * 1000 / len(calls), wall * 1000 / len(calls))
        )

    timed(
        "create_issue",
        "POST /rest/api/2/issue",
        [lambda d=d: keys.append(tracker.create_issue(d).key) for d in drafts[:count]],  # type: ignore[misc]
    )
    timed("get_state", "GET /rest/api/2/issue/<ref>", [lambda k=k: tracker.get_state(k) for k in keys])  # type: ignore[misc]
    timed(
        "add_comment",
        "POST /rest/api/2/issue/<ref>/comment",
        [lambda k=k: tracker.add_comment(k, "Ещё один вопрос по заказу.", "hub-x") for k in keys],  # type: ignore[misc]
    )
    if guarded is not tracker:
        timed(
            f"create_issue via ctx.tracker ({type(guarded).__name__})",
            "POST /rest/api/2/issue",
            [lambda d=d: guarded.create_issue(d) for d in drafts[count:]],  # type: ignore[misc]
        )
    return results


# -- memory baseline: a bare SimpleWorker ----------------------------------------------------------------

BARE_WORKER = """
import sys
from redis import Redis
from rq import SimpleWorker
SimpleWorker([sys.argv[2]], connection=Redis.from_url(sys.argv[1])).work(logging_level="WARNING")
"""


@dataclass(frozen=True)
class BareWorker:
    jobs: int
    peak_rss_kb: int
    cpu_s: float  # from its first job to its last (its start-up left out)

    @property
    def job_ms(self) -> float:
        """Stock RQ's CPU per no-op job: the floor the hub's worker is compared with (issue 17)."""
        return self.cpu_s * 1000 / self.jobs


def bare_worker_run(redis: Redis, redis_url: str, count: int) -> BareWorker:
    """A bare RQ ``SimpleWorker`` (nothing of the hub imported) over ``count`` no-op jobs.

    The jobs are queued once it waits for them, so its CPU time counts the jobs and not its start-up.
    Its peak RSS is read from /proc (VmHWM, which exec resets) once the queue is drained, before it is
    stopped; ``wait4``'s ``ru_maxrss`` would count the fork of this process before the exec.
    """
    queue = Queue("bench-bare", connection=redis)
    proc = subprocess.Popen(
        [sys.executable, "-c", BARE_WORKER, redis_url, queue.name],
        env=child_env({}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not any(w.get_state() == "idle" for w in Worker.all(queue=queue)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the bare worker did not start")
            time.sleep(0.1)
        time.sleep(0.5)  # blocked in its dequeue
        started = cpu_seconds(proc.pid)
        for n in range(count):
            queue.enqueue(NOOP, f"bare-{n}", job_id=f"bare-{n}", job_timeout=JOB_TIMEOUT, result_ttl=0)
        while queue.count or queue.started_job_registry.count:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bare worker left {queue.count} jobs")
            time.sleep(0.1)
        peak = memory_kb(proc.pid) or 0
        cpu = cpu_seconds(proc.pid) - started
    finally:
        stop_process(proc)
    return BareWorker(count, peak, cpu)


# -- the report ------------------------------------------------------------------------------------------


@dataclass
class Results:
    plan: argparse.Namespace
    info: dict[str, str]
    command: str
    database: str
    drains: list[Drain]
    costs: list[CallCost]
    worker_rss_kb: list[int]
    worker_hwm_kb: list[int]
    worker_hwm_warm_kb: list[int]
    scheduler_hwm_kb: int | None
    bare: BareWorker
    warmup: int
    log_errors: list[str]  # traceback and ERROR lines of the workers' and the scheduler's logs


def call_names(calls: dict[str, int], messages: int) -> str:
    parts = []
    for key, count in sorted(calls.items(), key=lambda kv: -kv[1]):
        per = count / messages
        parts.append(f"`{key}` ×{per:.2f}" if per >= 0.01 else f"`{key}` ×{count}")
    return ", ".join(parts) or "none"


def render_section(res: Results) -> str:
    begin, end = markers(SECTION)
    plan = res.plan
    noops = [d for d in res.drains if d.kind == "noop"]
    noop_ms = statistics.mean(d.worker_ms for d in noops)
    noop_rate = statistics.mean(d.per_s for d in noops)
    cost: dict[str, CallCost] = {}
    for c in res.costs:
        cost.setdefault(c.request, c)  # the connector alone, not the row through the breaker

    def client_ms(d: Drain) -> float:
        """Client-side CPU of the drain's tracker calls, per message (from the calls measured apart)."""
        total = 0.0
        for request, count in d.calls.items():
            per_call = cost.get(request)
            if per_call is None:  # bulk: about one create's cost per call, plus JSON for 50
                per_call = cost["POST /rest/api/2/issue"]
            total += count * per_call.cpu_ms
        return total / d.messages

    hub = [d for d in res.drains if d.kind != "noop"]
    lines = [
        begin,
        "## Pipeline: draining a backlog to Jira",
        "",
        f"How fast `trackerhub worker` processes drain a journaled backlog of {plan.messages:,} messages "
        "into the sandbox Jira, and what each message costs them in CPU, against the same number of RQ no-op "
        "jobs through the same workers and against the bound set by the tracker's latency. Workers, "
        "sandbox, Redis, the scheduler and this script share the machine's CPUs.",
        "",
        f"- Date: {utc_now_text()}",
        f"- Command: `{res.command}`",
        f"- Machine: {machine_line(res.info)}",
        f"- Software: Python {res.info['python']}, rq {package_version('rq')}, jira "
        f"{package_version('jira')}, SQLAlchemy {package_version('SQLAlchemy')}, redis-server "
        f"{res.info['redis']} (no persistence)",
        f"- Hub: {plan.workers} × `trackerhub worker` (RQ `SimpleWorker`, all three queues) and one "
        f"`trackerhub scheduler` (sweep every 5 s), default `HUB_LOG_LEVEL` (INFO); journal: {res.database}; "
        "no Telegram token or SMTP, so each new issue's delivery records its autoreply `skipped` (no job); "
        "rule file: `config/hub.yaml` without its automations and reports (`quiet_rule_file`: their scans "
        "would run on the same workers)",
        f"- Workers: {plan.workers}, on {res.info['cpus']} CPUs. At 50 ms a worker mostly waits for the "
        "tracker, so more workers than cores raise the bound (workers / latency) without running out of "
        f"CPU; at 0 ms the {plan.workers} workers compete for the cores, which is the point of that run "
        "(CPU per message)",
        "- Backlog: Telegram messages from `tests/mappers/factories.py`, journaled and enqueued with "
        "`jobs.intake.accept` while the workers are parked (`rq suspend` plus a sentinel job each), so the "
        "drain starts with the whole backlog queued; "
        "*new issues*: each message opens a new conversation; *follow-ups*: one more message in each of "
        "those conversations, each a comment. 50 ms tracker latency: a sandbox fault rule "
        '`{"latency_ms": 50}` on every request',
        f"- Warm-up: {res.warmup} new issues and {res.warmup} follow-ups first (the workers build their "
        "Jira clients: `serverInfo`, `project/SUP`)",
        "- Time: from the first job taken (parked workers look every second, so the others join within "
        "1 s) to the last journal row delivered; CPU: user+system time of the processes from /proc, "
        "read with the workers parked before and after",
        "",
        "### Throughput",
        "",
        "| backlog | tracker latency | drained msg/s | tracker calls/msg | bound: workers / latency "
        "| of it | bound: workers / (calls × latency) | of it | a worker's time per message | of it beyond "
        "the tracker's latency | other load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d in res.drains:
        if d.kind == "noop":
            lines.append(
                f"| {d.name}: {d.jobs:,} jobs | – | {d.per_s:,.0f} jobs/s | 0 | – | – | – | – "
                f"| {ms(d.worker_wall_ms)} | – | {pct(d.other_load)} |"
            )
            continue
        b1, b2 = d.bound(), d.bound(d.calls_per_message)
        lines.append(
            f"| {d.name} | {d.latency_ms} ms | {d.per_s:,.0f} | {d.calls_per_message:.2f} "
            f"| {_num(b1)} | {pct(d.per_s / b1)} | {_num(b2)} | {pct(d.per_s / b2)} "
            f"| {ms(d.worker_wall_ms)} | {ms(d.worker_wall_ms - d.total_calls * d.latency_ms / d.messages)} "
            f"| {pct(d.other_load)} |"
        )
    lines += [
        "",
        '"A worker\'s time per message" is workers × drain time ÷ messages: how long each message held a '
        "worker. What is beyond the tracker's latency (calls × latency) is the worker's own work, the "
        "sandbox's service time and waiting for a CPU; the latency bound is only reachable when it is "
        "small beside the latency. Bulk-create rows beat the per-message bound by design: one call opens "
        f"up to {plan.bulk_size} issues; they are the product's default path for a backlog of new issues.",
    ]
    lines += [
        "",
        "### Worker CPU per message",
        "",
        "| backlog | tracker latency | worker CPU/msg | ratio to RQ no-op | of it: the tracker calls' "
        "client side | beyond the tracker calls | autoreply job | sandbox CPU/msg | Redis CPU/msg "
        "| sweep (scheduler) CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d in res.drains:
        if d.kind == "noop":
            lines.append(
                f"| {d.name} | – | {ms(d.worker_ms)} | 1.00 | – | – | – | – "
                f"| {ms(d.redis_cpu_s * 1000 / d.messages)} | {d.scheduler_cpu_s:.2f} s |"
            )
            continue
        client = client_ms(d)
        lines.append(
            f"| {d.name} | {d.latency_ms} ms | {ms(d.worker_ms)} | {d.worker_ms / noop_ms:.1f} "
            f"| {ms(client)} | {ms(d.worker_ms - client)} | {ms(d.autoreply_ms)} "
            f"| {ms(d.sandbox_cpu_s * 1000 / d.messages)} | {ms(d.redis_cpu_s * 1000 / d.messages)} "
            f"| {d.scheduler_cpu_s:.2f} s in {d.total_s:.0f} s |"
        )
    lines += [
        "",
        '"Worker CPU/msg" is the workers\' user+system time from the first job to the last delivery, '
        "divided by the messages; the autoreply jobs run after the deliveries (their queue comes second) "
        'and are counted apart. "The tracker calls\' client side" is the calls each message made (from '
        "the sandbox's counts) times what one call of that kind costs the `jira` library and `requests` "
        "in this process, measured apart against the same sandbox:",
        "",
        "| call | request | calls timed | client CPU/call | wall/call (0 ms latency) |",
        "|---|---|---:|---:|---:|",
        *[
            f"| `{c.method}` | `{c.request}` | {c.calls} | {ms(c.cpu_ms)} | {ms(c.wall_ms)} |"
            for c in res.costs
        ],
        "",
        "### Tracker calls per drain",
        "",
        "| backlog | tracker latency | calls (per message) |",
        "|---|---:|---|",
        *[f"| {d.name} | {d.latency_ms} ms | {call_names(d.calls, d.messages)} |" for d in hub],
        "",
        "### Memory",
        "",
        "| process | peak RSS (VmHWM) | RSS now | ratio to bare SimpleWorker | target |",
        "|---|---:|---:|---:|---:|",
        f"| `trackerhub worker`, largest of {len(res.worker_hwm_kb)}, after all drains "
        f"| {mib(max(res.worker_hwm_kb))} | {mib(max(res.worker_rss_kb))} "
        f"| {max(res.worker_hwm_kb) / res.bare.peak_rss_kb:.2f} | ≤ 120 MB |",
        f"| `trackerhub worker`, largest after the warm-up | {mib(max(res.worker_hwm_warm_kb))} | – "
        f"| {max(res.worker_hwm_warm_kb) / res.bare.peak_rss_kb:.2f} | – |",
        f"| `trackerhub scheduler` after all drains | {mib(res.scheduler_hwm_kb)} | – | – | – |",
        f"| bare RQ `SimpleWorker` after {res.bare.jobs:,} no-op jobs (baseline) "
        f"| {mib(res.bare.peak_rss_kb)} | – | 1.00 | – |",
        "",
        f"All workers' peaks: {', '.join(mib(k) for k in res.worker_hwm_kb)}.",
        "",
    ]
    lines += targets(res, hub, noop_ms, noop_rate, client_ms)
    lines.append(end)
    return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    return "–" if value != value else f"{value:,.0f}/s"


def targets(
    res: Results, hub: list[Drain], noop_ms: float, noop_rate: float, client_ms: Callable[[Drain], float]
) -> list[str]:
    lines = ["### Targets and checks", ""]
    for d in hub:
        if not d.latency_ms:
            continue
        ratio = d.per_s / d.bound()
        verdict = "met" if ratio >= 0.8 else "**not met**"
        lines.append(
            f"- {d.name} at {d.latency_ms} ms: {d.per_s:,.0f} msg/s is {ratio:.0%} of workers / latency "
            f"({d.bound():,.0f}/s; target ≥ 80%) — {verdict}; against workers / (calls × latency) "
            f"({d.bound(d.calls_per_message):,.0f}/s with {d.calls_per_message:.2f} calls/msg) it is "
            f"{d.per_s / d.bound(d.calls_per_message):.0%}."
        )
    for d in hub:
        if d.latency_ms:
            continue
        beyond = d.worker_ms - client_ms(d)
        verdict = "met" if beyond < 5 else "**not met**"
        lines.append(
            f"- {d.name} at 0 ms: {ms(beyond)} of worker CPU per message beyond the tracker calls "
            f"(target < 5 ms) — {verdict}; {ms(d.worker_ms)} with them, of which {ms(noop_ms)} is RQ's own "
            "per-job work (the no-op jobs)."
        )
    hwm = max(res.worker_hwm_kb) / 1024
    lines.append(
        f"- RQ worker peak RSS after the pipeline: {hwm:.1f} MiB (target ≤ 120 MB) — "
        f"{'met' if hwm * 1.048576 <= 120 else '**not met**'}."
    )
    stuck = sum(d.not_delivered for d in hub)
    lines.append(
        "- Every journal row delivered at the end of every drain: "
        + ("yes." if not stuck else f"**no**, {stuck} left.")
    )
    lines.append(
        "- No traceback and no ERROR line in the workers' and the scheduler's logs (issue 21): "
        + ("yes." if not res.log_errors else f"**no**, {len(res.log_errors)}: `{res.log_errors[0][:200]}`")
    )
    lines.append(
        f"- No-op baseline: {noop_rate:,.0f} jobs/s, {ms(noop_ms)} of worker CPU per job "
        "(mean of the two runs)."
    )
    lines.append(
        f"- Stock RQ (a bare `SimpleWorker`, after the drains): {ms(res.bare.job_ms)} of CPU per no-op job; "
        "per message, "
        + ", ".join(
            f"{d.name} at {d.latency_ms} ms {d.worker_ms / res.bare.job_ms:.2f}"
            for d in hub
            if not d.latency_ms
        )
        + " of them (issue 17's target: 2)."
    )
    lines.append("")
    return lines


# -- main ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=5000, help="backlog size (default 5000)")
    parser.add_argument("--workers", type=int, default=4, help="trackerhub worker processes (default 4)")
    parser.add_argument(
        "--latencies", default="0,50", help="sandbox latencies in ms, comma-separated (default 0,50)"
    )
    parser.add_argument("--warmup", type=int, default=200, help="warm-up messages of each kind (default 200)")
    parser.add_argument(
        "--bulk-size", type=int, default=50, help="HUB_BULK_CREATE_MAX of the bulk run (default 50)"
    )
    parser.add_argument("--no-bulk", action="store_true", help="skip the bulk-create run")
    parser.add_argument(
        "--two-nodes",
        action="store_true",
        help="instead: the same drains with the workers as one node, then as two (own HUB_VAR_DIR and a "
        "scheduler each), written to the pipeline-nodes section",
    )
    parser.add_argument("--calls", type=int, default=200, help="tracker calls timed per kind (default 200)")
    parser.add_argument("--database-url", help="journal database; default: a fresh SQLite file")
    parser.add_argument("--output", type=Path, default=BENCHMARKS_MD, help="Markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    return parser.parse_args(argv)


def warm_up(bench: Bench, count: int) -> None:
    """New issues and follow-ups first: the workers build their Jira clients (``serverInfo``, project)."""
    chats = bench.new_chats(count)
    bench.message_drain("warm-up issues", "issue", chats, 0, 300)
    bench.message_drain("warm-up follow-ups", "comment", chats, 0, 300)


def drain_timeout(count: int, latency_ms: int, workers: int) -> float:
    """Generous: five times the latency bound of two calls a message, at least 25 messages a second's
    worth (a shared 2-CPU machine drains follow-ups at 0 ms at 60 to 130 a second), at least two minutes."""
    return max(120.0, count / 25, 5 * count * 2 * max(latency_ms, 5) / 1000 / workers)


def compare_nodes(
    args: argparse.Namespace,
    bench: Bench,
    env: dict[str, str],
    workdir: Path,
    redis: Redis,
    latencies: list[int],
    run: Callable[[Callable[[], Drain]], None],
) -> None:
    """The per-message drains with the workers as one node, then as two, each with fresh processes."""
    for nodes in (1, 2):
        with hub_processes(args.workers, env, workdir, redis, nodes=nodes) as procs:
            bench.procs = procs
            report(f"  {nodes} node(s): warm-up")
            warm_up(bench, args.warmup)
            for latency in latencies:
                timeout = drain_timeout(args.messages, latency, args.workers)
                chats = bench.new_chats(args.messages)
                prefix = f"{nodes} node{'s' if nodes > 1 else ''}: "
                run(
                    lambda c=chats, t=timeout, lat=latency, p=prefix: bench.message_drain(
                        p + "new issues", "issue", c, lat, t
                    )
                )  # type: ignore[misc]
                run(
                    lambda c=chats, t=timeout, lat=latency, p=prefix: bench.message_drain(
                        p + FOLLOW_UPS, "comment", c, lat, t
                    )
                )  # type: ignore[misc]


def render_nodes_section(
    args: argparse.Namespace, info: dict[str, str], command: str, database_url: str, drains: list[Drain]
) -> str:
    """The pipeline-nodes section: each two-node drain beside the one-node drain of the same kind."""
    begin, end = markers(NODES_SECTION)
    one = {(d.kind, d.latency_ms): d for d in drains if d.name.startswith("1 node")}
    lines = [
        begin,
        "## Pipeline: one node against two on the same machine",
        "",
        f"The same drains of {args.messages:,} messages (one create or comment each, "
        f"`HUB_BULK_CREATE_MAX=1`) through {args.workers} `trackerhub worker` processes, first as one node "
        f"(one scheduler), then as two nodes ({args.workers // 2} workers, a scheduler and a `HUB_VAR_DIR` "
        "each; one scheduler active, one standing by) on the same journal and Redis. Two cores cannot show "
        "what a second machine adds: this measures only what the layout costs (the standby scheduler, "
        "nothing shared but the database and Redis).",
        "",
        f"- Date: {utc_now_text()}",
        f"- Command: `{command}`",
        f"- Machine: {machine_line(info)}",
        f"- Journal: {describe_db(database_url)}",
        "",
        "| drain | tracker latency | one node msg/s | two nodes msg/s | ratio | worker CPU/msg, one node "
        "| two nodes | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d in drains:
        base = one.get((d.kind, d.latency_ms))
        if not d.name.startswith("2 nodes") or base is None:
            continue
        lines.append(
            f"| {d.name.removeprefix('2 nodes: ')} | {d.latency_ms} ms | {base.per_s:,.0f} | {d.per_s:,.0f} "
            f"| {d.per_s / base.per_s:.2f} | {ms(base.worker_ms)} | {ms(d.worker_ms)} "
            f"| {d.worker_ms / base.worker_ms:.2f} |"
        )
    return "\n".join([*lines, "", end]) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    latencies = [int(x) for x in args.latencies.split(",") if x.strip()]
    info = machine()
    report(f"pipeline benchmark: {info['cpus']} CPUs, {info['cpu']}, {args.workers} workers")
    with tempfile.TemporaryDirectory(prefix="trackerhub-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        database_url = args.database_url or f"sqlite:///{workdir / 'journal.sqlite3'}"
        redis_url = stack.enter_context(redis_server(workdir))
        sandbox = stack.enter_context(jira_sandbox(workdir))
        engine = create_db_engine(database_url)  # the schema exists before the workers start
        stack.callback(engine.dispose)
        redis = Redis.from_url(redis_url)
        env = child_env(
            {
                "HUB_CONFIG": str(quiet_rule_file(workdir)),
                "REDIS_URL": redis_url,
                "DATABASE_URL": database_url,
                "JIRA_URL": sandbox.url,
                "JIRA_TOKEN": "sandbox",
                "HUB_BULK_CREATE_MAX": str(args.bulk_size),
                # no polling reconciliation: the look-alike sends no webhooks here, so every pass would
                # journal the hub's own comments, work no drain is about and that holds up parking
                "HUB_RECONCILE_SECONDS": "0",
            }
        )
        per_message_env = {**env, "HUB_BULK_CREATE_MAX": "1"}
        # per message first: HUB_BULK_CREATE_MAX=1, every new issue its own POST /issue
        phase = ExitStack()
        procs = phase.enter_context(hub_processes(args.workers, per_message_env, workdir, redis))
        bench = Bench(redis, sandbox, engine, procs, redis_pid(redis_url))
        settings = Settings(
            REDIS_URL=redis_url, DATABASE_URL=database_url, JIRA_URL=sandbox.url, JIRA_TOKEN="sandbox"
        )
        ctx = build_context(settings)

        report(f"  warm-up: {args.warmup} new issues, {args.warmup} follow-ups")
        warm_up(bench, args.warmup)
        hwm_warm = [memory_kb(pid) or 0 for pid in procs.worker_pids]

        report(f"  tracker calls timed in this process: {args.calls} of each kind")
        costs = tracker_call_costs(ctx, sandbox, args.calls)
        for c in costs:
            report(f"    {c.method}: {c.cpu_ms:.2f} ms CPU, {c.wall_ms:.2f} ms wall per call")

        drains: list[Drain] = []

        def run(drain: Callable[[], Drain]) -> None:
            d = drain()
            drains.append(d)
            report(
                f"    {d.name} @ {d.latency_ms} ms: {d.per_s:,.1f}/s in {d.wall_s:.1f} s "
                f"(+{d.start_lag_s:.2f} s to start, {d.total_s:.1f} s with autoreplies), worker CPU "
                f"{d.worker_ms:.2f} ms/msg (+{d.autoreply_ms:.2f} autoreply), {d.calls_per_message:.2f} "
                f"calls/msg, sandbox {d.sandbox_cpu_s * 1000 / d.messages:.2f} ms/msg, sweep "
                f"{d.scheduler_cpu_s * 1000:.0f} ms, other load {d.other_load:.0%}, left {d.not_delivered}"
            )

        if args.two_nodes:
            phase.close()
            compare_nodes(args, bench, per_message_env, workdir, redis, latencies, run)
            redis.close()
            section = render_nodes_section(
                args, info, command_line("pipeline.py", argv), database_url, drains
            )
            publish(section, args.output, NODES_SECTION, write=not args.no_write)
            return
        report(f"  baseline: {args.messages} no-op jobs")
        run(lambda: bench.noop_drain(args.messages, "first"))
        for latency in latencies:
            timeout = drain_timeout(args.messages, latency, args.workers)
            chats = bench.new_chats(args.messages)
            report(f"  latency {latency} ms, one create per message")
            run(lambda c=chats, t=timeout, lat=latency: bench.message_drain(PER_MESSAGE, "issue", c, lat, t))  # type: ignore[misc]
            run(lambda c=chats, t=timeout, lat=latency: bench.message_drain(FOLLOW_UPS, "comment", c, lat, t))  # type: ignore[misc]

        if not args.no_bulk:  # fresh workers with bulk create on
            phase.close()
            procs = phase.enter_context(hub_processes(args.workers, env, workdir, redis))
            bench.procs = procs
            report(f"  bulk create (HUB_BULK_CREATE_MAX={args.bulk_size}): warm-up")
            warm_up(bench, args.warmup)
            for latency in latencies:
                timeout = drain_timeout(args.messages, latency, args.workers)
                chats = bench.new_chats(args.messages)
                report(f"  latency {latency} ms, bulk create")
                name = f"new issues, bulk create (`HUB_BULK_CREATE_MAX={args.bulk_size}`)"
                run(lambda c=chats, t=timeout, lat=latency, n=name: bench.message_drain(n, "bulk", c, lat, t))  # type: ignore[misc]
        report(f"  baseline again: {args.messages} no-op jobs")
        run(lambda: bench.noop_drain(args.messages, "last"))

        hwm = [memory_kb(pid) or 0 for pid in procs.worker_pids]
        rss = [memory_kb(pid, "VmRSS") or 0 for pid in procs.worker_pids]
        scheduler_hwm = memory_kb(procs.scheduler.pid)
        report(f"  worker peak RSS: {', '.join(mib(k) for k in hwm)}")
        phase.close()
        log_errors = errors_in_logs(workdir)
        report(f"  tracebacks and ERROR lines in the hub's logs: {len(log_errors)}")
        bare = bare_worker_run(redis, redis_url, args.messages)
        report(
            f"  bare SimpleWorker: peak RSS {mib(bare.peak_rss_kb)}, {bare.job_ms:.2f} ms CPU per no-op job"
        )
        for d in drains:
            report(f"    {d.name} @ {d.latency_ms} ms: {d.worker_ms / bare.job_ms:.2f} stock RQ no-op jobs")
        redis.close()

    command = command_line("pipeline.py", argv)
    results = Results(
        plan=args,
        info=info,
        command=command,
        database=describe_db(database_url),
        drains=drains,
        costs=costs,
        worker_rss_kb=rss,
        worker_hwm_kb=hwm,
        worker_hwm_warm_kb=hwm_warm,
        scheduler_hwm_kb=scheduler_hwm,
        bare=bare,
        warmup=args.warmup,
        log_errors=log_errors,
    )
    section = render_section(results)
    publish(section, args.output, SECTION, write=not args.no_write)


if __name__ == "__main__":
    run_main(main)
