"""``trackerhub worker --slots N``: N delivery slots forked from one process that imported the code once.

Each slot is what a ``trackerhub worker`` process was: an RQ ``SimpleWorker`` (jobs/worker.py) with its
own name, its own Redis connections (named, so the sweep sees it die: jobs/recovery.py) and its own
database pool, all made after the fork. Only the imported modules come from the parent, shared
copy-on-write; the parent makes no connection, holds no lock and runs no thread, so there is nothing of
that kind for a slot to inherit. ``--with-scheduler`` forks one more child that runs the scheduler loop
(jobs/periodic.py; still one active scheduler per deployment, by its lock).

The parent supervises: a slot that exits or is killed is forked again (after a pause if it keeps dying
within seconds of its start), its jobs recovered by the sweep as for any killed worker. SIGTERM to the
parent reaches every slot, which finishes its job first (RQ's warm shutdown); a terminal's Ctrl-C
already reaches the whole process group, so SIGINT is not forwarded (a second signal would make RQ stop
mid-job). Should the parent die without stopping them, the slots get SIGTERM from the kernel
(``PR_SET_PDEATHSIG``) and stop the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import importlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cli.common import terminate_with_parent
from config.settings import NODE_IDLE_MIN

log = logging.getLogger("trackerhub")

QUICK_EXIT = float(NODE_IDLE_MIN)  # a slot that exits this soon after its start is failing, not finishing
MAX_PAUSE = 30.0  # the longest pause before forking a failing slot again
POLL_EVERY = 0.5


@dataclass
class Slot:
    """One child: its name in logs and what it runs (its return value is its exit code).

    ``prepare`` runs in the parent just before each fork of it; ``hung``, asked at each look of the
    parent while it runs, names the signal to stop it with once it has stopped answering (``node``'s
    web workers: cli/preloaded.py), None while it is well.
    """

    name: str
    run: Callable[[], int]
    prepare: Callable[[], None] | None = None
    hung: Callable[[], signal.Signals | None] | None = None
    started_at: float = 0.0
    quick_exits: int = 0


# the job functions RQ imports by name (jobs/queues.py and the enqueues), the worker and the scheduler,
# the tracker clients (``jira`` and its dependencies, Kaiten's) and ``_strptime`` (the first
# ``strptime`` imports it); ``holidays`` is preload_job_code's
PRELOADED = (
    "_strptime",
    "connector.instances",
    "jobs.automations.periodic",
    "jobs.automations.run",
    "jobs.deliver",
    "jobs.periodic",
    "jobs.replies",
    "jobs.routing.job",
    "jobs.worker",
)


def preload_job_code(countries: Iterable[str]) -> None:
    """Import what every slot's jobs and the scheduler import, before the fork, so the slots share it:
    RQ, the tracker clients (``jira`` and its dependencies), the job functions RQ looks up by name, and
    ``holidays`` with the calendars of ``countries`` (those the configuration's business calendars name,
    ``holiday_countries``). SLA timers and automations load a calendar on first use; a slot that loaded
    it itself carried 2-4 MiB of its own (bench/memory.py --node). The package's other countries (8 MiB)
    are not imported: a country a reloaded configuration names later is imported by the slot that
    needs it (mappers/calendar.py). RQ's timestamp format is parsed once, so that the slots find its
    pattern compiled in ``strptime``'s cache instead of each compiling it (``re``'s parser) for itself."""
    for module in PRELOADED:
        importlib.import_module(module)
    from rq.utils import utcformat, utcparse

    from mappers.calendar import load_countries

    load_countries(countries)
    utcparse(utcformat(dt.datetime.now(dt.UTC)))


def run_slots(slots: list[Slot], *, restart: bool = True) -> int:
    """Fork each slot and supervise them until SIGTERM or SIGINT (or, without ``restart``, until every
    slot has exited, as ``--burst`` does); 0 when every slot's last exit was clean, else the first
    unclean one's code."""
    gc.freeze()  # the imports so far stay out of the collector's passes, which would copy their pages
    me = os.getpid()
    stopping = forward = False
    children: dict[int, Slot] = {}
    told: set[int] = set()  # the children SIGTERM was passed on to (a second one would cut RQ short)
    waiting: list[tuple[float, Slot]] = []  # slots to fork again, and when
    worst = 0

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping, forward
        if os.getpid() != me:  # a child, between its fork and its own handlers: it has not started yet
            os._exit(0)
        stopping = True
        forward = forward or signum == signal.SIGTERM
        if forward:
            tell_children()

    def tell_children() -> None:
        # at once: a SIGTERM to the whole group (systemd's stop) reaches the slots too, and RQ takes a
        # second one within a second as the same request, later as a cold shutdown (rq/worker/base.py)
        for pid in [p for p in list(children) if p not in told]:
            told.add(pid)
            _signal(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for slot in slots:
        children[_fork(slot)] = slot
    while children or (waiting and not stopping):
        if forward:
            tell_children()  # one forked while the signal was handled
        for pid, code in _reaped():
            if pid not in children:
                continue
            slot = children.pop(pid)
            if stopping or not restart:
                if not (stopping and code == -signal.SIGTERM):  # the scheduler stops by dying of it
                    worst = worst or code
                log.info("worker.slot-stopped slot=%s pid=%d code=%s", slot.name, pid, code)
                continue
            pause = _pause_after(slot)
            log.log(  # a clean exit: a web worker that rested (cli/node.py), or a loop that ended
                logging.INFO if code == 0 else logging.WARNING,
                "worker.slot-exited slot=%s pid=%d code=%s restarting_in=%.0fs",
                slot.name,
                pid,
                code,
                pause,
            )
            waiting.append((time.monotonic() + pause, slot))
        _stop_hung(children)
        now = time.monotonic()
        for due in [w for w in waiting if w[0] <= now and not stopping]:
            waiting.remove(due)
            children[_fork(due[1])] = due[1]
        time.sleep(POLL_EVERY)
    return worst


def _stop_hung(children: dict[int, Slot]) -> None:
    for pid, slot in list(children.items()):
        signum = slot.hung() if slot.hung is not None else None
        if signum is not None:
            log.warning("worker.slot-hung slot=%s pid=%d signal=%s", slot.name, pid, signum.name)
            _signal(pid, signum)


def _pause_after(slot: Slot) -> float:
    """No pause after a slot that ran a while (killed, or restarting after Redis came back); a growing
    one while it keeps dying right after its start (a bad database, say), so the log is not flooded."""
    if time.monotonic() - slot.started_at >= QUICK_EXIT:
        slot.quick_exits = 0
        return 0.0
    slot.quick_exits += 1
    return float(min(2 ** (slot.quick_exits - 1), MAX_PAUSE))


def _reaped() -> list[tuple[int, int]]:
    """The children that ended since the last look: (pid, exit code; minus the signal for a kill)."""
    ended: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.append((pid, os.waitstatus_to_exitcode(status)))


def _fork(slot: Slot) -> int:
    if slot.prepare is not None:
        slot.prepare()
    slot.started_at = time.monotonic()
    parent = os.getpid()
    pid = os.fork()
    if pid:
        log.info("worker.slot-started slot=%s pid=%d", slot.name, pid)
        return pid
    os._exit(_child(slot, parent))  # the child never returns into the parent's loop


def _child(slot: Slot, parent: int) -> int:
    gc.enable()  # where the parent turned it off (`trackerhub node`): a slot collects its own garbage
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    terminate_with_parent()
    if os.getppid() != parent:  # the parent died before the request above took effect
        return 1
    try:
        code = slot.run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 0
    except BaseException:
        log.exception("worker.slot-failed slot=%s", slot.name)
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
