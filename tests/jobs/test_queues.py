"""``enqueue_delivery``: one Lua round trip that must leave Redis as RQ's own unique enqueue does.

The request path creates the delivery job itself (``jobs/delivery_jobs.py``, ``_enqueue_unique``) instead of
calling ``Queue.enqueue(..., unique=True)``, to save a round trip and the per-message ``Job``. These tests
hold it to RQ: the same job hash (less the fields RQ writes empty) read back as the same job, a job RQ's
worker runs, the same dedupe, and the sweep still finding it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus

import jobs.deliver
from config.settings import Settings
from jobs.context import build_context
from jobs.delivery_jobs import _lua_string, enqueue_delivery
from jobs.periodic import sweep
from jobs.queues import (
    DELIVER_FUNC,
    DELIVERY_FAILURE_TTL,
    DELIVERY_QUEUE,
    JOB_TIMEOUT,
    delivery_job_id,
)
from routes import create_app
from store import journal
from tests.routes.conftest import post_telegram, text_update

# Fields whose values differ between two enqueues of the same message (the clock).
VARYING = {b"created_at", b"enqueued_at"}


@pytest.fixture
def redis(settings: Settings) -> Redis:
    return Redis.from_url(settings.REDIS_URL or "")


def job_hash(redis: Redis, message_id: str) -> dict[bytes, bytes]:
    return {
        k: v for k, v in redis.hgetall(f"rq:job:{delivery_job_id(message_id)}").items() if k not in VARYING
    }


def rq_unique_enqueue(redis: Redis, message_id: str) -> None:
    """What the hub did before: RQ's own ``Queue.enqueue(..., unique=True)`` of the delivery."""
    Queue(DELIVERY_QUEUE, connection=redis).enqueue(
        DELIVER_FUNC,
        message_id,
        job_id=delivery_job_id(message_id),
        unique=True,
        job_timeout=JOB_TIMEOUT,
        result_ttl=0,
        failure_ttl=DELIVERY_FAILURE_TTL,
        description=f"deliver {message_id}",
    )


def test_new_message_gets_the_job_rqs_unique_enqueue_would_make(redis: Redis) -> None:
    assert enqueue_delivery(redis, "m1") is True
    ours = job_hash(redis, "m1")
    our_job = Job.fetch(delivery_job_id("m1"), connection=redis).to_dict()
    queue_entries = redis.lrange(f"rq:queue:{DELIVERY_QUEUE}", 0, -1)
    redis.flushdb()
    rq_unique_enqueue(redis, "m1")
    rqs = job_hash(redis, "m1")
    # the same fields with the same values, except those RQ writes as "" (Job.restore reads them as unset)
    assert ours == {field: value for field, value in rqs.items() if value != b""}
    assert {field for field, value in rqs.items() if value == b""} == {
        b"success_callback_name",
        b"failure_callback_name",
        b"stopped_callback_name",
        b"started_at",
        b"ended_at",
        b"last_heartbeat",
        b"worker_name",
        b"group_id",
    }
    # and RQ reads both back as the same job
    rq_job = Job.fetch(delivery_job_id("m1"), connection=redis).to_dict()
    for varying in ("created_at", "enqueued_at"):
        del our_job[varying], rq_job[varying]
    assert our_job == rq_job
    assert queue_entries == redis.lrange(f"rq:queue:{DELIVERY_QUEUE}", 0, -1) == [b"deliver-m1"]


def test_the_job_is_registered_and_readable_by_rq(redis: Redis) -> None:
    enqueue_delivery(redis, "m2")
    queue = Queue(DELIVERY_QUEUE, connection=redis)
    assert queue in Queue.all(connection=redis)  # the SADD rq's enqueue_job does
    job = Job.fetch(delivery_job_id("m2"), connection=redis)
    assert (job.func_name, job.args, job.origin) == (DELIVER_FUNC, ("m2",), DELIVERY_QUEUE)
    assert job.get_status() == JobStatus.QUEUED and job.timeout == JOB_TIMEOUT
    assert job.enqueued_at is not None and job.enqueued_at > dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def test_an_rq_worker_runs_the_job(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(jobs.deliver, "deliver", lambda message_id: calls.append(message_id) or "delivered")
    enqueue_delivery(redis, "m3")
    SimpleWorker([DELIVERY_QUEUE], connection=redis).work(burst=True)
    assert calls == ["m3"]


def test_a_second_enqueue_while_queued_is_a_no_op(redis: Redis) -> None:
    assert enqueue_delivery(redis, "m4") is True
    assert enqueue_delivery(redis, "m4") is False
    assert redis.lrange(f"rq:queue:{DELIVERY_QUEUE}", 0, -1) == [b"deliver-m4"]
    with pytest.raises(DuplicateJobError):  # and RQ's own unique enqueue sees our job
        rq_unique_enqueue(redis, "m4")


def test_a_finished_job_left_behind_is_replaced(redis: Redis) -> None:
    enqueue_delivery(redis, "m5")
    Job.fetch(delivery_job_id("m5"), connection=redis).set_status(JobStatus.FAILED)
    redis.delete(f"rq:queue:{DELIVERY_QUEUE}")
    assert enqueue_delivery(redis, "m5") is True
    assert Job.fetch(delivery_job_id("m5"), connection=redis).get_status() == JobStatus.QUEUED
    assert redis.lrange(f"rq:queue:{DELIVERY_QUEUE}", 0, -1) == [b"deliver-m5"]


def test_a_redis_that_forgot_the_script_gets_it_again(redis: Redis) -> None:
    enqueue_delivery(redis, "m6")
    redis.script_flush()  # what a restarted redis-server looks like to a long-lived client
    assert enqueue_delivery(redis, "m7") is True
    assert redis.lrange(f"rq:queue:{DELIVERY_QUEUE}", 0, -1) == [b"deliver-m6", b"deliver-m7"]


def test_the_sweep_does_not_enqueue_a_message_the_request_path_queued(settings: Settings) -> None:
    app = create_app(settings)
    response = post_telegram(app.test_client(), text_update(35))
    assert response.status_code == 202
    message_id = response.get_json()["id"]
    engine = app.extensions["hub"].engine
    with engine.begin() as conn:  # pretend the grace period passed while the job waits in the queue
        conn.exec_driver_sql("UPDATE messages SET next_attempt_at = '2000-01-01 00:00:00'")
    assert journal.due(engine) == [message_id]
    ctx = build_context(settings)
    assert sweep(ctx) == 0
    assert Queue(DELIVERY_QUEUE, connection=ctx.redis).job_ids == [delivery_job_id(message_id)]


def test_the_enqueue_scripts_literals_carry_any_byte(redis: Redis) -> None:
    # the fields every delivery job shares are written into the script's text as Lua strings
    every_byte = bytes(range(256))
    assert redis.eval(f"return {_lua_string(every_byte)}", 0) == every_byte
    assert redis.eval(f"return {_lua_string('очередь')}", 0) == "очередь".encode()
