"""The issue a ``create`` action opens: its draft, what is set after the create, and who watches it.

- ``fields:`` are filled as a route fills its target's (the same ``FieldRule`` entries: ``from``,
  ``map``, ``value``, ``template``, ``lookup``; fields by id or by the name the target shows): the
  action's ``fields`` become a spawn route to the action's target (:func:`autofill_route`), planned by
  routing's ``mappers.autofill`` over the source issue and shaped by routing's ``draft_of``. A field
  the target requires that nothing fills, or a value that does not fit, fails the action with the
  plan's reason before anything is created.
- ``carry:`` copies from the source issue: ``labels`` (tags), ``assignee`` (responsible) and
  ``priority`` as the scan saw them; ``description`` read from the issue and made the target's markup
  (routing's ``carried_text``); ``watchers`` (Jira watchers, Kaiten card members), within one tracker
  instance only (users do not cross instances), as is ``priority`` within one tracker kind (a Jira
  priority is no Kaiten one).

The source is read only when ``fields`` or ``description`` need it (one read), the watchers only when
carried (one read): an action without them costs no read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from config.routes import Carry, FieldRule, Route
from config.targets import TargetRef
from connector.base import Tracker
from connector.types import IssueDraft
from jobs.automations.model import CreateAction
from jobs.automations.routes import as_firing_errors
from jobs.routing.drafts import draft_of
from jobs.routing.errors import PlanRefused
from jobs.routing.planning import read_source
from mappers.autofill import SourceIssue, plan_route
from mappers.automation_messages import render_text
from mappers.route_text import carried_text

if TYPE_CHECKING:
    from jobs.automations.actions import ActionRun

NOTHING_CARRIED = Carry(description=False, attachments=False, comments=False, reporter=False, labels=False)


def autofill_route(target: TargetRef, fields: dict[str, FieldRule]) -> Route | None:
    """A create action's ``fields`` as the spawn route autofill plans (None without fields): what it
    carries is the action's ``carry``, not the route's."""
    if not fields:
        return None
    return Route(target=target, mode="spawn", fields=fields, carry=NOTHING_CARRIED)


@dataclass(frozen=True)
class NewIssue:
    """What creating the issue writes: the draft, the fields set after the create (Kaiten's properties
    and tags go through its field update), the watchers added."""

    draft: IssueDraft
    later: dict[str, Any] = field(default_factory=dict)
    watchers: tuple[str, ...] = ()


def new_issue(run: ActionRun, action: CreateAction, tracker: Tracker) -> NewIssue:
    """The new issue of ``action`` for the firing's issue; ``ActionFailed`` when its fields cannot be
    filled as configured."""
    from jobs.automations.actions import ActionFailed  # actions imports this module

    carry = set(action.carry)
    same_instance = action.target.tracker == run.firing.tracker
    source = _source(run) if action.fields is not None or "description" in carry else None
    planned = IssueDraft(action.target, "", "", run.marker)
    later: dict[str, Any] = {}
    if action.fields is not None:
        assert source is not None
        plan = plan_route(
            f"automation {run.firing.rule}",
            action.fields,
            source,
            tracker.field_schema(action.target),
            {},
            run.ctx.config.catalogues,
        )
        if not plan.ready:
            raise ActionFailed(f"create: {PlanRefused(plan).summary()}")
        planned, later = draft_of(plan, run.marker, tracker)
    title = render_text(action.title, run.issue)
    labels = [*planned.labels, *(run.issue.get("labels") or () if "labels" in carry else ())]
    if tracker.kind == "jira":
        labels.append(run.marker)  # Jira finds an issue by its idempotency label (Kaiten: external_id)
    source_kind = run.ctx.config.tracker_kind(run.firing.tracker)
    draft = IssueDraft(
        target=action.target,
        title=title,
        body=_body(run, action, title, source),
        idempotency_key=run.marker,
        labels=tuple(dict.fromkeys(labels)),
        assignee=run.issue.get("assignee") if "assignee" in carry else None,
        priority=run.issue.get("priority") if "priority" in carry and source_kind == tracker.kind else None,
        custom_fields=planned.custom_fields,
    )
    watchers = tuple(run.tracker.watchers(run.key)) if "watchers" in carry and same_instance else ()
    return NewIssue(draft, later, watchers)


def finish_issue(tracker: Tracker, key: str, new: NewIssue, *, found: bool) -> None:
    """What follows the create, each harmless to repeat: an issue an earlier attempt created is
    completed (Kaiten's create saga: tags, parent, responsible), the later fields set, the watchers
    added."""
    if found:
        tracker.complete_issue(key, new.draft)
    if new.later:
        tracker.update_fields(key, new.later)
    if new.watchers:
        tracker.add_watchers(key, new.watchers)


def _source(run: ActionRun) -> SourceIssue:
    """The firing's issue with every field and its description, as routing reads a source."""
    with as_firing_errors(f"create: reading {run.key}"):
        return read_source(run.ctx, run.firing.tracker, run.key)


def _body(run: ActionRun, action: CreateAction, title: str, source: SourceIssue | None) -> str:
    """The action's ``body`` template, then the carried description; the title and the source's key
    when there is neither."""
    markup = run.ctx.markup(action.target.tracker)
    parts = [markup.escape(render_text(action.body, run.issue))] if action.body else []
    if source is not None and "description" in action.carry and source.description.strip():
        same = action.target.tracker == run.firing.tracker
        parts.append(carried_text(source.description, source.kind, markup, same_instance=same))
    return "\n\n".join(parts) or markup.escape(f"{title} ({run.key})")
