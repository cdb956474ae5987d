"""The production processes, one per command: ``web``, ``worker`` and ``scheduler``."""

from __future__ import annotations

import errno
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.common import config_or_exit, context_or_exit, log, main, migrate_or_exit, settings_or_exit

if TYPE_CHECKING:
    from jobs.context import Context

# glibc's allocator for the web workers: two arenas instead of eight per core for 4 threads, and buffers
# of 1 MiB or more (a 25 MB mail's body, its decoded files) mapped apart so freeing them gives the memory
# back. bench/memory.py: a worker's peak after the typical mix 74.9 → 72.0 MiB, after 25 MB mails one
# at a time 334 → 205 MiB. An operator's own values of these variables win.
WEB_ALLOCATOR_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": str(1024 * 1024)}
_MALLOPT = {"MALLOC_ARENA_MAX": -8, "MALLOC_MMAP_THRESHOLD_": -3}  # glibc's M_ARENA_MAX, M_MMAP_THRESHOLD


def use_allocator_settings(*names: str) -> None:
    """Those of ``WEB_ALLOCATOR_ENV`` named, in this running process (``mallopt``), for what it allocates
    from now on and for the processes it forks (``node``: two arenas for every process, the mmap
    threshold for its web server, whose requests carry the large buffers). Those set in the environment
    were applied by glibc at the start, and are left so."""
    import ctypes

    libc = ctypes.CDLL(None)
    for name in names:
        if name not in os.environ:
            libc.mallopt(_MALLOPT[name], int(WEB_ALLOCATOR_ENV[name]))


PR_SET_MEMORY_MERGE = 67  # linux/prctl.h, Linux 6.4: KSM for all of a process's memory, its children's too
MADV_MERGEABLE = 12  # asm-generic/mman-common.h: KSM for one range
KSM_RUN = Path("/sys/kernel/mm/ksm/run")  # 1 while the host's ksmd merges


def opt_into_page_merging() -> str:
    """Mark this process's memory, and that of the processes it forks, for the kernel's same-page
    merging; how: ``prctl``, ``madvise:<mappings>``, or ``none:<why prctl failed>``.

    A forked child copies each page of the parent it writes to; with Python's reference counts most are
    writes a call undoes when it returns, so about a third of a node child's copies are again the same
    as the parent's page (BENCHMARKS.md, issue 18), which ksmd merges back. ``prctl`` covers every
    mapping, later ones and the children's included; without it (before Linux 6.4, or without
    CAP_SYS_RESOURCE) each private anonymous mapping there is now is marked, which covers the pages the
    children copy from it."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) == 0:
        return "prctl"
    refused = errno.errorcode.get(ctypes.get_errno(), "?")
    marked = 0
    for start, end in _private_anonymous_ranges():
        marked += libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), MADV_MERGEABLE) == 0
    return f"madvise:{marked}" if marked else f"none:{refused}"


def ksmd_running() -> bool:
    try:
        return KSM_RUN.read_text().strip() == "1"
    except OSError:
        return False


def _private_anonymous_ranges() -> list[tuple[int, int]]:
    ranges = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split()
        if fields[1] == "rw-p" and (len(fields) < 6 or fields[5] == "[heap]"):
            start, end = fields[0].split("-")
            ranges.append((int(start, 16), int(end, 16)))
    return ranges


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes")
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@click.option(
    "--preload/--no-preload",
    default=True,
    show_default=True,
    help="load the app once in gunicorn's master, so its workers share the code (copy-on-write)",
)
def web(host: str, port: int, workers: int, access_log: bool, preload: bool) -> None:
    """Run the HTTP server (gunicorn) for the hooks, forms and status API.

    The database is migrated to the newest schema before gunicorn forks, so its workers find it there
    (store/migrate.py). With ``--preload`` (the default) the master imports the app and its libraries
    once and the workers fork from it, sharing those pages; what must not be shared is not: each worker
    drops the pooled database connections it inherited (store/db.py) and redis-py does the same for its
    connections, and ``random`` reseeds itself in a forked child. Each worker
    takes at most 20 keep-alive connections, so Telegram's up to 40 connections spread over workers
    instead of piling onto the first one that accepts them (measured in bench/ingest.py).
    """
    settings = settings_or_exit()
    config_or_exit(settings)
    migrate_or_exit(settings.DATABASE_URL)
    os.execvpe(  # noqa: S606 - replaces this process with gunicorn, by design
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            *gunicorn_args(host, port, workers, access_log),
            *(["--preload"] if preload else []),
            "wsgi:app",
        ],
        {**WEB_ALLOCATOR_ENV, **os.environ},
    )


def gunicorn_args(host: str, port: int, workers: int, access_log: bool) -> list[str]:
    """gunicorn's settings for the hub, as its command-line arguments (``web`` runs gunicorn with them,
    ``node`` hands them to gunicorn's own parser)."""
    from config.gunicorn_logs import ACCESS_LOG_FORMAT  # imports gunicorn: only the web commands need it

    # request paths without query strings (a ?token= is a secret), secrets scrubbed, key=value lines
    log_args = ["--logger-class", "config.gunicorn_logs.HubLogger"]
    if access_log:
        log_args += ["--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT]
    return [
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--worker-connections",
        "20",
        "--timeout",
        "60",
        # gunicorn 24+ listens on a control socket at one fixed path per user; the hub does not use
        # it, and two web processes on one host (several nodes, the tests) would fight over it
        "--no-control-socket",
        *log_args,
    ]


@main.command()
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
@click.option(
    "--slots",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="delivery slots: with more than one, forked from this process after its imports (cli/slots.py)",
)
@click.option(
    "--with-scheduler",
    is_flag=True,
    help="also run the scheduler, in a child of this process (one scheduler is active at a time)",
)
def worker(burst: bool, slots: int, with_scheduler: bool) -> None:
    """Run an RQ worker for deliveries, replies and periodic jobs.

    A ``SimpleWorker`` runs jobs in this process instead of forking per job, so the tracker client
    (whose construction costs a ``serverInfo`` call) and the database pool are built once per process.
    A crash of the process is covered by the sweep, which sees the worker's named Redis connections
    close (jobs/recovery.py). If Redis goes away for longer
    than RQ's own reconnect loop covers, the worker starts over once Redis answers again instead of
    exiting, so a Redis restart needs no one to restart the workers. Retries wait for a scheduler, so
    the worker warns when none has ticked for a minute (jobs/heartbeat.py).

    With ``--slots N`` or ``--with-scheduler``, this process imports the code, then forks each slot (and
    the scheduler) and supervises them: one process's worth of libraries in memory instead of one per
    slot, and a small deployment is this command and ``web``.
    """
    if burst and with_scheduler:
        raise click.UsageError("--burst with --with-scheduler would never end: the scheduler has no last job")
    settings = settings_or_exit()
    config = config_or_exit(settings)
    if slots == 1 and not with_scheduler:
        run_worker(burst)
        return
    from cli.slots import Slot, preload_job_code, run_slots
    from config.calendars import holiday_countries

    preload_job_code(holiday_countries(config.calendars))
    # The job context too (the rules validated, the schema checked), so the slots share it instead of
    # each building its own copy; its pool is emptied before the fork, and Redis is not yet connected.
    context_or_exit().engine.dispose()
    children = [Slot(f"slot-{n}", lambda: run_worker(burst)) for n in range(1, slots + 1)]
    if with_scheduler:
        children.append(Slot("scheduler", run_scheduler_here))
    raise SystemExit(run_slots(children, restart=not burst))


def run_worker(burst: bool, *, with_scheduler: bool = False) -> int:
    """One RQ worker in this process, until it is stopped (or, with ``burst``, the queues are empty);
    with ``with_scheduler``, the scheduler loop beside it in a thread (``trackerhub node``)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from jobs.heartbeat import watch_scheduler
    from jobs.queues import ALL_QUEUES
    from jobs.worker import HubWorker

    ctx = context_or_exit()
    if with_scheduler:
        start_scheduler_thread(ctx)
    watch_scheduler(ctx.redis)
    while True:
        # no forked RQ scheduler: `trackerhub scheduler` does its work (see jobs.periodic)
        rq_worker = HubWorker(ALL_QUEUES, connection=ctx.redis)
        try:
            rq_worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
            return 0
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("worker.redis-lost error=%s restarting_in=2s", type(exc).__name__)
            time.sleep(2)
        # RQ's SIGTERM handler stays installed and records a stop request (rq/worker/base.py)
        if getattr(rq_worker, "_stop_requested", False):
            return 0


def start_scheduler_thread(ctx: Context) -> None:
    """The scheduler loop in a daemon thread of this worker process: it ends with the process, as the
    scheduler's own process ends at SIGTERM, and its lock (one active scheduler per deployment) runs out
    as that process's would. It has tracker clients and a Redis client of its own (a copy of the
    context with them): the worker renames and drops its Redis connections when it starts
    (jobs/recovery.py), and its tracker clients are not shared between threads; the database pool and
    the rules are."""
    import dataclasses
    import threading

    from jobs.periodic import run_scheduler
    from jobs.queues import new_redis

    redis = new_redis(str(ctx.settings.REDIS_URL))
    own = dataclasses.replace(ctx, redis=redis, trackers={}, _specs={}, _telegram=None)

    def loop() -> None:
        try:
            run_scheduler(own)
        except BaseException:  # it catches each tick's errors: this is its start failing
            log.exception("scheduler.thread-failed")
            os.kill(os.getpid(), signal.SIGTERM)  # the worker stops after its job; the node forks it again

    threading.Thread(target=loop, name="scheduler", daemon=True).start()


def run_scheduler_here() -> int:
    """The scheduler loop in this process, until it is stopped."""
    from jobs.periodic import run_scheduler

    run_scheduler(context_or_exit())
    return 0


@main.command()
def scheduler() -> None:
    """Run the periodic jobs: sweeps, the IMAP poll, automation scans (one scheduler active at a time)."""
    settings = settings_or_exit()
    config_or_exit(settings)
    run_scheduler_here()
