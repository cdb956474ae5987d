"""What a killed worker leaves in Redis, built by hand, and the sweep bringing each message home once.

Each state is what a SIGKILL between two writes leaves (jobs/recovery.py lists the gaps): RQ's own
functions (``prepare_execution``, ``prepare_job_execution``) make the started-registry entries, so the
keys are exactly RQ 3.0's. A worker is alive when a Redis connection carries its name, as
``trackerhub worker``'s connections do; a gone worker's name is on none.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.executions import prepare_execution
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.utils import utcformat

import jobs.deliver
from jobs.context import Context
from jobs.deliver import WAITING_FOR_EARLIER
from jobs.delivery_jobs import JobState, Place, locate_deliveries, replace_deliveries
from jobs.periodic import sweep
from jobs.queues import DELIVERY_QUEUE, delivery_job_id, take_deliveries
from jobs.recovery import (
    LEASE_SECONDS,
    STALE_AFTER,
    Presence,
    conversation_lock_key,
    holder_gone,
    live_workers,
    record_companions,
)
from jobs.replay import replay_messages
from jobs.worker import HubWorker
from sandbox.server import RunningSandbox
from store import journal, leases
from tests.jobs.conftest import drain, journal_message, make_due, sandbox_issues
from tests.mappers.factories import telegram_message

QUEUE = f"rq:queue:{DELIVERY_QUEUE}"
INTERMEDIATE = f"{QUEUE}:intermediate"
STARTED = f"rq:wip:{DELIVERY_QUEUE}"
GONE = "gone-worker"


@dataclass
class Waits:
    """The sweep's ``wait``: time passing between its two looks, with what happens meanwhile."""

    calls: int = 0

    def __call__(self, seconds: float) -> None:
        self.calls += 1


@pytest.fixture
def live_worker(ctx: Context) -> Iterator[str]:
    """A worker that is alive: a Redis connection carrying its name stays open."""
    name = "live-worker"
    connection = Redis.from_url(ctx.settings.REDIS_URL or "", client_name=name)
    connection.ping()
    yield name
    connection.close()


def queued(ctx: Context) -> list[str]:
    return [job_id.decode() for job_id in ctx.redis.lrange(QUEUE, 0, -1)]


def popped(ctx: Context, message_id: str) -> None:
    """What a worker's BLPOP does: the id leaves the queue list; the job hash still says queued."""
    assert ctx.redis.lrem(QUEUE, 1, delivery_job_id(message_id)) == 1


def registered(ctx: Context, message_id: str, worker_name: str) -> tuple[SimpleWorker, Job]:
    """What RQ's ``prepare_execution`` writes: the started registry names the worker (status queued)."""
    worker = SimpleWorker([DELIVERY_QUEUE], name=worker_name, connection=ctx.redis, prepare_for_work=False)
    job = Job.fetch(delivery_job_id(message_id), connection=ctx.redis)
    prepare_execution(worker, job)
    return worker, job


def started(ctx: Context, message_id: str, worker_name: str) -> None:
    """A worker popped the job, registered it and set it started (``prepare_job_execution``)."""
    popped(ctx, message_id)
    worker, job = registered(ctx, message_id, worker_name)
    worker.prepare_job_execution(job)


def lock_as(ctx: Context, message_id: str, worker_name: str) -> str:
    """Take a message's conversation lock as ``worker_name`` would (its token names the worker)."""
    entry = journal.get(ctx.engine, message_id)
    assert entry is not None
    key = conversation_lock_key(entry.conversation_key)
    assert ctx.redis.set(key, f"{worker_name}/0123abcd", nx=True, px=LEASE_SECONDS * 1000)
    return key


def status(ctx: Context, message_id: str) -> JobStatus:
    return Job.fetch(delivery_job_id(message_id), connection=ctx.redis).get_status()


def test_a_job_popped_by_a_worker_that_died_before_registering_it_is_enqueued_again_once(
    ctx: Context,
) -> None:
    message_id = journal_message(ctx, telegram_message("popped, then the worker died"))
    popped(ctx, message_id)
    make_due(ctx, message_id)
    waits = Waits()

    assert sweep(ctx, wait=waits) == 1
    assert waits.calls == 1  # a second look, a moment later, before deciding the worker is gone
    assert queued(ctx) == [delivery_job_id(message_id)]
    assert status(ctx, message_id) == JobStatus.QUEUED

    make_due(ctx, message_id)
    assert sweep(ctx, wait=waits) == 0  # exactly once: now it waits in the queue
    assert queued(ctx) == [delivery_job_id(message_id)]


def test_a_job_left_in_the_intermediate_queue_with_no_worker_holding_it_is_enqueued_again_once(
    ctx: Context,
) -> None:
    message_id = journal_message(ctx, telegram_message("BLMOVEd, then the worker died"))
    popped(ctx, message_id)
    ctx.redis.rpush(INTERMEDIATE, delivery_job_id(message_id))  # a one-queue worker's BLMOVE
    make_due(ctx, message_id)

    assert sweep(ctx, wait=Waits()) == 1
    assert queued(ctx) == [delivery_job_id(message_id)]
    assert ctx.redis.lrange(INTERMEDIATE, 0, -1) == []
    make_due(ctx, message_id)
    assert sweep(ctx, wait=Waits()) == 0
    assert queued(ctx) == [delivery_job_id(message_id)]


def test_a_live_worker_that_registers_the_job_between_the_two_looks_keeps_it(
    ctx: Context, live_worker: str
) -> None:
    message_id = journal_message(ctx, telegram_message("popped by a live worker"))
    popped(ctx, message_id)
    make_due(ctx, message_id)

    def meanwhile(seconds: float) -> None:  # the live worker gets to its next write
        registered(ctx, message_id, live_worker)

    assert sweep(ctx, wait=meanwhile) == 0
    assert queued(ctx) == []
    assert ctx.redis.zrange(STARTED, 0, -1)[0].startswith(delivery_job_id(message_id).encode())


def test_a_job_whose_worker_is_gone_is_enqueued_again_without_waiting_for_its_lease(ctx: Context) -> None:
    """Killed between claim and begin_attempt: the row is leased, the lock held by the dead worker."""
    message_id = journal_message(ctx, telegram_message("claimed, then the worker died"))
    started(ctx, message_id, GONE)
    assert leases.claim(ctx.engine, message_id, LEASE_SECONDS) is not None
    lock = lock_as(ctx, message_id, GONE)
    assert journal.due(ctx.engine) == []  # the lease keeps the row from being due for 30 s

    assert sweep(ctx, wait=Waits()) == 1
    assert queued(ctx) == [delivery_job_id(message_id)]
    assert status(ctx, message_id) == JobStatus.QUEUED
    assert ctx.redis.zrange(STARTED, 0, -1) == []
    assert ctx.redis.exists(lock) == 0  # the dead worker's lock is broken: the new job can take it
    assert sweep(ctx, wait=Waits()) == 0
    assert queued(ctx) == [delivery_job_id(message_id)]


def test_a_registered_job_whose_worker_is_gone_before_it_started_is_enqueued_again(ctx: Context) -> None:
    message_id = journal_message(ctx, telegram_message("registered, still queued"))
    popped(ctx, message_id)
    registered(ctx, message_id, GONE)
    assert status(ctx, message_id) == JobStatus.QUEUED

    assert sweep(ctx, wait=Waits()) == 1
    assert queued(ctx) == [delivery_job_id(message_id)]
    assert ctx.redis.zrange(STARTED, 0, -1) == []


def test_a_started_job_of_a_live_worker_is_left_to_rq_even_when_its_lease_ran_out(
    ctx: Context, live_worker: str
) -> None:
    """RQ deletes a job it runs when the job ends; the sweep must not delete it under RQ (issue 21)."""
    message_id = journal_message(ctx, telegram_message("slow attempt"))
    started(ctx, message_id, live_worker)
    make_due(ctx, message_id)

    assert sweep(ctx, wait=Waits()) == 0
    assert status(ctx, message_id) == JobStatus.STARTED
    assert queued(ctx) == []
    assert len(ctx.redis.zrange(STARTED, 0, -1)) == 1


def test_a_job_whose_worker_still_looks_connected_is_taken_over_once_its_lease_ran_out_long_after_it_started(
    ctx: Context, live_worker: str
) -> None:
    """A machine that vanished: Redis keeps its connections for minutes, but its lease ran out."""
    message_id = journal_message(ctx, telegram_message("worker on a vanished machine"))
    started(ctx, message_id, live_worker)
    a_minute_ago = utcformat(
        journal.utcnow() - dt.timedelta(seconds=60)
    )  # longer than a lease, not RQ's timeout
    ctx.redis.hset(Job.key_for(delivery_job_id(message_id)), "started_at", a_minute_ago)
    leases.claim(ctx.engine, message_id, LEASE_SECONDS)

    assert sweep(ctx, wait=Waits()) == 0  # its lease still runs
    make_due(ctx, message_id)
    assert sweep(ctx, wait=Waits()) == 1
    assert queued(ctx) == [delivery_job_id(message_id)]


def test_a_gone_bulk_leaders_taken_companions_are_freed_and_enqueued_again_once(ctx: Context) -> None:
    """Killed inside a bulk take, after the take: the companions' jobs are gone, their rows leased."""
    leader, *companions = [
        journal_message(ctx, telegram_message(f"backlog {n}", chat_id=300 + n)) for n in range(4)
    ]
    bystander = companions.pop()  # looked at by the leader, not locked: still waiting in the queue
    started(ctx, leader, GONE)
    leases.claim(ctx.engine, leader, LEASE_SECONDS)
    record_companions(ctx.redis, leader, [*companions, bystander])
    locks = [lock_as(ctx, leader, GONE), *(lock_as(ctx, c, GONE) for c in companions)]
    leases.extend_leases(ctx.engine, companions, LEASE_SECONDS)
    assert sorted(take_deliveries(ctx.redis, companions)) == sorted(companions)

    assert sweep(ctx, wait=Waits()) == 3
    assert sorted(queued(ctx)) == sorted(delivery_job_id(m) for m in [leader, *companions, bystander])
    assert all(ctx.redis.exists(lock) == 0 for lock in locks)
    assert sweep(ctx, wait=Waits()) == 0


def test_a_gone_bulk_leaders_locked_companions_are_unlocked_and_not_enqueued_twice(ctx: Context) -> None:
    """Killed inside a bulk take, before the take: the companions' jobs still wait in the queue."""
    leader, companion = [
        journal_message(ctx, telegram_message(f"lead {n}", chat_id=400 + n)) for n in range(2)
    ]
    started(ctx, leader, GONE)
    record_companions(ctx.redis, leader, [companion])
    lock = lock_as(ctx, companion, GONE)
    leases.extend_leases(ctx.engine, [companion], LEASE_SECONDS)

    assert sweep(ctx, wait=Waits()) == 1  # the leader; the companion's own job is still queued
    assert sorted(queued(ctx)) == sorted(delivery_job_id(m) for m in [leader, companion])
    assert ctx.redis.exists(lock) == 0


def test_a_lock_a_live_worker_holds_is_not_broken(ctx: Context, live_worker: str) -> None:
    """The gone worker was waiting for the conversation's lock, which a live worker holds."""
    first, second = [journal_message(ctx, telegram_message(f"chat {n}", chat_id=450)) for n in range(2)]
    started(ctx, second, GONE)
    lock = lock_as(ctx, first, live_worker)  # the same conversation: the same lock

    assert sweep(ctx, wait=Waits()) == 1
    assert ctx.redis.get(lock) == f"{live_worker}/0123abcd".encode()


def test_a_delivered_message_whose_worker_died_before_rq_cleaned_up_is_only_tidied(ctx: Context) -> None:
    message_id = journal_message(ctx, telegram_message("delivered, then killed"))
    started(ctx, message_id, GONE)
    journal.mark_delivered(
        ctx.engine, message_id, tracker="jira", issue_key="SUP-1", issue_url="u", outcome="issue"
    )

    assert sweep(ctx, wait=Waits()) == 0
    assert queued(ctx) == []
    assert ctx.redis.zrange(STARTED, 0, -1) == []
    assert ctx.redis.exists(Job.key_for(delivery_job_id(message_id))) == 0


def test_a_job_hash_rq_cannot_run_is_replaced(ctx: Context) -> None:
    """RQ's heartbeat writes into a deleted job's key: a hash with no status and no call."""
    message_id = journal_message(ctx, telegram_message("zombie"))
    popped(ctx, message_id)
    key = Job.key_for(delivery_job_id(message_id))
    ctx.redis.delete(key)
    ctx.redis.hset(key, "last_heartbeat", "2026-11-23T10:00:00.000000Z")
    make_due(ctx, message_id)

    assert sweep(ctx, wait=Waits()) == 1
    assert queued(ctx) == [delivery_job_id(message_id)]
    assert status(ctx, message_id) == JobStatus.QUEUED


def test_a_row_redis_refuses_is_logged_with_its_id_and_the_tick_goes_on(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    bad, lost = [journal_message(ctx, telegram_message(f"row {n}", chat_id=600 + n)) for n in range(2)]
    ctx.redis.delete(QUEUE)
    ctx.redis.delete(Job.key_for(delivery_job_id(lost)))  # lost with Redis's data
    ctx.redis.delete(Job.key_for(delivery_job_id(bad)))
    ctx.redis.set(Job.key_for(delivery_job_id(bad)), "not a hash")  # whatever wrote it, not RQ
    make_due(ctx, bad, lost)

    with caplog.at_level(logging.WARNING, logger="jobs.recovery"):
        assert sweep(ctx, wait=Waits()) == 1
    assert queued(ctx) == [delivery_job_id(lost)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"message_id={bad}" in line for line in warnings)


def test_a_job_another_path_removed_meanwhile_is_left_alone(ctx: Context) -> None:
    """The sweep saw the job finished; RQ removed it before the sweep acted: nothing happens, no error."""
    message_id = journal_message(ctx, telegram_message("finished meanwhile"))
    Job.fetch(delivery_job_id(message_id), connection=ctx.redis).set_status(JobStatus.FINISHED)
    (seen,) = locate_deliveries(ctx.redis, [message_id])
    assert seen.place is Place.ENDED
    ctx.redis.delete(Job.key_for(delivery_job_id(message_id)))

    assert replace_deliveries(ctx.redis, [seen]) == []
    (now,) = locate_deliveries(ctx.redis, [message_id])
    assert now.place is Place.MISSING  # the next look enqueues it


def test_without_client_list_the_lease_decides(ctx: Context) -> None:
    """A Redis user that may not run CLIENT LIST: a gone worker is only known by its expired lease."""
    ctx.redis.execute_command("ACL", "SETUSER", "sweeper", "on", ">pw", "~*", "&*", "+@all", "-client")
    url = (ctx.settings.REDIS_URL or "").replace("redis://", "redis://sweeper:pw@")
    restricted = ctx.__class__(**{**ctx.__dict__, "redis": Redis.from_url(url)})
    message_id = journal_message(ctx, telegram_message("killed, presence unknown"))
    started(ctx, message_id, GONE)
    leases.claim(ctx.engine, message_id, LEASE_SECONDS)
    try:
        assert live_workers(restricted.redis) is None
        assert sweep(restricted, wait=Waits()) == 0  # the lease still runs
        make_due(ctx, message_id)
        assert sweep(restricted, wait=Waits()) == 1  # the lease ran out
        assert queued(ctx) == [delivery_job_id(message_id)]
    finally:
        ctx.redis.execute_command("ACL", "DELUSER", "sweeper")


def test_a_hub_worker_is_alive_by_its_named_connections(ctx: Context) -> None:
    worker = HubWorker([DELIVERY_QUEUE], connection=ctx.redis)
    ctx.redis.ping()
    presence = live_workers(ctx.redis)
    assert presence is not None and worker.name in presence.names


def test_a_stranded_first_message_delays_only_its_own_conversation(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    head = journal_message(ctx, telegram_message("first, stranded", chat_id=700))
    follow_up = journal_message(ctx, telegram_message("second", chat_id=700))
    other = journal_message(ctx, telegram_message("another chat", chat_id=701))
    popped(ctx, head)  # the worker that took it was killed: its id is in no list

    drain(ctx)  # the workers run what is queued: nothing waits on the stranded message
    assert journal.get(ctx.engine, other).status == journal.DELIVERED  # type: ignore[union-attr]
    waiting = journal.get(ctx.engine, follow_up)
    assert waiting is not None and waiting.status == journal.QUEUED and waiting.reason == WAITING_FOR_EARLIER

    make_due(ctx, head, follow_up)
    assert sweep(ctx, wait=Waits()) == 2  # the follow-up's retry, and the stranded head, in one tick
    drain(ctx)
    make_due(ctx, follow_up)
    sweep(ctx, wait=Waits())
    drain(ctx)
    entries = [journal.get(ctx.engine, m) for m in (head, follow_up)]
    assert [e.status for e in entries if e] == [journal.DELIVERED, journal.DELIVERED]
    assert [e.outcome for e in entries if e] == ["issue", "comment"]
    assert len(sandbox_issues(jira_sandbox)) == 2


def test_rq_runs_and_cleans_up_the_new_job_without_an_error(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """RQ's success cleanup reads the job's executions: the gone worker's must have gone with its job."""
    ran: list[str] = []
    monkeypatch.setattr(jobs.deliver, "deliver", lambda message_id: ran.append(message_id) or "delivered")
    message_id = journal_message(ctx, telegram_message("replaced, then run by RQ"))
    started(ctx, message_id, GONE)
    assert sweep(ctx, wait=Waits()) == 1

    with caplog.at_level(logging.WARNING, logger="rq.worker"):
        SimpleWorker([DELIVERY_QUEUE], connection=ctx.redis).work(burst=True)
    assert ran == [message_id]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert ctx.redis.exists(Job.key_for(delivery_job_id(message_id))) == 0  # RQ deleted it (result_ttl=0)
    assert FailedJobRegistry(DELIVERY_QUEUE, connection=ctx.redis).get_job_ids() == []


def test_a_job_rq_should_have_timed_out_long_ago_is_taken_over_though_its_worker_looks_connected(
    ctx: Context, live_worker: str
) -> None:
    message_id = journal_message(ctx, telegram_message("stuck past RQ's timeout"))
    started(ctx, message_id, live_worker)
    long_ago = utcformat(journal.utcnow() - STALE_AFTER - dt.timedelta(seconds=1))
    ctx.redis.hset(Job.key_for(delivery_job_id(message_id)), "started_at", long_ago)
    leases.claim(ctx.engine, message_id, LEASE_SECONDS)

    assert sweep(ctx, wait=Waits()) == 1
    assert queued(ctx) == [delivery_job_id(message_id)]


NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
REDIS_STARTED = (NOW - dt.timedelta(seconds=10)).timestamp()  # Redis (re)started 10 s ago


def held(worker: str, *, registered: float, started: dt.datetime | None = None) -> JobState:
    return JobState("m", Place.HELD, "stamp", utcformat(started) if started else "", (worker,), registered)


@pytest.mark.parametrize(
    ("state", "settled", "row_due", "gone"),
    [
        # not connected, registered after Redis started: it died
        (held("w", registered=REDIS_STARTED + 5), False, False, True),
        # not connected, registered before a restart 10 s ago: it may not have reconnected yet
        (held("w", registered=REDIS_STARTED - 5), False, False, False),
        (held("w", registered=REDIS_STARTED - 5), False, True, True),  # ... unless its lease ran out
        (held("w", registered=REDIS_STARTED - 5), True, False, True),  # ... or Redis has been up a while
        # connected, started 10 s ago: running, even if its row was due when the sweep read it
        (held("live", registered=0, started=NOW - dt.timedelta(seconds=10)), True, True, False),
        # connected, started a minute ago, lease ran out: a vanished machine
        (held("live", registered=0, started=NOW - dt.timedelta(seconds=60)), True, True, True),
        (held("live", registered=0, started=NOW - dt.timedelta(seconds=60)), True, False, False),
        # connected, past RQ's timeout: abandoned whatever the lease says
        (held("live", registered=0, started=NOW - STALE_AFTER - dt.timedelta(seconds=1)), True, False, True),
        # registered, not yet started (its hash still queued): running
        (held("live", registered=0), True, True, False),
    ],
)
def test_who_counts_as_gone(state: JobState, settled: bool, row_due: bool, gone: bool) -> None:
    presence = Presence(frozenset({"live"}), REDIS_STARTED, settled)
    assert holder_gone(state, presence, NOW, row_due=row_due) is gone


def test_without_presence_only_the_lease_decides() -> None:
    state = held("live", registered=0, started=NOW - dt.timedelta(seconds=10))
    assert holder_gone(state, None, NOW, row_due=True) is True
    assert holder_gone(state, None, NOW, row_due=False) is False


def test_replaying_a_dead_letter_whose_old_job_rq_left_half_written_queues_it(ctx: Context) -> None:
    message_id = journal_message(ctx, telegram_message("dead letter"))
    popped(ctx, message_id)
    journal.mark_failed(ctx.engine, message_id, "gave up after 8 attempts")
    key = Job.key_for(delivery_job_id(message_id))
    ctx.redis.delete(key)
    ctx.redis.hset(key, mapping={"status": "failed", "last_heartbeat": "2026-11-23T10:00:00.000000Z"})

    assert replay_messages(ctx, [message_id]) == [(message_id, "requeued")]
    assert queued(ctx) == [delivery_job_id(message_id)]
    assert status(ctx, message_id) == JobStatus.QUEUED
