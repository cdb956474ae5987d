"""What the worker leaves in Redis when a job succeeds, and what it costs (issue 17).

RQ 3.0 ends a successful job in twelve round trips (the dependents watched and read, the job's status and
its executions read twice, the transaction, the worker's ``idle`` state, a heartbeat); ``HubWorker`` does
it in one script for the jobs the hub enqueues (``result_ttl=0``, nothing depending on them), and sends
the writes of RQ's two MULTIs that start a job as a script each. These tests check that a running job
and a finished one look in Redis as under RQ's own worker, that RQ's code still runs for a job with
dependents, and count the round trips one job costs, so a change that brings RQ's back shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis import Redis
from redis.connection import AbstractConnection
from rq import Queue, SimpleWorker, get_current_job
from rq.job import Job
from rq.registry import FailedJobRegistry

from jobs.context import Context
from jobs.queues import ALL_QUEUES, DELIVERY_QUEUE, JOB_TIMEOUT
from jobs.worker import HubWorker

NOOP = "operator.truth"


def _noop(queue: Queue, n: int, **options: Any) -> Job:
    return queue.enqueue(NOOP, n, job_timeout=JOB_TIMEOUT, result_ttl=0, failure_ttl=3600, **options)


def _rq_keys(redis: Redis) -> set[str]:
    """RQ's keys a job's run can leave: jobs, executions, results, registries and worker execution sets."""
    patterns = ("rq:job:*", "rq:execution*", "rq:results:*", "rq:wip:*", "rq:worker:*:executions")
    return {key.decode() for pattern in patterns for key in redis.scan_iter(pattern)}


@contextmanager
def round_trips() -> Iterator[list[int]]:
    """Count every command or pipeline sent to Redis (``[count]``)."""
    count = [0]
    send = AbstractConnection.send_packed_command

    def sent(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        count[0] += 1
        send(self, command, check_health)

    AbstractConnection.send_packed_command = sent  # type: ignore[method-assign]
    try:
        yield count
    finally:
        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]


def _burst(ctx: Context) -> HubWorker:
    worker = HubWorker(ALL_QUEUES, connection=ctx.redis)
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    return worker


class _Undying(HubWorker):
    """A worker whose hash outlives its burst (RQ deletes it at the end), to be read afterwards."""

    def register_death(self) -> None:
        return


def test_a_succeeded_job_leaves_nothing_of_its_run_and_counts_in_the_worker(ctx: Context) -> None:
    queue = Queue(DELIVERY_QUEUE, connection=ctx.redis)
    jobs = [_noop(queue, n) for n in range(3)]
    worker = _Undying(ALL_QUEUES, connection=ctx.redis)
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    assert _rq_keys(ctx.redis) == set()  # no job hash, execution, result or registry entry left
    assert not any(Job.exists(job.id, connection=ctx.redis) for job in jobs)
    assert int(ctx.redis.hget(worker.key, "successful_job_count") or 0) == 3
    assert float(ctx.redis.hget(worker.key, "total_working_time") or 0) > 0
    assert ctx.redis.hget(worker.key, "state") == b"idle"
    assert ctx.redis.ttl(worker.key) > worker.dequeue_timeout  # the heartbeat that came with it


def test_a_job_with_a_dependent_ends_the_rq_way_and_its_dependent_runs(ctx: Context) -> None:
    queue = Queue(DELIVERY_QUEUE, connection=ctx.redis)
    first = _noop(queue, 1)
    second = _noop(queue, 2, depends_on=first)
    assert second.get_status() == "deferred"
    _burst(ctx)
    assert not Job.exists(first.id, connection=ctx.redis)
    assert not Job.exists(second.id, connection=ctx.redis)  # it ran, and was deleted like the first
    assert _rq_keys(ctx.redis) == set()


def test_a_failed_job_still_goes_to_the_failed_registry(ctx: Context) -> None:
    queue = Queue(DELIVERY_QUEUE, connection=ctx.redis)
    job = queue.enqueue("operator.truediv", 1, 0, job_timeout=JOB_TIMEOUT, result_ttl=0, failure_ttl=3600)
    _burst(ctx)
    assert job.id in FailedJobRegistry(DELIVERY_QUEUE, connection=ctx.redis).get_job_ids()
    assert job.get_status() == "failed"


def test_a_job_costs_six_round_trips_of_rq_work(ctx: Context) -> None:
    queue = Queue(DELIVERY_QUEUE, connection=ctx.redis)
    _noop(queue, 0)
    _burst(ctx)  # the script loaded, the connections made
    counts = []
    for jobs in (1, 3):
        for n in range(jobs):
            _noop(queue, n)
        with round_trips() as count:
            _burst(ctx)
        counts.append(count[0])
    # per job: the pop (a BLPOP, here an LPOP), the job's hash, the two scripts that register the
    # execution and mark the job started (RQ's two MULTIs), the success script, and the next loop's
    # suspension check (an EXISTS); RQ's own success handling alone was twelve
    assert (counts[1] - counts[0]) / 2 == 6


def snapshot(label: str) -> None:
    """A job that records how Redis sees it while it runs (``hub:test:snapshot:<label>``)."""
    job = get_current_job()
    assert job is not None and job.worker_name is not None
    redis = job.connection
    worker_key = f"rq:worker:{job.worker_name}"
    [execution_id] = [member.decode() for member in redis.zrange(f"rq:executions:{job.id}", 0, -1)]
    composite = f"{job.id}:{execution_id}"
    execution = {key.decode() for key in redis.hgetall(f"rq:execution:{composite}")}
    state = {
        "job": sorted(key.decode() for key in redis.hgetall(job.key)),
        "job_status": redis.hget(job.key, "status").decode(),  # type: ignore[union-attr]
        "job_ttl": redis.ttl(job.key),
        "execution": sorted(execution),
        "execution_ttl": redis.ttl(f"rq:execution:{composite}") > 0,
        "started": redis.zscore(f"rq:wip:{job.origin}", composite) is not None,
        "in_worker_set": bool(redis.sismember(f"{worker_key}:executions", composite)),
        "worker_state": redis.hget(worker_key, "state").decode(),  # type: ignore[union-attr]
        "worker_ttl": 0 < redis.ttl(worker_key) <= JOB_TIMEOUT + 60,
        "intermediate": redis.llen(f"rq:queue:{job.origin}:intermediate"),
    }
    redis.set(f"hub:test:snapshot:{label}", json.dumps(state))


def test_a_running_job_looks_in_redis_as_under_rqs_own_worker(ctx: Context) -> None:
    queue = Queue(DELIVERY_QUEUE, connection=ctx.redis)
    for label, worker_class in (("rq", SimpleWorker), ("hub", HubWorker)):
        queue.enqueue(snapshot, label, job_timeout=JOB_TIMEOUT, result_ttl=0, failure_ttl=3600)
        worker_class([DELIVERY_QUEUE], connection=ctx.redis).work(burst=True, logging_level="WARNING")
    seen = {
        label: json.loads(ctx.redis.get(f"hub:test:snapshot:{label}") or "null") for label in ("rq", "hub")
    }
    assert seen["hub"] is not None and seen["hub"] == seen["rq"]
    assert seen["hub"]["job_status"] == "started" and seen["hub"]["worker_state"] == "busy"


def requeue_itself() -> None:
    """A job whose hash someone marked ``queued`` while it ran (as a re-enqueue under its id would)."""
    job = get_current_job()
    assert job is not None
    job.connection.hset(job.key, "status", "queued")


def test_a_job_whose_hash_changed_while_it_ran_is_left_to_rqs_own_handling(ctx: Context) -> None:
    queue = Queue(DELIVERY_QUEUE, connection=ctx.redis)
    job = queue.enqueue(requeue_itself, job_timeout=JOB_TIMEOUT, result_ttl=0, failure_ttl=3600)
    worker = _Undying(ALL_QUEUES, connection=ctx.redis)
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    # the script declined (its status is no longer "started"); RQ's handling ran: counted, and the
    # job's hash deleted by its result_ttl=0, its execution gone from the registries
    assert int(ctx.redis.hget(worker.key, "successful_job_count") or 0) == 1
    assert not Job.exists(job.id, connection=ctx.redis)
    assert not ctx.redis.zcard(f"rq:wip:{DELIVERY_QUEUE}")
