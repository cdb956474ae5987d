"""Polling reconciliation: what a tracker's webhooks did not bring, found by reading what changed.

A Kaiten tariff without webhooks, or a webhook lost on the way, would otherwise leave an engineer's
answer unsent, a status unnotified and the event automations unfired. Every ``HUB_RECONCILE_SECONDS`` (120)
one job reads, per tracker the rule file sends to (``jira`` and ``kaiten``, when configured), the
issues updated since its last successful pass less ``OVERLAP`` (clock skew, search lag, Jira's
minute-precise JQL dates), page by page and with only the fields it needs, and journals each change
it finds as its webhook would have been (``accept_event``); the event job then acts as usual
(``mappers.reconcile`` says how each change keeps its webhook's identity, so a webhook and the poll
for one change are acted on once, in either order):

- **Jira**: one ``POST /search`` per page with ``fields=status,comment`` and ``expand=changelog``:
  transitions, assignments and field edits (``changelog:<id>``) and new comments, with no call per
  issue (``JiraTracker.changes_since``);
- **Kaiten**: ``GET /cards?updated_after=…`` per page (``CardSearch.search``), the card compared with
  its snapshot (what the hub last saw: Redis hash ``CARDS_KEY``); the comments of a card are read
  only when its ``comments_total`` changed. Every request takes its turn from the token's shared rate
  limiter (5/s), and every call goes through the tracker's circuit breaker: a pass that meets an open
  circuit or an outage stops for that tracker and the next one reads again from the same watermark.

The first pass of a tracker only records where it starts; a card is compared from its second sighting
on. A watermark lost with Redis is taken from the journal's newest event of that tracker (at most a
week back), so the webhooks lost meanwhile are still found. Comments are known by their id
(``jobs.events`` acts on the first journaled creation of a comment).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import replace

from redis import Redis
from rq import Queue

from config.targets import JiraTarget
from connector.base import Tracker
from connector.errors import TrackerUnavailable
from connector.types import Comment, IssueRef, SearchQuery
from jobs.context import Context, get_context
from jobs.intake import accept_event
from jobs.queues import PERIODIC_QUEUE
from mappers.reconcile import (
    CARD_FIELDS,
    CardSnapshot,
    TrackerName,
    after_webhook,
    card_change_event,
    card_snapshot,
    changelog_cut,
    comment_event,
    first_base,
    jira_history_events,
    needs_comments,
)
from mappers.tracker_events import TrackerEvent
from store import journal

log = logging.getLogger(__name__)

WAITING_TTL = 600  # seconds: a pass's flag outlives its job's timeout, then lapses if the job was lost
OVERLAP = dt.timedelta(minutes=5)  # read back this far before the last pass: clocks, search lag
LOOKBACK = dt.timedelta(days=7)  # without a watermark, read back at most this far (from the journal)
WATERMARK_KEY = "hub:reconcile:{tracker}"
CARDS_KEY = "hub:reconcile:kaiten:cards"  # card id -> CardSnapshot JSON
WAITING_KEY = "hub:reconcile:waiting"  # a pass is queued or running: the scheduler does not queue a second
RECONCILE_FUNC = "jobs.reconcile.reconcile_all"
POLLED: tuple[TrackerName, ...] = ("jira", "kaiten")  # the trackers whose webhooks the hub takes


def enqueue_reconcile(redis: Redis) -> bool:
    """Queue a pass unless one is waiting or running (the flag lapses if its job was lost or killed)."""
    if not redis.set(WAITING_KEY, "1", nx=True, ex=WAITING_TTL):
        return False
    Queue(PERIODIC_QUEUE, connection=redis).enqueue(
        RECONCILE_FUNC, job_timeout=600, result_ttl=0, failure_ttl=3600, description="events reconcile"
    )
    return True


def reconcile_all() -> int:
    """The RQ job: one pass over every polled tracker; how many events were journaled. The next pass is
    queued only once this one ended, so a slow tracker never has two passes reading it at once."""
    ctx = get_context()
    journaled = 0
    try:
        for name in trackers_of(ctx):
            try:
                journaled += reconcile_tracker(ctx, name, journal.utcnow())
            except TrackerUnavailable as exc:  # an open circuit included: the next pass reads from here
                log.warning("reconcile.unavailable tracker=%s error=%s", name, type(exc).__name__)
            except Exception:  # one tracker's failure (a refused search, a bug) never stops the others
                log.exception("reconcile.failed tracker=%s", name)
    finally:
        ctx.redis.delete(WAITING_KEY)
    return journaled


def trackers_of(ctx: Context) -> dict[TrackerName, tuple[str, ...]]:
    """Each configured tracker the rules send issues to, with its projects (boards)."""
    found: dict[TrackerName, set[str]] = {}
    for rule in ctx.config.rules:
        target = rule.target
        name = target.tracker
        if name not in POLLED or not _configured(ctx, name):
            continue
        container = target.project if isinstance(target, JiraTarget) else str(target.board)
        found.setdefault(name, set()).add(container)
    return {name: tuple(sorted(containers)) for name, containers in found.items()}


def _configured(ctx: Context, name: str) -> bool:
    if name in ctx.config.trackers:
        return True
    settings = ctx.settings
    if name == "jira":
        return bool(settings.JIRA_URL)
    return bool(settings.KAITEN_URL and settings.secret("KAITEN_TOKEN"))


def reconcile_tracker(ctx: Context, name: TrackerName, now: dt.datetime) -> int:
    """One pass over tracker ``name``: journal what changed since the last pass that the journal lacks;
    the watermark moves to ``now`` (taken before reading) only when the pass went through. ``now`` is
    the wall clock, never the automations' (``jobs.clock``, which the fault suite moves hours ahead):
    it is compared with the tracker's own timestamps."""
    since = _watermark(ctx.redis, name) or _since_journal(ctx, name, now)
    if since is None:  # the first pass ever: it only records where the next one starts
        _set_watermark(ctx.redis, name, now)
        return 0
    after = since - OVERLAP
    containers = trackers_of(ctx).get(name, ())
    tracker = ctx.tracker(name)
    if name == "kaiten":
        journaled = _kaiten_pass(ctx, tracker, containers, after)
    else:
        journaled = _jira_pass(ctx, tracker, containers, after)
    _set_watermark(ctx.redis, name, now)
    if journaled:
        log.info("reconcile.journaled tracker=%s events=%d", name, journaled)
    return journaled


def _jira_pass(ctx: Context, tracker: Tracker, containers: tuple[str, ...], after: dt.datetime) -> int:
    journaled = 0
    for changes in tracker.changes_since(containers, after):  # type: ignore[attr-defined]
        if changelog_cut(changes, after):
            log.warning(
                "reconcile.changelog-cut tracker=jira issue=%s histories=%d",
                changes.ref.key,
                len(changes.histories),
            )
        comments = changes.comments if changes.comments_complete else tracker.comments(changes.ref.key)
        events = [
            *jira_history_events(changes, after),
            *_new_comments(ctx, "jira", changes.ref, comments, after),
        ]
        journaled += _journal(ctx, events)
    return journaled


def _kaiten_pass(ctx: Context, tracker: Tracker, containers: tuple[str, ...], after: dt.datetime) -> int:
    journaled = 0
    query = SearchQuery(containers=containers, updated_after=after)
    for state in tracker.search(query, fields=CARD_FIELDS):
        card = state.ref.key
        seen = card_snapshot(state)
        before = card_snapshot_of(ctx.redis, card)
        if needs_comments(before, seen):
            journaled += _journal(ctx, _new_comments(ctx, "kaiten", state.ref, tracker.comments(card), after))
        base = before if before is not None else first_base(state, seen, after)
        change = card_change_event(card, base, seen) if base is not None else None
        polled = before.polled if before is not None else ""
        if card_snapshot_of(ctx.redis, card) != before:
            continue  # a webhook job told a change meanwhile: its snapshot stands, the next pass compares
        if change is not None and _journal(ctx, [change]):
            journaled, polled = journaled + 1, seen.updated
        if before is None or before.at is None or (seen.at is not None and seen.at >= before.at):
            ctx.redis.hset(CARDS_KEY, card, replace(seen, polled=polled).dumps())
    return journaled


def _new_comments(
    ctx: Context, tracker: TrackerName, ref: IssueRef, comments: Iterable[Comment], after: dt.datetime
) -> list[TrackerEvent]:
    """The comments created since ``after`` that the journal holds no creation of."""
    known = {cid for _, cid, _ in journal.comment_events(ctx.engine, conversations(tracker, ref.key, ref.id))}
    return [
        comment_event(tracker, ref, comment)
        for comment in comments
        if comment.id not in known and comment.created is not None and comment.created >= after
    ]


def _journal(ctx: Context, events: list[TrackerEvent]) -> int:
    """Journal the events oldest first (one issue's events are handled in that order); how many were new."""
    ordered = sorted(events, key=lambda e: e.occurred_at or dt.datetime.min.replace(tzinfo=dt.UTC))
    return sum(not accept_event(ctx.engine, ctx.redis, event, b"{}").duplicate for event in ordered)


def conversations(tracker: str, key: str | None, issue_id: str | None) -> list[str]:
    """The conversation keys one issue's events may be journaled under (by key, or by id when a Jira
    Server comment webhook names only the issue's id)."""
    return list(dict.fromkeys(f"{tracker}:issue:{name}" for name in (key, issue_id) if name))


# -- Kaiten card snapshots ---------------------------------------------------------------------------


def card_snapshot_of(redis: Redis, card: str) -> CardSnapshot | None:
    """What the hub last saw of a card (None: never seen)."""
    raw = redis.hget(CARDS_KEY, card)
    return CardSnapshot.loads(raw) if raw else None


def webhook_told(redis: Redis, card: str, told: dict[str, object]) -> None:
    """Record what a ``card:update`` webhook told of a card (``old`` merged with ``changes``), so the
    next poll compares with it rather than find the same change again."""
    before = card_snapshot_of(redis, card)
    after = after_webhook(before, told)
    if before is None or before.at is None or (after.at is not None and after.at >= before.at):
        redis.hset(CARDS_KEY, card, after.dumps())


def _since_journal(ctx: Context, name: TrackerName, now: dt.datetime) -> dt.datetime | None:
    """Where a pass starts when Redis has no watermark (flushed, or a new Redis): the newest event of
    the tracker the journal holds, at most ``LOOKBACK`` ago; None when the journal has none (the hub's
    first pass). Events the journal already holds are known by their ids, so reading back is safe."""
    newest = journal.newest_created(ctx.engine, name)
    if newest is None:
        return None
    log.info("reconcile.no-watermark tracker=%s since=%s", name, newest.isoformat())
    return max(newest, now - LOOKBACK)


def _watermark(redis: Redis, tracker: str) -> dt.datetime | None:
    raw = redis.get(WATERMARK_KEY.format(tracker=tracker))
    return dt.datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else str(raw)) if raw else None


def _set_watermark(redis: Redis, tracker: str, moment: dt.datetime) -> None:
    redis.set(WATERMARK_KEY.format(tracker=tracker), moment.isoformat())
