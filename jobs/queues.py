"""Queue names, the Redis connection, a delivery job's hash, taking queued deliveries, and reply jobs.

Enqueueing a delivery (once per message), finding where its job really is and replacing it are
jobs/delivery_jobs.py's.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis import Redis
from redis.exceptions import NoScriptError, RedisError
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from rq.utils import now, utcformat

if TYPE_CHECKING:
    from rq.serializers import Serializer

log = logging.getLogger(__name__)

DELIVERY_QUEUE = "deliveries"
REPLY_QUEUE = "replies"
PERIODIC_QUEUE = "periodic"
ALL_QUEUES = (DELIVERY_QUEUE, REPLY_QUEUE, PERIODIC_QUEUE)
DELIVER_FUNC = "jobs.deliver.deliver"
JOB_TIMEOUT = 180  # seconds; a delivery makes a handful of tracker calls, each with its own timeout
DELIVERY_FAILURE_TTL = 3600

# RQ's key layout (rq/queue.py: Queue.key, Queue.redis_queues_keys; rq/job.py: Job.key_for); the
# registries a job's place is read from are jobs/delivery_jobs.py's.
DELIVERY_QUEUE_KEY = Queue.redis_queue_namespace_prefix + DELIVERY_QUEUE


@functools.cache
def get_redis(url: str) -> Redis:
    """The process-wide Redis client for ``url``, with short socket timeouts."""
    return new_redis(url)


def new_redis(url: str) -> Redis:
    """A Redis client for ``url`` with a connection pool of its own (``get_redis`` is the shared one)."""
    return Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)


def queue_lengths(redis: Redis | None) -> dict[str, int]:
    """Jobs waiting in each RQ queue now (-1 for each when Redis is absent or does not answer)."""
    lengths = {}
    for name in ALL_QUEUES:
        try:
            lengths[name] = Queue(name, connection=redis).count if redis is not None else -1
        except RedisError:
            lengths[name] = -1
    return lengths


def delivery_job_id(message_id: str) -> str:
    """The RQ job id of a message's delivery."""
    return f"deliver-{message_id}"


def delivery_job(redis: Redis, message_id: str) -> Job:
    """The delivery job as ``Queue(DELIVERY_QUEUE).enqueue`` would build it, not yet saved."""
    job = Job.create(
        DELIVER_FUNC,
        args=(message_id,),
        connection=redis,
        id=delivery_job_id(message_id),
        origin=DELIVERY_QUEUE,
        status=JobStatus.QUEUED,
        timeout=JOB_TIMEOUT,
        result_ttl=0,
        failure_ttl=DELIVERY_FAILURE_TTL,
        description=f"deliver {message_id}",
    )
    job.enqueued_at = now()  # set by rq/queue.py Queue._prepare_for_queue on enqueue
    return job


# The job hash's fields that differ from message to message; every other field is the same for all.
_PER_MESSAGE_FIELDS = frozenset({"created_at", "enqueued_at", "description", "data"})


@functools.cache
def _job_template() -> tuple[tuple[str | bytes, ...], Serializer]:
    """The HSET arguments every delivery job shares, and the serializer of the job's call.

    Taken from RQ's own ``Job.to_dict()`` of a prototype delivery job, turned into arguments the way
    rq/scripts.py ``_build_hset_args`` does (None left out; str, JobStatus included, and bytes as they
    are; anything else through ``str()``). Fields RQ writes as "" (callbacks, worker, start and end
    times) are left out too: rq/job.py ``Job.restore`` reads a missing field and an empty one alike, and
    the worker writes them when it takes the job. Building this once saves the request path a ``Job``,
    a ``to_dict()`` and packing 16 arguments.
    """
    prototype = delivery_job(Redis(), "prototype")  # no connection is made: the Job only holds it
    args: list[str | bytes] = []
    for field, value in prototype.to_dict().items():
        if field not in _PER_MESSAGE_FIELDS and value is not None and value != "":
            args += (field, value if isinstance(value, str | bytes) else str(value))
    return tuple(args), prototype.serializer


def job_fields(message_id: str) -> list[str | bytes]:
    """The HSET arguments of a message's delivery job: what ``delivery_job(...).to_dict()`` holds."""
    enqueued, description, call = job_message_values(message_id)
    return [
        *job_shared_fields(),
        "created_at",
        enqueued,
        "enqueued_at",
        enqueued,
        "description",
        description,
        "data",
        call,
    ]


def job_shared_fields() -> tuple[str | bytes, ...]:
    """The HSET arguments (field, value, ...) that every delivery job's hash has alike."""
    return _job_template()[0]


def job_message_values(message_id: str) -> tuple[str, str, bytes]:
    """What a message's delivery job has of its own: the enqueue time (also its ``created_at``), the
    description and the call (``data``)."""
    _static, serializer = _job_template()
    # rq/job.py: Job.data pickles (func_name, instance, args, kwargs); Job.to_dict compresses it
    call = zlib.compress(serializer.dumps((DELIVER_FUNC, None, (message_id,), {})))
    return utcformat(now()), f"deliver {message_id}", call


def run_script(redis: Redis, script: str, keys: Sequence[str], args: Sequence[str | bytes]) -> Any:
    """Run one of our Lua scripts by its hash: one round trip, the script's text sent only when Redis
    does not have it (the first call, or after a restart or a flush)."""
    sha = _script_sha(script)
    try:
        return redis.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        redis.script_load(script)
        return redis.evalsha(sha, len(keys), *keys, *args)


@functools.cache
def _script_sha(script: str) -> str:
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


# Take queued delivery jobs out of the queue for a job that will deliver their messages itself (a bulk
# create): a job still in the list is removed with its hash, one a worker has popped already is left to
# it. KEYS: the queue list, then each job's hash; ARGV: the job ids, in the same order.
_TAKE_QUEUED_LUA = """
local taken = {}
for i, job_id in ipairs(ARGV) do
  if redis.call('LREM', KEYS[1], 1, job_id) == 1 then
    redis.call('DEL', KEYS[i + 1])
    taken[#taken + 1] = job_id
  end
end
return taken
"""
_DELIVER_PREFIX = delivery_job_id("")


def peek_deliveries(redis: Redis, count: int) -> list[str]:
    """The message ids of the next ``count`` delivery jobs waiting in the queue, oldest first."""
    return message_ids_of(redis.lrange(DELIVERY_QUEUE_KEY, 0, count - 1))


def take_deliveries(redis: Redis, message_ids: list[str]) -> list[str]:
    """Remove these messages' delivery jobs from the queue; the ids whose job was still there to take.

    The caller now owns those messages' delivery: it holds their leases, and if it dies the journal sweep
    enqueues them again (their jobs are gone, so nothing blocks a new one).
    """
    if not message_ids:
        return []
    job_ids = [delivery_job_id(message_id) for message_id in message_ids]
    keys = [DELIVERY_QUEUE_KEY, *(Job.key_for(job_id) for job_id in job_ids)]
    return message_ids_of(run_script(redis, _TAKE_QUEUED_LUA, keys, job_ids))


def message_ids_of(job_ids: list[bytes | str]) -> list[str]:
    """The message ids of the delivery jobs among these job ids."""
    texts = (job_id.decode() if isinstance(job_id, bytes) else job_id for job_id in job_ids)
    return [text.removeprefix(_DELIVER_PREFIX) for text in texts if text.startswith(_DELIVER_PREFIX)]


def enqueue_reply(redis: Redis, func: str, message_id: str) -> None:
    """Enqueue an outbound job (``jobs.replies.*``) for a message; a repeat is a no-op."""
    enqueue_once(redis, func, message_id, job_id=f"{func.rsplit('.', 1)[-1]}-{message_id}")


REPLY_RETRIES = (10, 30, 120, 600, 1800)  # seconds: a channel or tracker outage of up to ~45 minutes


def enqueue_once(
    redis: Redis,
    func: str,
    *args: Any,
    job_id: str,
    retries: Sequence[int] = REPLY_RETRIES,
    job_timeout: int = 60,
) -> bool:
    """Enqueue ``func(*args)`` on the replies queue under ``job_id`` unless that job is there already
    (a redelivered webhook, a retried caller); whether it was enqueued now. ``func`` is named, not
    imported, so a web process does not load what the job needs."""
    from rq import Retry

    try:
        Queue(REPLY_QUEUE, connection=redis).enqueue(
            func,
            *args,
            job_id=job_id,
            unique=True,
            retry=Retry(max=len(retries), interval=list(retries)) if retries else None,
            job_timeout=job_timeout,
            result_ttl=0,
            failure_ttl=7 * 24 * 3600,
        )
    except DuplicateJobError:
        log.info("job.duplicate func=%s job_id=%s", func, job_id)
        return False
    return True
