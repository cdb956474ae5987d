"""Enqueueing a routing request's job ``route-<id>``: created only when no job by that id exists (RQ's
``unique=True``, as jobs/queues.py enqueues replies), so a repeat is a no-op."""

from __future__ import annotations

import logging

from redis import Redis
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from jobs.queues import REPLY_QUEUE

log = logging.getLogger(__name__)

ROUTE_FUNC = "jobs.routing.job.run_route"
ROUTE_QUEUE = REPLY_QUEUE  # outbound work: every worker already listens to it
JOB_TIMEOUT = 240  # seconds; below the request's lease (jobs.routing.api.LEASE_SECONDS)


def route_job_id(request_id: str) -> str:
    """The job id of a request: one job per request at a time."""
    return f"route-{request_id}"


def enqueue_route(redis: Redis, request_id: str) -> bool:
    """Enqueue the request's job unless it has one; whether this call enqueued it."""
    try:
        Queue(ROUTE_QUEUE, connection=redis).enqueue(
            ROUTE_FUNC,
            request_id,
            job_id=route_job_id(request_id),
            unique=True,
            job_timeout=JOB_TIMEOUT,
            result_ttl=0,
            failure_ttl=24 * 3600,
        )
    except DuplicateJobError:
        return False
    return True


def replace_lost_job(redis: Redis, request_id: str) -> bool:
    """Give a request whose lease ran out a new job: its old one is gone, ended, or was running on a
    worker that died (a live one renews the lease, or RQ's timeout ends it first). A job still waiting
    in the queue is left there. Whether a new job was enqueued."""
    try:
        job = Job.fetch(route_job_id(request_id), connection=redis)
    except NoSuchJobError:
        job = None
    if job is not None:
        if job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
            return False
        job.delete(remove_from_queue=True)
    enqueued = enqueue_route(redis, request_id)
    if enqueued:
        log.info("route.requeued request=%s", request_id)
    return enqueued
