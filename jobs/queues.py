"""Queue names, the Redis connection and the one way to enqueue a delivery.

Delivery jobs have ids derived from the message id and are enqueued with ``unique=True`` (RQ ≥ 2.8), so
an enqueue of a message that already has a job waiting is a no-op.
"""

from __future__ import annotations

import functools
import logging

from redis import Redis
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

log = logging.getLogger(__name__)

DELIVERY_QUEUE = "deliveries"
REPLY_QUEUE = "replies"
PERIODIC_QUEUE = "periodic"
ALL_QUEUES = (DELIVERY_QUEUE, REPLY_QUEUE, PERIODIC_QUEUE)
JOB_TIMEOUT = 180  # seconds; a delivery makes a handful of tracker calls, each with its own timeout
FINISHED = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


@functools.cache
def get_redis(url: str) -> Redis:
    """The process-wide Redis client for ``url``, with short socket timeouts."""
    return Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)


def delivery_job_id(message_id: str) -> str:
    """The RQ job id of a message's delivery."""
    return f"deliver-{message_id}"


def enqueue_delivery(redis: Redis, message_id: str, *, lease_expired: bool = False) -> bool:
    """Enqueue ``jobs.deliver.deliver(message_id)``; False when a live job already exists.

    A job left behind finished or failed is removed first, so the journal sweep can always bring a
    message home. With ``lease_expired`` (the journal says the last attempt's lease ran out), a job RQ
    still believes started is treated as abandoned too: its worker was killed, and RQ would only notice
    once that worker's heartbeat key expires.
    """
    queue = Queue(DELIVERY_QUEUE, connection=redis)
    job_id = delivery_job_id(message_id)
    try:
        _enqueue(queue, job_id, message_id)
        return True
    except DuplicateJobError:
        pass
    try:
        job = Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=True)
    if status == JobStatus.QUEUED or (status not in FINISHED and not lease_expired):
        return False
    job.delete()
    try:
        _enqueue(queue, job_id, message_id)
    except DuplicateJobError:
        return False
    return True


def _enqueue(queue: Queue, job_id: str, message_id: str) -> None:
    queue.enqueue(
        "jobs.deliver.deliver",
        message_id,
        job_id=job_id,
        unique=True,
        job_timeout=JOB_TIMEOUT,
        result_ttl=0,
        failure_ttl=3600,
        description=f"deliver {message_id}",
    )


def enqueue_reply(redis: Redis, func: str, message_id: str) -> None:
    """Enqueue an outbound job (``jobs.replies.*``) for a message; a repeat is a no-op."""
    from rq import Retry

    queue = Queue(REPLY_QUEUE, connection=redis)
    try:
        queue.enqueue(
            func,
            message_id,
            job_id=f"{func.rsplit('.', 1)[-1]}-{message_id}",
            unique=True,
            retry=Retry(max=5, interval=[10, 30, 120, 600, 1800]),
            job_timeout=60,
            result_ttl=0,
            failure_ttl=7 * 24 * 3600,
        )
    except DuplicateJobError:
        log.info("reply.duplicate func=%s message_id=%s", func, message_id)
