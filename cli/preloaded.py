"""gunicorn's workers serving an app already built in this process: ``trackerhub node``'s web server
(cli/node.py).

gunicorn's arbiter is a process that forks and watches the workers. In a node the node's parent already
forks and watches its children (cli/slots.py), so the web workers are slots of it beside the delivery
slots, and the arbiter's process goes: about 7 MiB of pages it copied from the parent just to supervise
(BENCHMARKS.md, issue 18). What the arbiter did that a node needs is here: the settings ``web`` passes on
gunicorn's command line (after ``GUNICORN_CMD_ARGS``, as there), the listening sockets bound once in the
parent (a worker forked again serves on them at once), the worker built before its fork with its
heartbeat file, and the timeout: a worker whose heartbeat is older than ``--timeout`` is sent SIGABRT
(gunicorn's worker logs where it was) and, still there at the next look, SIGKILL. Added here: a worker
that has answered requests and then none for ``HUB_NODE_IDLE_SECONDS`` stops as after its
``--max-requests`` and is forked afresh (``RestsWhenIdle``: cli/node.py says why). The arbiter's other
signals (HUP to reload, TTIN/TTOU, USR2 to re-execute) and its configuration file are not part of a node;
``trackerhub web`` keeps them.

A module of its own so that only the web commands import gunicorn.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import time
from typing import Any

from flask import Flask
from gunicorn import sock
from gunicorn.app.base import BaseApplication
from gunicorn.workers.base import Worker

from cli.processes import use_allocator_settings
from cli.slots import Slot

log = logging.getLogger("trackerhub")


# requests that monitoring sends on its own schedule: a load balancer's health check, a metrics scrape;
# they do not keep a web worker from resting
MONITORING_PATHS = frozenset({"/healthz", "/metrics"})


class RestsWhenIdle(Worker):
    """A gunicorn worker that stops, as after its ``max_requests``, once it has answered requests and
    then none but monitoring's for ``rest_after`` seconds, with no connection open; the node forks a
    fresh one in its place. It stops from its loop, between requests: nothing in flight, the socket
    still the parent's."""

    alive: bool  # gunicorn's: the worker's loop runs while it is true
    rest_after = 0.0
    served_at = 0.0  # monotonic time of its last answer to a request not monitoring's (``note_served``)

    def notify(self) -> None:
        super().notify()  # the heartbeat, every turn of the worker's loop (at least once a second in gthread)
        if (
            self.served_at
            and self.alive
            and not getattr(self, "nr_conns", 0)
            and time.monotonic() - self.served_at >= self.rest_after
        ):
            log.info("web.rested pid=%d idle_s=%.0f requests=%d", self.pid, self.rest_after, self.nr)
            self.alive = False


def note_served(worker: Worker, req: Any, _environ: dict[str, Any], _resp: Any) -> None:
    """gunicorn's ``post_request`` hook of a node whose web workers rest: when the worker last answered
    a request that was not monitoring's."""
    if isinstance(worker, RestsWhenIdle) and req.path not in MONITORING_PATHS:
        worker.served_at = time.monotonic()


class PreloadedServer(BaseApplication):
    """gunicorn's custom application (its ``BaseApplication``) whose app is the one given, with the
    settings ``web`` passes on gunicorn's command line, after ``GUNICORN_CMD_ARGS`` as there."""

    def __init__(self, app: Flask, args: list[str]) -> None:
        self.application = app
        self.args = args
        super().__init__()

    def load_config(self) -> None:
        parser = self.cfg.parser()
        for parsed in (parser.parse_args(self.cfg.get_cmd_args_from_env()), parser.parse_args(self.args)):
            for key, value in vars(parsed).items():
                if value is not None and key != "args":
                    self.cfg.set(key.lower(), value)
        self.cfg.set("preload_app", True)  # the app is built: the workers are handed it

    def load(self) -> Flask:
        return self.application


class WebWorkers:
    """The node's gunicorn workers, as slots of the node's parent (this module's docstring)."""

    def __init__(self, app: Flask, args: list[str], *, rest_after: int = 0) -> None:
        self.server = PreloadedServer(app, args)
        self.cfg = self.server.cfg
        self.worker_class: type[Worker] = self.cfg.worker_class
        if rest_after:
            self.worker_class = type(
                f"Resting{self.worker_class.__name__}",
                (RestsWhenIdle, self.worker_class),
                {"rest_after": float(rest_after)},
            )
            self.cfg.set("post_request", note_served)  # a node reads no gunicorn configuration file
        self.log = self.cfg.logger_class(self.cfg)
        self.sockets = sock.create_sockets(self.cfg, self.log)
        self._workers: dict[str, Worker] = {}  # by slot: its worker forked last
        self._age = 0

    def slots(self) -> list[Slot]:
        """One slot per ``--workers``: ``web-1``, ``web-2``…"""
        return [self._slot(f"web-{n}") for n in range(1, self.cfg.workers + 1)]

    def _slot(self, name: str) -> Slot:
        return Slot(
            name, lambda: self._serve(name), prepare=lambda: self._build(name), hung=lambda: self._hung(name)
        )

    def worker(self, name: str) -> Worker | None:
        """The worker of slot ``name`` forked last (or being forked)."""
        return self._workers.get(name)

    def _build(self, name: str) -> None:
        """In the parent, before each fork: the worker, with a heartbeat file of its own the parent reads."""
        if (before := self._workers.pop(name, None)) is not None:
            before.tmp.close()
        self._age += 1
        timeout = self.cfg.timeout / 2.0  # how often the worker beats (gunicorn's arbiter halves it too)
        self._workers[name] = self.worker_class(
            self._age, os.getpid(), self.sockets, self.server, timeout, self.cfg, self.log
        )
        gc.freeze()  # the worker and whatever else was built since the last fork stay out of its collections

    def _hung(self, name: str) -> signal.Signals | None:
        worker = self.worker(name)
        if worker is None or not self.cfg.timeout:
            return None
        try:
            silent = time.monotonic() - worker.tmp.last_update()  # the worker writes monotonic times
        except (OSError, ValueError):
            return None
        if silent <= self.cfg.timeout:
            return None
        if worker.aborted:
            return signal.SIGKILL
        worker.aborted = True
        self.log.critical("WORKER TIMEOUT (slot:%s)", name)
        return signal.SIGABRT

    def _serve(self, name: str) -> int:
        """In the child: serve until told to stop (gunicorn's worker loop)."""
        worker = self._workers[name]  # built by _build before this fork
        for other in self._workers.values():
            if other is not worker:
                other.tmp.close()  # a sibling's heartbeat is the parent's to read
        use_allocator_settings("MALLOC_MMAP_THRESHOLD_")  # the web server's large request buffers
        worker.pid = os.getpid()
        self.log.info("Booting worker with pid: %s", worker.pid)
        worker.init_process()
        return 0
