"""``deliver(message_id)``: one journaled message → a new issue, or a comment on its conversation's issue.

At-least-once job, exactly-once effect:
- a Redis lock per conversation serialises the messages of one chat or thread, so a burst never opens
  two issues;
- before a create that may already have happened (a previous attempt got as far as the POST), the
  tracker is searched for the idempotency label; search may lag behind a create (a minute on Jira
  Cloud, seconds elsewhere: ``Tracker.search_lag``), so a miss within that lag waits instead of creating;
- a comment carries a marker that a retried attempt looks for before adding it again.

While an attempt runs, a thread renews its lease in the journal and the conversation lock every
``LEASE_RENEW_EVERY`` seconds. A worker killed mid-job is seen gone by the next sweep tick (its named
Redis connections close), which breaks the locks it held and re-enqueues its messages; the lease and the
lock's expiry are the fallback when that cannot be known (jobs/recovery.py).

A backlog of new conversations is opened with the tracker's bulk create: the job about to open an
issue takes other first messages waiting at the head of the queue (their locks, jobs and leases) into
the same call, and records each one's outcome as its own attempt (``_companions``, ``_open_together``).

Transient failures leave the message queued with ``next_attempt_at`` in the future (honouring the
tracker's ``Retry-After``); the sweep re-enqueues it. After ``HUB_MAX_ATTEMPTS`` it is a dead letter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import random
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NoReturn

from redis.exceptions import LockError, RedisError
from redis.lock import Lock
from sqlalchemy.exc import SQLAlchemyError

from config.rules import Rule
from connector.base import Tracker
from connector.errors import (
    ChannelRejected,
    ChannelUnavailable,
    CircuitOpen,
    TrackerRejected,
    TrackerUnavailable,
)
from connector.telegram import FileTooLarge
from connector.types import FileUpload, IssueDraft, IssueRef
from jobs.context import Context, get_context, waiting_reason
from jobs.events import handle_event
from jobs.queues import peek_deliveries, take_deliveries
from jobs.recovery import LEASE_SECONDS, conversation_lock_key, lock_token, record_companions
from jobs.replies import queue_autoreply
from jobs.routing.route_link import add_route_link
from jobs.worker import trap
from mappers.issue import bounce_comment, build_comment, build_draft, comment_marker
from mappers.markup import markup_for
from mappers.models import Attachment, Channel, InboundMessage, MessageKind
from mappers.subjects import find_issue_keys
from store import journal, links
from store.links import Link, NewLink

log = logging.getLogger(__name__)

TRACKER_CHANNELS = frozenset({"jira", "kaiten"})  # journal rows that are tracker webhook events
LEASE_RENEW_EVERY = 10  # seconds; three renewals per LEASE_SECONDS (jobs/recovery.py), so one can fail
LOCK_WAIT_SECONDS = 5  # lock holders take well under a second; a longer wait only idles a worker
EARLIER_MESSAGE_WAIT = 2.0  # seconds
WAITING_FOR_EARLIER = "waiting for an earlier message of the conversation"
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the cloud Bot API's getFile limit


class InternalError(Exception):
    """Internal: an unexpected exception, retried like a transient one and then dead-lettered."""


class Retry(Exception):
    """Internal: try this message again after ``delay`` seconds."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


def deliver(message_id: str) -> str:
    """RQ entry point: deliver one journaled message. Returns the journal status it ended in."""
    return deliver_with(get_context(), message_id)


def deliver_with(ctx: Context, message_id: str) -> str:
    """Deliver with an explicit context (tests and ``replay`` call this directly)."""
    # Claim the row at once: from here until the attempt ends, a lease that runs out means this process
    # died (even while still waiting for the conversation's lock), so the sweep may take the message.
    entry = journal.claim(ctx.engine, message_id, LEASE_SECONDS)
    if entry is None:
        return _status_of(ctx, message_id)
    lock = _conversation_lock(ctx, entry)
    if not lock.acquire(blocking=True, blocking_timeout=LOCK_WAIT_SECONDS, token=lock_token(ctx.redis)):
        journal.schedule_retry(ctx.engine, message_id, 5, WAITING_FOR_EARLIER)
        return journal.QUEUED
    try:
        with _lease_kept(ctx, [(message_id, lock)]):
            return _attempt(ctx, message_id)
    finally:
        _release(lock, message_id)


def _conversation_lock(ctx: Context, entry: journal.Entry) -> Lock:
    # not thread-local: the lease renewer extends the lock from its own thread. Acquire it with a
    # ``lock_token``, which names this worker, so the sweep can break it if this worker is killed.
    key = conversation_lock_key(entry.conversation_key)
    return ctx.redis.lock(key, timeout=LEASE_SECONDS, thread_local=False)


def _release(lock: Lock, message_id: str) -> None:
    try:
        lock.release()
    except LockError:
        log.warning("deliver.lock-expired message_id=%s", message_id)


@contextlib.contextmanager
def _lease_kept(ctx: Context, holds: Sequence[tuple[str, Lock]]) -> Iterator[None]:
    """Renew the attempts' journal leases and conversation locks for as long as this process lives."""
    stop = threading.Event()
    message_ids = [message_id for message_id, _ in holds]

    def renew() -> None:
        while not stop.wait(LEASE_RENEW_EVERY):
            # the journal's lease first: it is what keeps the sweep away, and it must not depend on Redis
            try:
                journal.extend_leases(ctx.engine, message_ids, LEASE_SECONDS)
            except SQLAlchemyError as exc:
                log.warning("deliver.lease-renew-failed message_id=%s error=%s", message_ids[0], exc)
            for message_id, lock in holds:
                try:
                    lock.extend(LEASE_SECONDS, replace_ttl=True)
                except (LockError, RedisError) as exc:
                    log.warning("deliver.lock-renew-failed message_id=%s error=%s", message_id, exc)

    renewer = threading.Thread(target=renew, name=f"lease-{message_ids[0]}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()


def _attempt(ctx: Context, message_id: str) -> str:
    _trap(ctx, "claimed", [message_id])  # claimed and locked, the attempt not yet counted: gap C
    entry = journal.begin_attempt(ctx.engine, message_id, LEASE_SECONDS)
    if entry is None:  # delivered by a concurrent job meanwhile
        return _status_of(ctx, message_id)
    attempt, entry = _begun(entry)
    if entry.channel in TRACKER_CHANNELS:
        return _conclude(ctx, message_id, attempt, lambda: handle_event(ctx, entry))
    return _conclude(
        ctx, message_id, attempt, lambda: _route(ctx, entry, InboundMessage.model_validate_json(entry.body))
    )


def _begun(entry: journal.Entry) -> tuple[int, journal.Entry]:
    """This attempt's number, and the row as the attempt found it: ``attempts`` counts the earlier ones
    (``attempts > 0`` is how the effects know a retry must look for what an earlier attempt wrote)."""
    return entry.attempts, dataclasses.replace(entry, attempts=entry.attempts - 1)


def _status_of(ctx: Context, message_id: str) -> str:
    current = journal.get(ctx.engine, message_id)
    return current.status if current else "missing"


def _conclude(ctx: Context, message_id: str, attempt: int, work: Callable[[], str]) -> str:
    """Run one attempt's work and record how it ended: its status, a retry, or a dead letter."""
    try:
        status = work()
    except (TrackerUnavailable, ChannelUnavailable, Retry) as exc:
        return _retry_or_fail(ctx, message_id, attempt, exc)
    except TrackerRejected as exc:
        journal.mark_failed(ctx.engine, message_id, f"tracker rejected the message: {exc}")
        log.error("deliver.rejected message_id=%s reason=%s", message_id, exc)
        return journal.FAILED
    except Exception as exc:
        # A bug, not the tracker: keep the message (the journal is the source of truth), retry with
        # back-off, and end as a visible dead letter instead of a job that fails forever.
        log.exception("deliver.internal-error message_id=%s attempt=%d", message_id, attempt)
        return _retry_or_fail(
            ctx, message_id, attempt, InternalError(f"internal error: {type(exc).__name__}: {exc}")
        )
    log.info("deliver.done message_id=%s status=%s attempt=%d", message_id, status, attempt)
    return status


def _retry_or_fail(ctx: Context, message_id: str, attempt: int, exc: Exception) -> str:
    reason = str(exc)
    tracker = getattr(exc, "tracker", None)
    if tracker:  # the breaker's wake-up finds the message by this prefix when the tracker is back
        reason = waiting_reason(tracker) + reason
    if isinstance(exc, CircuitOpen | Retry):
        # Nothing failed: the tracker's calls are paused, or the message waits its turn. Wait exactly that
        # long (plus jitter, so a woken backlog does not stampede), and give the attempt back.
        wait = exc.retry_after if isinstance(exc, CircuitOpen) else exc.delay
        delay = (wait or 1.0) + random.uniform(0, 1)
        journal.schedule_retry(ctx.engine, message_id, delay, reason, refund_attempt=True)
        log.info("deliver.waiting message_id=%s delay=%.1f reason=%s", message_id, delay, reason)
        return journal.QUEUED
    if attempt >= ctx.settings.HUB_MAX_ATTEMPTS:
        journal.mark_failed(ctx.engine, message_id, f"gave up after {attempt} attempts: {reason}")
        log.error("deliver.dead-letter message_id=%s attempts=%d reason=%s", message_id, attempt, reason)
        return journal.FAILED
    asked = getattr(exc, "retry_after", None) or 0.0
    delay = max(float(asked), backoff(attempt))
    journal.schedule_retry(ctx.engine, message_id, delay, reason)
    log.warning(
        "deliver.retry message_id=%s attempt=%d delay=%.1f reason=%s", message_id, attempt, delay, reason
    )
    return journal.QUEUED


def backoff(attempt: int) -> float:
    """Seconds before the next attempt: 5 s, 10 s, 20 s … capped at 15 minutes."""
    return float(min(5 * 2 ** max(attempt - 1, 0), 900))


# -- deciding where a message goes --------------------------------------------------------------------


def _route(ctx: Context, entry: journal.Entry, message: InboundMessage) -> str:
    if message.kind == MessageKind.AUTO_REPLY:
        journal.mark_ignored(ctx.engine, entry.id, f"auto-generated mail: {message.auto_reason}")
        return journal.IGNORED
    if message.kind == MessageKind.BOUNCE:
        return _record_bounce(ctx, entry, message)
    if entry.create_started_at is not None:
        # An earlier attempt sent a create whose answer was lost: settle that issue first, even if the
        # conversation has another issue by now, or the message would end up both an issue and a comment.
        link = find_thread(ctx, message)
        previous = link.issue_key if link is not None and _resolved(ctx, link) else None
        return _open_issue(ctx, entry, message, previous=previous)
    if journal.earlier_pending(ctx.engine, entry):
        # First in, first delivered within a conversation: a follow-up that overtook its first message
        # (whose create failed or is in doubt) would otherwise open a second issue for the same chat.
        raise Retry(WAITING_FOR_EARLIER, EARLIER_MESSAGE_WAIT)
    link = find_thread(ctx, message)
    if link is not None and message.kind != MessageKind.EDIT and _resolved(ctx, link):
        # resolved, whether or not its resolve webhook came (and deactivated the link): a new issue,
        # linked to this one and naming it
        return _open_issue(ctx, entry, message, previous=link.issue_key)
    if link is not None:
        return _add_follow_up(ctx, entry, message, link)
    return _open_issue(ctx, entry, message, previous=None)


def _resolved(ctx: Context, link: Link) -> bool:
    """Whether the link's issue is done now (the tracker decides; a reopened issue goes on), its link
    deactivated if it still was active."""
    if not ctx.tracker(link.tracker).get_state(link.issue_key).done:
        return False
    if link.active:
        links.deactivate(ctx.engine, link.id)
    return True


def find_thread(ctx: Context, message: InboundMessage) -> Link | None:
    """The conversation's issue, if this message follows up on one (resolved or not: the caller asks).

    Telegram: the chat topic's newest issue. E-mail: a Message-ID in In-Reply-To/References that the
    hub sent or received; failing that, an issue key in the subject, but only from the issue's requester.
    """
    if message.channel == Channel.TELEGRAM:
        return links.latest_link(ctx.engine, message.conversation_key)
    if message.channel != Channel.EMAIL or message.email is None:
        return None
    by_header = links.link_for_mail_ids(
        ctx.engine, [*message.email.in_reply_to, *reversed(message.email.references)]
    )
    if by_header is not None:
        return by_header
    sender = (message.sender.email or "").lower()
    for key in find_issue_keys(message.subject):
        link = links.link_for_issue(ctx.engine, key)
        if link is not None and sender and (link.requester_email or "").lower() == sender:
            return link
    return None


# -- effects --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewIssue:
    """A message on its way to becoming an issue: its journal row, its text, its draft and files."""

    entry: journal.Entry
    message: InboundMessage
    draft: IssueDraft
    files: list[FileUpload]
    previous: str | None = None
    attempt: int = 0


def _open_issue(ctx: Context, entry: journal.Entry, message: InboundMessage, previous: str | None) -> str:
    rule = ctx.config.rule_for(message)
    tracker = ctx.tracker(rule.target.tracker)
    issue = _new_issue(ctx, entry, message, rule, previous)
    room = min(tracker.bulk_limit, ctx.settings.HUB_BULK_CREATE_MAX) - 1
    if previous is None and entry.create_started_at is None and room > 0:
        with _companions(ctx, entry, tracker.name, room) as companions:
            if companions:
                return _open_together(ctx, tracker, issue, companions)
    return _open_alone(ctx, tracker, issue)


def _new_issue(
    ctx: Context, entry: journal.Entry, message: InboundMessage, rule: Rule, previous: str | None
) -> NewIssue:
    files, notes = _collect_files(ctx, message)
    if notes or previous:
        extra = [*notes, *([f"Follow-up to {previous}, which was already resolved."] if previous else [])]
        message = message.model_copy(update={"notes": [*message.notes, *extra]})
    draft = build_draft(message, rule, entry.id, assignee=next_assignee(ctx, rule))
    return NewIssue(entry, message, draft, files, previous)


def _record_issue(ctx: Context, tracker: Tracker, issue: NewIssue, ref: IssueRef) -> str:
    """The issue exists: attach the files, link it, remember the conversation, queue the autoreply."""
    entry, message, previous, draft = issue.entry, issue.message, issue.previous, issue.draft
    with _written_already():
        _attach_files(tracker, entry, ref.key, issue.files)
        if previous is not None:
            tracker.link_issues(previous, ref.key)
        add_route_link(ctx, tracker, ref)
    mail_ids = _own_mail_ids(message)
    requester_email = (message.email.reply_to if message.email and message.email.reply_to else None) or (
        message.sender.email
    )
    links.add_link(
        ctx.engine,
        NewLink(
            conversation_key=message.conversation_key,
            tracker=ref.tracker,
            issue_key=ref.key,
            issue_url=ref.url,
            channel=message.channel.value,
            message_id=entry.id,
            requester_name=message.sender.name,
            requester_email=requester_email,
            telegram_chat_id=message.telegram.chat_id if message.telegram else None,
            telegram_thread_id=message.telegram.thread_id if message.telegram else None,
            language=message.sender.language,
            subject=message.subject or draft.title,
            previous_issue_key=previous,
        ),
        mail_ids,
    )
    journal.mark_delivered(
        ctx.engine, entry.id, tracker=ref.tracker, issue_key=ref.key, issue_url=ref.url, outcome="issue"
    )
    queue_autoreply(ctx, entry.id, message, requester_email)
    return journal.DELIVERED


def _create_once(ctx: Context, tracker: Tracker, entry: journal.Entry, draft: IssueDraft) -> IssueRef:
    """Create the issue unless an earlier attempt already did (found by its idempotency label)."""
    if entry.create_started_at is not None:
        found = tracker.find_issue(draft.idempotency_key)
        if found is not None:
            log.info("deliver.found-earlier-create message_id=%s key=%s", entry.id, found.key)
            return tracker.complete_issue(found.key, draft)
        lag = dt.timedelta(seconds=tracker.search_lag)
        waited = journal.utcnow() - entry.create_started_at
        if waited < lag:
            raise Retry("an earlier create may not be searchable yet", (lag - waited).total_seconds())
    return tracker.create_issue(draft, on_send=lambda: journal.mark_create_started(ctx.engine, entry.id))


# -- bulk create: a backlog of new conversations opens up to ``bulk_limit`` issues per tracker call ----


@dataclass(frozen=True)
class _Candidate:
    entry: journal.Entry
    message: InboundMessage
    rule: Rule
    lock: Lock


@contextlib.contextmanager
def _companions(ctx: Context, leader: journal.Entry, tracker: str, room: int) -> Iterator[list[NewIssue]]:
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
        with _lease_kept(ctx, [(c.entry.id, c.lock) for c in candidates]):
            _trap(ctx, "taken", [leader.id, *(c.entry.id for c in candidates)])  # gap E
            yield [issue for c in candidates if (issue := _begin_companion(ctx, c)) is not None]
    finally:
        _release_all(candidates)


def _claim_candidates(ctx: Context, leader: journal.Entry, tracker: str, room: int) -> list[_Candidate]:
    """Lock the candidates, lease them, then take their jobs; the ones whose job was still queued."""
    candidates = _lock_candidates(ctx, leader, tracker, room)
    try:
        if candidates:
            # leases before the take: once their jobs are gone the sweep must already be leaving them
            # alone, or it would give one a second job while this one is delivering it
            journal.extend_leases(ctx.engine, [c.entry.id for c in candidates], LEASE_SECONDS)
            _trap(ctx, "companions-locked", [leader.id, *(c.entry.id for c in candidates)])  # gap D
            taken = set(take_deliveries(ctx.redis, [c.entry.id for c in candidates]))
            for candidate in [c for c in candidates if c.entry.id not in taken]:
                candidates.remove(candidate)  # a worker popped its job meanwhile: it is that worker's
                _release(candidate.lock, candidate.entry.id)
    except BaseException:
        _release_all(candidates)
        raise
    return candidates


def _trap(ctx: Context, point: str, message_ids: list[str]) -> None:
    trap(ctx.redis, point, message_ids, enabled=ctx.settings.HUB_TEST_TRAPS)


def _release_all(candidates: list[_Candidate]) -> None:
    for candidate in candidates:
        _release(candidate.lock, candidate.entry.id)


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
            if journal.earlier_pending(ctx.engine, entry) or find_thread(ctx, candidate.message) is not None:
                found.pop()
                _release(candidate.lock, entry.id)
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
    return _Candidate(entry, message, rule, _conversation_lock(ctx, entry))


def _begin_companion(ctx: Context, candidate: _Candidate) -> NewIssue | None:
    """Count the companion's attempt and draft its issue; None if drafting failed (and was recorded)."""
    entry = journal.begin_attempt(ctx.engine, candidate.entry.id, LEASE_SECONDS)
    if entry is None:  # its job ran after all (a sweep re-enqueued it meanwhile) and delivered it
        return None
    attempt, entry = _begun(entry)
    if entry.create_started_at is not None:  # an attempt got as far as a create meanwhile: settle alone
        journal.schedule_retry(ctx.engine, entry.id, 0, "settling an earlier create", refund_attempt=True)
        return None
    try:
        issue = _new_issue(ctx, entry, candidate.message, candidate.rule, previous=None)
    except Exception as exc:
        _conclude(ctx, entry.id, attempt, functools.partial(_raise, exc))
        return None
    return dataclasses.replace(issue, attempt=attempt)


def _open_together(ctx: Context, tracker: Tracker, leader: NewIssue, companions: list[NewIssue]) -> str:
    """One bulk create for the leader's issue and its companions'; each is then recorded on its own."""
    members = [leader, *companions]
    ids = [member.entry.id for member in members]
    results: list[IssueRef | Exception]
    try:
        created = tracker.create_issues(
            [member.draft for member in members],
            on_send=lambda: journal.mark_creates_started(ctx.engine, ids),
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


def _open_one_by_one(ctx: Context, tracker: Tracker, leader: NewIssue, companions: list[NewIssue]) -> str:
    return _for_each(ctx, leader, companions, functools.partial(_open_alone, ctx, tracker))


def _for_each(
    ctx: Context, leader: NewIssue, companions: list[NewIssue], work: Callable[[NewIssue], str]
) -> str:
    """Each companion's work, concluded as its own attempt; then the leader's, whose job concludes it."""
    for member in companions:
        _conclude(ctx, member.entry.id, member.attempt, functools.partial(work, member))
    return work(leader)


def _open_alone(ctx: Context, tracker: Tracker, issue: NewIssue) -> str:
    return _record_issue(ctx, tracker, issue, _create_once(ctx, tracker, issue.entry, issue.draft))


def _record_result(ctx: Context, tracker: Tracker, issue: NewIssue, result: IssueRef | Exception) -> str:
    if isinstance(result, Exception):
        _raise(result)
    return _record_issue(ctx, tracker, issue, result)


def _raise(exc: Exception) -> NoReturn:
    """An attempt's work that already failed, for :func:`_conclude` to record."""
    raise exc


def next_assignee(ctx: Context, rule: Rule) -> str | None:
    """The rule's next assignee in rotation (a counter in Redis, so it survives restarts), if it rotates."""
    people = rule.fields.assignees
    if not people:
        return None
    turn = int(ctx.redis.incr(f"hub:round-robin:{rule.name}"))
    return people[(turn - 1) % len(people)]


def _add_follow_up(ctx: Context, entry: journal.Entry, message: InboundMessage, link: Link) -> str:
    tracker = ctx.tracker(link.tracker)
    files, notes = _collect_files(ctx, message)
    if notes:
        message = message.model_copy(update={"notes": [*message.notes, *notes]})
    marker = comment_marker(entry.id)
    if entry.attempts > 0 and tracker.find_comment(link.issue_key, marker):
        log.info("deliver.comment-exists message_id=%s key=%s", entry.id, link.issue_key)
    else:
        edited = message.kind == MessageKind.EDIT
        body = build_comment(message, entry.id, edited=edited, markup=ctx.markup(link.tracker))
        tracker.add_comment(link.issue_key, body, marker)
    with _written_already():
        _attach_files(tracker, entry, link.issue_key, files)
    links.remember_mail_ids(ctx.engine, link.id, _own_mail_ids(message), "in")
    links.mark_delivered_on(ctx.engine, entry.id, link, "comment")
    return journal.DELIVERED


@contextlib.contextmanager
def _written_already() -> Iterator[None]:
    """Tracker calls after the attempt's first write: a paused circuit here costs the attempt.

    A wait for an open circuit normally gives the attempt back; once the issue or comment exists, the
    retry must know it was tried (``attempts > 0``), so it looks for what was written instead of
    writing it again.
    """
    try:
        yield
    except CircuitOpen as exc:
        counted = TrackerUnavailable(str(exc), retry_after=exc.retry_after)
        counted.tracker = exc.tracker
        raise counted from exc


def _attach_files(tracker: Tracker, entry: journal.Entry, key: str, files: list[FileUpload]) -> None:
    """Upload the files one by one; one the tracker refuses (too big, a banned type) becomes a note on
    the issue instead of failing a message whose text is already there."""
    if not files:
        return
    try:
        tracker.attach_files(key, files)  # one listing of the issue's files for all of them
        return
    except TrackerRejected:
        pass  # find out which: one upload at a time (those already attached are skipped)
    refused: list[str] = []
    for upload in files:
        try:
            tracker.attach_files(key, [upload])
        except TrackerRejected as exc:
            log.warning("deliver.attachment-refused message_id=%s key=%s reason=%s", entry.id, key, exc)
            refused.append(f"{upload.filename}: {exc}")
    if not refused:
        return
    marker = f"files-refused-{entry.id}"
    if entry.attempts > 0 and tracker.find_comment(key, marker):
        return
    markup = markup_for(tracker.kind)
    lines = [markup.escape(f"The tracker refused an attachment of this message ({why}).") for why in refused]
    lines.append(markup.italic(markup.escape("Ask the customer to send it another way.")))
    lines.append(markup.marker(marker))
    tracker.add_comment(key, "\n".join(lines), marker)


def _record_bounce(ctx: Context, entry: journal.Entry, message: InboundMessage) -> str:
    meta = message.email
    candidates = [meta.bounced_message_id] if meta and meta.bounced_message_id else []
    if meta:
        candidates += [*meta.in_reply_to, *meta.references]
    link = links.link_for_mail_ids(ctx.engine, [c for c in candidates if c])
    if link is None:
        journal.mark_ignored(ctx.engine, entry.id, "bounce of mail the hub does not know")
        return journal.IGNORED
    tracker = ctx.tracker(link.tracker)
    marker = comment_marker(entry.id)
    if not (entry.attempts > 0 and tracker.find_comment(link.issue_key, marker)):
        tracker.add_comment(
            link.issue_key, bounce_comment(message, entry.id, ctx.markup(link.tracker)), marker
        )
    journal.mark_ignored(
        ctx.engine, entry.id, f"bounce recorded on {link.issue_key}", issue_key=link.issue_key
    )
    return journal.IGNORED


def _own_mail_ids(message: InboundMessage) -> list[str]:
    if message.email and message.email.message_id:
        return [message.email.message_id]
    return []


def _collect_files(ctx: Context, message: InboundMessage) -> tuple[list[FileUpload], list[str]]:
    """The message's files as uploads, and notes about the ones that could not be fetched."""
    uploads: list[FileUpload] = []
    notes: list[str] = []
    for attachment in message.attachments:
        content = _attachment_bytes(ctx, attachment, notes)
        if content is not None:
            uploads.append(FileUpload(_safe_filename(attachment.filename), content, attachment.content_type))
    return uploads, notes


def _attachment_bytes(ctx: Context, attachment: Attachment, notes: list[str]) -> bytes | None:
    if attachment.blob_id:
        content = journal.get_blob(ctx.engine, attachment.blob_id)
        if content is None:
            notes.append(f"Attachment {attachment.filename} was lost before delivery.")
        return content
    if attachment.telegram_file_id is None:
        return None
    if attachment.size and attachment.size > TELEGRAM_DOWNLOAD_LIMIT:
        notes.append(_too_large(attachment))
        return None
    client = ctx.telegram
    if client is None:
        notes.append(
            f"Attachment {attachment.filename} was not fetched: no Telegram bot token is configured."
        )
        return None
    try:
        file = client.get_file(attachment.telegram_file_id)
        return client.download(file.file_path, max_bytes=TELEGRAM_DOWNLOAD_LIMIT)
    except FileTooLarge:
        notes.append(_too_large(attachment))
    except ChannelRejected as exc:
        notes.append(f"Attachment {attachment.filename} could not be fetched from Telegram: {exc}")
    return None


def _too_large(attachment: Attachment) -> str:
    size = f" ({attachment.size / 1024 / 1024:.1f} MB)" if attachment.size else ""
    return (
        f"Attachment {attachment.filename}{size} is over the Telegram Bot API's 20 MB download limit; "
        "ask the customer to send it another way."
    )


def _safe_filename(name: str) -> str:
    cleaned = re.sub(r'[\x00-\x1f/\\:*?"<>|]+', "_", name).strip(" .") or "attachment"
    return cleaned[:200]
