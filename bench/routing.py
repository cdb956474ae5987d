"""Routing benchmark: route issues through the HTTP API against the sandbox Jira (issue 13).

Why: a coordinator's click should end in a routed issue as fast as the tracker allows, with no tracker
call a cache could save (createmeta and link types are cached with a TTL) and, at 50 ms tracker
latency, at least 80% of the throughput the per-route call chain allows.

What it does (``.venv/bin/python bench/routing.py``):

1. starts a private ``redis-server``, the sandbox Jira in its own process, a fresh SQLite journal, the
   hub's web app under gunicorn (``wsgi:app``, ``HUB_API_TOKEN`` and ``HUB_SECRET_KEY`` set) and
   ``--workers`` ``trackerhub worker`` processes;
2. for each tracker latency (0 and 50 ms: a sandbox fault rule on every request), opens ``--routes`` SUP
   issues (bulk create, before the latency is added), then POSTs ``/api/routes/database/<key>`` for
   each from ``--clients`` threads (the click), and waits until every request is done;
3. reports routes/s (first click to last done), p50/p99 from click to done (the request's last update),
   the tracker calls per route from the sandbox's ``/_sandbox/stats``, by call, against the minimum the
   Data Center copy method needs, and the throughput the job's call chain allows at that latency:
   workers / (job calls per route × latency);
4. rewrites its section of ``BENCHMARKS.md`` (``<!-- routing:begin -->`` … ``<!-- routing:end -->``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import (
    BENCHMARKS_MD,
    PROJECT_ROOT,
    OtherLoad,
    Sandbox,
    ServerSettings,
    child_env,
    command_line,
    gunicorn,
    jira_sandbox,
    machine,
    machine_line,
    ms,
    pct,
    publish,
    redis_pid,
    redis_server,
    report,
    run_main,
    stats_delta,
    stop_process,
    utc_now_text,
)
from connector.jira import JiraTracker
from connector.types import IssueDraft, Target

SECTION = "routing"
ROUTE = "database"
TOKEN = "bench-routing-token"
# The Data Center copy method's minimum for an issue without comments or files: read the source (1),
# create the target (1), link (1), transition the source with its comment in the same POST, which
# needs the transition's id (2); the API reads the source once to check the fields (1); the Route link
# on the new issue (1). Everything else is a cache's: createmeta and link types.
MINIMUM = {
    "GET /rest/api/2/issue/<key> (API: the source's fields)": 1,
    "GET /rest/api/2/issue/<key> (job: the source, with its comments and files)": 1,
    "POST /rest/api/2/issue (the target)": 1,
    "POST /rest/api/2/issueLink": 1,
    "GET /rest/api/2/issue/<key>/transitions": 1,
    "POST /rest/api/2/issue/<key>/transitions (with the comment)": 1,
    "POST /rest/api/2/issue/<key>/remotelink (the Route link)": 1,
}
API_CALLS = 1  # per route, made by the web process (not the workers)


@dataclass
class Run:
    latency_ms: int
    routes: int
    workers: int
    seconds: float
    latencies_ms: list[float]
    calls: dict[str, int]
    failed: int
    other_load: str

    @property
    def per_s(self) -> float:
        return self.routes / self.seconds

    @property
    def calls_per_route(self) -> float:
        return sum(self.calls.values()) / self.routes

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    @property
    def bound(self) -> float:
        """Routes/s the job's call chain allows: workers / (job calls per route × latency)."""
        if not self.latency_ms:
            return float("nan")
        return self.workers / ((self.calls_per_route - API_CALLS) * self.latency_ms / 1000)


def open_sources(sandbox: Sandbox, count: int) -> list[str]:
    """``count`` SUP issues, 50 per bulk create."""
    jira = JiraTracker(sandbox.url, token="t", timeout=30)
    keys: list[str] = []
    for start in range(0, count, 50):
        drafts = [
            IssueDraft(
                Target("jira", "SUP", issue_type="Task"),
                f"Printer {n} on fire",
                "It smokes.",
                f"b-{uuid.uuid4().hex[:10]}",
            )
            for n in range(start, min(count, start + 50))
        ]
        keys += [ref.key for ref in jira.create_issues(drafts) if not isinstance(ref, Exception)]  # type: ignore[union-attr]
    return keys


@contextmanager
def workers(count: int, env: dict[str, str], workdir: Path) -> Iterator[list[int]]:
    procs = []
    try:
        for n in range(count):
            log = (workdir / f"worker-{n}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "cli", "worker"],
                    cwd=PROJECT_ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        yield [proc.pid for proc in procs]
    finally:
        for proc in procs:
            stop_process(proc)


def one_run(args: argparse.Namespace, latency_ms: int) -> Run:
    with tempfile.TemporaryDirectory(prefix="bench-routing-") as folder, ExitStack() as stack:
        workdir = Path(folder)
        redis_url = stack.enter_context(redis_server(workdir))
        sandbox = stack.enter_context(jira_sandbox(workdir))
        database = f"sqlite:///{workdir / 'hub.sqlite3'}"
        env = child_env(
            {
                "REDIS_URL": redis_url,
                "DATABASE_URL": database,
                "JIRA_URL": sandbox.url,
                "JIRA_TOKEN": "t",
                "HUB_API_TOKEN": TOKEN,
                "HUB_SECRET_KEY": "bench-secret-key",
                "HUB_LOG_LEVEL": "WARNING",
            }
        )
        web = stack.enter_context(
            gunicorn(
                "wsgi:app",
                PROJECT_ROOT,
                env,
                ServerSettings(workers=2, threads=4),
                workdir,
                "hub",
                "/healthz",
            )
        )
        keys = open_sources(sandbox, args.routes)
        worker_pids = stack.enter_context(workers(args.workers, env, workdir))
        if latency_ms:
            sandbox.add_fault(latency_ms=latency_ms)
        before = sandbox.stats()
        load = OtherLoad([sandbox.pid, redis_pid(redis_url), web.pid, *web.worker_pids(), *worker_pids])
        clicks: dict[str, float] = {}
        session = requests.Session()

        def click(key: str) -> None:
            at = time.time()
            answer = session.post(
                f"http://127.0.0.1:{web.port}/api/routes/{ROUTE}/{key}",
                json={"fields": {}},
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=60,
            )
            answer.raise_for_status()
            clicks[answer.json()["id"]] = at

        started = time.time()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(click, keys))
        engine = sa.create_engine(database)
        deadline = time.monotonic() + args.timeout
        while True:
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT id, status, updated_at FROM route_requests")).all()
            ended = [row for row in rows if row.status in ("done", "failed")]
            if len(ended) == len(clicks) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        calls = stats_delta(sandbox.stats(), before)
        done_at = {row.id: _epoch(row.updated_at) for row in ended if row.status == "done"}
        failed = len(ended) - len(done_at)
        finished = max(done_at.values(), default=time.time())
        engine.dispose()
        return Run(
            latency_ms=latency_ms,
            routes=len(clicks),
            workers=args.workers,
            seconds=finished - started,
            latencies_ms=[(done_at[rid] - clicks[rid]) * 1000 for rid in done_at],
            calls=calls,
            failed=failed + len(clicks) - len(ended),
            other_load=pct(load.share()),
        )


def _epoch(value: object) -> float:
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def render(runs: list[Run], args: argparse.Namespace, argv: list[str] | None) -> str:
    lines = [
        "<!-- routing:begin -->",
        "## Routing",
        "",
        f"Measured {utc_now_text()} on {machine_line(machine())} with `{command_line('routing.py', argv)}`.",
        f"{args.routes} SUP issues routed by `{ROUTE}` (Data Center copy method: create in DB, link, close "
        f"the source with its comment, Route link on the new issue) through `POST /api/routes/…` from "
        f"{args.clients} client threads; {args.workers} `trackerhub worker` processes; gunicorn 2×4 for the "
        "API. Click → done is from just before the POST to the request's last update (done).",
        "",
        "| tracker latency | routes/s | click → done p50 | p99 | tracker calls/route "
        "| bound: workers / (job calls × latency) | of it | failed | other load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        bound = "n/a" if run.latency_ms == 0 else f"{run.bound:,.1f}/s"
        share = "n/a" if run.latency_ms == 0 else pct(run.per_s / run.bound)
        lines.append(
            f"| {run.latency_ms} ms | {run.per_s:,.1f} | {ms(run.percentile(0.5))} "
            f"| {ms(run.percentile(0.99))} | {run.calls_per_route:.2f} | {bound} | {share} "
            f"| {run.failed} | {run.other_load} |"
        )
    lines += [
        "",
        "Tracker calls per route, by call, against the method's minimum "
        f"({sum(MINIMUM.values())} calls: {'; '.join(f'{k} ×{v}' for k, v in MINIMUM.items())}):",
        "",
    ]
    lines += [
        "| call | " + " | ".join(f"{r.latency_ms} ms" for r in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    names = sorted({name for run in runs for name in run.calls})
    for name in names:
        lines.append(
            f"| `{name}` | " + " | ".join(f"{run.calls.get(name, 0) / run.routes:.2f}" for run in runs) + " |"
        )
    lines += [
        "",
        "Beyond the minimum: the transition reads the issue's status first (`GET issue`, so a repeated "
        "transition is a no-op: the source's close is idempotent without a marker), and a source with "
        "comments or files costs one read each (skipped when Jira's full read says there are none). "
        "createmeta and the link types are read once per process and kept for 5 minutes "
        "(`connector/cache.py`): their rows are a process's first route. Reads by marker "
        "(`hub-route-<id>`) happen only on a retry. The bound is what the job's calls allow at this "
        "latency with these workers; the rest is the workers' and the sandbox's CPU on 2 shared cores "
        "(see other load).",
        "",
        "<!-- routing:end -->",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--routes", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--latencies", default="0,50", help="tracker latencies in ms, comma-separated")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for a run's routes")
    parser.add_argument("--output", type=Path, default=BENCHMARKS_MD)
    parser.add_argument("--no-write", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    runs = []
    for latency in (int(part) for part in args.latencies.split(",") if part.strip()):
        report(f"routing {args.routes} issues at {latency} ms tracker latency …")
        run = one_run(args, latency)
        p50 = ms(run.percentile(0.5))
        report(f"  {run.per_s:.1f} routes/s, p50 {p50}, {run.calls_per_route:.2f} calls/route")
        runs.append(run)
    publish(render(runs, args, argv), args.output, SECTION, write=not args.no_write)


if __name__ == "__main__":
    run_main(main)
