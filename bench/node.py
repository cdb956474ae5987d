"""Memory of a whole node (``bench/memory.py --node``): every process of the hub, idle and under load,
as RSS and PSS, in the layout before issue 18 and in the light one, in the same run.

Why: issue 18 sets a budget for a node with 2 web workers, 4 delivery slots and the scheduler: 200 MiB
PSS idle, 260 MiB under load, with throughput within 10% of the old layout's. RSS counts a page shared by
forked processes once in each; PSS (``/proc/<pid>/smaps_rollup``) splits it among them, so the node's
PSS total is what it really takes.

What it does:

1. starts a private ``redis-server`` and the sandbox Jira (0 ms), then for each round and each layout a
   fresh SQLite journal, Redis emptied, and the node:
   - ``before``: ``trackerhub web --workers 2 --no-preload``, 4 × ``trackerhub worker``,
     ``trackerhub scheduler`` (the layout ``trackerhub up`` and the benchmarks ran until issue 18);
   - ``light``: ``trackerhub web --workers 2`` (preloaded), ``trackerhub worker --slots 4
     --with-scheduler``;
2. warms the node up (a few messages through), waits, and samples every process of the node idle;
3. posts Telegram updates (each a new chat, so a new issue) to ``/hooks/telegram`` from 8 keep-alive
   connections as fast as the web answers, while the workers deliver, sampling every process twice a
   second: the largest node total is the "under load" figure; acknowledged/s is the posts' rate,
   delivered/s from the first post to the last journal row delivered;
4. measures the floors: a fresh interpreter alone, with each heavy library, with the web app and with
   the worker's code, each in its own process;
5. rewrites its section of ``BENCHMARKS.md`` (``<!-- memory-node:begin -->`` … ``:end -->``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis
from rq import Worker
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import (
    BENCHMARKS_MD,
    PROJECT_ROOT,
    OtherLoad,
    child_env,
    children,
    command_line,
    cpu_seconds,
    free_port,
    jira_sandbox,
    machine,
    machine_line,
    package_version,
    publish,
    redis_server,
    report,
    stop_process,
    tail,
    utc_now_text,
)
from cli.processes import KSM_RUN, ksmd_running
from store.db import create_db_engine, messages

SECTION = "memory-node"
TELEGRAM_SECRET = "node-bench-telegram-secret"  # a throwaway secret of a private node
IDLE_TARGET_MIB = 200
# idle samples this long after the warm-up: past HUB_NODE_IDLE_SECONDS' 60 s, after which the node's
# web workers that served have been forked afresh (cli/node.py); `node-warm` samples at 10 s, before that
IDLE_SETTLE_S = 80.0
LOAD_TARGET_MIB = 260
CLIENTS = 8


@dataclass(frozen=True)
class Layout:
    name: str
    describe: str
    commands: tuple[tuple[str, ...], ...]  # the first serves HTTP (web or node)
    env: tuple[tuple[str, str], ...] = ()  # settings of this layout's processes
    settle_s: float = IDLE_SETTLE_S  # idle after the warm-up before the idle samples


LAYOUTS = {
    "before": Layout(
        "before",
        "`web --workers 2 --no-preload`, 4 × `worker`, `scheduler`",
        (
            ("web", "--workers", "2", "--no-preload"),
            ("worker",),
            ("worker",),
            ("worker",),
            ("worker",),
            ("scheduler",),
        ),
    ),
    "light": Layout(
        "light",
        "`web --workers 2` (preloaded), `worker --slots 4 --with-scheduler`",
        (("web", "--workers", "2"), ("worker", "--slots", "4", "--with-scheduler")),
    ),
    "node": Layout(
        "node",
        "`node --workers 2 --slots 4` (one parent forks the web workers and the slots; the scheduler "
        "is a thread of slot-1)",
        (("node", "--workers", "2", "--slots", "4"),),
    ),
}
# the node on the code of --before-rev: the same command, so before and after of a change to it are
# measured in the same run
LAYOUTS["node-before"] = Layout(
    "node-before", "the same `node`, on the `--before-rev` code", LAYOUTS["node"].commands
)
# the node with HUB_NODE_KSM=1, on a host whose ksmd runs with its defaults (100 pages every 20 ms;
# ksmd needs two passes over the pages, about a minute, to merge them)
LAYOUTS["node-ksm"] = Layout(
    "node-ksm",
    "`node` with `HUB_NODE_KSM=1`, the host's ksmd running",
    LAYOUTS["node"].commands,
    env=(("HUB_NODE_KSM", "1"),),
)
# the node 10 s after the warm-up: the web workers that served still hold the pages they copied
LAYOUTS["node-warm"] = Layout(
    "node-warm",
    "the same `node`, idle sampled 10 s after the warm-up (before its web workers rest)",
    LAYOUTS["node"].commands,
    settle_s=10.0,
)
MEASURED_HERE = "node"  # the layout this tree adds; --before-rev runs the others on that revision's code
HERE_ONLY = {MEASURED_HERE, "node-ksm", "node-warm"}  # layouts --before-rev does not move to that revision


# -- /proc -----------------------------------------------------------------------------------------------


def rss_pss_kib(pid: int) -> tuple[int, int] | None:
    """(Rss, Pss) of a process in KiB, from /proc/<pid>/smaps_rollup; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            values[key] = int(rest.split()[0])
    return values.get("Rss", 0), values.get("Pss", 0)


def gunicorn_roles(master: int) -> dict[int, str]:
    return {master: "web: gunicorn master"} | {kid: "web: gunicorn worker" for kid in descendants(master)}


def descendants(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        found += [child, *descendants(child)]
    return found


@dataclass
class Sample:
    """Every process of the node at one moment: role → list of (Rss, Pss) KiB."""

    processes: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    @property
    def rss(self) -> int:
        return sum(r for values in self.processes.values() for r, _ in values)

    @property
    def pss(self) -> int:
        return sum(p for values in self.processes.values() for _, p in values)


@dataclass
class Node:
    layout: Layout
    roots: list[subprocess.Popen[bytes]]
    redis: Redis
    port: int

    def roles(self) -> dict[int, str]:
        """pid → what the process is, for every process of the node."""
        slots = {int(w.pid) for w in Worker.all(connection=self.redis) if w.pid}
        roles: dict[int, str] = {}
        for root in self.roots:
            command = root.args[3] if isinstance(root.args, list) else ""  # python -m cli <command>
            if command == "web":
                roles.update(gunicorn_roles(root.pid))
            elif command == "scheduler":
                roles[root.pid] = "`scheduler`"
            elif command == "node":
                roles[root.pid] = "`node` parent"
                for kid in children(root.pid):
                    if kid in slots:
                        roles[kid] = "delivery slot"
                    elif children(kid):  # an arbiter: a node from before issue 18's last change
                        roles.update(gunicorn_roles(kid))
                    else:
                        roles[kid] = "web: gunicorn worker"
            elif not (kids := descendants(root.pid)):
                roles[root.pid] = "`worker`"
            else:
                roles[root.pid] = "`worker --slots` parent"
                for kid in kids:
                    roles[kid] = "delivery slot" if kid in slots else "scheduler (child)"
        return roles

    def sample(self) -> Sample:
        sample = Sample()
        for pid, role in self.roles().items():
            values = rss_pss_kib(pid)
            if values is not None:
                sample.processes.setdefault(role, []).append(values)
        return sample

    def pids(self) -> list[int]:
        return list(self.roles())


def node_env(workdir: Path, redis_url: str, jira_url: str) -> dict[str, str]:
    """The environment of a benchmarked node: this script's private Redis and sandbox Jira, its folder."""
    return child_env(
        {
            "REDIS_URL": redis_url,
            "JIRA_URL": jira_url,
            "JIRA_TOKEN": "sandbox",
            "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "HUB_VAR_DIR": str(workdir / "var"),
        }
    )


def trackerhub(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


@contextmanager
def node(layout: Layout, env: dict[str, str], workdir: Path, redis: Redis, source: Path) -> Iterator[Node]:
    port = free_port()
    roots: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        for n, command in enumerate(layout.commands):
            args = list(command)
            if source != PROJECT_ROOT:  # code from before issue 18: no such flag, and no preload
                args = [a for a in args if a != "--no-preload"]
            if args[0] in ("web", "node"):
                args += ["--port", str(port)]
            log_path = workdir / f"{layout.name}-{n}-{command[0]}.log"
            logs.append(log_path)
            with log_path.open("ab") as log:
                roots.append(
                    subprocess.Popen(
                        trackerhub(*args),
                        cwd=source,  # `python -m cli` imports the hub from here
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        # each in a process group of its own but all in this script's session: Linux's
                        # autogroup scheduling shares a busy machine's CPUs out by session, so separate
                        # sessions would hand the layout with more top-level processes more of it
                        process_group=0,
                    )
                )
        running = Node(layout, roots, redis, port)
        deadline = time.monotonic() + 120
        while not (_answers(port) and len(Worker.all(connection=redis)) >= 4 and redis.get("hub:scheduler")):
            for proc, log_path in zip(roots, logs, strict=True):
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args!r} exited:\n{tail(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError("the node did not start within 120 s")
            time.sleep(0.3)
        yield running
    finally:
        for proc in roots:
            stop_process(proc, timeout=30)


def _answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        conn.close()
        return True
    except OSError:
        return False


# -- load ------------------------------------------------------------------------------------------------


def telegram_update(update_id: int) -> bytes:
    chat_id = 5_000_000 + update_id  # every message a new chat: a new issue
    update = {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "first_name": "Анна", "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Анна", "language_code": "ru"},
            "text": f"Здравствуйте! Не приходит счёт за ноябрь, заказ {update_id}. Проверьте, пожалуйста.",
        },
    }
    return json.dumps(update, ensure_ascii=False).encode()


def post_all(port: int, first_id: int, count: int) -> float:
    """Post ``count`` updates from ``CLIENTS`` connections; the seconds it took. Every answer is a 202."""
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    ids = iter(range(first_id, first_id + count))
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                update_id = next(ids, None)
            if update_id is None:
                break
            conn.request("POST", "/hooks/telegram", body=telegram_update(update_id), headers=headers)
            answer = conn.getresponse()
            answer.read()
            if answer.status != 202:
                failures.append(f"{update_id}: {answer.status}")
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} posts were not accepted, e.g. {failures[:3]}")
    return time.monotonic() - started


def wait_delivered(engine: object, total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    query = select(func.count()).select_from(messages).where(messages.c.status == "delivered")
    while True:
        with engine.connect() as conn:  # type: ignore[attr-defined]
            done = conn.execute(query).scalar()
        if done >= total:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {total} messages delivered within {timeout:.0f} s")
        time.sleep(0.2)


@dataclass
class Run:
    layout: str
    idle: Sample
    peak: Sample
    acknowledged_per_s: float
    delivered_per_s: float
    other_load: float
    ksmd_cpu_s: float = 0.0  # CPU time of the kernel's ksmd during the run


def measure(
    layout: Layout, env: dict[str, str], workdir: Path, redis: Redis, count: int, n: int, source: Path
) -> Run:
    database = workdir / f"journal-{layout.name}-{n}.sqlite3"
    url = f"sqlite:///{database}"
    engine = create_db_engine(url)
    redis.flushall()
    env = {**env, "DATABASE_URL": url, **dict(layout.env)}
    ksmd_before = ksmd_cpu_s()
    with node(layout, env, workdir, redis, source) as running:
        post_all(running.port, 1, 20)  # warm-up: every slot gets a tracker client, web its first requests
        wait_delivered(engine, 20, 120)
        time.sleep(layout.settle_s)
        idle = []
        for _ in range(5):
            idle.append(running.sample())
            time.sleep(1)
        idle_sample = sorted(idle, key=lambda s: s.pss)[len(idle) // 2]  # the median sample
        peak = Sample()
        stop = threading.Event()

        def sampler() -> None:
            nonlocal peak
            while not stop.wait(0.5):
                now = running.sample()
                if now.pss > peak.pss:
                    peak = now

        load = OtherLoad(running.pids())
        thread = threading.Thread(target=sampler)
        thread.start()
        started = time.monotonic()
        try:
            post_s = post_all(running.port, 1000, count)
            wait_delivered(engine, 20 + count, 600)
        finally:
            stop.set()
            thread.join()
        delivered_s = time.monotonic() - started
        other = load.share()
    engine.dispose()
    ksmd = ksmd_cpu_s() - ksmd_before
    return Run(layout.name, idle_sample, peak, count / post_s, count / delivered_s, other, ksmd)


def ksmd_cpu_s() -> float:
    """The CPU time the kernel's same-page merging thread has used (0 where there is none)."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "ksmd":
                return cpu_seconds(int(comm.parent.name))
        except (OSError, ValueError):
            continue
    return 0.0


@contextmanager
def ksmd_on(wanted: bool) -> Iterator[None]:
    """The host's ksmd running while the layouts run (``--ksmd``; root), as it was before afterwards."""
    before = KSM_RUN.read_text().strip() if wanted else ""
    if wanted and before != "1":
        KSM_RUN.write_text("1")
    try:
        yield
    finally:
        if wanted and before != "1":
            KSM_RUN.write_text("2")  # unmerge every page, then stop as it was
            KSM_RUN.write_text(before)


# -- floors ----------------------------------------------------------------------------------------------

FLOORS: list[tuple[str, str]] = [
    ("an empty interpreter", ""),
    ("+ Flask", "import flask"),
    ("+ SQLAlchemy (core, SQLite dialect)", "import sqlalchemy, sqlalchemy.dialects.sqlite"),
    ("+ redis-py + RQ", "import redis, rq"),
    ("+ pydantic + pydantic-settings", "import pydantic, pydantic_settings"),
    ("+ jira (and requests, oauthlib, toolbelt, defusedxml)", "import jira"),
    ("+ holidays (import)", "import holidays"),
    ("+ holidays, every country listed", "import holidays; holidays.list_supported_countries()"),
    (
        "+ the e-mail stack (email, html2text, charset-normalizer)",
        "import email.parser, email.policy, html2text, charset_normalizer",
    ),
    ("+ Jinja2", "import jinja2, jinja2.sandbox"),
    ("+ croniter + PyYAML", "import croniter, yaml"),
    ("+ Alembic (migrations)", "import alembic, alembic.command"),
    ("+ gunicorn", "import gunicorn.app.wsgiapp"),
    ("the web app (`wsgi.py`: `create_app()`)", "import wsgi"),
    (
        "the worker's code (`cli.slots.preload_job_code(['RU'])`)",
        "import cli.slots; cli.slots.preload_job_code(['RU'])",
    ),
]


def floor(code: str, env: dict[str, str]) -> tuple[int, int]:
    probe = f"{code}\nimport pathlib\nprint(pathlib.Path('/proc/self/smaps_rollup').read_text())"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    values = {}
    for line in out.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            values[key] = int(rest.split()[0])
    return values["Rss"], values["Pss"]


# -- report ----------------------------------------------------------------------------------------------


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def by_process(sample: Sample) -> str:
    parts = []
    for role, values in sample.processes.items():
        pss = ", ".join(mib(p) for _, p in values)
        rss = ", ".join(mib(r) for r, _ in values)
        parts.append(f"{role} ×{len(values)}: PSS {pss} (RSS {rss})")
    return "; ".join(parts)


def render(
    names: list[str],
    runs: list[Run],
    floors: list[tuple[str, int, int]],
    count: int,
    rounds: int,
    argv: list[str] | None,
    before_rev: str | None,
) -> str:
    info = machine()
    begin, end = f"<!-- {SECTION}:begin -->", f"<!-- {SECTION}:end -->"
    lines = [
        begin,
        "## Memory: a whole node (issue 18)",
        "",
        "Every process of a node with 2 web workers, 4 delivery slots and the scheduler, as RSS and PSS "
        "(`/proc/<pid>/smaps_rollup`; PSS splits each page shared by forked processes among them, so the "
        "PSS total is what the node takes). Idle: the median of 5 samples "
        f"{IDLE_SETTLE_S:.0f} s after a warm-up of 20 messages (unless the layout says otherwise), "
        "past the 60 s after which a node's web workers that served rest (`HUB_NODE_IDLE_SECONDS`). "
        "Under load: the largest node total of the samples taken twice a second while "
        f"{count:,} Telegram updates (each a new chat, so a new issue) were posted from {CLIENTS} "
        "keep-alive connections as fast as the web answered and the workers delivered them to the "
        "sandbox Jira (0 ms). Acknowledged/s: the posts' rate; delivered/s: from the first post to the "
        "last row delivered. Each layout ran "
        f"{rounds} times, alternating, in the same run; the table shows medians. "
        + (
            f"The layouts other than `{MEASURED_HERE}` ran on the code of `{before_rev}` (exported by "
            f"`git archive`), `{MEASURED_HERE}` on this tree's"
            if before_rev
            else "Every layout ran on this tree's code (`before` with `--no-preload`)"
        )
        + f". The targets are checked for `{names[-1]}` against each other layout. The floors were "
        "measured on this tree's code.",
        "",
        f"- Date: {utc_now_text()}",
        f"- Command: `{command_line('memory.py', argv)}`",
        f"- Machine: {machine_line(info)}",
        f"- Software: Python {info['python']}, gunicorn {package_version('gunicorn')}, "
        f"rq {package_version('rq')}, SQLAlchemy {package_version('SQLAlchemy')}, redis-server "
        f"{info['redis']}; journal: SQLite (a fresh file per run); `trackerhub web`'s defaults (4 threads, "
        "access log on, its allocator settings)",
        "",
        "| layout | idle RSS | idle PSS | under load RSS | under load PSS | acknowledged/s | delivered/s "
        "| other load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    medians: dict[str, dict[str, float]] = {}
    for name in names:
        layout = LAYOUTS[name]
        mine = [r for r in runs if r.layout == name]
        if not mine:
            continue
        m = {
            "idle_rss": statistics.median(r.idle.rss for r in mine),
            "idle_pss": statistics.median(r.idle.pss for r in mine),
            "load_rss": statistics.median(r.peak.rss for r in mine),
            "load_pss": statistics.median(r.peak.pss for r in mine),
            "ack": statistics.median(r.acknowledged_per_s for r in mine),
            "delivered": statistics.median(r.delivered_per_s for r in mine),
        }
        medians[name] = m
        loads = ", ".join(f"{r.other_load:.0%}" for r in mine)
        lines.append(
            f"| {name}: {layout.describe} | {mib(m['idle_rss'])} MiB | **{mib(m['idle_pss'])} MiB** "
            f"| {mib(m['load_rss'])} MiB | **{mib(m['load_pss'])} MiB** | {m['ack']:.0f} "
            f"| {m['delivered']:.0f} | {loads} |"
        )
    for name in names:
        if dict(LAYOUTS[name].env).get("HUB_NODE_KSM"):
            spent = ", ".join(f"{r.ksmd_cpu_s:.1f} s" for r in runs if r.layout == name)
            lines += [
                "",
                f"The kernel's ksmd used {spent} of CPU in the runs of `{name}` (each: the warm-up, "
                "the minute idle and the load).",
            ]
    lines += ["", "By process, in MiB (the last run of each layout):", ""]
    for name in names:
        mine = [r for r in runs if r.layout == name]
        if mine:
            lines.append(f"- {name}, idle: {by_process(mine[-1].idle)}")
            lines.append(f"- {name}, under load (at the largest PSS total): {by_process(mine[-1].peak)}")
    lines += [
        "",
        "### Floors",
        "",
        "A fresh interpreter of the project's virtualenv (`python -c`), alone and with each library "
        "imported, each in its own process: where a process's memory goes before it does anything. "
        "PSS of a lone process still shares the interpreter's and the C libraries' pages with every "
        "other Python process "
        "on the machine, so it moves with what else runs; the increments over the empty interpreter are "
        "the figures to read.",
        "",
        "| process | RSS | PSS | RSS over the empty interpreter |",
        "|---|---:|---:|---:|",
    ]
    base_rss = floors[0][1]
    for label, rss, pss in floors:
        lines.append(f"| {label} | {mib(rss)} MiB | {mib(pss)} MiB | +{mib(rss - base_rss)} MiB |")
    lines += ["", "### Targets and checks", ""]
    last = names[-1]
    if last in medians:
        after = medians[last]
        lines.append(
            f"- Idle, `{last}`: {mib(after['idle_pss'])} MiB PSS (target ≤ {IDLE_TARGET_MIB} MiB) — "
            + ("met." if after["idle_pss"] / 1024 <= IDLE_TARGET_MIB else "**not met**.")
        )
        lines.append(
            f"- Under load, `{last}`: {mib(after['load_pss'])} MiB PSS (target ≤ {LOAD_TARGET_MIB} MiB) — "
            + ("met." if after["load_pss"] / 1024 <= LOAD_TARGET_MIB else "**not met**.")
        )
    for base in [name for name in names[:-1] if name in medians and last in medians]:
        after, before = medians[last], medians[base]
        for key, what in (("ack", "acknowledged/s"), ("delivered", "delivered/s")):
            ratio = after[key] / before[key]
            lines.append(
                f"- Throughput, {what}: `{last}` / `{base}` = {ratio:.2f} (target ≥ 0.90) — "
                + ("met." if ratio >= 0.9 else "**not met**.")
            )
        lines.append(
            f"- PSS `{last}` / `{base}`: idle {after['idle_pss'] / before['idle_pss']:.2f}, "
            f"under load {after['load_pss'] / before['load_pss']:.2f}."
        )
    lines.append(end)
    return "\n".join(lines)


def export(rev: str, target: Path) -> Path:
    """The tree of git revision ``rev``, written to ``target``."""
    target.mkdir()
    archive = subprocess.run(["git", "archive", rev], cwd=PROJECT_ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="memory of a whole node, before and after issue 18")
    parser.add_argument("--node", action="store_true", help="(this benchmark; memory.py passes it on)")
    parser.add_argument("--messages", type=int, default=3000, help="updates posted under load, per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each layout, alternating")
    parser.add_argument(
        "--layouts", default="light,node", help="the first is the baseline; the targets are for the last"
    )
    parser.add_argument(
        "--before-rev",
        help=f"run the layouts but {MEASURED_HERE} on this git revision's code (exported to a temp dir)",
    )
    parser.add_argument(
        "--before-packages",
        help="a folder put first on PYTHONPATH for the layouts run on --before-rev's code: the packages "
        "whose pins that revision had otherwise (`pip install --target DIR redis==8.1.0`)",
    )
    parser.add_argument(
        "--ksmd",
        action="store_true",
        help="run the host's ksmd during the run (node-ksm needs it; root): /sys/kernel/mm/ksm/run is 1, "
        "then as it was",
    )
    parser.add_argument("--no-write", action="store_true", help="print the section, leave BENCHMARKS.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    layouts = [LAYOUTS[name] for name in args.layouts.split(",")]
    if "node-ksm" in args.layouts.split(",") and not args.ksmd and not ksmd_running():
        raise SystemExit("node-ksm measures merging the host's ksmd does: start it, or pass --ksmd")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="trackerhub-node-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        redis_url = stack.enter_context(redis_server(workdir))
        sandbox = stack.enter_context(jira_sandbox(workdir))
        env = node_env(workdir, redis_url, sandbox.url)
        stack.enter_context(ksmd_on(args.ksmd))
        redis = Redis.from_url(redis_url)
        sources = {name: PROJECT_ROOT for name in LAYOUTS}
        envs = {name: env for name in LAYOUTS}
        if args.before_rev:
            exported = export(args.before_rev, workdir / "before-src")
            sources |= {name: exported for name in LAYOUTS if name not in HERE_ONLY}
        if args.before_packages:
            packages = {"PYTHONPATH": str(Path(args.before_packages).resolve())}
            envs |= {name: env | packages for name in LAYOUTS if name not in HERE_ONLY}
        for n in range(args.rounds):
            for layout in layouts if n % 2 == 0 else list(reversed(layouts)):
                report(f"round {n + 1}: {layout.name}")
                name = layout.name
                run = measure(layout, envs[name], workdir, redis, args.messages, n, sources[name])
                runs.append(run)
                report(
                    f"  idle {mib(run.idle.rss)} MiB RSS / {mib(run.idle.pss)} MiB PSS; under load "
                    f"{mib(run.peak.rss)} / {mib(run.peak.pss)} MiB; {run.acknowledged_per_s:.0f} ack/s, "
                    f"{run.delivered_per_s:.0f} delivered/s; other load {run.other_load:.0%}"
                )
                report(f"  idle: {by_process(run.idle)}")
                report(f"  load: {by_process(run.peak)}")
        floor_env = {
            **env,
            "DATABASE_URL": f"sqlite:///{workdir / 'floors.sqlite3'}",
            "HUB_LOG_LEVEL": "WARNING",
        }
        floors = [(label, *floor(code, floor_env)) for label, code in FLOORS]
        for label, rss, pss in floors:
            report(f"  floor: {label}: {mib(rss)} MiB RSS, {mib(pss)} MiB PSS")
    publish(
        render([x.name for x in layouts], runs, floors, args.messages, args.rounds, argv, args.before_rev),
        BENCHMARKS_MD,
        SECTION,
        write=not args.no_write,
    )
