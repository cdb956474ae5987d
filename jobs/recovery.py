"""What a killed worker leaves behind, and how the sweep brings every message home from it.

The journal is the source of truth: a message is delivered when its row says so. Redis only holds the
job that will deliver it, and a worker's process can be SIGKILLed between any two of its writes. So the
sweep (jobs/periodic.py) decides from where a message's job really is (``jobs.delivery_jobs.Place``) and from
which workers are alive, not from the job hash's status alone.

**A live worker** is one whose Redis connections are open: ``trackerhub worker`` names every connection
it makes with its RQ worker name (``name_connections``), and ``CLIENT LIST`` shows the names. The kernel
closes a killed process's sockets, so Redis forgets its name at once, while RQ's own records of it (the
worker hash, the started registry's score) live on for minutes. A machine that vanishes keeps its
connections until Redis's ``tcp-keepalive`` notices (300 s by default), but not its lease: a job whose
worker still looks connected is taken over once its row's lease ran out and it started longer than a
lease ago, or once RQ's own timeout is long past (``holder_gone``).
Right after Redis restarts (with its data: AOF), a worker that is mid-job reconnects only on its next
command (its lease renewal, within 10 s); so an absent worker counts as gone only if it registered its job
after Redis started, or once Redis has been up ``PRESENCE_SETTLE`` seconds. Until then, and where Redis
refuses ``CLIENT LIST``, the journal's lease decides, as it always did.

**The gaps.** RQ 3.0's ``SimpleWorker`` over the three queues of ``ALL_QUEUES`` (rq/worker/base.py,
rq/queue.py, rq/executions.py), then our own code (jobs/deliver.py, jobs/attempts.py, jobs/bulk.py,
store/leases.py), for one delivery; each write is its own round trip, so a kill can fall between any two:

1. ``Queue.dequeue_any``: with more than one queue, ``BLPOP`` takes the id off ``rq:queue:deliveries``
   (with a single queue RQ would ``BLMOVE`` it into ``rq:queue:deliveries:intermediate``); then
   ``Job.fetch`` reads the hash. **Gap A**: the hash says ``queued``, the id is in no queue list (or only
   in the intermediate list), no registry, no lease. The sweep sees the row due (``ENQUEUE_GRACE`` after
   it was journaled, or at its retry time), finds the job ``UNSEEN``, looks again ``UNSEEN_CONFIRM``
   seconds later in the same tick (a live worker registers the job within a round trip), and if the same
   enqueue is still unseen, replaces it.
2. ``prepare_execution``: one MULTI/EXEC adds the execution to the started registry
   (``rq:wip:deliveries``, member ``<job id>:<execution id>``, its hash naming the worker). **Gap B**: the
   registry names the worker, the hash still says ``queued``.
3. ``prepare_job_execution``: one MULTI/EXEC sets the hash to ``started`` with ``worker_name``. From B on
   the job is ``HELD``: each tick the sweep reads the started registry (a handful of members) and replaces
   every job whose worker is gone, whatever the journal's lease says (``recover_dead_holders``).
4. ``deliver()``: ``leases.claim`` (a 30 s lease: the sweep leaves the row alone; the attempt counted in
   the same statement), then the conversation lock (``SET NX``, its token starting with the worker's
   name: ``lock_token``). **Gap C** (claimed, maybe locked, nothing read yet): the dead-holder pass breaks
   the lock if the gone worker holds it and replaces the job; the new job's claim counts its own attempt.
5. The bulk take (``jobs.bulk.companions``): the leader records the ids it is about to look at
   (``record_companions``), locks some of them, extends their leases, then takes their jobs out of the
   queue (LREM and DEL, one script), then begins each one's attempt. **Gap D** (locked, not taken): their
   jobs still wait in the queue, their locks name the gone worker; **gap E** (taken, not begun, or some
   begun, the bulk POST maybe sent): their jobs are gone (``MISSING``), their rows leased. The dead-holder
   pass finds them through the leader's record, breaks their locks and gives each taken one a new job; an
   element whose create may have been sent carries ``create_started_at``, so its retry searches by label.
6. ``deliver()`` ends with its last journal write (delivered, a retry, a dead letter); then RQ's
   ``handle_execution_ended`` and ``handle_job_success`` (one MULTI/EXEC: delete the hash, remove the
   execution). **Gap F**: the journal is done but the job is still ``HELD`` by a gone worker. A delivered
   row needs nothing: the dead-holder pass only removes the job; a row that scheduled a retry gets a new
   job.
7. The request path: the journal row is committed, then the job is enqueued. A web process killed
   between the two leaves a row with no job (``MISSING``): enqueued when the row is due.

A job RQ ended (``ENDED``) or cannot run (``BROKEN``: for instance the hash RQ's heartbeat writes into a
deleted job's key, with no status and no call) is replaced when its row is due; a job ``WAITING`` in the
queue, or ``HELD`` by a live worker, is left alone. Every replacement is one script that first checks the
job is still where the sweep saw it (``replace_deliveries``), so a message gets exactly one new job.

**Bounds.** Every tick (``SWEEP_EVERY``, 5 s, plus the tick's own time) reads the head of the due
backlog, where the rows of the jobs at the head of the queue are, and the messages the last tick handed
back to the front of the queue; the rest of a long backlog a page a tick, in turn. A row is due
``ENQUEUE_GRACE`` (2 s) after it was journaled. A kill in gap A is undone by the first tick after the kill
and the grace, ``UNSEEN_CONFIRM`` (2 s) later; a kill in gaps B–F by the first tick after the kill. The
new job goes to the front of the queue. Where presence is unknown, the lease (30 s) and then a tick.
RELIABILITY.md ("worker-gaps") measures it with a worker killed in each gap.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from redis import Redis
from redis.exceptions import ResponseError
from rq.utils import utcparse

from jobs.context import Context
from jobs.delivery_jobs import (
    DELIVERIES,
    REPLACEABLE,
    JobKind,
    JobState,
    Place,
    held_jobs,
    locate_deliveries,
    replace_deliveries,
)
from jobs.queues import JOB_TIMEOUT, run_script
from store import journal

log = logging.getLogger(__name__)

LEASE_SECONDS = 30  # a delivery's hold on its journal row and conversation lock, renewed while it runs
UNSEEN_CONFIRM = 2.0  # seconds between the two looks at a job no worker has registered
STALE_AFTER = dt.timedelta(seconds=JOB_TIMEOUT + 60)  # RQ's death penalty ends a live job before this
PRESENCE_SETTLE = 30  # seconds after Redis (re)starts by which every live worker has reconnected
COMPANIONS_TTL = JOB_TIMEOUT + 120  # a bulk leader's record outlives any attempt of it
_NO_HOLDER = "-"
_T = TypeVar("_T")
_R = TypeVar("_R")


# -- who holds what ----------------------------------------------------------------------------------


def name_connections(redis: Redis, name: str) -> None:
    """Make every connection of ``redis`` carry ``name`` (``CLIENT SETNAME``), from now on.

    Connections made before are closed and dropped, so none lingers under another name; call it before
    the process runs any job.
    """
    pool = redis.connection_pool
    pool.disconnect()
    pool.connection_kwargs["client_name"] = name
    pool.reset()


def holder_name(redis: Redis) -> str | None:
    """The worker name this process's connections carry, if ``name_connections`` gave them one."""
    name = redis.connection_pool.connection_kwargs.get("client_name")
    return str(name) if name else None


def lock_token(redis: Redis) -> str:
    """A conversation lock's token: the holding worker's name, then a random part."""
    return f"{holder_name(redis) or _NO_HOLDER}/{uuid.uuid4().hex}"


def conversation_lock_key(conversation_key: str) -> str:
    """The Redis key of a conversation's lock (one delivery at a time per chat or thread)."""
    return f"hub:lock:{conversation_key}"


def _companions_key(leader_id: str) -> str:
    return f"hub:bulk:{leader_id}"


def record_companions(redis: Redis, leader_id: str, message_ids: Sequence[str]) -> None:
    """Note which messages a bulk leader may lock and take, before it does, for the sweep to free."""
    if message_ids:
        redis.set(_companions_key(leader_id), ",".join(message_ids), ex=COMPANIONS_TTL)


def recorded_companions(redis: Redis, leader_ids: Sequence[str]) -> list[str]:
    """The messages these bulk leaders noted, in order, each once."""
    if not leader_ids:
        return []
    found: dict[str, None] = {}
    for raw in redis.mget([_companions_key(leader_id) for leader_id in leader_ids]):
        if raw:
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            found.update(dict.fromkeys(text.split(",")))
    return list(found)


@dataclass(frozen=True)
class Presence:
    """Which workers have a connection open, as Redis sees it now."""

    names: frozenset[str]
    redis_started: float  # epoch seconds, by Redis's clock: no connection is older than this
    settled: bool  # Redis has been up long enough for every live worker to have reconnected


def live_workers(redis: Redis) -> Presence | None:
    """The names on Redis's open connections; None when Redis refuses ``CLIENT LIST`` (some managed
    services do), so an absent name proves nothing."""
    try:
        uptime = int(redis.info("server").get("uptime_in_seconds", 0))
        seconds, _ = redis.time()
        clients = redis.client_list()
    except ResponseError:
        return None
    names = frozenset(str(client.get("name") or "") for client in clients) - {""}
    return Presence(names, float(seconds) - uptime, uptime >= PRESENCE_SETTLE)


# Deletes a lock only while its token names one of the given workers. KEYS: the locks; ARGV: the workers.
_BREAK_LOCKS_LUA = """
local broken = 0
for _, key in ipairs(KEYS) do
  local token = redis.call('GET', key)
  if token then
    for _, worker in ipairs(ARGV) do
      if string.sub(token, 1, #worker + 1) == worker .. '/' then
        redis.call('DEL', key)
        broken = broken + 1
        break
      end
    end
  end
end
return broken
"""


def break_locks(redis: Redis, lock_keys: Iterable[str], workers: Iterable[str]) -> int:
    """Delete those of these conversation locks that one of ``workers`` (all gone) holds; how many."""
    keys, names = sorted(set(lock_keys)), sorted(set(workers) - {_NO_HOLDER, ""})
    if not keys or not names:
        return 0
    return int(run_script(redis, _BREAK_LOCKS_LUA, keys, names))


# -- deciding -------------------------------------------------------------------------------------------


def holder_gone(state: JobState, presence: Presence | None, now: dt.datetime, *, row_due: bool) -> bool:
    """Whether no live worker will finish this ``HELD`` job.

    A worker whose name is on no open connection is gone, if it registered the job after Redis started
    (it was connected to this Redis then) or Redis has been up ``PRESENCE_SETTLE`` seconds. A job whose
    worker is still connected is abandoned only once RQ's own timeout is long past (``STALE_AFTER``), or,
    when the message's row is due (its lease ran out: nothing renewed it for ``LEASE_SECONDS``), once the
    job started longer ago than a lease: a machine that vanished keeps its connections open in Redis for
    minutes, but not its lease. A job started less than a lease ago cannot have let its lease run out:
    it was due before this job claimed it, which is no reason to take it from RQ (issue 21). Where
    presence is unknown, the lease alone decides (``row_due``), as it always did.
    """
    if presence is None:
        return row_due
    if not presence.names.intersection(state.workers):
        return presence.settled or state.registered_at > presence.redis_started or row_due
    started = _parsed(state.started_at)
    if started is None:
        return False
    age = now - started
    return age > STALE_AFTER or (row_due and age > dt.timedelta(seconds=LEASE_SECONDS))


def needs_new_job(
    state: JobState, presence: Presence | None, now: dt.datetime, *, row_due: bool = True
) -> bool:
    """Whether a queued message's job, as found, will never run it (``UNSEEN`` needs a second look)."""
    if state.place in REPLACEABLE:
        return True
    return state.place is Place.HELD and holder_gone(state, presence, now, row_due=row_due)


def _parsed(text: str) -> dt.datetime | None:
    try:
        return utcparse(text) if text else None
    except ValueError:
        return None


# -- acting ---------------------------------------------------------------------------------------------


@dataclass
class Look:
    """What one look at due messages did: the ones given a new job, and the ones to look at again."""

    enqueued: list[str] = field(default_factory=list)
    unseen: list[JobState] = field(default_factory=list)


def look_at_due(redis: Redis, message_ids: Sequence[str], presence: Presence | None) -> Look:
    """Give every due message whose job will never run it a new one; note the unseen ones."""
    now = journal.utcnow()
    states = _each(lambda ids: locate_deliveries(redis, ids), message_ids, "locate")
    lost = [state for state in states if needs_new_job(state, presence, now)]
    enqueued = _each(lambda batch: replace_deliveries(redis, batch), lost, "replace")
    return Look(enqueued, [state for state in states if state.place is Place.UNSEEN])


def confirm_unseen(redis: Redis, first_look: Sequence[JobState]) -> list[str]:
    """Replace the jobs that are still unseen, and still the same enqueue, at this second look."""
    ids = list(dict.fromkeys(state.message_id for state in first_look))
    again = _each(lambda batch: locate_deliveries(redis, batch), ids, "locate")
    before = {state.message_id: state for state in first_look}
    still = [s for s in again if s.place is Place.UNSEEN and s.stamp == before[s.message_id].stamp]
    return _each(lambda batch: replace_deliveries(redis, batch), still, "replace")


def gone_holders(redis: Redis, kind: JobKind, presence: Presence | None) -> tuple[list[JobState], set[str]]:
    """The jobs of ``kind`` that executions of gone workers hold, whatever their rows' leases say, and
    the names of those workers. Nothing where presence is unknown: the leases decide there."""
    if presence is None:
        return [], set()
    now = journal.utcnow()
    gone = [state for state in held_jobs(redis, kind) if holder_gone(state, presence, now, row_due=False)]
    return gone, {worker for state in gone for worker in state.workers if worker not in presence.names}


def recover_dead_holders(ctx: Context, presence: Presence | None) -> list[str]:
    """Free what gone workers held, leases or not: their locks, their jobs, their bulk companions.

    Returns the messages that got a new job. A delivered message's leftover job is only removed.
    """
    now = journal.utcnow()
    gone, dead = gone_holders(ctx.redis, DELIVERIES, presence)
    if not gone or presence is None:
        return []
    leaders = [state.message_id for state in gone]
    messages = list(dict.fromkeys([*leaders, *recorded_companions(ctx.redis, leaders)]))
    queued = {e.id: e for e in journal.get_many(ctx.engine, messages) if e.status == journal.QUEUED}
    break_locks(ctx.redis, (conversation_lock_key(e.conversation_key) for e in queued.values()), dead)
    states = locate_deliveries(ctx.redis, messages)
    lost = [s for s in states if s.message_id in queued and needs_new_job(s, presence, now, row_due=False)]
    replace_deliveries(ctx.redis, [s for s in gone if s.message_id not in queued], enqueue=False)
    enqueued = replace_deliveries(ctx.redis, lost)
    for message_id in enqueued:
        log.warning("sweep.worker-gone message_id=%s workers=%s", message_id, ",".join(sorted(dead)) or "-")
    return enqueued


def _each(act: Callable[[list[_T]], list[_R]], items: Sequence[_T], what: str) -> list[_R]:
    """``act`` on all items in one call; if Redis refuses that call (a key that is not what RQ writes),
    on each item alone, so one bad row is a WARNING with its message id and the rest go on."""
    if not items:
        return []
    try:
        return act(list(items))
    except ResponseError:
        pass
    done: list[_R] = []
    for item in items:
        try:
            done += act([item])
        except ResponseError as exc:
            message_id = item.message_id if isinstance(item, JobState) else item
            log.warning("sweep.row-failed message_id=%s step=%s error=%s", message_id, what, exc)
    return done
