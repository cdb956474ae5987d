"""Event rules: a tracker webhook the hub journaled fires the rules it matches, once per event id.

Called from the tracker-event job (jobs/events.py) before anything else decides about the event, so
the hub's own comments (a customer's message the hub wrote on the issue) can fire ``author: customer``
rules. The firing's key is (rule, issue, ``event:<event id>``): a webhook delivered three times, or its
job retried, stores one firing. A rule's conditions are checked on the issue as it is now (one read,
only when some rule's event matched).
"""

from __future__ import annotations

import logging

from connector.base import Tracker
from connector.types import DONE, IssueState, SearchQuery
from jobs.automations.model import AutomationRule, EventMatch
from jobs.automations.queue import enqueue_firings
from jobs.automations.rules import rules_of
from jobs.automations.scan import JOB_GRACE, issue_payload
from jobs.clock import utcnow
from jobs.context import Context
from mappers.tracker_events import TrackerEvent
from store import automations as firings
from store.automations import NewFiring

log = logging.getLogger(__name__)

MARKER = "hub-auto-"  # the automations' own comments never fire comment rules


def fire_for_event(
    ctx: Context,
    tracker: Tracker,
    event: TrackerEvent,
    own: bool,
    rules: dict[str, AutomationRule] | None = None,
) -> list[str]:
    """Store (and enqueue) a firing for each event rule this event fires; return the new firing ids."""
    matching = [
        rule
        for rule in (rules if rules is not None else rules_of(ctx)).values()
        if rule.event is not None and rule.tracker == event.tracker and event_matches(rule.event, event, own)
    ]
    key = event.issue_key or (
        tracker.get_state(event.issue_id).ref.key if matching and event.issue_id else None
    )
    if not matching or key is None:
        return []
    state = tracker.get_state(key)
    now = utcnow()
    found = [
        NewFiring(rule.name, rule.tracker, key, f"event:{event.event_id}", issue_payload(state))
        for rule in matching
        if rule.event is not None
        and entered(rule.event, event, state)
        and state_matches(rule.query, state)
        and (rule.accepts is None or rule.accepts(state, now))
    ]
    new = firings.insert(ctx.engine, found, now, JOB_GRACE)
    enqueue_firings(ctx.redis, new)
    if new:
        log.info("automations.event-fired event=%s issue=%s firings=%d", event.event_id, key, len(new))
    return new


def event_matches(match: EventMatch, event: TrackerEvent, own: bool) -> bool:
    """Whether the event is one the rule's trigger names (kind, comment text and author)."""
    if event.kind not in match.kinds:
        return False
    body = event.comment_body or ""
    if event.kind.startswith("comment"):
        if MARKER in body:
            return False
        if match.author == "team" and own:
            return False
        if match.author == "customer" and not (own and event.comment_public is not False):
            return False
        if own and match.author == "any":
            return False  # the hub's notes are not the team's comments
    return not match.text_contains or any(t.casefold() in body.casefold() for t in match.text_contains)


def entered(match: EventMatch, event: TrackerEvent, state: IssueState) -> bool:
    """Whether a transition rule's ``to`` names where the issue went: the event's status (a Jira status
    name, a Kaiten column id) or the issue's status now (a Kaiten column's title)."""
    wanted = {t.casefold() for t in match.to}
    return not wanted or bool({(event.status_to or "").casefold(), state.status.casefold()} & wanted)


def state_matches(query: SearchQuery, state: IssueState) -> bool:
    """Whether the issue, as it is now, meets the conditions a search would have put (raw JQL or a Kaiten
    filter aside: those only narrow scans)."""
    checks = (
        not query.containers or state.container in query.containers,
        not query.statuses or state.status.casefold() in {s.casefold() for s in query.statuses},
        not query.not_done or (not state.done and state.status_category != DONE),
        query.assignee_empty is None or (state.assignee is None) == query.assignee_empty,
        not query.labels or bool(set(query.labels) & set(state.labels)),
        not query.issue_types or state.issue_type in query.issue_types,
    )
    return all(checks)
