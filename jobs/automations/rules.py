"""The rule file's ``automations:`` (config/automations.py) as the engine runs them (model.py here).

Compiled from the version of the rule file in force (``ctx.config``), so an edit reaches the next scan
without a restart. What the engine does not run yet is left out with the reason (``automations ls``
shows it): a rule is run whole or not at all, never with an action silently dropped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from config.automation_actions import Action as ActionSpec
from config.automation_values import TIME_KINDS
from config.automations import Automation
from config.rules import HubConfig
from config.targets import JiraTarget, KaitenTarget
from connector.types import IssueState, SearchQuery, Target
from jobs.automations import model, sla
from jobs.automations.drafts import autofill_route
from jobs.automations.model import AutomationRule, CalendarSchedule, IssueFacts
from jobs.context import Context
from jobs.registry import Every
from mappers import automation_match as match
from mappers import schedules
from mappers.calendar import BusinessCalendar, business_calendar

SCAN_CONDITIONS_EVERY = 300.0  # seconds between scans of a rule whose trigger is a condition
CREATED_WINDOW = dt.timedelta(days=2)  # "created" rules look at issues created this recently
CARRIED = {"tags": "labels", "responsible": "assignee", "members": "watchers"}  # carry: names → the engine's
CREATED = "created"  # a creation's occurrence, polled or from the webhook: an issue is created once
EVENT_KINDS = {  # a trigger's event → the TrackerEvent kinds the hub journals for it
    "commented": ("comment_created",),
    "transitioned": ("issue_transitioned",),
    "moved": ("issue_transitioned",),
    "field_changed": ("issue_updated", "issue_transitioned"),
    "assigned": ("issue_updated",),
    "linked_resolved": ("issue_transitioned",),  # a linked issue's move into done (automations/linked.py)
}


class NotRunYet(Exception):
    """A part of a rule the engine does not run yet."""


@dataclass(frozen=True)
class CompiledRules:
    """The rules the engine runs, by name, and those it leaves out with the reason."""

    rules: dict[str, AutomationRule] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)


def rules_of(ctx: Context) -> dict[str, AutomationRule]:
    """The rules in force, by name, and the weekly report's (its firings run as a rule's do)."""
    from jobs.reports.schedule import REPORT_RULE, report_rule  # the report reads the SLA's rules

    return {**compiled(ctx).rules, REPORT_RULE: report_rule(ctx)}


def compiled(ctx: Context) -> CompiledRules:
    return _compile(ctx.config)


_compiled: dict[int, tuple[HubConfig, CompiledRules]] = {}


def _compile(config: HubConfig) -> CompiledRules:
    """Compiled once per version of the rule file (a reload makes a new ``HubConfig``)."""
    cached = _compiled.get(id(config))
    if cached is not None and cached[0] is config:
        return cached[1]
    result = _compile_all(config)
    _compiled.clear()
    _compiled[id(config)] = (config, result)
    return result


def _compile_all(config: HubConfig) -> CompiledRules:
    result = CompiledRules()
    for automation in config.automations:
        if not automation.enabled:
            result.left_out[automation.name] = "disabled"
            continue
        try:
            rule = compile_rule(config, automation)
            followup = followup_rule(config, automation, rule)
            result.rules[automation.name] = rule
            if followup is not None:
                result.rules[followup.name] = followup
        except NotRunYet as exc:
            result.left_out[automation.name] = str(exc)
    return result


def compile_rule(config: HubConfig, automation: Automation) -> AutomationRule:
    """One rule for the engine; :class:`NotRunYet` naming what the engine cannot do yet.

    The search, the post-filter, time triggers and event matching are ``mappers.automation_match``'s
    (au/rules); the engine adds what they read from the hub's journal.
    """
    target = automation.target
    trigger = automation.trigger
    calendar = business_calendar(config.calendar(automation.calendar), automation.calendar)
    kind = config.tracker_kind(target.tracker) or target.kind

    created_rule = trigger.kind == "event" and trigger.event == "created"

    def accepts(state: IssueState, now: dt.datetime) -> bool:
        # "created outside working hours" is about the creation, not when a poll or a late webhook came
        hours_at = state.created if created_rule else None
        return match.matches(automation, state, now, calendar, hours_at=hours_at)

    def query_at(now: dt.datetime, date_field: str | None) -> SearchQuery:
        return match.scan_query(automation, now, calendar, date_field=date_field)

    rule = AutomationRule(
        name=automation.name,
        tracker=target.tracker,
        actions=tuple(_action(config, automation, spec) for spec in automation.actions),
        query_at=query_at,
        fields=match.scan_fields(automation, kind),
        accepts=accepts,
        target=_target(target),
        when_fields=tuple(automation.when.fields),
    )
    trigger_kind = trigger.kind
    if trigger_kind in ("cron", "every"):
        named = (
            business_calendar(config.calendar(trigger.calendar), trigger.calendar)
            if trigger.calendar
            else None
        )
        schedule = schedules.schedule_of(trigger, named, calendar.zone)
        return replace(rule, schedule=CalendarSchedule(schedule))
    if trigger_kind in TIME_KINDS:
        scanned = replace(rule, schedule=Every(SCAN_CONDITIONS_EVERY))
        return _time_condition(scanned, automation, calendar, kind)
    if trigger_kind == "sla":
        return sla.sla_rule(config, automation, replace(rule, schedule=Every(SCAN_CONDITIONS_EVERY)), kind)
    if trigger_kind == "event" and trigger.event == "created":
        # the creation webhook the hub journals (jira:issue_created, Kaiten card:add) fires it at once;
        # polling the issues created lately backs up a lost webhook. Both store the occurrence
        # "created": whichever comes second finds the firing stored and fires nothing.
        def created_lately(now: dt.datetime, date_field: str | None) -> SearchQuery:
            return replace(query_at(now, date_field), created_after=now - CREATED_WINDOW)

        return replace(
            rule,
            schedule=Every(60.0),
            query_at=created_lately,
            occurrence=lambda _state, _now, _facts: CREATED,
            event_kinds=("issue_created",),
            event_occurrence=lambda event: CREATED if match.event_occurrence(automation, event) else None,
        )
    if trigger_kind == "event" and trigger.event in EVENT_KINDS:
        return replace(
            rule,
            event_kinds=EVENT_KINDS[trigger.event],
            event_occurrence=lambda event: match.event_occurrence(automation, event),
            linked=trigger.event == "linked_resolved",
        )
    raise NotRunYet(f"trigger {trigger_kind}{f' {trigger.event}' if trigger.event else ''} is not run yet")


def _time_condition(
    rule: AutomationRule,
    automation: Automation,
    calendar: BusinessCalendar,
    tracker_kind: str,
    stage: str = "main",
) -> AutomationRule:
    """The occurrence of a time trigger's ``stage`` (``main`` or ``followup``) on an issue, from
    ``automation_match.time_due``, with what the hub's journal knows: when the customer last wrote
    (``no_customer_reply``), and when the issue entered its status if the search did not say (the last
    status change the journal holds, else its creation: never "due now" for want of a date)."""
    entered_field = match.ENTERED_FIELD[tracker_kind]

    def occurrence(state: IssueState, now: dt.datetime, facts: IssueFacts) -> str | None:
        since = facts.status_since or state.created  # what the journal knows, else the issue's age
        if entered_field in rule.fields and state.fields.get(entered_field) is None and since is not None:
            state = replace(state, fields={**state.fields, entered_field: since.isoformat()})
        found = match.time_due(
            automation,
            state,
            now,
            calendar,
            tracker_kind=tracker_kind,
            date_field=facts.date_field_id,
            quiet_since=facts.last_customer_message,
        )
        return next((due.occurrence for due in found if due.stage == stage), None)

    trigger = automation.trigger
    facts = {"last_customer_message"} if trigger.no_customer_reply is not None else set()
    if trigger.in_status_longer is not None:
        facts.add("status_since")
    date_field = trigger.date_field if trigger.kind in ("before_date", "after_date") else None
    return replace(rule, occurrence=occurrence, facts=frozenset(facts), date_field=date_field)


def followup_rule(config: HubConfig, automation: Automation, rule: AutomationRule) -> AutomationRule | None:
    """A time rule's ``followup``: the same condition held ``after`` longer, its own actions, named
    ``<rule>.followup``."""
    followup = automation.followup
    if followup is None:
        return None
    calendar = business_calendar(config.calendar(automation.calendar), automation.calendar)
    kind = config.tracker_kind(automation.target.tracker) or automation.target.kind
    actions = tuple(_action(config, automation, spec) for spec in followup.actions)
    renamed = replace(rule, name=f"{automation.name}.followup", actions=actions)
    return _time_condition(renamed, automation, calendar, kind, "followup")


def _action(config: HubConfig, automation: Automation, spec: ActionSpec) -> model.Action:
    """The engine's action for one ``actions:`` entry."""
    kind = spec.kind
    if spec.only:
        return model.OnlyAction(spec.only, _action(config, automation, spec.model_copy(update={"only": ()})))
    if kind == "comment" and spec.comment is not None:
        comment = spec.comment
        return model.CommentAction(
            text=comment.text or "", canned=comment.canned, to_customer=comment.to_customer
        )
    if kind == "notify" and spec.notify is not None:
        notify = spec.notify
        return model.NotifyAction(
            telegram_chat=_chat(notify.telegram_chat),
            email=", ".join(notify.email) or None,
            text=notify.text or "",
            assignee=notify.assignee,
        )
    if kind == "transition":
        transition = spec.transition or spec.move
        assert transition is not None
        return model.TransitionAction(to=transition.to, resolution=transition.resolution)
    if kind == "resolve" and spec.resolve is not None:
        if spec.resolve.transition:
            return model.TransitionAction(to=spec.resolve.transition, resolution=spec.resolve.resolution)
        return model.ResolveAction(resolution=spec.resolve.resolution)
    if kind == "assign" and spec.assign is not None:
        assign = spec.assign
        if assign.user:
            return model.AssignAction(user=assign.user)
        if assign.round_robin:
            return model.AssignAction(among=assign.round_robin, how="round_robin")
        zone = business_calendar(config.calendar(automation.calendar), automation.calendar).zone
        return model.AssignAction(how="least_open", spec=assign, containers=automation.containers, zone=zone)
    if kind == "set" and spec.set is not None:
        values = {spec.set.field: spec.set.value} if spec.set.field else {}
        return model.SetAction(fields=values, add_labels=spec.set.added, remove_labels=spec.set.remove_labels)
    if kind == "create" and spec.create is not None:
        create = spec.create
        carry = tuple(CARRIED.get(item, item) for item in create.carry)
        return model.CreateAction(
            target=_target(create.target or automation.target),
            title=create.title,
            body=create.body or "",
            link=bool(create.link) or "links" in create.carry,
            carry=carry,
            fields=autofill_route(create.target or automation.target, create.fields),
        )
    if kind == "checklist" and spec.checklist is not None:
        checklist = spec.checklist
        return model.ChecklistAction(
            name=checklist.name,
            items=checklist.items,
            stages=tuple((status, t.name, t.items) for status, t in checklist.stages.items()),
        )
    if kind == "checklist_children" and spec.checklist_children is not None:
        children = spec.checklist_children
        if automation.target.kind != "kaiten":
            raise NotRunYet("checklist_children needs Kaiten checklists (Jira has none)")
        renamed = {"tags": "labels", "responsible": "assignee"}
        if set(children.carry) - {"tags", "labels", "links", "responsible", "assignee"}:
            raise NotRunYet("checklist_children: carrying description/priority/members is not run yet")
        return model.ChecklistChildrenAction(
            target=_target(children.target or automation.target),
            checklist=children.checklist,
            carry=tuple(dict.fromkeys(renamed.get(item, item) for item in children.carry)),
            check_items=children.check_items,
        )
    if kind == "digest" and spec.digest is not None:
        digest = spec.digest
        return model.DigestAction(
            telegram_chat=_chat(digest.telegram_chat),
            email=", ".join(digest.email) or None,
            critical=digest.critical,
            title=digest.title,
        )
    if kind == "route" and spec.route is not None:
        return model.RouteAction(route=spec.route)
    raise NotRunYet(f"action {kind} is not run yet")


def _chat(value: int | str | None) -> str | None:
    return None if value is None else str(value)


def _target(target: object) -> Target:
    if isinstance(target, JiraTarget):
        return Target(target.tracker, target.project, target.issue_type)
    assert isinstance(target, KaitenTarget)
    return Target(
        target.tracker,
        str(target.board),
        str(target.type) if target.type else None,
        str(target.column) if target.column else None,
        str(target.lane) if target.lane else None,
    )
