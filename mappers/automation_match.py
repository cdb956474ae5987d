"""Which issues an automation rule fires on, and under which occurrence: pure, the clock passed in.

A scan asks the tracker once per rule (:func:`scan_query`: the rule's conditions and its time
trigger as one ``SearchQuery``, with only the fields :func:`scan_fields` names) and then checks each
returned issue with :func:`matches` (what a search cannot say: priorities, field values, the time of
day) and, for time triggers, :func:`time_due`. An event is checked with :func:`event_occurrence`.

How time triggers become a search, and the post-filter that makes them exact:

- ``in_status_longer: D``: the issue entered its status at or before ``latest_start(now, D)``
  (``SearchQuery.status_since_before``: JQL ``NOT status CHANGED AFTER``; Kaiten checks each card's
  ``last_moved_at``). Its occurrence is the status and when it was entered (Jira: the
  ``statuscategorychangedate`` field, which a move between two statuses of one category keeps), so a
  second stay in the same status fires again and one stay fires once.
- ``before_date: N`` / ``after_date: N``: the date field within ``[today, today + N]`` /
  ``[today - N - GRACE_DAYS, today - N]`` (``SearchQuery.field_dates``), "today" in the calendar's
  zone; the occurrence is the date, so a renewed contract fires again. ``GRACE_DAYS`` lets a scheduler
  that was down catch up without firing for every date since the beginning of time.
- ``no_customer_reply: D``: the rule's conditions only (a status such as "Waiting for customer"); the
  engine passes when the customer last wrote (the hub's journal) or the status was entered, whichever
  is later, and the firing is due ``D`` business time after that moment, which is also its occurrence.

``followup`` fires ``after`` more business time past the trigger's moment, under its own occurrence.
Occurrence keys are short texts: ``2027-05-04T07:00Z`` (a due time), ``date:2027-06-30``,
``status:In Progress@2027-04-09T07:00Z``, ``event:<id>``, ``sla:breached:resolution``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from config.automation_actions import Action
from config.automations import Automation
from config.durations import BusinessDuration
from connector.types import ASSIGNEE_FIELDS, DateRange, IssueState, SearchQuery
from mappers.calendar import BusinessCalendar, add_duration, is_working_time, latest_start
from mappers.schedules import occurrence_key as due_key

GRACE_DAYS = 7
ENTERED_FIELD = {"jira": "statuscategorychangedate", "kaiten": "last_moved_at"}
"""The field that tells when an issue entered its status (category, for Jira)."""

Stage = Literal["main", "followup"]


@dataclass(frozen=True)
class Due:
    """A time trigger's firing on one issue: which actions, since when, under which occurrence."""

    stage: Stage
    due_at: datetime
    occurrence: str
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class RuleEvent:
    """A tracker event as rules see it (the engine builds it from a ``TrackerEvent`` and the issue).

    ``kind`` is one of ``config.automations.EVENTS``; ``author_is_customer`` tells a customer's comment
    (one the hub relayed, or a public one from the reporter) from the team's; ``status_to`` is the
    status or column entered (name or id); ``field`` the field changed; ``linked_project`` the project
    of a linked issue that reached done.
    """

    kind: str
    event_id: str
    occurred_at: datetime | None = None
    text: str = ""
    author_is_customer: bool | None = None
    status_to: tuple[str, ...] = ()
    field: str | None = None
    linked_project: str | None = None
    fields_changed: tuple[str, ...] = ()  # every field the change touched (ids and names), with ``field``


# -- the search ------------------------------------------------------------------------------------------


def scan_query(
    rule: Automation,
    now: datetime,
    calendar: BusinessCalendar,
    *,
    date_field: str | None = None,
) -> SearchQuery:
    """The one search a scan of ``rule`` makes at ``now``: its conditions, and its time trigger as far
    as a search can say it. ``date_field`` is the id of the trigger's date field (``before_date`` /
    ``after_date``), resolved by the caller from its name."""
    when, trigger = rule.when, rule.trigger
    query = SearchQuery(
        containers=rule.containers,
        statuses=when.statuses,
        not_done=when.not_done,
        assignee_empty=when.assignee_empty,
        labels=when.all_labels,
        issue_types=when.types,
        raw=when.jql if when.jql is not None else when.kaiten_filter,
    )
    if when.older_than is not None:
        query = replace(query, created_before=latest_start(calendar, now, when.older_than))
    if trigger.in_status_longer is not None:
        query = replace(query, status_since_before=latest_start(calendar, now, trigger.in_status_longer))
    if trigger.before_date is not None or trigger.after_date is not None:
        if date_field is None:
            raise ValueError(f"rule {rule.name}: the id of the date field {trigger.date_field!r} is needed")
        query = replace(query, field_dates=(date_window(rule, today(calendar, now), date_field),))
    return query


def date_window(rule: Automation, day: date, field: str) -> DateRange:
    """The dates of ``field`` that make ``before_date`` / ``after_date`` due on ``day``."""
    trigger = rule.trigger
    if trigger.before_date is not None:
        return DateRange(field, on_or_after=day, on_or_before=day + timedelta(days=trigger.before_date))
    days = trigger.after_date or 0
    last = day - timedelta(days=days)
    return DateRange(field, on_or_after=last - timedelta(days=GRACE_DAYS), on_or_before=last)


def scan_fields(
    rule: Automation, tracker_kind: str, *, date_field: str | None = None, field_ids: Mapping[str, str] = {}
) -> tuple[str, ...]:
    """The fields a scan of ``rule`` asks for beyond an ``IssueState``'s own: the ``when.fields`` (by
    their ids, ``field_ids`` mapping a configured name to its id), the date field, the status entry
    time."""
    wanted = [field_ids.get(name, name) for name in rule.when.fields]
    if date_field is not None and rule.trigger.kind in ("before_date", "after_date"):
        wanted.append(date_field)
    if rule.trigger.kind in ("in_status_longer", "no_customer_reply"):
        wanted.append(ENTERED_FIELD[tracker_kind])
    return tuple(dict.fromkeys(wanted))


def needs_tracker_check(rule: Automation) -> bool:
    """Whether an event's issue must be searched for (by key) to know if the rule holds: a raw JQL or
    Kaiten filter cannot be checked here."""
    return rule.when.jql is not None or rule.when.kaiten_filter is not None


# -- conditions ------------------------------------------------------------------------------------------


def matches(
    rule: Automation,
    issue: IssueState,
    now: datetime,
    calendar: BusinessCalendar,
    *,
    field_ids: Mapping[str, str] = {},
    hours_at: datetime | None = None,
) -> bool:
    """Whether ``issue`` meets the rule's conditions at ``now`` (all but a raw filter, which the
    tracker checks: :func:`needs_tracker_check`); ``outside_hours`` reads the working time at
    ``hours_at`` (a ``created`` rule: the issue's creation), else at ``now``."""
    when = rule.when
    checks = (
        not rule.containers
        or _among(rule.containers, issue.container)
        or _among(rule.containers, _project(issue)),
        not when.types or _among(when.types, issue.issue_type),
        not when.priorities or _among(when.priorities, issue.priority),
        not when.all_labels
        or bool({x.casefold() for x in when.all_labels} & {x.casefold() for x in issue.labels}),
        when.assignee_empty is None or (issue.assignee is None) == when.assignee_empty,
        not when.statuses or _among(when.statuses, issue.status),
        not when.not_done or not issue.done,
        all(
            _field_holds(issue.fields.get(field_ids.get(name, name)), want)
            for name, want in when.fields.items()
        ),
        when.older_than is None or _older(issue, calendar, now, when.older_than),
        when.outside_hours is None or is_working_time(calendar, hours_at or now) != when.outside_hours,
    )
    return all(checks)


def _among(wanted: Sequence[str], value: str | None) -> bool:
    return value is not None and value.casefold() in {w.casefold() for w in wanted}


def _project(issue: IssueState) -> str:
    """A Jira issue's project key, from its key."""
    return issue.ref.key.rpartition("-")[0]


def _older(issue: IssueState, calendar: BusinessCalendar, now: datetime, age: BusinessDuration) -> bool:
    return issue.created is not None and add_duration(calendar, issue.created, age) <= now


def field_text(value: Any) -> list[str]:
    """A field's value as texts: an option's ``value``/``name``, a user's name, each of a list."""
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, list | tuple):
        return [text for item in value for text in field_text(item)]
    if isinstance(value, dict):
        for key in ("value", "name", "displayName", "key", "id", "date"):
            if value.get(key) is not None:
                return [str(value[key])]
        return []
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def _field_holds(value: Any, want: Any) -> bool:
    """``want`` None: the field is empty; a list: any of them; else that value (texts, any case)."""
    have = {text.casefold() for text in field_text(value)}
    if want is None:
        return not have
    wanted = want if isinstance(want, list | tuple) else [want]
    return bool(have & {text.casefold() for w in wanted for text in field_text(w)})


# -- time triggers ---------------------------------------------------------------------------------------


def _datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def today(calendar: BusinessCalendar, now: datetime) -> date:
    """``now``'s date in the calendar's zone."""
    return now.astimezone(calendar.zone).date()


def date_value(issue: IssueState, field: str) -> date | None:
    """The date in the issue's ``field`` (Jira ``"2027-06-30"``, a Kaiten date property)."""
    for text in field_text(issue.fields.get(field)):
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            continue
    return None


def status_entered(issue: IssueState, tracker_kind: str) -> datetime | None:
    """When the issue entered its status (Kaiten: column; Jira: status category), if the search said."""
    return _datetime(issue.fields.get(ENTERED_FIELD[tracker_kind]))


def time_due(
    rule: Automation,
    issue: IssueState,
    now: datetime,
    calendar: BusinessCalendar,
    *,
    tracker_kind: str,
    date_field: str | None = None,
    quiet_since: datetime | None = None,
) -> list[Due]:
    """The firings of a time-triggered rule due on ``issue`` at ``now`` (the trigger's, then the
    followup's), each with its occurrence; empty when none is due. ``quiet_since`` is when the customer
    last wrote, or the status was entered (``no_customer_reply``)."""
    trigger = rule.trigger
    kind = trigger.kind
    if kind in ("before_date", "after_date"):
        return _date_due(rule, issue, now, calendar, date_field)
    if trigger.in_status_longer is not None:
        entered = status_entered(issue, tracker_kind)
        if entered is None:  # the search's status_since_before said it: due now, one firing per status
            anchor = latest_start(calendar, now, trigger.in_status_longer)
            return _stages(rule, anchor, now, calendar, f"status:{issue.status}@unknown")
        label = f"status:{issue.status}@{due_key(entered)}"
        return _stages(rule, entered, now, calendar, label)
    if kind == "no_customer_reply":
        quiet = quiet_since or status_entered(issue, tracker_kind) or issue.updated or issue.created
        if quiet is None:
            return []
        return _stages(rule, quiet, now, calendar, f"quiet:{due_key(quiet)}")
    raise ValueError(f"rule {rule.name}: a {kind} trigger is not a time trigger")


def _date_due(
    rule: Automation, issue: IssueState, now: datetime, calendar: BusinessCalendar, field: str | None
) -> list[Due]:
    if field is None:
        raise ValueError(f"rule {rule.name}: the id of the date field {rule.trigger.date_field!r} is needed")
    day = date_value(issue, field)
    window = date_window(rule, today(calendar, now), field)
    if day is None or not (window.on_or_after or day) <= day <= (window.on_or_before or day):
        return []
    return [Due("main", as_of_midnight(calendar, now), f"date:{day.isoformat()}", rule.actions)]


def as_of_midnight(calendar: BusinessCalendar, now: datetime) -> datetime:
    """The start of ``now``'s day in the calendar's zone, in UTC."""
    local = now.astimezone(calendar.zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def _stages(
    rule: Automation, anchor: datetime, now: datetime, calendar: BusinessCalendar, label: str
) -> list[Due]:
    """The trigger's firing when its duration since ``anchor`` has passed by ``now``, and the followup's."""
    duration = rule.trigger.duration
    assert duration is not None
    main_at = add_duration(calendar, anchor, duration)
    if main_at > now:
        return []
    found = [Due("main", main_at, label, rule.actions)]
    followup = rule.followup
    if followup is not None:
        follow_at = add_duration(calendar, main_at, followup.after)
        if follow_at <= now:
            found.append(Due("followup", follow_at, f"{label}+followup", followup.actions))
    return found


# -- events and the rest ---------------------------------------------------------------------------------


def event_occurrence(rule: Automation, event: RuleEvent) -> str | None:
    """``event:<id>`` when ``event`` is the rule's trigger (conditions aside: see :func:`matches`);
    None otherwise."""
    trigger = rule.trigger
    if trigger.event is None:
        return None
    kinds = {"transitioned", "moved"} if trigger.event in ("transitioned", "moved") else {trigger.event}
    if trigger.event == "field_changed":
        kinds.add("transitioned")  # a transition changes fields too (resolution, or the status itself)
    if trigger.event == "assigned":  # an update whose changed fields name the assignee (responsible)
        kinds = {"field_changed"}
        if not ASSIGNEE_FIELDS & {name.casefold() for name in event.fields_changed}:
            return None
    if event.kind not in kinds:
        return None
    if trigger.text_contains and not any(
        p.casefold() in event.text.casefold() for p in trigger.text_contains
    ):
        return None
    if trigger.author != "any" and event.author_is_customer != (trigger.author == "customer"):
        return None
    if trigger.to and not any(_among(trigger.to, status) for status in event.status_to):
        return None
    if trigger.field is not None and trigger.field.casefold() not in {
        name.casefold() for name in (event.field, *event.fields_changed) if name
    }:
        return None
    if trigger.linked_projects and not _among(trigger.linked_projects, event.linked_project):
        return None
    return f"event:{event.event_id}"


def sla_occurrence(rule: Automation, state: str, metric: str) -> str | None:
    """``sla:<state>:<metric>`` when the rule's ``sla`` trigger covers ``state`` (warning, breached)."""
    if rule.trigger.sla is None or state not in rule.trigger.sla:
        return None
    return f"sla:{state}:{metric}"


def actions_for(actions: Sequence[Action], sla_state: str | None = None) -> tuple[Action, ...]:
    """The actions to run: those whose ``only`` names the SLA state (all without ``only``)."""
    return tuple(a for a in actions if not a.only or (sla_state is not None and sla_state in a.only))
