"""Event rules: a tracker webhook the hub journaled fires the rules it matches, once per event id.

Called from the tracker-event job (jobs/events.py) before anything else decides about the event, so
the hub's own comments (a customer's message the hub wrote on the issue) can fire ``author: customer``
rules. The firing's key is (rule, issue, ``event:<event id>``): a webhook delivered three times, or its
job retried, stores one firing. A rule's conditions are checked on the issue as it is now (one read,
only when some rule's event matched, with the fields its ``when.fields`` name). ``field_changed`` reads
the fields the event says changed; ``linked_resolved`` rules fire on the issues linked to the one the
event resolved (jobs/automations/linked.py).
"""

from __future__ import annotations

import datetime as dt
import logging

from connector.base import Tracker
from connector.types import IssueState
from jobs.automations.linked import fire_linked
from jobs.automations.model import AutomationRule
from jobs.automations.queue import enqueue_firings
from jobs.automations.rules import rules_of
from jobs.automations.scan import JOB_GRACE, issue_payload, state_for
from jobs.clock import utcnow
from jobs.context import Context
from mappers.automation_match import RuleEvent
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
    now: dt.datetime | None = None,
) -> list[str]:
    """Store (and enqueue) a firing for each event rule this event fires; return the new firing ids.

    ``now`` is when the conditions are checked (the automations' clock by default; a test's own)."""
    candidates = [
        rule
        for rule in (rules if rules is not None else rules_of(ctx)).values()
        if event.kind in rule.event_kinds and rule.tracker == event.tracker
    ]
    if not _may_fire(event, own):
        return []
    linked = fire_linked(ctx, tracker, event, [rule for rule in candidates if rule.linked])
    # what the event alone says first (a comment's text and author): the issue is read only when a rule
    # may fire, so the hub's own comments cost nothing more when no rule is about customers' messages
    hinted = rule_event(event, own, None)
    candidates = [
        rule
        for rule in candidates
        if not rule.linked and (_fires(rule, hinted) or _fires_on_status(rule, event))
    ]
    if not candidates:
        return linked
    key = event.issue_key or (tracker.get_state(event.issue_id).ref.key if event.issue_id else None)
    if key is None:
        return linked
    state = state_for(tracker, key, candidates)
    seen = rule_event(event, own, state)
    now = now or utcnow()
    found = []
    for rule in candidates:
        assert rule.event_occurrence is not None
        occurrence = rule.event_occurrence(seen)
        if occurrence is not None and (rule.accepts is None or rule.accepts(state, now)):
            found.append(NewFiring(rule.name, rule.tracker, key, occurrence, issue_payload(state)))
    new = firings.insert(ctx.engine, found, now, JOB_GRACE)
    enqueue_firings(ctx.redis, new)
    if new:
        log.info("automations.event-fired event=%s issue=%s firings=%d", event.event_id, key, len(new))
    return linked + new


def _fires(rule: AutomationRule, event: RuleEvent) -> bool:
    return rule.event_occurrence is not None and rule.event_occurrence(event) is not None


def _fires_on_status(rule: AutomationRule, event: TrackerEvent) -> bool:
    """A transition may name the status entered by the issue's column title, which only the issue says."""
    return event.kind == "issue_transitioned" and rule.event_occurrence is not None


def _may_fire(event: TrackerEvent, own: bool) -> bool:
    """The automations' own comments never fire a rule; the hub's other own comments are a customer's
    message only when public (an internal note of the hub is nobody's comment)."""
    if not event.kind.startswith("comment"):
        return True
    return MARKER not in (event.comment_body or "") and not (own and event.comment_public is False)


def rule_event(event: TrackerEvent, own: bool, state: IssueState | None) -> RuleEvent:
    """The event as ``automation_match.event_occurrence`` reads it: a comment the hub's own account wrote
    is a customer's message it relayed; the status entered is the event's (a Jira status, a Kaiten
    column id) and the issue's now (a Kaiten column's title)."""
    kind = {
        "comment_created": "commented",
        "issue_transitioned": "transitioned",
        "issue_updated": "field_changed",
        "issue_created": "created",
    }.get(event.kind, event.kind)
    return RuleEvent(
        kind=kind,
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        text=event.comment_body or "",
        author_is_customer=own if event.kind.startswith("comment") else None,
        status_to=tuple(s for s in (event.status_to, state.status if state else None) if s),
        fields_changed=event.fields_changed,
    )
