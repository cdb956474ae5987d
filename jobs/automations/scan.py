"""The scan: which issues a scanned rule fires for now, stored as firings before anything acts on them.

A scan of one rule is ONE paged ``Tracker.search`` with only the fields the rule needs, and nothing per
issue the rule does not fire for. A scheduled rule remembers the due time it last fired for
(``automation_schedules``): after downtime its latest due occurrence fires once, not once per missed
tick, and a scan killed half-way is done again at the next tick for the same due time (the firings it
stored already are not stored twice: their key is unique). The first scan of a new scheduled rule only
records where it starts; ``automations run`` fires its latest due occurrence at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from connector.base import Tracker
from connector.types import IssueState
from jobs.automations.model import AutomationRule, IssueFacts, latest_due
from jobs.automations.queue import enqueue_firings
from jobs.automations.sla import history_of
from jobs.context import Context
from mappers.schedules import occurrence_key
from store import automations as firings
from store.automations import RULE_WIDE, NewFiring

log = logging.getLogger(__name__)

PAGE_SIZE = 100
INSERT_CHUNK = PAGE_SIZE  # firings stored (and their jobs enqueued) a page at a time as the search goes
JOB_GRACE = dt.timedelta(minutes=2)  # a new firing's job has this long to claim it before the sweep


@dataclass
class ScanResult:
    """What one scan of one rule found and did."""

    rule: str
    due: dt.datetime | None = None
    found: int = 0  # firings due now, stored before or not
    new: list[str] = field(default_factory=list)  # ids this scan stored
    skipped: str | None = None  # why the rule was not scanned


def due_now(
    ctx: Context, rule: AutomationRule, now: dt.datetime, *, force: bool = False
) -> dt.datetime | None:
    """The due time a scan of ``rule`` at ``now`` fires for; None when it fired for it already (or, for
    a scheduled rule seen for the first time, unless ``force``)."""
    assert rule.schedule is not None
    due = latest_due(rule.schedule, now)
    last = firings.last_due(ctx.engine, rule.name)
    if due is None or (last is not None and last >= due):
        return None
    if last is None and rule.occurrence is None and rule.occurrences is None and not force:
        firings.set_last_due(ctx.engine, rule.name, due, now)
        log.info("automations.schedule-started rule=%s from=%s", rule.name, due.isoformat())
        return None
    return due


def candidates(
    ctx: Context,
    rule: AutomationRule,
    due: dt.datetime,
    now: dt.datetime,
    counts: Counter[tuple[str, ...]] | None = None,
) -> Iterator[NewFiring]:
    """The firings a search finds due at ``due`` (one paged search; conditions on each result, and what
    a time condition needs from the journal read a page at a time); ``counts`` gathers the gauges of a
    rule that has some (``sla``)."""
    tracker = ctx.tracker(rule.tracker)
    date_id = date_field_id(tracker, rule) if rule.date_field else None
    ids = when_field_ids(tracker, rule)
    wanted = (*rule.fields, date_id) if date_id else rule.fields
    fields = tuple(dict.fromkeys(ids.get(name, name) for name in wanted))
    found = tracker.search(rule.search_at(now, date_id), fields=fields, page_size=PAGE_SIZE)
    states = (named_fields(state, ids) for state in found)
    due_key = occurrence_key(due)
    if rule.rule_wide:
        items = [issue_payload(state) for state in states if _accepted(rule, state, now)]
        if items:
            yield NewFiring(rule.name, rule.tracker, RULE_WIDE, due_key, {"issues": items})
        return
    for page in _pages(states):
        facts = facts_for(ctx, rule, page, date_id)
        for state in page:
            if not _accepted(rule, state, now):
                continue
            known = facts.get(state.ref.key, IssueFacts())
            for occurrence, extra in _occurrences(rule, state, now, known, due_key, counts):
                payload = issue_payload(state) | extra
                if known.date is not None:
                    payload["date"] = known.date.isoformat()  # a date rule's templates: {{ due_date }}
                yield NewFiring(rule.name, rule.tracker, state.ref.key, occurrence, payload)


def _occurrences(
    rule: AutomationRule,
    state: IssueState,
    now: dt.datetime,
    known: IssueFacts,
    due_key: str,
    counts: Counter[tuple[str, ...]] | None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The occurrences ``rule`` fires for on the issue (several for ``sla``: one per clock), each with
    what its payload adds; what the issue counts in the rule's gauges goes to ``counts``."""
    if rule.occurrences is not None:
        found = rule.occurrences(state, now, known)
        if counts is not None:
            counts.update(found.gauges)
        yield from found.due
        return
    occurrence = due_key if rule.occurrence is None else rule.occurrence(state, now, known)
    if occurrence is not None:
        yield occurrence, {}


def _pages(states: Iterator[IssueState]) -> Iterator[list[IssueState]]:
    page: list[IssueState] = []
    for state in states:
        page.append(state)
        if len(page) == PAGE_SIZE:
            yield page
            page = []
    if page:
        yield page


def date_field_id(tracker: Tracker, rule: AutomationRule) -> str:
    """The id of the rule's date field: as written when it is an id, else looked up by name on the rule's
    target's create screen (cached by the connector)."""
    assert rule.date_field is not None
    return field_id(tracker, rule, rule.date_field)


def when_field_ids(tracker: Tracker, rule: AutomationRule) -> dict[str, str]:
    """The ids of the fields ``when.fields`` names, by the name the rule gives (ids map to themselves).
    A name the tracker does not know is logged and kept as it is: the condition then sees an empty
    field, and the event job that asked goes on (a customer's reply must not wait for a rule's typo)."""
    ids = {}
    for name in rule.when_fields:
        try:
            ids[name] = field_id(tracker, rule, name)
        except LookupError as exc:
            log.warning("automations.field-unknown rule=%s field=%r reason=%s", rule.name, name, exc)
            ids[name] = name
    return ids


def named_fields(state: IssueState, ids: dict[str, str]) -> IssueState:
    """``state`` with each field also under the name the rule gave it, as its conditions read it."""
    if not ids:
        return state
    named = {name: state.fields.get(ident) for name, ident in ids.items()}
    return replace(state, fields={**state.fields, **named})


def state_for(tracker: Tracker, key: str, rules: Iterable[AutomationRule]) -> IssueState:
    """The issue as ``rules``' conditions read it: one read, with the fields their ``when.fields`` name."""
    ids = {name: ident for rule in rules for name, ident in when_field_ids(tracker, rule).items()}
    return named_fields(tracker.get_state(key, fields=tuple(dict.fromkeys(ids.values()))), ids)


def field_id(tracker: Tracker, rule: AutomationRule, name: str) -> str:
    """A field's id: as written when it is an id, else looked up by name on the rule's target's create
    screen (cached by the connector)."""
    if name.startswith(("customfield_", "id_")) or name in ("duedate", "due_date"):
        return name
    if rule.target is None:
        raise LookupError(f"rule {rule.name}: no target to look the field {name!r} up on")
    spec = tracker.field_schema(rule.target).field(name)
    if spec is None:
        raise LookupError(f"rule {rule.name}: no field named {name!r} in {rule.target.container}")
    return spec.id


def facts_for(
    ctx: Context, rule: AutomationRule, page: list[IssueState], date_id: str | None
) -> dict[str, IssueFacts]:
    """What the rule's time condition needs for each issue of a page: one query per kind of fact."""
    keys = [state.ref.key for state in page]
    replies = (
        firings.last_customer_messages(ctx.engine, keys) if "last_customer_message" in rule.facts else {}
    )
    moves = firings.last_transitions(ctx.engine, rule.tracker, keys) if "status_since" in rule.facts else {}
    lives = history_of(ctx, rule.tracker, page) if "history" in rule.facts else {}
    return {
        state.ref.key: IssueFacts(
            last_customer_message=replies.get(state.ref.key),
            status_since=moves.get(state.ref.key),
            date=_date(state.fields.get(date_id)) if date_id else None,
            date_field_id=date_id,
            history=lives.get(state.ref.key),
        )
        for state in page
    }


def _date(value: object) -> dt.date | None:
    """A date field's value as Jira (``2027-03-01``) or Kaiten (``{"date": "2027-03-01…"}``) gives it."""
    if isinstance(value, dict):
        value = value.get("date") or value.get("value")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _accepted(rule: AutomationRule, state: IssueState, now: dt.datetime) -> bool:
    return rule.accepts is None or rule.accepts(state, now)


def issue_payload(state: IssueState) -> dict[str, object]:
    """What the actions may use of the issue as the scan saw it (no second read per issue)."""
    return {
        "key": state.ref.key,
        "url": state.ref.url,
        "summary": state.summary,
        "status": state.status,
        "priority": state.priority,
        "assignee": state.assignee,
        "labels": list(state.labels),
        "container": state.container,
        "created": state.created.isoformat() if state.created is not None else None,
    }


def scan_rule(
    ctx: Context,
    rule: AutomationRule,
    now: dt.datetime,
    *,
    force: bool = False,
    on_page: Callable[[], object] | None = None,
) -> ScanResult:
    """Store the firings ``rule`` has due at ``now`` and enqueue the new ones; then remember the due time."""
    result = ScanResult(rule.name)
    due = due_now(ctx, rule, now, force=force)
    if due is None:
        result.skipped = "not due"
        return result
    result.due = due
    batch: list[NewFiring] = []
    counts: Counter[tuple[str, ...]] = Counter()
    for found in candidates(ctx, rule, due, now, counts):
        result.found += 1
        batch.append(found)
        if len(batch) >= INSERT_CHUNK:
            result.new += _store(ctx, batch, now)
            batch = []
            if on_page is not None:
                on_page()  # the scan is alive (jobs/automations/periodic.py renews its lock)
    result.new += _store(ctx, batch, now)
    if rule.gauges is not None:
        rule.gauges(ctx.redis, dict(counts), now)
    firings.set_last_due(ctx.engine, rule.name, due, now)
    log.info(
        "automations.scanned rule=%s due=%s found=%d new=%d",
        rule.name,
        due.isoformat(),
        result.found,
        len(result.new),
    )
    return result


def _store(ctx: Context, batch: list[NewFiring], now: dt.datetime) -> list[str]:
    """Commit the firings, then enqueue the ones that are new (a crash in between: the sweep enqueues)."""
    new = firings.insert(ctx.engine, batch, now, JOB_GRACE)
    enqueue_firings(ctx.redis, new)
    return new


def dry_run(ctx: Context, rule: AutomationRule, now: dt.datetime) -> list[NewFiring]:
    """The firings a scan (``automations run``) would store now, without writing anything."""
    if rule.schedule is None:
        return []
    due = latest_due(rule.schedule, now)
    last = firings.last_due(ctx.engine, rule.name)
    if due is None or (last is not None and last >= due):
        return []
    found = list(candidates(ctx, rule, due, now))
    stored = firings.existing(ctx.engine, (item.id for item in found))
    return [item for item in found if item.id not in stored]
