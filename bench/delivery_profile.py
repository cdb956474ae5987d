"""Where one worker's CPU goes per delivery: a profile of one in-process ``HubWorker`` (issue 17).

Why: ``bench/pipeline.py`` measures the workers' CPU per message from /proc, but not where it goes. This
script runs the same jobs through one ``HubWorker`` in this process (RQ's ``work(burst=True)``, as
``trackerhub worker`` runs it) against the sandbox Jira in its own process, a private ``redis-server``
and a fresh SQLite journal, and for each kind of job (RQ no-op jobs, new issues with one create each,
follow-ups) reports, per job:

- the CPU time of this process (``time.process_time``), less that of an empty burst (the worker's
  start and end);
- the SQL statements and commits the database saw (SQLAlchemy's ``before_cursor_execute`` and
  ``commit`` events);
- the Redis round trips (every ``send_packed_command``: a pipeline or a script is one);
- with ``--profile``, a cProfile on the CPU clock, its time grouped by package and its top functions.

``.venv/bin/python bench/delivery_profile.py [--messages 500] [--profile]``. It writes nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis import Redis
from redis.connection import AbstractConnection
from rq import Queue
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import jira_sandbox, redis_server, report
from bench.pipeline import NOOP, TEXT, quiet_rule_file

GROUPS = (  # a profiled function's file, by the first of these in its path
    ("/rq/", "rq"),
    ("/redis/", "redis-py"),
    ("/sqlalchemy/", "SQLAlchemy"),
    ("/jira/", "jira library"),
    ("/requests/", "requests"),
    ("/urllib3/", "urllib3"),
    ("/http/", "http.client"),
    ("/pydantic", "pydantic"),
    ("/logging/", "logging"),
    ("/json/", "json"),
    ("/socket.py", "socket"),
)


@dataclass
class Counts:
    """What the watched process sent to the database and Redis."""

    statements: int = 0
    commits: int = 0
    round_trips: int = 0


@contextmanager
def counted(engine: Any) -> Iterator[Counts]:
    """Count SQL statements, commits and Redis round trips (every packed command sent) in this block."""
    counts = Counts()
    send = AbstractConnection.send_packed_command

    def statement(*_args: Any) -> None:
        counts.statements += 1

    def commit(*_args: Any) -> None:
        counts.commits += 1

    def sent(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        counts.round_trips += 1
        send(self, command, check_health)

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    AbstractConnection.send_packed_command = sent  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


@dataclass(frozen=True)
class Run:
    """One burst of jobs through the worker."""

    kind: str
    jobs: int
    cpu_s: float
    counts: Counts
    profile: pstats.Stats | None


def burst(kind: str, jobs: int, engine: Any, make_worker: Callable[[], Any], profile: bool) -> Run:
    """Run the queued jobs to the end in one burst of a fresh ``HubWorker``."""
    worker = make_worker()
    profiler = cProfile.Profile(time.process_time) if profile else None
    with counted(engine) as counts:
        cpu = time.process_time()
        if profiler is not None:
            profiler.enable()
        worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
        if profiler is not None:
            profiler.disable()
        cpu = time.process_time() - cpu
    return Run(kind, jobs, cpu, counts, pstats.Stats(profiler) if profiler is not None else None)


def grouped(stats: pstats.Stats) -> Counter[str]:
    """The profile's own time (tottime) by package: the hub's modules by their package, the rest by
    ``GROUPS``, C functions as ``builtins``."""
    found: Counter[str] = Counter()
    root = str(Path(__file__).resolve().parent.parent)
    for (path, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if path == "~":
            group = "builtins (C)"
        elif path.startswith(root) and "/.venv/" not in path:
            group = "hub: " + Path(path).relative_to(root).parts[0]
        else:
            group = next((name for marker, name in GROUPS if marker in path), "other Python")
        found[group] += tottime
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=500, help="jobs of each kind (default 500)")
    parser.add_argument("--warmup", type=int, default=50, help="warm-up messages of each kind (default 50)")
    parser.add_argument("--profile", action="store_true", help="cProfile each kind (CPU clock)")
    parser.add_argument("--top", type=int, default=25, help="functions listed per profile (default 25)")
    parser.add_argument("--save", type=Path, help="with --profile: write each profile to SAVE-<n>.pstats")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="trackerhub-profile-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        redis_url = stack.enter_context(redis_server(workdir))
        sandbox = stack.enter_context(jira_sandbox(workdir))
        os.environ.update(
            {
                "HUB_CONFIG": str(quiet_rule_file(workdir)),
                "REDIS_URL": redis_url,
                "DATABASE_URL": f"sqlite:///{workdir / 'journal.sqlite3'}",
                "JIRA_URL": sandbox.url,
                "JIRA_TOKEN": "sandbox",
                "HUB_BULK_CREATE_MAX": "1",
                "HUB_RECONCILE_SECONDS": "0",
            }
        )
        # imported after the environment is set: the settings and the context are read once
        from config.logs import setup_logging
        from jobs.context import get_context
        from jobs.intake import accept
        from jobs.queues import ALL_QUEUES, DELIVERY_QUEUE, JOB_TIMEOUT
        from jobs.worker import HubWorker
        from store.db import create_db_engine
        from tests.mappers.factories import telegram_message

        setup_logging(os.environ.get("HUB_LOG_LEVEL", "INFO"))
        create_db_engine(os.environ["DATABASE_URL"]).dispose()
        ctx = get_context()
        redis: Redis = ctx.redis
        queue = Queue(DELIVERY_QUEUE, connection=redis)

        def make_worker() -> HubWorker:
            return HubWorker(ALL_QUEUES, connection=redis)

        chat = iter(range(10_000_000, 20_000_000))

        def messages(chats: list[int]) -> int:
            for n, chat_id in enumerate(chats):
                accept(ctx.engine, redis, telegram_message(TEXT.format(n=n), chat_id=chat_id))
            return len(chats)

        def noops(count: int) -> int:
            for n in range(count):
                queue.enqueue(NOOP, n, job_timeout=JOB_TIMEOUT, result_ttl=0, failure_ttl=3600)
            return count

        warm = [next(chat) for _ in range(args.warmup)]
        for _ in range(2):  # new issues, then follow-ups on them
            messages(warm)
            burst("warm-up", len(warm), ctx.engine, make_worker, profile=False)
        empty = burst("empty", 0, ctx.engine, make_worker, profile=False)
        chats = [next(chat) for _ in range(args.messages)]
        runs = []
        for kind, enqueue in (
            ("RQ no-op jobs", lambda: noops(args.messages)),
            ("new issues, one create each", lambda: messages(chats)),
            ("follow-ups", lambda: messages(chats)),
        ):
            jobs = enqueue()
            runs.append(burst(kind, jobs, ctx.engine, make_worker, profile=args.profile))
        report(f"one in-process HubWorker, {args.messages} jobs of each kind (an empty burst subtracted)")
        report("| jobs | CPU/job | SQL statements/job | commits/job | Redis round trips/job |")
        report("|---|---:|---:|---:|---:|")
        for run in runs:
            n = run.jobs
            report(
                f"| {run.kind} | {(run.cpu_s - empty.cpu_s) * 1000 / n:.2f} ms "
                f"| {(run.counts.statements - empty.counts.statements) / n:.2f} "
                f"| {(run.counts.commits - empty.counts.commits) / n:.2f} "
                f"| {(run.counts.round_trips - empty.counts.round_trips) / n:.2f} |"
            )
        for n, run in enumerate(runs):
            if run.profile is None:
                continue
            if args.save is not None:
                run.profile.dump_stats(f"{args.save}-{n}.pstats")
            total = sum(grouped(run.profile).values())
            report(f"\n{run.kind}: profiled {total * 1000 / run.jobs:.2f} ms/job, by package (own time):")
            for group, seconds in grouped(run.profile).most_common():
                report(f"  {group:<24} {seconds * 1000 / run.jobs:6.3f} ms/job {seconds / total:5.1%}")
            run.profile.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
