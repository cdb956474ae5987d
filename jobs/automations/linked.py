"""``linked_resolved``: an issue reaching done fires the rules of the issues linked to it.

The event is the resolved issue's (a Jira ``jira:issue_updated`` whose changelog moves it into a done
status, a Kaiten ``card:update`` into a done column); the rules' issues are the ones linked to it, each
read once and checked against the rule's conditions (a support issue that is still open). A firing's key
is (rule, linked issue, ``linked:<resolved key>:<resolution>``): the same resolution reported twice, a
replayed webhook or a second transition within done fires once; a reopened issue resolved again with
another resolution fires again.

What "linked" means per tracker:

- **Jira**: the resolved issue's ``fields.issuelinks`` (``inwardIssue`` / ``outwardIssue``, any link
  type, either direction; REST v2 ``GET /issue/{key}?fields=issuelinks``). Sub-tasks are not links.
- **Kaiten** relates cards only as parent and child (research/kaiten.md §13). The hub's routing and
  ``create`` with ``link`` make the source card the parent of the card opened elsewhere, so the cards
  linked to a resolved card are its parents (``parents_ids`` of ``GET /cards/{id}``) on another board:
  a parent on the same board is the card's own sub-work (``checklist_children`` makes such children),
  whose completion is no news for the customer.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from connector.base import Tracker
from connector.types import IssueState
from jobs.automations.model import AutomationRule
from jobs.automations.queue import enqueue_firings
from jobs.automations.scan import JOB_GRACE, issue_payload, state_for
from jobs.clock import utcnow
from jobs.context import Context
from mappers.automation_match import RuleEvent
from mappers.tracker_events import TrackerEvent
from store import automations as firings
from store.automations import NewFiring

log = logging.getLogger(__name__)

LINK_FIELDS = {"jira": ("issuelinks", "resolution"), "kaiten": ("parents_ids",)}


def fire_linked(
    ctx: Context, tracker: Tracker, event: TrackerEvent, rules: list[AutomationRule]
) -> list[str]:
    """Store (and enqueue) a firing per rule and issue linked to the issue ``event`` resolved."""
    if not rules or event.kind != "issue_transitioned" or event.status_category_to not in (None, "done"):
        return []
    key = event.issue_key or event.issue_id
    if key is None:
        return []
    kind = ctx.config.tracker_kind(event.tracker) or event.tracker
    resolved = tracker.get_state(key, fields=LINK_FIELDS.get(kind, ()))
    if not resolved.done:  # the payload is a hint: the issue is read as it is now
        return []
    resolution = _resolution(event, resolved)
    seen = RuleEvent(
        kind="linked_resolved",
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        linked_project=resolved.container or None,
    )
    rules = [rule for rule in rules if rule.event_occurrence is not None and rule.event_occurrence(seen)]
    now = utcnow()
    found = list(_firings(tracker, resolved, resolution, kind, rules, now)) if rules else []
    new = firings.insert(ctx.engine, found, now, JOB_GRACE)
    enqueue_firings(ctx.redis, new)
    if new:
        log.info("automations.linked-fired event=%s resolved=%s firings=%d", event.event_id, key, len(new))
    return new


def _firings(
    tracker: Tracker,
    resolved: IssueState,
    resolution: str,
    kind: str,
    rules: list[AutomationRule],
    now: dt.datetime,
) -> Iterator[NewFiring]:
    """A firing per rule and linked issue whose conditions hold (each issue read once), keyed by the
    resolved issue and its resolution."""
    occurrence = f"linked:{resolved.ref.key}:{resolution}"
    linked = {
        "key": resolved.ref.key,
        "summary": resolved.summary,
        "url": resolved.ref.url,
        "status": resolved.status,
        "resolution": resolution,
    }
    for other in linked_keys(resolved, kind):
        state = state_for(tracker, other, rules)
        if kind == "kaiten" and state.container == resolved.container:
            continue  # the card's own sub-work (see the module's docstring)
        for rule in rules:
            if rule.accepts is None or rule.accepts(state, now):
                payload = {**issue_payload(state), "linked": linked}
                yield NewFiring(rule.name, rule.tracker, state.ref.key, occurrence, payload)


def linked_keys(resolved: IssueState, kind: str) -> list[str]:
    """The keys of the issues linked to ``resolved`` (see the module's docstring)."""
    if kind == "kaiten":
        return [str(card) for card in resolved.fields.get("parents_ids") or []]
    keys = []
    for link in resolved.fields.get("issuelinks") or []:
        other = link.get("outwardIssue") or link.get("inwardIssue") if isinstance(link, Mapping) else None
        if isinstance(other, Mapping) and other.get("key"):
            keys.append(str(other["key"]))
    return list(dict.fromkeys(keys))


def _resolution(event: TrackerEvent, resolved: IssueState) -> str:
    """The resolution the change set (Jira), else the issue's (Jira), else its status (a Kaiten column)."""
    value: Any = resolved.fields.get("resolution")
    named = str(value["name"]) if isinstance(value, Mapping) and value.get("name") else None
    return event.resolution or named or resolved.status
