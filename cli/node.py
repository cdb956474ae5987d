"""``trackerhub node``: a whole node (the web server, the delivery slots and the scheduler) forked from one
process that imported the web app and the job code once.

``web`` and ``worker --slots`` each import their half in a process of their own, so a node built of
the two holds the libraries both need (Flask, SQLAlchemy, pydantic, redis-py, the rules) twice. Here
one parent builds the app (``create_app``, as gunicorn's ``--preload`` master would) and the job
context, leaves them out of the collector's passes (``gc.freeze``, in cli/slots.py) and forks:

- ``web-1`` … ``web-N``: gunicorn's workers, serving the already-built app on sockets the parent bound
  (cli/preloaded.py): they are the parent's slots, without gunicorn's arbiter between, whose process
  only supervised them;
- ``slot-1`` … ``slot-N``: the delivery slots of ``worker --slots`` (cli/slots.py); ``slot-1`` also
  runs the scheduler loop in a thread (one active per deployment, by its lock), so there is no process
  for it alone.

The parent is cli/slots.py's supervisor: a child that dies is forked again (a web worker whose
heartbeat stops for ``--timeout`` is stopped first, as gunicorn's arbiter would), SIGTERM stops them
all gracefully, and they get SIGTERM from the kernel should the parent die (``PR_SET_PDEATHSIG``).
Before the fork the parent holds no connection (the pools are emptied, Redis is not yet connected), no
thread and no random state a child would share (tests/jobs/test_node.py); the web workers' listening
sockets are its only sockets, shared on purpose.

A web worker that has answered requests and then none for ``HUB_NODE_IDLE_SECONDS`` (60 by default)
exits between requests and is forked afresh (cli/preloaded.py). Why: Python writes the reference counts
of every object a call touches, so a web worker that has served has copied 15-16 MiB of the parent's
pages, most of them unchanged or a word apart (bench/node_pages.py), and keeps them for good; a fresh
one shares them again, for the price of a fork. An idle node: about 205 → 190 MiB PSS (BENCHMARKS.md,
issue 18). The delivery slots are not rested: the scheduler enqueues the automations' scan every 5 s,
so each slot runs a job every 20 s or so on the quietest desk, and a fresh slot had copied 20 MiB
again within half a minute of that work (measured with resting slots, which never stayed idle 60 s).

``web`` and ``worker --slots`` stay for deployments that scale them apart.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import TYPE_CHECKING

import click

from cli.common import config_or_exit, context_or_exit, log, main, migrate_or_exit, settings_or_exit
from cli.processes import (
    KSM_RUN,
    gunicorn_args,
    ksmd_running,
    opt_into_page_merging,
    run_worker,
    use_allocator_settings,
)
from config.calendars import holiday_countries

if TYPE_CHECKING:
    from collections.abc import Iterable

    from flask import Flask

    from cli.slots import Slot


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes")
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@click.option("--slots", default=4, show_default=True, type=click.IntRange(min=1), help="delivery slots")
def node(host: str, port: int, workers: int, access_log: bool, slots: int) -> None:
    """Run the web server, ``slots`` delivery slots and the scheduler, all forked from this process.

    One copy of the imported code for every process of the node (cli/node.py); what ``web`` and
    ``worker --slots --with-scheduler`` run, with the memory of one of them.
    """
    # two malloc arenas in every process (a slot's threads, the web workers' four), as `web` has them
    use_allocator_settings("MALLOC_ARENA_MAX")
    # No collections while the parent imports and builds: the garbage they would free leaves holes in
    # pages the children then fill, copying them (Python's advice for gc.freeze; the children turn it
    # back on, cli/slots.py)
    gc.disable()
    settings = settings_or_exit()
    config = config_or_exit(settings)
    migrate_apart(settings.DATABASE_URL)
    app = preload_node(holiday_countries(config.calendars))
    children = node_children(
        app, gunicorn_args(host, port, workers, access_log), slots, rest_after=settings.HUB_NODE_IDLE_SECONDS
    )
    if settings.HUB_NODE_KSM:
        merge_pages()
    from cli.slots import run_slots

    raise SystemExit(run_slots(children))


def merge_pages() -> None:
    """``HUB_NODE_KSM``: the node's memory marked for same-page merging (cli/processes.py), and a word
    when the host's ksmd, which does the merging, is not running."""
    how = opt_into_page_merging()
    running = ksmd_running()
    log.info("node.ksm marked=%s ksmd=%s", how, "running" if running else "stopped")
    if not running:
        log.warning("node.ksm-idle reason=ksmd-stopped hint=%r", f"echo 1 > {KSM_RUN}")


def migrate_apart(database_url: str) -> None:
    """``migrate_or_exit`` in a child process: a database behind the newest schema loads Alembic (about
    20 MiB, bench/node.py's floors) to upgrade it, which no process of the node needs afterwards; in
    this one, every child would carry it."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            migrate_or_exit(database_url)
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except BaseException:
            log.exception("node.migrate-failed")
            code = 1
        logging.shutdown()
        os._exit(code)
    if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
        raise SystemExit(1)  # the child said why


def preload_node(countries: Iterable[str]) -> Flask:
    """Import and build what every child of the node uses: the web app and its gunicorn worker, the job
    code (with the holidays of ``countries``) and the job context; then empty the database pool, so no
    child inherits a connection."""
    import concurrent.futures.thread  # noqa: F401 - the web workers' request threads (imported lazily)

    import gunicorn.workers.gthread  # noqa: F401 - the web workers' code, shared

    import cli.preloaded  # noqa: F401 - the web workers' slots
    from cli.slots import preload_job_code
    from routes import create_app

    app = create_app()
    preload_job_code(countries)
    context_or_exit().engine.dispose()  # the same engine as the app's (one per URL)
    return app


def node_children(app: Flask, web_args: list[str], slots: int, *, rest_after: int = 0) -> list[Slot]:
    """The node's children, in the order they are forked: the web workers, then the delivery slots (the
    first with the scheduler); with ``rest_after``, a web worker exits after that many seconds idle once
    it has answered requests, and is forked afresh (``HUB_NODE_IDLE_SECONDS``, the module's docstring)."""
    from cli.preloaded import WebWorkers
    from cli.slots import Slot

    # gunicorn's settings parsed and its sockets bound here, before the fork: a worker (a new one too,
    # after a crash) starts from them instead of building its own (BENCHMARKS.md, issue 18)
    web = WebWorkers(app, web_args, rest_after=rest_after)

    def slot(n: int) -> Slot:
        return Slot(f"slot-{n}", lambda: run_worker(False, with_scheduler=n == 1))

    return [*web.slots(), *(slot(n) for n in range(1, slots + 1))]
