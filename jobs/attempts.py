"""One delivery attempt: its claim, lease and conversation lock, and how it ends (done, retry, dead letter).

A job claims its journal row at once; from then until the attempt ends, a lease that runs out means this
process died, so the sweep may take the message (jobs/recovery.py). While an attempt runs, a thread
renews its lease in the journal and the conversation lock every ``LEASE_RENEW_EVERY`` seconds.

Transient failures leave the message queued with ``next_attempt_at`` in the future (honouring the
tracker's ``Retry-After``); the sweep re-enqueues it. After ``HUB_MAX_ATTEMPTS`` it is a dead letter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NoReturn

from redis.exceptions import LockError, RedisError
from redis.lock import Lock
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import (
    ChannelUnavailable,
    CircuitOpen,
    TrackerRejected,
    TrackerUnavailable,
)
from jobs.context import Context, waiting_reason
from jobs.recovery import LEASE_SECONDS, conversation_lock_key
from jobs.worker import trap
from mappers.models import InboundMessage
from store import journal, leases

log = logging.getLogger(__name__)

TRACKER_CHANNELS = frozenset({"jira", "kaiten"})  # journal rows that are tracker webhook events
LEASE_RENEW_EVERY = 10  # seconds; three renewals per LEASE_SECONDS (jobs/recovery.py), so one can fail


class InternalError(Exception):
    """Internal: an unexpected exception, retried like a transient one and then dead-lettered."""


class Retry(Exception):
    """Internal: try this message again after ``delay`` seconds."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


@dataclass(frozen=True)
class Attempt:
    """What one delivery attempt knows, read once: its journal row as the attempt found it, its number,
    and the message the row carries, decoded once.

    ``entry.attempts`` counts the earlier attempts (``> 0`` is how the effects know a retry must look for
    what an earlier attempt wrote); ``number`` is this one's.
    """

    entry: journal.Entry
    number: int
    message: InboundMessage

    @classmethod
    def read(cls, entry: journal.Entry, number: int) -> Attempt:
        """The attempt on a message row (raises ValueError when its body is not a message)."""
        return cls(entry, number, InboundMessage.model_validate_json(entry.body))

    @property
    def id(self) -> str:
        return self.entry.id


def claim(ctx: Context, message_id: str) -> tuple[int, journal.Entry] | None:
    """Take the queued message for this job and count its attempt (one write): the attempt's number, and
    the row as the attempt found it; None when it is no longer queued."""
    return _counted(leases.claim(ctx.engine, message_id, LEASE_SECONDS))


def begin(ctx: Context, message_id: str) -> tuple[int, journal.Entry] | None:
    """Count an attempt on a message taken without a job's claim (a bulk create's companion): its number,
    and the row as the attempt found it (None when a concurrent job delivered it meanwhile)."""
    return _counted(leases.begin_attempt(ctx.engine, message_id, LEASE_SECONDS))


def _counted(entry: journal.Entry | None) -> tuple[int, journal.Entry] | None:
    if entry is None:
        return None
    return entry.attempts, dataclasses.replace(entry, attempts=entry.attempts - 1)


def extend_leases(ctx: Context, message_ids: Sequence[str]) -> None:
    """Push these messages' leases out now (before their jobs are taken from the queue)."""
    leases.extend_leases(ctx.engine, message_ids, LEASE_SECONDS)


def status_of(ctx: Context, message_id: str) -> str:
    current = journal.get(ctx.engine, message_id)
    return current.status if current else "missing"


def conversation_lock(ctx: Context, entry: journal.Entry) -> Lock:
    # not thread-local: the lease renewer extends the lock from its own thread. Acquire it with a
    # ``lock_token``, which names this worker, so the sweep can break it if this worker is killed.
    key = conversation_lock_key(entry.conversation_key)
    return ctx.redis.lock(key, timeout=LEASE_SECONDS, thread_local=False)


def release(lock: Lock, message_id: str) -> None:
    try:
        lock.release()
    except LockError:
        log.warning("deliver.lock-expired message_id=%s", message_id)


@contextlib.contextmanager
def lease_kept(ctx: Context, holds: Sequence[tuple[str, Lock]]) -> Iterator[None]:
    """Renew the attempts' journal leases and conversation locks for as long as this process lives.

    The renewing is done by one thread per process (``_RENEWER``), not one per attempt: starting and
    joining a thread for every job cost it about 0.14 ms of CPU. When this returns, no renewal of these
    holds is running or will run.
    """
    key = _RENEWER.add(ctx, holds)
    try:
        yield
    finally:
        _RENEWER.remove(key)


@dataclass
class _Hold:
    ctx: Context
    holds: list[tuple[str, Lock]]
    every: float
    due: float


class _Renewer:
    """The process's lease renewer: renews each registered attempt ``LEASE_RENEW_EVERY`` seconds after
    it began, and again every ``LEASE_RENEW_EVERY`` seconds, from one daemon thread."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start afresh (and in a forked child: the parent's thread is not there, and its lock may have
        been held at the fork)."""
        self._cond = threading.Condition()
        self._holds: dict[int, _Hold] = {}
        self._count = 0
        self._thread: threading.Thread | None = None

    def add(self, ctx: Context, holds: Sequence[tuple[str, Lock]]) -> int:
        every = LEASE_RENEW_EVERY
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)
                self._thread.start()
            self._count += 1
            self._holds[self._count] = _Hold(ctx, list(holds), every, time.monotonic() + every)
            self._cond.notify()
            return self._count

    def remove(self, key: int) -> None:
        # renewals run holding the condition's lock, so once this has it none of this hold's is running
        with self._cond:
            self._holds.pop(key, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                for hold in list(self._holds.values()):
                    if hold.due <= time.monotonic():
                        try:
                            _renew(hold.ctx, hold.holds)
                        except Exception:  # a bug must not end the thread every attempt's lease needs
                            log.exception("deliver.renew-failed message_id=%s", hold.holds[0][0])
                        hold.due = time.monotonic() + hold.every
                dues = [hold.due for hold in self._holds.values()]
                self._cond.wait(timeout=max(0.0, min(dues) - time.monotonic()) if dues else None)


def _renew(ctx: Context, holds: Sequence[tuple[str, Lock]]) -> None:
    """Push the holds' journal leases and conversation locks out by a lease."""
    message_ids = [message_id for message_id, _ in holds]
    # the journal's lease first: it is what keeps the sweep away, and it must not depend on Redis
    try:
        leases.extend_leases(ctx.engine, message_ids, LEASE_SECONDS)
    except SQLAlchemyError as exc:
        log.warning("deliver.lease-renew-failed message_id=%s error=%s", message_ids[0], exc)
    for message_id, lock in holds:
        try:
            lock.extend(LEASE_SECONDS, replace_ttl=True)
        except (LockError, RedisError) as exc:
            log.warning("deliver.lock-renew-failed message_id=%s error=%s", message_id, exc)


_RENEWER = _Renewer()
os.register_at_fork(after_in_child=_RENEWER.reset)


def trap_at(ctx: Context, point: str, message_ids: list[str]) -> None:
    """A named stop for the fault suite (jobs/worker.py), off unless ``HUB_TEST_TRAPS``."""
    trap(ctx.redis, point, message_ids, enabled=ctx.settings.HUB_TEST_TRAPS)


def conclude(ctx: Context, message_id: str, attempt: int, work: Callable[[], str]) -> str:
    """Run one attempt's work and record how it ended: its status, a retry, or a dead letter."""
    try:
        status = work()
    except (TrackerUnavailable, ChannelUnavailable, Retry) as exc:
        return _retry_or_fail(ctx, message_id, attempt, exc)
    except TrackerRejected as exc:
        journal.mark_failed(ctx.engine, message_id, f"tracker rejected the message: {exc}")
        log.error("deliver.rejected message_id=%s reason=%s", message_id, exc)
        return journal.FAILED
    except Exception as exc:
        # A bug, not the tracker: keep the message (the journal is the source of truth), retry with
        # back-off, and end as a visible dead letter instead of a job that fails forever.
        log.exception("deliver.internal-error message_id=%s attempt=%d", message_id, attempt)
        return _retry_or_fail(
            ctx, message_id, attempt, InternalError(f"internal error: {type(exc).__name__}: {exc}")
        )
    log.info("deliver.done message_id=%s status=%s attempt=%d", message_id, status, attempt)
    return status


def reraise(exc: Exception) -> NoReturn:
    """An attempt's work that already failed, for :func:`conclude` to record."""
    raise exc


def _retry_or_fail(ctx: Context, message_id: str, attempt: int, exc: Exception) -> str:
    reason = str(exc)
    tracker = getattr(exc, "tracker", None)
    if tracker:  # the breaker's wake-up finds the message by this prefix when the tracker is back
        reason = waiting_reason(tracker) + reason
    if isinstance(exc, CircuitOpen | Retry):
        # Nothing failed: the tracker's calls are paused, or the message waits its turn. Wait exactly that
        # long (plus jitter, so a woken backlog does not stampede), and give the attempt back.
        wait = exc.retry_after if isinstance(exc, CircuitOpen) else exc.delay
        delay = (wait or 1.0) + random.uniform(0, 1)
        leases.schedule_retry(ctx.engine, message_id, delay, reason, refund_attempt=True)
        log.info("deliver.waiting message_id=%s delay=%.1f reason=%s", message_id, delay, reason)
        return journal.QUEUED
    if attempt >= ctx.settings.HUB_MAX_ATTEMPTS:
        journal.mark_failed(ctx.engine, message_id, f"gave up after {attempt} attempts: {reason}")
        log.error("deliver.dead-letter message_id=%s attempts=%d reason=%s", message_id, attempt, reason)
        return journal.FAILED
    asked = getattr(exc, "retry_after", None) or 0.0
    delay = max(float(asked), backoff(attempt))
    leases.schedule_retry(ctx.engine, message_id, delay, reason)
    log.warning(
        "deliver.retry message_id=%s attempt=%d delay=%.1f reason=%s", message_id, attempt, delay, reason
    )
    return journal.QUEUED


def backoff(attempt: int) -> float:
    """Seconds before the next attempt: 5 s, 10 s, 20 s … capped at 15 minutes."""
    return float(min(5 * 2 ** max(attempt - 1, 0), 900))


@contextlib.contextmanager
def written_already() -> Iterator[None]:
    """Tracker calls after the attempt's first write: a paused circuit here costs the attempt.

    A wait for an open circuit normally gives the attempt back; once the issue or comment exists, the
    retry must know it was tried (``attempts > 0``), so it looks for what was written instead of
    writing it again.
    """
    try:
        yield
    except CircuitOpen as exc:
        counted = TrackerUnavailable(str(exc), retry_after=exc.retry_after)
        counted.tracker = exc.tracker
        raise counted from exc
