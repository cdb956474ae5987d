"""The rule file's ``automations:`` (config/automations.py) as the engine runs them (model.py here).

Compiled from the version of the rule file in force (``ctx.config``), so an edit reaches the next scan
without a restart. What the engine does not run yet is left out with the reason (``automations ls``
shows it): a rule is run whole or not at all, never with an action silently dropped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from config.automations import TIME_KINDS, Automation
from config.automations import Action as ActionSpec
from config.durations import BusinessDuration
from config.rules import HubConfig
from config.targets import JiraTarget, KaitenTarget
from connector.types import IssueState, SearchQuery, Target
from jobs.automations import model
from jobs.automations.model import AutomationRule, EventMatch, IssueFacts
from jobs.context import Context
from jobs.registry import Cron, Every
from mappers.calendar import BusinessCalendar, add_duration, business_calendar, is_working_time, local_date

SCAN_CONDITIONS_EVERY = 300.0  # seconds between scans of a rule whose trigger is a condition
CREATED_WINDOW = dt.timedelta(days=2)  # "created" rules look at issues created this recently
EVENT_KINDS = {
    "commented": ("comment_created",),
    "transitioned": ("issue_transitioned",),
    "moved": ("issue_transitioned",),
}


class NotRunYet(Exception):
    """A part of a rule the engine does not run yet."""


@dataclass(frozen=True)
class CompiledRules:
    """The rules the engine runs, by name, and those it leaves out with the reason."""

    rules: dict[str, AutomationRule] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)


def rules_of(ctx: Context) -> dict[str, AutomationRule]:
    """The rules in force, by name."""
    return compiled(ctx).rules


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
    """One rule for the engine; :class:`NotRunYet` naming what the engine cannot do yet."""
    target = automation.target
    trigger = automation.trigger
    when = automation.when
    calendar = business_calendar(config.calendar(automation.calendar), automation.calendar)
    query = SearchQuery(
        containers=automation.containers,
        statuses=when.statuses,
        not_done=when.not_done,
        assignee_empty=when.assignee_empty,
        labels=when.all_labels,
        issue_types=when.types,
        raw=when.jql if when.jql is not None else when.kaiten_filter,
    )
    if when.fields:
        raise NotRunYet("when.fields is not run by the engine yet")
    priorities = {p.casefold() for p in when.priorities}
    older_than = when.older_than
    outside_hours = when.outside_hours

    def accepts(state: IssueState, now: dt.datetime) -> bool:
        if priorities and (state.priority or "").casefold() not in priorities:
            return False
        created = state.created
        if (
            older_than is not None
            and created is not None
            and add_duration(calendar, created, older_than) > now
        ):
            return False
        return not (
            outside_hours is not None
            and created is not None
            and is_working_time(calendar, created) == outside_hours
        )

    rule = AutomationRule(
        name=automation.name,
        tracker=target.tracker,
        actions=tuple(_action(config, automation, spec) for spec in automation.actions),
        query=query,
        accepts=accepts,
    )
    kind = trigger.kind
    if kind in ("cron", "every"):
        zone = trigger.timezone or calendar.zone.key
        schedule = Cron(trigger.cron, zone) if trigger.cron else Every(float(trigger.every or 1) * 60)
        skip = None
        if trigger.calendar is not None:

            def skip(due: dt.datetime) -> bool:
                if trigger.cron:
                    return not calendar.is_working_day(local_date(calendar, due))
                return not is_working_time(calendar, due)

        return _with(rule, schedule=schedule, calendar_skip=skip)
    if kind in TIME_KINDS:
        return _with(
            rule,
            schedule=Every(SCAN_CONDITIONS_EVERY),
            target=_target(target),
            **_time_condition(automation, calendar),
        )
    if kind == "event" and trigger.event == "created":
        # polling: each issue created lately fires once (webhooks for creation are not journaled)
        return _with(
            rule,
            schedule=Every(60.0),
            occurrence=lambda _state, _now, _facts: "created",
            created_within=CREATED_WINDOW,
        )
    if kind == "event" and trigger.event in EVENT_KINDS:
        event = EventMatch(
            kinds=EVENT_KINDS[trigger.event],
            text_contains=trigger.text_contains,
            author=trigger.author,
            to=trigger.to,
        )
        return _with(rule, event=event)
    raise NotRunYet(f"trigger {kind}{f' {trigger.event}' if trigger.event else ''} is not run yet")


def _time_condition(
    automation: Automation, calendar: BusinessCalendar, extra: BusinessDuration | None = None
) -> dict[str, object]:
    """The occurrence (and what it reads) of a time trigger: it fires once per silence, per stay in a
    status, per date; ``extra`` (a followup's ``after``) moves the moment on by that much business time."""
    trigger = automation.trigger

    def later(moment: dt.datetime, duration: BusinessDuration) -> dt.datetime:
        moment = add_duration(calendar, moment, duration)
        return add_duration(calendar, moment, extra) if extra is not None else moment

    if trigger.no_customer_reply is not None:
        quiet = trigger.no_customer_reply

        def silence(_state: IssueState, now: dt.datetime, facts: IssueFacts) -> str | None:
            last = facts.last_customer_message
            return f"quiet:{last.isoformat()}" if last is not None and later(last, quiet) <= now else None

        return {"occurrence": silence, "facts": frozenset({"last_customer_message"})}
    if trigger.in_status_longer is not None:
        stay = trigger.in_status_longer

        def stuck(state: IssueState, now: dt.datetime, facts: IssueFacts) -> str | None:
            since = facts.status_since or state.created
            if since is None or later(since, stay) > now:
                return None
            return f"status:{state.status}@{since.isoformat()}"

        return {"occurrence": stuck, "facts": frozenset({"status_since"})}
    before, after = trigger.before_date, trigger.after_date

    def dated(_state: IssueState, now: dt.datetime, facts: IssueFacts) -> str | None:
        day, today = facts.date, local_date(calendar, now)
        if day is None:
            return None
        if before is not None and day - dt.timedelta(days=before) <= today <= day:
            return f"date:{day.isoformat()}"
        if after is not None and today >= day + dt.timedelta(days=after):
            return f"date:{day.isoformat()}"
        return None

    return {"occurrence": dated, "date_field": trigger.date_field}


def followup_rule(config: HubConfig, automation: Automation, rule: AutomationRule) -> AutomationRule | None:
    """A time rule's ``followup``: the same condition held ``after`` longer, its own actions, named
    ``<rule>.followup``."""
    followup = automation.followup
    if followup is None:
        return None
    calendar = business_calendar(config.calendar(automation.calendar), automation.calendar)
    return _with(
        rule,
        name=f"{automation.name}.followup",
        actions=tuple(_action(config, automation, spec) for spec in followup.actions),
        **_time_condition(automation, calendar, followup.after),
    )


def _with(rule: AutomationRule, **changes: object) -> AutomationRule:
    return replace(rule, **changes)  # type: ignore[arg-type]


def _action(config: HubConfig, automation: Automation, spec: ActionSpec) -> model.Action:
    """The engine's action for one ``actions:`` entry."""
    kind = spec.kind
    if spec.only:
        raise NotRunYet("actions limited to SLA states (only) are not run yet")
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
        raise NotRunYet("assign: least_open is not run yet")
    if kind == "set" and spec.set is not None:
        values = {spec.set.field: spec.set.value} if spec.set.field else {}
        return model.SetAction(fields=values, add_labels=spec.set.added, remove_labels=spec.set.remove_labels)
    if kind == "create" and spec.create is not None:
        create = spec.create
        if create.fields or set(create.carry) - {"tags", "labels", "responsible", "assignee", "links"}:
            raise NotRunYet("create: fields and carrying description/priority/members are not run yet")
        carry = tuple({"tags": "labels", "responsible": "assignee"}.get(item, item) for item in create.carry)
        return model.CreateAction(
            target=_target(create.target or automation.target),
            title=create.title,
            body=create.body or "",
            link=bool(create.link) or "links" in create.carry,
            carry=carry,
        )
    if kind == "checklist" and spec.checklist is not None:
        if automation.target.kind != "kaiten":
            raise NotRunYet("checklist on Jira (sub-tasks) is not run yet; Kaiten checklists are")
        checklist = spec.checklist
        return model.ChecklistAction(
            name=checklist.name,
            items=checklist.items,
            stages=tuple((status, t.name, t.items) for status, t in checklist.stages.items()),
        )
    if kind == "digest" and spec.digest is not None:
        digest = spec.digest
        return model.DigestAction(
            telegram_chat=_chat(digest.telegram_chat),
            email=", ".join(digest.email) or None,
            critical=digest.critical,
            title=digest.title,
        )
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
