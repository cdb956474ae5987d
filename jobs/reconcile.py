"""Polling reconciliation: the comments a tracker's webhooks did not bring, found by reading what changed.

A Kaiten tariff without webhooks, or a webhook lost on the way, would otherwise leave an engineer's
answer unsent and the ``commented`` automations unfired. Every ``RECONCILE_EVERY`` seconds a job reads
the issues of each tracker the rule file sends to, updated since the last pass (``updated_after``, with
``OVERLAP`` for clocks and search lag), and journals each comment created since then that the journal
does not hold, as the webhook would have (``accept_event``): the event job then answers the customer
and fires the automations as usual. A comment is known by its id, whichever way it came: the event job
acts on the first journaled event of a comment only (``jobs.events``), so a webhook arriving after its
comment was reconciled does nothing twice. The first pass only records where it starts.
"""

from __future__ import annotations

import datetime as dt
import logging

from redis import Redis
from rq import Queue

from config.targets import JiraTarget
from connector.types import Comment, SearchQuery
from jobs.clock import utcnow
from jobs.context import Context, get_context
from jobs.intake import accept_event
from jobs.queues import PERIODIC_QUEUE
from mappers.tracker_events import TrackerEvent
from store import journal

log = logging.getLogger(__name__)

RECONCILE_EVERY = 120.0  # seconds between passes
OVERLAP = dt.timedelta(minutes=5)  # read back this far before the last pass: clocks, search lag
WATERMARK_KEY = "hub:reconcile:{tracker}"
WAITING_KEY = "hub:reconcile:waiting"  # a pass is queued: the scheduler does not queue a second
RECONCILE_FUNC = "jobs.reconcile.reconcile_all"


def enqueue_reconcile(redis: Redis) -> bool:
    """Queue a pass unless one is waiting (the flag lapses if its job was lost)."""
    if not redis.set(WAITING_KEY, "1", nx=True, ex=int(RECONCILE_EVERY * 5)):
        return False
    Queue(PERIODIC_QUEUE, connection=redis).enqueue(
        RECONCILE_FUNC, job_timeout=600, result_ttl=0, failure_ttl=3600, description="events reconcile"
    )
    return True


def reconcile_all() -> int:
    """The RQ job: one pass over every tracker the rule file sends to; how many comments were journaled."""
    ctx = get_context()
    ctx.redis.delete(WAITING_KEY)
    return sum(reconcile_tracker(ctx, name, utcnow()) for name in trackers_of(ctx))


def trackers_of(ctx: Context) -> dict[str, tuple[str, ...]]:
    """Each tracker the rules send issues to, with its projects (boards)."""
    found: dict[str, set[str]] = {}
    for rule in ctx.config.rules:
        target = rule.target
        container = target.project if isinstance(target, JiraTarget) else str(target.board)
        found.setdefault(target.tracker, set()).add(container)
    return {name: tuple(sorted(containers)) for name, containers in found.items()}


def reconcile_tracker(ctx: Context, name: str, now: dt.datetime) -> int:
    """One pass over tracker ``name``: the comments created since the last pass that the journal lacks."""
    since = _watermark(ctx.redis, name)
    if since is None:
        _set_watermark(ctx.redis, name, now)
        return 0
    tracker = ctx.tracker(name)
    query = SearchQuery(containers=trackers_of(ctx).get(name, ()), updated_after=since - OVERLAP)
    journaled = 0
    for state in tracker.search(query, fields=("status",)):
        conversation = f"{name}:issue:{state.ref.key}"
        known = {comment_id for _, comment_id, _ in journal.comment_events(ctx.engine, conversation)}
        for comment in tracker.comments(state.ref.key):
            if comment.id in known or comment.created is None or comment.created < since - OVERLAP:
                continue
            accept_event(ctx.engine, ctx.redis, _event(name, state.ref.key, comment), b"{}")
            journaled += 1
    _set_watermark(ctx.redis, name, now)
    if journaled:
        log.info("reconcile.comments tracker=%s journaled=%d", name, journaled)
    return journaled


def _event(tracker: str, key: str, comment: Comment) -> TrackerEvent:
    return TrackerEvent(
        tracker=tracker,  # type: ignore[arg-type]
        kind="comment_created",
        event_id=f"reconciled:comment:{comment.id}",
        source_event="reconciled",
        issue_key=key,
        comment_id=comment.id,
        comment_body=comment.body,
        comment_author=comment.author,
        comment_public=comment.public,
        actor=comment.author,
        actor_name=comment.author_name or None,
        occurred_at=comment.created,
    )


def _watermark(redis: Redis, tracker: str) -> dt.datetime | None:
    raw = redis.get(WATERMARK_KEY.format(tracker=tracker))
    return dt.datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else str(raw)) if raw else None


def _set_watermark(redis: Redis, tracker: str, moment: dt.datetime) -> None:
    redis.set(WATERMARK_KEY.format(tracker=tracker), moment.isoformat())
