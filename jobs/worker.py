"""The ``trackerhub worker`` process: RQ's ``SimpleWorker``, known to be alive by its Redis connections.

Jobs run in the worker's own process (no fork per job), so the tracker clients and the database pool
are built once. Every Redis connection the process makes carries the worker's name, which is how the
sweep tells a worker that is running a job from one that was killed (jobs/recovery.py).

RQ's own work per job is six commands instead of about 55 (issue 17: a quiet desk pays it for every
message): the pop and the job's hash as RQ sends them; RQ's two MULTIs that start the job as one script
each (``apply_writes``, the same writes); the success of a job RQ would end by deleting it as one script
(``_SUCCEEDED_LUA``, twelve round trips in RQ); the suspension check as one ``EXISTS``; and no repeated
plain heartbeat or ``idle`` state. Everything else (a failed job, a retry, a job with dependents) is RQ's.

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
from rq.defaults import RQ_KEY_PREFIX
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE, Execution, ExecutionRegistry
from rq.job import Job, JobStatus, Retry
from rq.registry import StartedJobRegistry
from rq.results import Result
from rq.suspension import WORKERS_SUSPENDED
from rq.utils import now, utcformat
from rq.worker import WorkerStatus

from config.settings import get_settings
from jobs.queues import DELIVERY_QUEUE, delivery_job_id, run_script
from jobs.recovery import name_connections

log = logging.getLogger(__name__)

TRAP_HOLD = 120.0  # seconds a trapped process waits to be killed before it goes on
TRAP_POINTS = ("dequeued", "registered", "claimed", "companions-locked", "taken", "firing-acted")
_CAUGHT = "hub:trap:caught-messages"  # each message is trapped once at most


HEARTBEAT_REPEAT = 1.0  # seconds: a plain worker heartbeat within this of the last one is left out

# What RQ 3.0 does when a job with ``result_ttl=0`` (every hub job) has succeeded, as one script instead
# of twelve round trips: rq/worker/base.py ``handle_job_success`` (WATCH the dependents, SMEMBERS them,
# the counters, ``Job.cleanup`` → ``Job.delete``: HGET of the status, the started registry's and the
# job's execution registry's reads, ZREMRANGEBYSCORE + ZRANGE + HGETALL each, then MULTI/EXEC),
# ``cleanup_execution``, SimpleWorker's ``set_state(IDLE)`` and the plain heartbeat after the job.
# Only for a job RQ would end the same way: its hash still says ``started`` (no one else ended or
# replaced it) and it has no dependents (the hub enqueues none); else it returns 0 having done nothing,
# and RQ's own code runs. Every execution of the job goes with it (its hash, its started registry
# member, its worker's execution set member), then the job's keys, as ``Job.delete`` does.
# KEYS: job hash, its dependents, its dependencies, its result, its execution registry, the queue's
# started registry, this worker's hash, this worker's execution set.
# ARGV: job id, execution hash prefix, a worker's execution set key before and after the worker's name
# (3 and 7), working time (s), last heartbeat, the worker key's TTL.
_SUCCEEDED_LUA = """
if redis.call('HGET', KEYS[1], 'status') ~= 'started' or redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
  local composite = ARGV[1] .. ':' .. id
  local worker = redis.call('HGET', ARGV[2] .. composite, 'worker_name')
  redis.call('DEL', ARGV[2] .. composite)
  redis.call('ZREM', KEYS[6], composite)
  if worker and worker ~= '' then redis.call('SREM', ARGV[3] .. worker .. ARGV[7], composite) end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('HINCRBY', KEYS[7], 'successful_job_count', 1)
redis.call('HINCRBYFLOAT', KEYS[7], 'total_working_time', ARGV[4])
redis.call('HSET', KEYS[7], 'state', 'idle', 'last_heartbeat', ARGV[5])
redis.call('EXPIRE', KEYS[7], ARGV[6])
redis.call('EXPIRE', KEYS[8], ARGV[6])
return 1
"""
_EXECUTION_PREFIX = f"{RQ_KEY_PREFIX}:execution:"  # rq/executions.py Execution.key
# a worker's execution set's key, before and after the worker's name (rq/executions.py)
_WORKER_EXECUTIONS = WORKER_EXECUTIONS_KEY_TEMPLATE.format("\0").partition("\0")[::2]

# The writes RQ queues on a MULTI/EXEC pipeline when it takes a job (``prepare_execution``,
# ``prepare_job_execution``), run by one script instead: as atomic, and one command to send and one
# answer to read instead of one of each per write (redis-py packs every command and parses a ``QUEUED``
# for each, then the EXEC's array). ARGV: per command, its number of words, then the words.
_APPLY_LUA = """
local i = 1
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return 0
"""


def apply_writes(redis: Redis, pipeline: Pipeline) -> None:
    """Run the writes queued on ``pipeline`` as one script (``_APPLY_LUA``); their answers are not read
    (RQ reads none of those it sends this way). The pipeline is emptied."""
    encoder = redis.get_encoder()
    words: list[str | bytes] = []
    for command, _options in pipeline.command_stack:
        words.append(str(len(command)))
        words.extend(encoder.encode(word) for word in command)
    pipeline.reset()
    run_script(redis, _APPLY_LUA, (), words)


class HubWorker(SimpleWorker):
    """A ``SimpleWorker`` whose Redis connections all carry its name, with the trap points of RQ's side,
    and fewer round trips and commands of RQ's own per job (see the module's docstring)."""

    def __init__(self, queues: Sequence[str], connection: Redis, **kwargs: Any) -> None:
        name = uuid.uuid4().hex
        name_connections(connection, name)
        self._plain_beat = -HEARTBEAT_REPEAT  # monotonic time of the last plain heartbeat sent
        self._written_state: str | None = None  # the state this worker last wrote on its own
        self._job_beat: tuple[Job, int] | None = None  # a job's end heartbeat not yet sent
        super().__init__(list(queues), name=name, connection=connection, **kwargs)

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's worker heartbeat; a plain one (no timeout) as one round trip, and left out when the last
        plain one went less than ``HEARTBEAT_REPEAT`` ago, also from the pipeline of RQ's suspension check
        (which then sends only its ``EXISTS``: the success of the job before sent one).

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
        if beat - self._plain_beat < HEARTBEAT_REPEAT:
            return
        if pipeline is not None:  # RQ's own round trip carries it (``is_suspended``, every loop)
            super().heartbeat(None, pipeline)
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

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        """RQ's end of a job's run: its ``ended_at``, and a heartbeat on the job's hash, sent at once for a
        failed job and otherwise held back: a job that succeeds is deleted by the script of
        ``handle_job_success`` (so its heartbeat would be a round trip for nothing), and RQ's own ways on
        (a ``Retry`` returned, a job the script leaves to RQ) send it first (``_send_job_beat``)."""
        self._job_beat = None  # a held one is of this job (its success callback failed): RQ's way now
        if job.get_status(refresh=False) == JobStatus.FAILED:
            super().handle_execution_ended(job, queue, heartbeat_ttl)
            return
        job.ended_at = now()
        self._job_beat = (job, heartbeat_ttl)

    def _send_job_beat(self, job: Job) -> None:
        """The end heartbeat held back for ``job``, sent now (RQ's own handling follows)."""
        held, self._job_beat = self._job_beat, None
        if held is not None and held[0].id == job.id:
            job.heartbeat(now(), held[1])

    def handle_job_retry(self, job: Job, queue: Queue, retry: Retry, *args: Any, **kwargs: Any) -> None:
        self._send_job_beat(job)
        super().handle_job_retry(job, queue, retry, *args, **kwargs)

    def handle_job_success(
        self, job: Job, queue: Queue, started_job_registry: StartedJobRegistry, execution: Execution
    ) -> None:
        """RQ's success handling in one round trip (``_SUCCEEDED_LUA``) for a job it would end by deleting
        it (``result_ttl=0``, no repeat, group or rate limit; still ``started``, no dependents), with the
        worker's ``idle`` state and its plain heartbeat; RQ's own for any other."""
        plain = job.get_result_ttl(self.default_result_ttl) == 0 and not (
            (job.repeats_left or 0) > 0 or job.group_id or job.has_rate_limit
        )
        if plain and self._succeeded(job, started_job_registry):
            self._job_beat = None
            job._status = JobStatus.FINISHED
            self.executions.pop(execution.id, None)
            self._state = self._written_state = WorkerStatus.IDLE
            self._plain_beat = time.monotonic()
            return
        self._send_job_beat(job)
        super().handle_job_success(job, queue, started_job_registry, execution)

    def _succeeded(self, job: Job, started: StartedJobRegistry) -> bool:
        assert job.started_at is not None and job.ended_at is not None
        self.last_heartbeat = now()
        keys = (
            job.key,
            job.dependents_key,
            job.dependencies_key,
            Result.get_key(job.id),
            ExecutionRegistry(job.id, self.connection).key,
            started.key,
            self.key,
            self.executions_key,
        )
        args = (
            job.id,
            _EXECUTION_PREFIX,
            _WORKER_EXECUTIONS[0],
            str((job.ended_at - job.started_at).total_seconds()),
            utcformat(self.last_heartbeat),
            str(self.worker_ttl + 60),  # a plain heartbeat's TTL (``BaseWorker.heartbeat``)
            _WORKER_EXECUTIONS[1],
        )
        return bool(run_script(self.connection, _SUCCEEDED_LUA, keys, args))

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's check, which sends a heartbeat with its question (``is_suspended``); right after a
        heartbeat (``HEARTBEAT_REPEAT``) only the question, as one command, unless the answer is yes."""
        if time.monotonic() - self._plain_beat < HEARTBEAT_REPEAT and not self.connection.exists(
            WORKERS_SUSPENDED
        ):
            return
        super().check_for_suspension(burst)

    def execute_job(self, job: Job, queue: Queue) -> None:
        # popped (BLPOP), not yet in the started registry: gap A of jobs/recovery.py
        _trap_job(self.connection, "dequeued", job)
        super().execute_job(job, queue)

    def prepare_execution(self, job: Job) -> Execution:
        """RQ's ``rq.executions.prepare_execution`` (the execution's hash, the job's and the queue's
        execution registries, this worker's execution set, its ``busy`` state), as one script."""
        pipeline = self.connection.pipeline()
        execution = Execution.create(
            job, self.get_heartbeat_ttl(job), pipeline=pipeline, worker_name=self.name
        )
        self.executions[execution.id] = execution
        self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
        apply_writes(self.connection, pipeline)
        return execution

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """RQ's ``prepare_job_execution`` (the heartbeats with the job's TTL, the job's hash marked
        started, its TTL removed, the intermediate queue's entry), as one script."""
        # in the started registry, its hash still "queued": gap B
        _trap_job(self.connection, "registered", job)
        pipeline = self.connection.pipeline()
        heartbeat_ttl = self.get_heartbeat_ttl(job)
        self.heartbeat(heartbeat_ttl, pipeline=pipeline)
        job.heartbeat(now(), heartbeat_ttl, pipeline=pipeline)
        job.prepare_for_execution(self.name, pipeline=pipeline)
        pipeline.persist(job.key)
        if remove_from_intermediate_queue:
            intermediate = Queue(job.origin, connection=self.connection).intermediate_queue_key
            pipeline.lrem(intermediate, 1, job.id)
        apply_writes(self.connection, pipeline)
        self.procline(f"Processing {job.func_name} from {job.origin} since {time.time()}")


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
