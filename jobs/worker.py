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
from rq import Queue, SimpleWorker
from rq.job import Job

from config.settings import get_settings
from jobs.queues import DELIVERY_QUEUE, delivery_job_id
from jobs.recovery import name_connections

log = logging.getLogger(__name__)

TRAP_HOLD = 120.0  # seconds a trapped process waits to be killed before it goes on
TRAP_POINTS = ("dequeued", "registered", "claimed", "companions-locked", "taken", "firing-acted")
_CAUGHT = "hub:trap:caught-messages"  # each message is trapped once at most


class HubWorker(SimpleWorker):
    """A ``SimpleWorker`` whose Redis connections all carry its name, with the trap points of RQ's side."""

    def __init__(self, queues: Sequence[str], connection: Redis, **kwargs: Any) -> None:
        name = uuid.uuid4().hex
        name_connections(connection, name)
        super().__init__(list(queues), name=name, connection=connection, **kwargs)

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
