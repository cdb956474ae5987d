"""The engine's view of an automation rule: what to search, when, which occurrence fires, which actions.

The rule file's ``automations:`` section (config/automations.py) is compiled into these
(jobs/automations/rules.py); the engine needs no more of a rule than this, so the scan, the firing job
and the CLI do not depend on how a rule is written.

Kinds of rule, by what makes them fire:

- **scheduled** (``schedule`` set, ``occurrence`` None): at each due time of the schedule, every issue the
  query finds fires once, with the due time as its occurrence (a digest: the rule fires once for all
  of them);
- **conditional** (``occurrence`` set): the query is scanned every ``schedule`` tick, and each issue
  fires once per occurrence key the condition gives it (the time it entered its status, the date a
  date field names, the customer's last reply);
- **event** (``events`` set): a tracker webhook of one of these kinds fires it, once per event id;
- **several clocks** (``occurrences`` set, the ``sla`` trigger): scanned like a conditional rule, each
  issue fires once per occurrence found (a clock's state and the moment it reached it), and the scan's
  counts become ``gauges`` (``jobs/automations/sla.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from config import automation_actions as config_actions
from config.routes import Route
from connector.types import IssueState, SearchQuery, Target
from jobs.registry import Cron, Every
from mappers import schedules
from mappers.automation_match import RuleEvent
from store.automations import JournaledHistory


@dataclass(frozen=True)
class CommentAction:
    """A comment: ``canned`` names a canned template (else ``text`` is the body, plain text); internal
    (team only) unless ``public``; ``to_customer`` sends it to the customer through the reply path."""

    text: str = ""
    canned: str | None = None
    to_customer: bool = False
    public: bool = False


@dataclass(frozen=True)
class NotifyAction:
    """A message to the team: a Telegram chat and/or e-mail addresses, with the issue's link and fields;
    with ``assignee``, the issue's assignee is also mentioned in an internal comment."""

    telegram_chat: str | None = None
    email: str | None = None
    text: str = ""
    assignee: bool = False


@dataclass(frozen=True)
class TransitionAction:
    """Move the issue to a status / column (a transition id or name, or a status name)."""

    to: str
    resolution: str | None = None


@dataclass(frozen=True)
class ResolveAction:
    """Move the issue through its first transition into a done status."""

    resolution: str | None = None


@dataclass(frozen=True)
class AssignAction:
    """Assign: ``user`` fixed, in turn among ``among`` (``round_robin``), or ``least_open``: the available
    user of ``spec`` (the rule file's action, with its absences) with the fewest open issues in
    ``containers`` (``mappers.assignment``), "today" being the day in ``zone``, the rule calendar's."""

    user: str | None = None
    among: tuple[str, ...] = ()
    how: str = "fixed"  # fixed | round_robin | least_open
    spec: config_actions.AssignAction | None = None
    containers: tuple[str, ...] = ()
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))


@dataclass(frozen=True)
class SetAction:
    """Set fields (by id) and add or remove labels / tags."""

    fields: dict[str, Any] = field(default_factory=dict)
    add_labels: tuple[str, ...] = ()
    remove_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreateAction:
    """Create an issue / card in ``target``, linked to the source issue when ``link``; ``carry`` copies
    the source's ``labels``, ``assignee``, ``description``, ``priority`` and ``watchers`` (Kaiten:
    members); ``fields`` fills the new issue's fields as a route fills its target's (the rule file's
    ``fields:`` as a spawn route to ``target``, planned by ``mappers.autofill``)."""

    target: Target
    title: str
    body: str = ""
    link: bool = True
    carry: tuple[str, ...] = ()
    fields: Route | None = None


@dataclass(frozen=True)
class ChecklistAction:
    """A checklist on the card (Kaiten): ``name`` and ``items``, or from ``stages`` the one for the status
    (column) the issue is in, as (status, name, items)."""

    name: str | None = None
    items: tuple[str, ...] = ()
    stages: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def for_status(self, status: str) -> tuple[str, tuple[str, ...]] | None:
        if self.name is not None:
            return self.name, self.items
        wanted = status.casefold()
        return next(((name, items) for stage, name, items in self.stages if stage.casefold() == wanted), None)


@dataclass(frozen=True)
class ChecklistChildrenAction:
    """Each unchecked item of the card's checklist ``checklist`` (every checklist when None) becomes a
    child card in ``target`` titled by the item, once per item however often the rule fires: the child
    carries ``hub-child-<card>-<item id>`` as its idempotency key and is looked up by it first. ``carry``
    copies the card's ``labels`` (tags), ``assignee`` and ``links`` (its external links); with
    ``check_items`` the item is checked once its child exists."""

    target: Target
    checklist: str | None = None
    carry: tuple[str, ...] = ()
    check_items: bool = True


@dataclass(frozen=True)
class DigestAction:
    """One message listing every issue the scan found, the ``critical`` priorities marked."""

    telegram_chat: str | None = None
    email: str | None = None
    critical: tuple[str, ...] = ()
    title: str = ""


@dataclass(frozen=True)
class ReportAction:
    """Post the weekly report of the week before the firing's due time, with its chart, to the team's
    chat and mailbox of ``reports.weekly`` (jobs/reports/)."""


@dataclass(frozen=True)
class RouteAction:
    """Route the issue by the rule file's route ``route`` (``routes:``): a routing request submitted as a
    coordinator's would be, carried out by the routing job (jobs/routing/)."""

    route: str


@dataclass(frozen=True)
class OnlyAction:
    """An action of an ``sla`` rule run only for firings of some SLA ``states`` (``only:``); a firing of
    another state records it as skipped."""

    states: tuple[str, ...]
    action: Action


Action = (
    OnlyAction
    | CommentAction
    | NotifyAction
    | TransitionAction
    | ResolveAction
    | AssignAction
    | SetAction
    | CreateAction
    | ChecklistAction
    | DigestAction
    | RouteAction
    | ChecklistChildrenAction
    | ReportAction
)


@dataclass(frozen=True)
class IssueFacts:
    """What a time condition needs beyond the issue's state, read for a whole page of issues at once:
    from the hub's journal (the customer's last message, the last status change it was told of) and
    the rule's date field as the search returned it."""

    last_customer_message: dt.datetime | None = None
    status_since: dt.datetime | None = None
    date: dt.date | None = None
    date_field_id: str | None = None
    history: JournaledHistory | None = None  # status changes and first reply (the ``sla`` trigger)


Occurrence = Callable[[IssueState, dt.datetime, IssueFacts], str | None]


@dataclass(frozen=True)
class Found:
    """What a rule with several clocks per issue (``sla``) finds on one issue: the occurrences due, each
    with what its actions need beyond the issue (``payload``), and the gauges the issue counts in."""

    due: tuple[tuple[str, dict[str, Any]], ...] = ()
    gauges: tuple[tuple[str, ...], ...] = ()


Occurrences = Callable[[IssueState, dt.datetime, IssueFacts], Found]
Gauges = Callable[[Any, dict[tuple[str, ...], int], dt.datetime], None]  # (redis, counts, now)


@dataclass(frozen=True)
class CalendarSchedule:
    """A rule file's ``cron`` / ``every`` on its business calendar (``mappers.schedules``: due times in
    the team's zone, days the calendar keeps)."""

    schedule: schedules.Schedule


Schedule = Cron | Every | CalendarSchedule
EventOccurrence = Callable[[RuleEvent], str | None]


@dataclass(frozen=True)
class AutomationRule:
    """One rule as the engine runs it.

    ``query_at`` (when set) makes the scan's search at a moment, given the date field's id; ``query`` is
    the search otherwise. ``accepts`` is the post-filter (what a search cannot say); ``occurrence`` the
    key a time condition fires under; ``event_kinds`` the ``TrackerEvent`` kinds an event rule looks at
    and ``event_occurrence`` whether one fires it.
    """

    name: str
    tracker: str
    actions: tuple[Action, ...]
    query: SearchQuery = field(default_factory=SearchQuery)
    query_at: Callable[[dt.datetime, str | None], SearchQuery] | None = None
    fields: tuple[str, ...] = ()
    schedule: Schedule | None = None
    occurrence: Occurrence | None = None
    event_kinds: tuple[str, ...] = ()
    event_occurrence: EventOccurrence | None = None
    accepts: Callable[[IssueState, dt.datetime], bool] | None = None
    facts: frozenset[str] = frozenset()  # which of IssueFacts the occurrence reads
    date_field: str | None = None  # a date field's id or name (resolved on the target's create screen)
    target: Target | None = None  # the rule's target: where a date field's name is looked up
    when_fields: tuple[str, ...] = ()  # the fields ``accepts`` reads, as configured (ids or names)
    linked: bool = False  # linked_resolved: the event's issue is resolved, the rule's issues are linked to it
    occurrences: Occurrences | None = None  # several occurrences per issue (``sla``), instead of one
    gauges: Gauges | None = None  # publishes what ``occurrences`` counted over a whole scan

    @property
    def scanned(self) -> bool:
        """Whether the scheduler scans this rule (scheduled and conditional rules, and ``created``
        rules, which events fire too)."""
        return self.schedule is not None

    @property
    def rule_wide(self) -> bool:
        """One firing for all the issues found (a digest), not one per issue."""
        return any(isinstance(action, DigestAction) for action in self.actions)

    def search_at(self, now: dt.datetime, date_field_id: str | None) -> SearchQuery:
        return self.query_at(now, date_field_id) if self.query_at is not None else self.query


LOOK_BACK = dt.timedelta(days=400)  # how far back a calendar schedule's latest due time is looked for


def latest_due(schedule: Schedule, now: dt.datetime) -> dt.datetime | None:
    """The schedule's latest due time on or before ``now`` (an ``Every`` counts from the epoch, so every
    process agrees on its ticks); None when a calendar schedule keeps none within ``LOOK_BACK``."""
    if isinstance(schedule, CalendarSchedule):
        return schedules.latest_due(schedule.schedule, now - LOOK_BACK, now)
    epoch = now.timestamp()
    if isinstance(schedule, Every):
        step = max(schedule.seconds, 1.0)
        return dt.datetime.fromtimestamp(epoch - epoch % step, dt.UTC)
    return dt.datetime.fromtimestamp(schedule.latest(epoch), dt.UTC)


def next_due(schedule: Schedule, now: dt.datetime) -> dt.datetime | None:
    """The schedule's first due time after ``now``."""
    if isinstance(schedule, CalendarSchedule):
        return schedules.next_due(schedule.schedule, now)
    if isinstance(schedule, Cron):
        start = now.astimezone(ZoneInfo(schedule.timezone))
        return croniter(schedule.expression, start).get_next(dt.datetime).astimezone(dt.UTC)
    latest = latest_due(schedule, now)
    assert latest is not None
    return latest + dt.timedelta(seconds=max(schedule.seconds, 1.0))


def describe(action: Action) -> str:
    """What an action does, in one line (dry-run, ``ls``)."""
    match action:
        case OnlyAction(states=states, action=inner):
            return f"{describe(inner)} (only {', '.join(states)})"
        case CommentAction(canned=canned, to_customer=to_customer, public=public, text=text):
            what = f"canned {canned}" if canned else repr(text[:40])
            where = "to the customer" if to_customer else ("public" if public else "internal")
            return f"comment {where}: {what}"
        case NotifyAction(telegram_chat=chat, email=email):
            return "notify " + ", ".join(x for x in (chat and f"telegram {chat}", email) if x)
        case TransitionAction(to=to):
            return f"transition to {to!r}"
        case ResolveAction():
            return "resolve"
        case AssignAction(user=user, among=among, how=how, spec=spec):
            listed = among or (spec.least_open if spec is not None else ())
            return f"assign {user}" if how == "fixed" else f"assign {how} among {', '.join(listed)}"
        case SetAction(fields=fields, add_labels=add, remove_labels=remove):
            parts = [*(f"{k}={v!r}" for k, v in fields.items()), *(f"+{x}" for x in add)]
            return "set " + " ".join([*parts, *(f"-{x}" for x in remove)])
        case CreateAction(target=target, title=title):
            return f"create {title!r} in {target.tracker}:{target.container}"
        case ChecklistAction(name=name, stages=stages):
            return (
                f"checklist {name!r}" if name else f"checklist per status ({', '.join(s[0] for s in stages)})"
            )
        case DigestAction(telegram_chat=chat, email=email):
            return "digest to " + ", ".join(x for x in (chat and f"telegram {chat}", email) if x)
        case RouteAction(route=route):
            return f"route by {route!r}"
        case ReportAction():
            return "post the weekly report"
        case ChecklistChildrenAction(checklist=checklist, target=target):
            where = f"{target.tracker}:{target.container}"
            return f"child cards from checklist {checklist or '(any)'!r} in {where}"
    return type(action).__name__
