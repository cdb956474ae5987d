"""Bulk create: a backlog of new conversations opens up to ``bulk_limit`` issues per tracker call.

The job about to open an issue takes other first messages waiting at the head of the queue (their locks,
jobs and leases) into the same call, and records each one's outcome as its own attempt.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from redis.lock import Lock

from config.rules import Rule
from connector.base import Tracker
from connector.errors import TrackerRejected, TrackerUnavailable
from connector.types import IssueRef
from jobs.attempts import (
    TRACKER_CHANNELS,
    Attempt,
    begin,
    conclude,
    conversation_lock,
    extend_leases,
    lease_kept,
    release,
    reraise,
    trap_at,
)
from jobs.context import Context
from jobs.issues import NewIssue, new_issue, open_alone, record_issue
from jobs.queues import peek_deliveries, take_deliveries
from jobs.recovery import lock_token, record_companions
from jobs.threads import find_thread
from mappers.models import InboundMessage, MessageKind
from store import journal, leases, links

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Candidate:
    entry: journal.Entry
    message: InboundMessage
    rule: Rule
    lock: Lock


@contextlib.contextmanager
def companions(ctx: Context, leader: journal.Entry, tracker: str, room: int) -> Iterator[list[NewIssue]]:
    """Up to ``room`` other new conversations for ``tracker`` waiting in the queue, claimed for this job.

    A message joins when it would open an issue on its own: the first of a conversation with no issue,
    no create in doubt, no files to fetch. This job takes its conversation's lock and its queued job
    (``take_deliveries``), then holds its lease like its own; were this job to die, the sweep enqueues
    it again. None wait in the queue when the workers keep up, so this costs one peek then.
    """
    try:
        candidates = _claim_candidates(ctx, leader, tracker, room)
    except Exception:  # looking for company is an optimisation: the leader goes alone
        log.exception("deliver.companions-failed message_id=%s", leader.id)
        candidates = []
    try:
        if not candidates:
            yield []
            return
        with lease_kept(ctx, [(c.entry.id, c.lock) for c in candidates]):
            trap_at(ctx, "taken", [leader.id, *(c.entry.id for c in candidates)])  # gap E
            yield [issue for c in candidates if (issue := _begin_companion(ctx, c)) is not None]
    finally:
        _release_all(candidates)


def open_together(ctx: Context, tracker: Tracker, leader: NewIssue, companions: list[NewIssue]) -> str:
    """One bulk create for the leader's issue and its companions'; each is then recorded on its own."""
    members = [leader, *companions]
    ids = [member.entry.id for member in members]
    results: list[IssueRef | Exception]
    try:
        created = tracker.create_issues(
            [member.draft for member in members],
            on_send=lambda: leases.mark_creates_started(ctx.engine, ids),
        )
        results = list(created)
    except TrackerRejected as exc:
        # The request as a whole was refused (too large, malformed): nothing was created, and together
        # they would be refused again, so each is created on its own now and answers for itself.
        log.warning("deliver.bulk-refused message_id=%s issues=%d reason=%s", leader.entry.id, len(ids), exc)
        return _open_one_by_one(ctx, tracker, leader, companions)
    except Exception as exc:  # the whole call failed: each message retries (or waits) on its own
        results = [exc] * len(members)
    for result in results:
        if isinstance(result, TrackerUnavailable) and result.tracker is None:
            result.tracker = tracker.name  # an element's own failure: it waits for this tracker too
    log.info("deliver.bulk-create message_id=%s issues=%d", leader.entry.id, len(members))
    outcome = {member.entry.id: result for member, result in zip(members, results, strict=True)}
    return _for_each(ctx, leader, companions, lambda m: _record_result(ctx, tracker, m, outcome[m.entry.id]))


def _claim_candidates(ctx: Context, leader: journal.Entry, tracker: str, room: int) -> list[_Candidate]:
    """Lock the candidates, lease them, then take their jobs; the ones whose job was still queued."""
    candidates = _lock_candidates(ctx, leader, tracker, room)
    try:
        if candidates:
            # leases before the take: once their jobs are gone the sweep must already be leaving them
            # alone, or it would give one a second job while this one is delivering it
            extend_leases(ctx, [c.entry.id for c in candidates])
            trap_at(ctx, "companions-locked", [leader.id, *(c.entry.id for c in candidates)])  # gap D
            taken = set(take_deliveries(ctx.redis, [c.entry.id for c in candidates]))
            for candidate in [c for c in candidates if c.entry.id not in taken]:
                candidates.remove(candidate)  # a worker popped its job meanwhile: it is that worker's
                release(candidate.lock, candidate.entry.id)
    except BaseException:
        _release_all(candidates)
        raise
    return candidates


def _release_all(candidates: list[_Candidate]) -> None:
    for candidate in candidates:
        release(candidate.lock, candidate.entry.id)


def _lock_candidates(ctx: Context, leader: journal.Entry, tracker: str, room: int) -> list[_Candidate]:
    """Messages from the head of the queue that would open a new issue on ``tracker``, their locks held."""
    waiting = [i for i in peek_deliveries(ctx.redis, 2 * room + 2) if i != leader.id]
    record_companions(ctx.redis, leader.id, waiting)  # before any is locked: the sweep frees them if we die
    entries = journal.get_many(ctx.engine, waiting)
    # follow-ups of chats with an issue are most of a mixed backlog: one query rules them out, not a
    # lock and two queries each
    threaded = links.with_active_link(ctx.engine, [entry.conversation_key for entry in entries])
    found: list[_Candidate] = []
    try:
        for entry in entries:
            if len(found) == room:
                break
            if entry.conversation_key in threaded:
                continue
            candidate = _as_candidate(ctx, entry, tracker)
            if candidate is None or not candidate.lock.acquire(blocking=False, token=lock_token(ctx.redis)):
                continue
            found.append(candidate)
            # under the lock, as the message's own job would look: is it really a conversation's first?
            if leases.earlier_pending(ctx.engine, entry) or find_thread(ctx, candidate.message) is not None:
                found.pop()
                release(candidate.lock, entry.id)
    except BaseException:
        _release_all(found)
        raise
    return found


def _as_candidate(ctx: Context, entry: journal.Entry, tracker: str) -> _Candidate | None:
    if (
        entry.status != journal.QUEUED
        or entry.channel in TRACKER_CHANNELS
        or entry.kind != MessageKind.NEW
        or entry.create_started_at is not None
    ):
        return None
    try:
        message = InboundMessage.model_validate_json(entry.body)
    except ValueError:
        return None  # its own job reports it
    if message.attachments or (message.email and (message.email.in_reply_to or message.email.references)):
        return None  # files to fetch, or a mail reply that may belong to a thread: its own job decides
    rule = ctx.config.rule_for(message)
    if rule.target.tracker != tracker:
        return None
    return _Candidate(entry, message, rule, conversation_lock(ctx, entry))


def _begin_companion(ctx: Context, candidate: _Candidate) -> NewIssue | None:
    """Count the companion's attempt and draft its issue; None if drafting failed (and was recorded)."""
    begun = begin(ctx, candidate.entry.id)
    if begun is None:  # its job ran after all (a sweep re-enqueued it meanwhile) and delivered it
        return None
    number, entry = begun
    if entry.create_started_at is not None:  # an attempt got as far as a create meanwhile: settle alone
        leases.schedule_retry(ctx.engine, entry.id, 0, "settling an earlier create", refund_attempt=True)
        return None
    try:
        return new_issue(ctx, Attempt(entry, number, candidate.message), candidate.rule, previous=None)
    except Exception as exc:
        conclude(ctx, entry.id, number, functools.partial(reraise, exc))
        return None


def _open_one_by_one(ctx: Context, tracker: Tracker, leader: NewIssue, companions: list[NewIssue]) -> str:
    return _for_each(ctx, leader, companions, functools.partial(open_alone, ctx, tracker))


def _for_each(
    ctx: Context, leader: NewIssue, companions: list[NewIssue], work: Callable[[NewIssue], str]
) -> str:
    """Each companion's work, concluded as its own attempt; then the leader's, whose job concludes it."""
    for member in companions:
        conclude(ctx, member.entry.id, member.attempt, functools.partial(work, member))
    return work(leader)


def _record_result(ctx: Context, tracker: Tracker, issue: NewIssue, result: IssueRef | Exception) -> str:
    if isinstance(result, Exception):
        reraise(result)
    return record_issue(ctx, tracker, issue, result)
