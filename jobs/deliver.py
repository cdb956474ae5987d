"""``deliver(message_id)``: one journaled message → a new issue, or a comment on its conversation's issue.

The RQ entry module: job hashes in Redis name ``jobs.deliver.deliver``, so it stays here.

At-least-once job, exactly-once effect:
- a Redis lock per conversation serialises the messages of one chat or thread, so a burst never opens
  two issues;
- before a create that may already have happened (a previous attempt got as far as the POST), the
  tracker is searched for the idempotency label; search may lag behind a create (a minute on Jira
  Cloud, seconds elsewhere: ``Tracker.search_lag``), so a miss within that lag waits instead of creating;
- a comment carries a marker that a retried attempt looks for before adding it again.

A worker killed mid-job is seen gone by the next sweep tick (its named Redis connections close), which
breaks the locks it held and re-enqueues its messages; the lease and the lock's expiry are the fallback
when that cannot be known (jobs/recovery.py). The attempt itself (claim, lease, retry, dead letter) is
jobs/attempts.py; finding the conversation's issue jobs/threads.py; opening an issue jobs/issues.py, a
backlog of them in one call jobs/bulk.py; comments jobs/comments.py; files jobs/files.py.
"""

from __future__ import annotations

import logging

from jobs.attempts import (
    TRACKER_CHANNELS,
    Attempt,
    Retry,
    claim,
    conclude,
    conversation_lock,
    lease_kept,
    status_of,
    trap_at,
)
from jobs.bulk import companions, open_together
from jobs.comments import add_follow_up, record_bounce
from jobs.context import Context, get_context
from jobs.events import handle_event
from jobs.issues import new_issue, open_alone
from jobs.recovery import lock_token
from jobs.successors import release_and_wake, wait_behind
from jobs.threads import find_thread, resolved
from mappers.models import MessageKind
from store import journal, leases

log = logging.getLogger(__name__)

LOCK_WAIT_SECONDS = 5  # lock holders take well under a second; a longer wait only idles a worker
EARLIER_MESSAGE_WAIT = 2.0  # seconds
WAITING_FOR_EARLIER = "waiting for an earlier message of the conversation"


def deliver(message_id: str) -> str:
    """RQ entry point: deliver one journaled message. Returns the journal status it ended in."""
    return deliver_with(get_context(), message_id)


def deliver_with(ctx: Context, message_id: str) -> str:
    """Deliver with an explicit context (tests and ``replay`` call this directly)."""
    # Claim the row and count the attempt at once: from here until the attempt ends, a lease that runs
    # out means this process died (even while still waiting for the conversation's lock), so the sweep
    # may take the message.
    claimed = claim(ctx, message_id)
    if claimed is None:
        return status_of(ctx, message_id)
    number, entry = claimed
    lock = conversation_lock(ctx, entry)
    if not lock.acquire(blocking=True, blocking_timeout=LOCK_WAIT_SECONDS, token=lock_token(ctx.redis)):
        leases.schedule_retry(ctx.engine, message_id, 5, WAITING_FOR_EARLIER, refund_attempt=True)
        return journal.QUEUED
    status = journal.QUEUED
    try:
        with lease_kept(ctx, [(message_id, lock)]):
            status = _attempt(ctx, entry, number)
    finally:
        # the lock released and, when the message is done, the message that waited for it woken
        release_and_wake(ctx, lock, message_id, done=status != journal.QUEUED)
    return status


def _attempt(ctx: Context, entry: journal.Entry, number: int) -> str:
    trap_at(ctx, "claimed", [entry.id])  # claimed, attempt counted and locked, nothing read yet: gap C
    turn = leases.turn(ctx.engine, entry)
    if not turn.queued:  # delivered by a concurrent job while this one waited for the lock
        return status_of(ctx, entry.id)
    if entry.channel in TRACKER_CHANNELS:
        return conclude(ctx, entry.id, number, lambda: handle_event(ctx, entry))
    return conclude(ctx, entry.id, number, lambda: _route(ctx, Attempt.read(entry, number), turn.before))


def _route(ctx: Context, attempt: Attempt, before: str | None) -> str:
    """Where the message goes: ignored, a bounce note, a new issue, or a comment on its thread's issue.

    ``before`` is the message of the conversation queued right before this one, if any (``leases.turn``).
    """
    entry, message = attempt.entry, attempt.message
    if message.kind == MessageKind.AUTO_REPLY:
        journal.mark_ignored(ctx.engine, entry.id, f"auto-generated mail: {message.auto_reason}")
        return journal.IGNORED
    if message.kind == MessageKind.BOUNCE:
        return record_bounce(ctx, attempt)
    if entry.create_started_at is not None:
        # An earlier attempt sent a create whose answer was lost: settle that issue first, even if the
        # conversation has another issue by now, or the message would end up both an issue and a comment.
        link = find_thread(ctx, message)
        previous = link.issue_key if link is not None and resolved(ctx, link) else None
        return _open_issue(ctx, attempt, previous=previous)
    if before is not None:
        # First in, first delivered within a conversation: a follow-up that overtook its first message
        # (whose create failed or is in doubt) would otherwise open a second issue for the same chat.
        wait_behind(ctx, before, entry.id)
        raise Retry(WAITING_FOR_EARLIER, EARLIER_MESSAGE_WAIT)
    link = find_thread(ctx, message)
    if link is not None and message.kind != MessageKind.EDIT and resolved(ctx, link):
        # resolved, whether or not its resolve webhook came (and deactivated the link): a new issue,
        # linked to this one and naming it
        return _open_issue(ctx, attempt, previous=link.issue_key)
    if link is not None:
        return add_follow_up(ctx, attempt, link)
    return _open_issue(ctx, attempt, previous=None)


def _open_issue(ctx: Context, attempt: Attempt, previous: str | None) -> str:
    """Open the message's issue: with other new conversations waiting for the same tracker in one bulk
    create when there is room (``jobs.bulk``), else on its own."""
    rule = ctx.config.rule_for(attempt.message)
    tracker = ctx.tracker(rule.target.tracker)
    issue = new_issue(ctx, attempt, rule, previous)
    room = min(tracker.bulk_limit, ctx.settings.HUB_BULK_CREATE_MAX) - 1
    if previous is None and attempt.entry.create_started_at is None and room > 0:
        with companions(ctx, attempt.entry, tracker.name, room) as joining:
            if joining:
                return open_together(ctx, tracker, issue, joining)
    return open_alone(ctx, tracker, issue)
