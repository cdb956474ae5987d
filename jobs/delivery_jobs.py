"""A message's delivery job: enqueued once, found where it really is (:class:`Place`), and replaced when
it is not where it should be.

Delivery jobs have ids derived from the message id and are created only when no job with that id exists
(what RQ ≥ 2.8 calls ``unique=True``), so an enqueue of a message that already has a job is a no-op.
The check, the job hash and the push are one Lua script, one round trip: the request path pays for a
single Redis call (see ``_enqueue_unique``).

A job's hash says less than where its id is: a worker that pops an id and dies leaves a hash that still
says ``queued`` (jobs/recovery.py lists every such state). ``locate_deliveries`` reads, for many
messages in one script, where each job really is (``Place``); ``replace_deliveries`` gives a message a
new job only if its old one is still exactly where the caller saw it, so two sweeps, or a sweep and a
worker, never both act on it.

Who deletes a delivery job's hash: RQ, when the job it runs ends (``result_ttl=0``). The hub deletes one
only where no live RQ execution can still finish it: a job still waiting in the queue list (the bulk take
removes it from the list in the same script, so no worker can pop it afterwards), a job whose worker is
gone, one RQ has ended, or one no worker registered over two looks (``replace_deliveries``). A job a live
worker runs is RQ's to delete, so RQ's success cleanup (``handle_job_success`` → ``Job.cleanup`` →
``_remove_from_registries``, which reads the hash's status) always finds its hash. The other way round,
letting the hub delete a running job's hash and re-enqueue it under the same id, made RQ's cleanup raise
``InvalidJobOperation`` and delete the new job's hash along with the old one's (issue 21).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from redis import Redis
from rq import Queue
from rq.defaults import RQ_KEY_PREFIX
from rq.executions import ExecutionRegistry
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job
from rq.registry import StartedJobRegistry

from jobs.queues import (
    DELIVERY_QUEUE,
    DELIVERY_QUEUE_KEY,
    delivery_job_id,
    job_fields,
    job_message_values,
    job_shared_fields,
    run_script,
)

# RQ's key layout (rq/registry.py StartedJobRegistry, whose members are "<job id>:<execution id>";
# rq/intermediate_queue.py; rq/executions.py Execution.key, a hash with the execution's worker_name, and
# ExecutionRegistry).
_EXECUTION_PREFIX = f"{RQ_KEY_PREFIX}:execution:"
_EXECUTIONS_PREFIX = ExecutionRegistry.key_template.format("")  # a job's own list of its executions


@dataclass(frozen=True)
class JobKind:
    """A family of jobs whose ids are ``<prefix><item id>`` on one queue: where they are is read, and a
    dead worker's are taken back, the same way for each (deliveries here; automation firings,
    jobs/automations/queue.py)."""

    queue: str
    prefix: str

    @property
    def queue_key(self) -> str:
        return Queue.redis_queue_namespace_prefix + self.queue

    @property
    def started_key(self) -> str:
        return StartedJobRegistry.key_template.format(self.queue)

    @property
    def intermediate_key(self) -> str:
        return IntermediateQueue.get_intermediate_queue_key(self.queue_key)

    def job_id(self, item_id: str) -> str:
        return f"{self.prefix}{item_id}"

    def ids_of(self, job_ids: Sequence[bytes | str]) -> list[str]:
        """The item ids of this kind's jobs among these job ids."""
        texts = (job_id.decode() if isinstance(job_id, bytes) else job_id for job_id in job_ids)
        return [text.removeprefix(self.prefix) for text in texts if text.startswith(self.prefix)]


DELIVERIES = JobKind(DELIVERY_QUEUE, delivery_job_id(""))


# What ``Queue.enqueue(..., unique=True)`` does in rq 3.0, in one script instead of two round trips:
# rq/scripts.py UNIQUE_ENQUEUE_SCRIPT (via save_unique_job: EXISTS, HSET the job, RPUSH its id) and the
# SADD of the queue into rq's set of queues that rq/queue.py Queue.enqueue_job sends first in its own
# MULTI/EXEC. Delivery jobs have no TTL, so the script's EXPIRE branch is left out. The fields every
# delivery job shares are written into the script's text (``_enqueue_unique_lua``), so a request sends
# only the message's own values: redis-py packs each argument in Python, and they were 19.
# KEYS: job hash, queue list, rq:queues; ARGV: job id, enqueued at (also created at), description, data.
_ENQUEUE_UNIQUE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], __SHARED__,
  'created_at', ARGV[2], 'enqueued_at', ARGV[2], 'description', ARGV[3], 'data', ARGV[4])
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], KEYS[2])
return 1
"""


@functools.cache
def _enqueue_unique_lua() -> str:
    """:data:`_ENQUEUE_UNIQUE_LUA` with the shared fields of a delivery job's hash as Lua strings."""
    return _ENQUEUE_UNIQUE_LUA.replace("__SHARED__", ", ".join(map(_lua_string, job_shared_fields())))


def _lua_string(value: str | bytes) -> str:
    """A Lua string literal of ``value``'s bytes (UTF-8 for text, as redis-py encodes an argument)."""
    data = value.encode() if isinstance(value, str) else value
    return '"' + "".join(_lua_char(byte) for byte in data) + '"'


def _lua_char(byte: int) -> str:
    """A byte in a Lua string literal: printable ASCII as itself, anything else as a decimal escape."""
    return chr(byte) if 0x20 <= byte < 0x7F and byte not in b'"\\' else f"\\{byte:03d}"


def enqueue_delivery(redis: Redis, message_id: str) -> bool:
    """Enqueue ``jobs.deliver.deliver(message_id)``; False when the message already has a job.

    A job RQ has ended (finished, failed) or cannot run is replaced, so ``replay`` can always bring a
    dead letter home; a job that waits, runs, or was popped by a worker is left to it and to the sweep,
    which knows which workers are alive (jobs/recovery.py). A new message (the request path) has no job
    yet, so it costs one round trip.
    """
    if _enqueue_unique(redis, message_id):
        return True
    left = [state for state in locate_deliveries(redis, [message_id]) if state.place in REPLACEABLE]
    return bool(replace_deliveries(redis, left))


def _enqueue_unique(redis: Redis, message_id: str) -> bool:
    """Save and queue a message's delivery job unless a job with its id exists; True when queued."""
    job_id = delivery_job_id(message_id)
    keys = (Job.key_for(job_id), DELIVERY_QUEUE_KEY, Queue.redis_queues_keys)
    args = (job_id, *job_message_values(message_id))
    return bool(run_script(redis, _enqueue_unique_lua(), keys, args))


class Place(StrEnum):
    """Where a delivery job is, read from Redis rather than from the job hash's status alone."""

    MISSING = "missing"  # no job hash: nothing will run the message
    WAITING = "waiting"  # queued and its id in the queue list: a worker will pop it
    HELD = "held"  # an RQ execution holds it (the started registry): running, or its worker died
    UNSEEN = "unseen"  # queued, its id in no queue list and no execution: a worker popped it and has not
    # registered it yet (a millisecond), or died before it did
    ENDED = "ended"  # RQ is done with it: finished, failed, stopped or canceled
    BROKEN = "broken"  # a hash RQ cannot run: no status or no call (RQ's heartbeat writes into a deleted
    # job's key), or a status delivery jobs never have


REPLACEABLE = frozenset({Place.MISSING, Place.ENDED, Place.BROKEN})


@dataclass(frozen=True)
class JobState:
    """Where one message's delivery job is; ``stamp`` (its ``enqueued_at``) tells two enqueues apart."""

    message_id: str
    place: Place
    stamp: str = ""
    started_at: str = ""
    workers: tuple[str, ...] = ()  # the workers of its executions (HELD)
    registered_at: float = 0.0  # when the latest of them was registered, by the worker's clock (HELD)


# Shared by both scripts: where a job is. The queue list and the started registry are read once per call
# (a Lua table), not per job: LPOS over a 10,000-id list for 500 jobs measured 170 ms when the ids are
# absent, the table 9 ms (50,000 ids: 400 ms against 19 ms). Arguments: the job's hash key and id, the
# queue list, the started registry and the execution hashes' key prefix.
_PLACE_LUA = """
local queued_ids, holders
local function in_queue(queue_key, job_id)
  if not queued_ids then
    queued_ids = {}
    for _, id in ipairs(redis.call('LRANGE', queue_key, 0, -1)) do queued_ids[id] = true end
  end
  return queued_ids[job_id] == true
end
local function executions(registry_key, job_id)
  if not holders then
    holders = {}
    for _, member in ipairs(redis.call('ZRANGE', registry_key, 0, -1)) do
      local id, execution = string.match(member, '^(.*):([^:]*)$')
      if id then
        holders[id] = holders[id] or {}
        table.insert(holders[id], execution)
      end
    end
  end
  return holders[job_id]
end
local ENDED = {finished = true, failed = true, stopped = true, canceled = true}
local function place_of(job_key, job_id, queue_key, registry_key, execution_prefix)
  local f = redis.call('HMGET', job_key, 'status', 'enqueued_at', 'started_at', 'data')
  local status, stamp, started = f[1], f[2] or '', f[3] or ''
  local held = executions(registry_key, job_id)
  if held then
    local found = {'held', stamp, started}
    for _, execution in ipairs(held) do
      local key = execution_prefix .. job_id .. ':' .. execution
      local e = redis.call('HMGET', key, 'worker_name', 'created_at')
      found[#found + 1] = e[1] or ''
      found[#found + 1] = e[2] or '0'
    end
    return found
  end
  if not status and not f[4] and redis.call('EXISTS', job_key) == 0 then return {'missing', '', ''} end
  if not status or not f[4] then return {'broken', stamp, started} end
  if status == 'queued' then
    if in_queue(queue_key, job_id) then return {'waiting', stamp, started} end
    return {'unseen', stamp, started}
  end
  if ENDED[status] then return {'ended', stamp, started} end
  return {'broken', stamp, started}
end
"""

# KEYS: the queue list, the started registry, then each job's hash; ARGV: the execution key prefix, then
# the job ids in the same order. Returns {place, stamp, started_at, [worker, created_at]...} per job.
_LOCATE_LUA = (
    _PLACE_LUA
    + """
local found = {}
for i = 3, #KEYS do
  found[#found + 1] = place_of(KEYS[i], ARGV[i - 1], KEYS[1], KEYS[2], ARGV[1])
end
return found
"""
)

# KEYS: the queue list, the started registry, the intermediate list, rq:queues, then each job's hash;
# ARGV: the execution key prefix, the job's execution registry key prefix, "1" to enqueue new jobs (else
# only remove the old ones), then per job: id, the place and stamp the caller saw, the number of job hash
# arguments, those arguments. A job that is no longer where the caller saw it is left alone. The old job's
# executions go with it, their hashes and the job's own list of them (``rq:executions:<id>``), or RQ's
# cleanup of the new job would look them up (``Job.get_executions``) and fail. The new jobs go to the
# front of the queue, in the order given (RQ's ``at_front``): a message handed back was taken from the
# queue before everything now waiting behind it. Returns the ids acted on.
_REPLACE_LUA = (
    _PLACE_LUA
    + """
local done = {}
local a = 4
local enqueue = ARGV[3]
for i = 5, #KEYS do
  local job_key, job_id, seen, stamp = KEYS[i], ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local first, count = a + 4, tonumber(ARGV[a + 3])
  a = first + count
  local now = place_of(job_key, job_id, KEYS[1], KEYS[2], ARGV[1])
  if now[1] == seen and now[2] == stamp then
    if seen ~= 'missing' then
      for _, execution in ipairs(executions(KEYS[2], job_id) or {}) do
        redis.call('ZREM', KEYS[2], job_id .. ':' .. execution)
        redis.call('DEL', ARGV[1] .. job_id .. ':' .. execution)
      end
      redis.call('DEL', job_key, ARGV[2] .. job_id)
      if in_queue(KEYS[1], job_id) then redis.call('LREM', KEYS[1], 0, job_id) end
      redis.call('LREM', KEYS[3], 0, job_id)
    end
    if enqueue == '1' then
      redis.call('HSET', job_key, unpack(ARGV, first, first + count - 1))
    end
    done[#done + 1] = job_id
  end
end
if enqueue == '1' and #done > 0 then
  for i = #done, 1, -1 do redis.call('LPUSH', KEYS[1], done[i]) end
  redis.call('SADD', KEYS[4], KEYS[1])
end
return done
"""
)


def locate_deliveries(redis: Redis, message_ids: Sequence[str]) -> list[JobState]:
    """Where each message's delivery job is, in the order asked; one round trip."""
    return locate_jobs(redis, DELIVERIES, message_ids)


def locate_jobs(redis: Redis, kind: JobKind, item_ids: Sequence[str]) -> list[JobState]:
    """Where each item's job of ``kind`` is, in the order asked; one round trip."""
    if not item_ids:
        return []
    job_ids = [kind.job_id(item_id) for item_id in item_ids]
    keys = [kind.queue_key, kind.started_key, *(Job.key_for(job_id) for job_id in job_ids)]
    found = run_script(redis, _LOCATE_LUA, keys, [_EXECUTION_PREFIX, *job_ids])
    return [_job_state(item_id, raw) for item_id, raw in zip(item_ids, found, strict=True)]


def replace_deliveries(redis: Redis, states: Sequence[JobState], *, enqueue: bool = True) -> list[str]:
    """Give each message a new delivery job (or, without ``enqueue``, remove its job), but only where its
    job is still exactly as ``states`` saw it; the message ids acted on.

    The old job's hash, queue entries and executions go, and the new job is queued in the same script, so
    no other sweep and no worker can act on the message in between. New jobs go to the front of the
    queue, in the order of ``states``: they were taken, or due, before what waits there now.
    """
    return _replace_jobs(redis, DELIVERIES, states, job_fields if enqueue else None)


def remove_jobs(redis: Redis, kind: JobKind, states: Sequence[JobState]) -> list[str]:
    """Remove each item's job of ``kind`` (its hash, queue entries and executions), but only where it is
    still exactly as ``states`` saw it; the item ids whose job was removed (the caller enqueues anew)."""
    return _replace_jobs(redis, kind, states, None)


def _replace_jobs(
    redis: Redis,
    kind: JobKind,
    states: Sequence[JobState],
    fields_of: Callable[[str], list[str | bytes]] | None,
) -> list[str]:
    states = list({state.message_id: state for state in states}.values())  # each item once
    if not states:
        return []
    keys = [kind.queue_key, kind.started_key, kind.intermediate_key, Queue.redis_queues_keys]
    args: list[str | bytes] = [_EXECUTION_PREFIX, _EXECUTIONS_PREFIX, "0" if fields_of is None else "1"]
    for state in states:
        job_id = kind.job_id(state.message_id)
        keys.append(Job.key_for(job_id))
        fields = fields_of(state.message_id) if fields_of is not None else []
        args += [job_id, state.place.value, state.stamp, str(len(fields)), *fields]
    return kind.ids_of(run_script(redis, _REPLACE_LUA, keys, args))


def _job_state(message_id: str, raw: list[bytes]) -> JobState:
    place, stamp, started, *executions = (value.decode() for value in raw)
    workers, registered = executions[0::2], [_seconds(at) for at in executions[1::2]]
    return JobState(message_id, Place(place), stamp, started, tuple(workers), max(registered, default=0.0))


def _seconds(text: str) -> float:
    """An execution's ``created_at`` (epoch seconds); 0 when it is not a number."""
    try:
        return float(text)
    except ValueError:
        return 0.0


def held_deliveries(redis: Redis) -> list[JobState]:
    """Every delivery job an RQ execution holds (the started registry: a handful, one per busy worker)."""
    return held_jobs(redis, DELIVERIES)


def held_jobs(redis: Redis, kind: JobKind) -> list[JobState]:
    """Every job of ``kind`` an RQ execution holds (its queue's started registry)."""
    # members are "<job id>:<execution id>": "<item id>:<execution id>" once the job prefix is gone
    members = kind.ids_of(redis.zrange(kind.started_key, 0, -1))  # members come back as bytes
    states = locate_jobs(redis, kind, sorted({member.rpartition(":")[0] for member in members}))
    return [state for state in states if state.place is Place.HELD]
