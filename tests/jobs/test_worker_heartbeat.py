"""The worker's own Redis traffic per job (issue 17): RQ's plain heartbeats, sent after each job, before
each dequeue and after it, go out once a second at most; the worker's key still outlives every wait.

RQ (and ``rq info``) count a worker as gone when its key expires, so a heartbeat left out must never
leave the key to expire during the dequeue that follows (``worker_ttl`` - 15 s).
"""

from __future__ import annotations

from jobs.context import Context
from jobs.queues import ALL_QUEUES
from jobs.worker import HubWorker


def test_a_repeated_plain_heartbeat_is_left_out_and_the_worker_key_still_outlives_the_dequeue(
    ctx: Context,
) -> None:
    worker = HubWorker(ALL_QUEUES, connection=ctx.redis)
    worker.register_birth()
    worker.heartbeat()
    first = ctx.redis.hget(worker.key, "last_heartbeat")
    worker.heartbeat()  # before the dequeue, a moment later: left out
    worker.heartbeat()  # after it: left out
    assert ctx.redis.hget(worker.key, "last_heartbeat") == first
    assert ctx.redis.ttl(worker.key) > worker.dequeue_timeout


def test_after_a_job_set_a_short_ttl_the_next_plain_heartbeat_goes_out(ctx: Context) -> None:
    worker = HubWorker(ALL_QUEUES, connection=ctx.redis)
    worker.register_birth()
    worker.heartbeat()
    worker.heartbeat(60)  # a job's start: RQ sets the key's TTL to the job's timeout + 60 s
    assert ctx.redis.ttl(worker.key) <= 60
    worker.heartbeat()  # after the job: never left out, or the key would expire during the dequeue
    assert ctx.redis.ttl(worker.key) > worker.dequeue_timeout


def test_the_idle_state_is_written_once_between_two_jobs(ctx: Context) -> None:
    worker = HubWorker(ALL_QUEUES, connection=ctx.redis)
    worker.register_birth()
    worker.set_state("idle")
    ctx.redis.hset(worker.key, "state", "marker")  # what a repeated write would overwrite
    worker.set_state("idle")  # RQ's second "idle", before the dequeue: left out
    assert ctx.redis.hget(worker.key, "state") == b"marker"
    worker.set_state("busy")
    assert ctx.redis.hget(worker.key, "state") == b"busy" and worker.get_state() == "busy"


def test_the_suspension_check_right_after_a_heartbeat_carries_none(ctx: Context) -> None:
    worker = HubWorker(ALL_QUEUES, connection=ctx.redis)
    worker.register_birth()
    worker.heartbeat()
    with ctx.redis.pipeline() as pipe:
        worker.heartbeat(pipeline=pipe)  # what RQ's is_suspended adds to its EXISTS
        assert len(pipe) == 0
