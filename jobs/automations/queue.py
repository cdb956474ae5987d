"""The RQ jobs that run firings: ``auto-<firing id>`` on the periodic queue, created only when no job with
that id is queued or running (RQ's ``unique=True``, as ``jobs.queues.enqueue_reply`` does)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from redis import Redis
from rq import Queue
from rq.exceptions import DeserializationError, DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from jobs.delivery_jobs import JobKind
from jobs.queues import PERIODIC_QUEUE

log = logging.getLogger(__name__)

RUN_FUNC = "jobs.automations.run.run_firing"
JOB_TIMEOUT = 180  # seconds; a firing makes one tracker call per action, each with its own timeout


FIRINGS = JobKind(PERIODIC_QUEUE, "auto-")  # where a firing's job is, read as a delivery's (jobs/recovery.py)


def firing_job_id(firing_id: str) -> str:
    return FIRINGS.job_id(firing_id)


def enqueue_firings(redis: Redis, firing_ids: Iterable[str], *, at_front: bool = False) -> int:
    """Enqueue each firing's job unless it has one; return how many were enqueued. ``at_front``: before
    the jobs waiting (a firing handed back was taken before them)."""
    queue = Queue(PERIODIC_QUEUE, connection=redis)
    count = 0
    for firing_id in firing_ids:
        try:
            queue.enqueue(
                RUN_FUNC,
                firing_id,
                job_id=firing_job_id(firing_id),
                unique=True,
                job_timeout=JOB_TIMEOUT,
                result_ttl=0,
                failure_ttl=3600,
                description=f"automation firing {firing_id}",
                at_front=at_front,
            )
            count += 1
        except DuplicateJobError:
            pass
    return count


def requeue_firings(redis: Redis, firing_ids: Iterable[str]) -> int:
    """Give firings the store says are abandoned a new job: a job still waiting in the queue is left to
    run; any other job of theirs (ended, or held by a worker that died: the lease ran out) is dropped
    first."""
    queue_key = Queue.redis_queue_namespace_prefix + PERIODIC_QUEUE
    fresh: list[str] = []
    for firing_id in firing_ids:
        job_id = firing_job_id(firing_id)
        status = redis.hget(Job.key_for(job_id), "status")
        if status == JobStatus.QUEUED.value.encode() and redis.lpos(queue_key, job_id) is not None:
            continue
        if status is not None:
            _drop_job(redis, job_id)
            log.warning("automations.job-replaced firing=%s was=%s", firing_id, status)
        fresh.append(firing_id)
    return enqueue_firings(redis, fresh)


def _drop_job(redis: Redis, job_id: str) -> None:
    """Delete an old job of a firing the way RQ does (its hash, its result, and its place in the started,
    failed and other registries), so no registry keeps naming a job that no longer exists."""
    try:
        Job.fetch(job_id, connection=redis).delete(remove_from_queue=True)
    except (NoSuchJobError, DeserializationError):
        redis.delete(Job.key_for(job_id))  # a hash too damaged to load: nothing else of it is readable
