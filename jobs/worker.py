"""The ``trackerhub worker`` process: RQ's ``SimpleWorker``, known to be alive by its Redis connections.

Jobs run in the worker's own process (no fork per job), so the tracker clients and the database pool
are built once. Every Redis connection the process makes carries the worker's name, which is how the
sweep tells a worker that is running a job from one that was killed (jobs/recovery.py).

For the fault suite, the worker (and ``jobs.deliver``) can stop at named points between two of its
writes, so a test kills it in exactly that gap instead of hoping to: ``trap``. Off unless
``HUB_TEST_TRAPS`` is set, and even then a point only stops a process once a test has armed it in Redis.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq import Queue, SimpleWorker
from rq.job import Job

from config.settings import get_settings
from jobs.queues import DELIVERY_QUEUE, delivery_job_id
from jobs.recovery import name_connections

log = logging.getLogger(__name__)

TRAP_HOLD = 120.0  # seconds a trapped process waits to be killed before it goes on
TRAP_POINTS = ("dequeued", "registered", "claimed", "companions-locked", "taken", "firing-acted")
_CAUGHT = "hub:trap:caught-messages"  # each message is trapped once at most


HEARTBEAT_REPEAT = 1.0  # seconds: a plain worker heartbeat within this of the last one is left out


class HubWorker(SimpleWorker):
    """A ``SimpleWorker`` whose Redis connections all carry its name, with the trap points of RQ's side,
    and fewer round trips of RQ's own per job (``heartbeat``, ``set_state``)."""

    def __init__(self, queues: Sequence[str], connection: Redis, **kwargs: Any) -> None:
        name = uuid.uuid4().hex
        name_connections(connection, name)
        self._plain_beat = -HEARTBEAT_REPEAT  # monotonic time of the last plain heartbeat sent
        self._written_state: str | None = None  # the state this worker last wrote on its own
        super().__init__(list(queues), name=name, connection=connection, **kwargs)

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's worker heartbeat; a plain one (no timeout) as one round trip, and left out when the last
        plain one went less than ``HEARTBEAT_REPEAT`` ago.

        RQ 3.0 sends a plain heartbeat (HSET of ``last_heartbeat``, EXPIRE of the worker's key and of its
        executions' key, each its own round trip) after each job, before each dequeue and after it: nine
        round trips a job, milliseconds apart, each setting the same TTL (``worker_ttl`` + 60 s). One a
        second keeps those keys as alive. A heartbeat with its own timeout (a job's start sets a shorter
        TTL) is sent as RQ sends it, and the next plain one is never left out, so the worker's key always
        outlives the dequeue that follows (``worker_ttl`` - 15 s).
        """
        if timeout is not None:
            self._plain_beat = -HEARTBEAT_REPEAT
            super().heartbeat(timeout, pipeline)
            return
        beat = time.monotonic()
        if pipeline is not None:  # RQ's own round trip carries it (``is_suspended``, every loop)
            super().heartbeat(None, pipeline)
        elif beat - self._plain_beat < HEARTBEAT_REPEAT:
            return
        else:
            with self.connection.pipeline(transaction=False) as pipe:
                super().heartbeat(None, pipe)
                pipe.execute()
        self._plain_beat = beat

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """RQ's ``set_state``, left out when this worker itself last wrote the same state (RQ writes
        ``idle`` after each job and again before the next dequeue)."""
        if pipeline is None and state == self._written_state:
            self._state = state
            return
        super().set_state(state, pipeline)
        self._written_state = state if pipeline is None else None

    def execute_job(self, job: Job, queue: Queue) -> None:
        # popped (BLPOP), not yet in the started registry: gap A of jobs/recovery.py
        _trap_job(self.connection, "dequeued", job)
        super().execute_job(job, queue)

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        # in the started registry, its hash still "queued": gap B
        _trap_job(self.connection, "registered", job)
        super().prepare_job_execution(job, remove_from_intermediate_queue)


def _trap_job(redis: Redis, point: str, job: Job) -> None:
    if job.origin == DELIVERY_QUEUE and get_settings().HUB_TEST_TRAPS:
        trap(redis, point, [job.id.removeprefix(delivery_job_id(""))], enabled=True)


def trap(redis: Redis, point: str, message_ids: Sequence[str], *, enabled: bool) -> None:
    """Stop here, for a test to kill this process, if ``enabled`` and a test armed ``point``.

    Arming is a key ``hub:trap:<point>``, taken by the first process that reaches the point holding no
    message an earlier trap caught; that process publishes its pid and the messages it holds
    (``hub:trap:<point>:caught``) and waits.
    """
    if not enabled or not message_ids or not redis.exists(f"hub:trap:{point}"):
        return
    if any(redis.smismember(_CAUGHT, list(message_ids))) or not redis.getdel(f"hub:trap:{point}"):
        return
    redis.sadd(_CAUGHT, *message_ids)
    caught = {"pid": os.getpid(), "messages": list(message_ids), "at": time.time()}
    redis.set(f"hub:trap:{point}:caught", json.dumps(caught), ex=600)
    log.warning("worker.trapped point=%s message_id=%s pid=%d", point, message_ids[0], os.getpid())
    time.sleep(TRAP_HOLD)
