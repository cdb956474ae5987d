"""The ``sla`` trigger: each SLA clock of an open issue fires once when it reaches its warning share and
once when it breaches; the clocks of the last scan are the SLA gauges of ``/metrics``; and the time a
clock has left is ``sla_text`` of canned responses.

The clocks are ``mappers.sla.evaluate``'s, on the policy's business calendar, fed with what the hub
knows of the issue's life: the status changes its tracker webhooks told (the pauses) and the first reply
the customer got (the outbound log), read a page of issues at a time; and, when the journal's last
status is not the issue's status now (a webhook the hub never got), the issue's status since the
tracker says it was entered (Jira ``statuscategorychangedate``, Kaiten ``last_moved_at``), else since its
last update. Kaiten webhooks name a column by id: the journal's ids are read as the board's column
titles, so ``pause_statuses`` may name a column either way.

**The occurrence** of a firing is ``sla:<state>:<metric>@<moment>``: the clock (first response,
resolution), the state reached (warning, breached) and the moment it was reached (``warned_at``, or
``due_at`` for a breach). A moment that has passed does not move when the clock pauses afterwards, so a
warned clock that waits for the customer and runs on is not warned again: its deadline moved, but
nothing new happened to it. A real new deadline gives a new moment and fires again: the priority (so
the target) changed, or a pause before the moment became known late. A clock fires only while it runs
(or stands breached on an open issue): a clock that is met or stopped, pending or paused short of its
target never fires; a clock found already breached (the scheduler was down at its warning) fires the
breach alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from config.automations import Automation
from config.rules import HubConfig
from config.sla import SlaPolicy
from connector.kaiten.boards import BoardLayout
from connector.types import IssueState
from jobs.automations.model import AutomationRule, Found, IssueFacts
from jobs.automations.sla_gauges import publish_gauges
from jobs.clock import utcnow
from jobs.context import Context
from mappers import automation_match as match
from mappers.calendar import BusinessCalendar, business_calendar
from mappers.schedules import occurrence_key
from mappers.sla import SlaClock, SlaReport, SlaState, StatusChange, Timeline, evaluate, remaining_text
from store import automations as firings
from store.automations import JournaledHistory

FIRING_STATES = (SlaState.WARNING, SlaState.BREACHED)
KAITEN_COLUMN = "column_id"  # asked of a Kaiten search: the column a pause may be named by


def sla_rule(
    config: HubConfig, automation: Automation, rule: AutomationRule, tracker_kind: str
) -> AutomationRule:
    """``rule`` (scanned) with the ``sla`` trigger's occurrences and gauges."""
    policy = config.sla
    assert policy is not None  # config.automations.check_automations: trigger sla needs the sla: section
    calendar = business_calendar(config.calendar(policy.calendar), policy.calendar)
    language = config.texts.default_language
    wanted = tuple(SlaState(state) for state in automation.trigger.sla or ())
    entered = match.ENTERED_FIELD[tracker_kind]
    fields = (*rule.fields, entered, *((KAITEN_COLUMN,) if tracker_kind == "kaiten" else ()))

    def occurrences(state: IssueState, now: dt.datetime, facts: IssueFacts) -> Found:
        if state.created is None:  # no clock without a start (a search that did not say)
            return Found()
        report = evaluate(policy, calendar, timeline_of(state, facts.history, policy, tracker_kind), now)
        if report is None:
            return Found()
        due = tuple(
            (
                f"{match.sla_occurrence(automation, clock.state.value, clock.metric)}@{occurrence_key(at)}",
                {"sla": sla_payload(clock, language)},
            )
            for clock, at in firing_clocks(report)
            if clock.state in wanted
        )
        priority = state.priority or "-"
        return Found(due, tuple((rule.tracker, c.metric, priority, c.state.value) for c in report.clocks))

    def gauges(redis: Any, counts: dict[tuple[str, ...], int], now: dt.datetime) -> None:
        publish_gauges(redis, rule.tracker, counts, now)

    return replace(
        rule,
        occurrences=occurrences,
        gauges=gauges,
        facts=frozenset({"history"}),
        fields=tuple(dict.fromkeys(fields)),
    )


def firing_clocks(report: SlaReport) -> list[tuple[SlaClock, dt.datetime]]:
    """The clocks that fire now, with the moment they reached their state: running (or standing
    breached), not stopped, at warning or breached."""
    found = []
    for clock in report.clocks:
        if clock.stopped or clock.state not in FIRING_STATES:
            continue
        moment = clock.warned_at if clock.state is SlaState.WARNING else clock.due_at
        if moment is not None:
            found.append((clock, moment))
    return found


def sla_payload(clock: SlaClock, language: str) -> dict[str, str]:
    """``{{ sla.* }}`` of a rule's templates: the state, the clock, the time left as text, the deadline."""
    return {
        "state": clock.state.value,
        "metric": clock.metric,
        "remaining": remaining_text(clock, language),
        "due_at": clock.due_at.isoformat() if clock.due_at is not None else "",
    }


def timeline_of(
    state: IssueState, history: JournaledHistory | None, policy: SlaPolicy, tracker_kind: str
) -> Timeline:
    """What the clocks need of an issue: the journal's status changes (the issue's status now appended
    when the journal's last one differs), its first reply, its resolution if it is done."""
    history = history or JournaledHistory()
    changes = [StatusChange(at, status) for at, status, _done in history.statuses]
    current = _current_status(state, policy, tracker_kind)
    last = changes[-1] if changes else None
    if current and (last is None or last.status.casefold() != current.casefold()):
        entered = match.status_entered(state, tracker_kind) or state.updated or state.created
        if entered is not None:
            changes.append(StatusChange(max(entered, last.at) if last is not None else entered, current))
    if state.created is None:
        raise ValueError(f"{state.ref.key}: a clock starts at the issue's creation, which is not known")
    return Timeline(
        created=state.created,
        priority=state.priority,
        project=state.container,
        assigned=_assigned(state, history),
        statuses=tuple(changes),
        first_response=history.first_reply,
        resolved=resolved_at(state, history),
    )


def resolved_at(state: IssueState, history: JournaledHistory | None) -> dt.datetime | None:
    """When a done issue was resolved: its last move into a done status the journal holds, else its
    last update (a resolution whose webhook the hub never got); None for an open issue."""
    if not state.done:
        return None
    moves = history.statuses if history is not None else ()
    return next((at for at, _s, done in reversed(moves) if done), None) or state.updated


def _assigned(state: IssueState, history: JournaledHistory) -> dt.datetime | None:
    """When the issue was first assigned (``start: assigned``): the first assignee change the journal
    holds; an issue with an assignee and no such change was assigned before any webhook told the hub
    (at creation, or while a webhook was lost): its creation, so its clock runs rather than never."""
    if history.first_assigned is not None:
        return history.first_assigned
    return state.created if state.assignee else None


def _current_status(state: IssueState, policy: SlaPolicy, tracker_kind: str) -> str:
    """The issue's status as the journal names it: a Kaiten column by id when the policy pauses in it
    by id, else by title."""
    column = state.fields.get(KAITEN_COLUMN)
    if tracker_kind == "kaiten" and column is not None and policy.pauses_in(str(column)):
        return str(column)
    return state.status


def history_of(ctx: Context, tracker_name: str, page: Sequence[IssueState]) -> dict[str, JournaledHistory]:
    """The journaled life of each issue of a page (two queries); a Kaiten column id read as its title
    (the board's layout, cached by the connector) unless the policy pauses in it by id."""
    lives = firings.journaled_history(ctx.engine, tracker_name, [s.ref.key for s in page])
    policy = ctx.config.sla
    if ctx.config.tracker_kind(tracker_name) != "kaiten" or policy is None:
        return lives
    board: Callable[[str], BoardLayout] = ctx.tracker(tracker_name).board  # type: ignore[attr-defined]
    boards = {s.ref.key: s.container for s in page}
    return {key: _titled(board, boards.get(key, ""), life, policy) for key, life in lives.items()}


def _titled(
    board: Callable[[str], BoardLayout], container: str, life: JournaledHistory, policy: SlaPolicy
) -> JournaledHistory:
    if not container or not life.statuses:
        return life
    layout = board(container)

    def named(status: str) -> str:
        column = layout.column(status) if status.isdigit() and not policy.pauses_in(status) else None
        return column.title if column is not None else status

    return replace(life, statuses=tuple((at, named(status), done) for at, status, done in life.statuses))


def sla_text(ctx: Context, state: IssueState, language: str) -> str:
    """The time the issue's clock has left, as the customer reads it: the resolution clock (the first
    response is the very message being written), the first-response one when the policy sets no
    resolution target; empty without an SLA, a creation date, or a running clock."""
    policy = ctx.config.sla
    if policy is None or state.created is None:
        return ""
    report = issue_clocks(ctx, policy, state, utcnow())
    if report is None:
        return ""
    return remaining_text(report.clock("resolution") or report.clock("first_response"), language)


def issue_clocks(ctx: Context, policy: SlaPolicy, state: IssueState, now: dt.datetime) -> SlaReport | None:
    """The issue's clocks at ``now``, from what the journal knows of it (one issue: two queries)."""
    calendar: BusinessCalendar = business_calendar(ctx.config.calendar(policy.calendar), policy.calendar)
    kind = ctx.config.tracker_kind(state.ref.tracker) or "jira"
    history = history_of(ctx, state.ref.tracker, [state]).get(state.ref.key)
    return evaluate(policy, calendar, timeline_of(state, history, policy, kind), now)


def first_response_text(ctx: Context, state: IssueState) -> str:
    """The first-response clock's working time left, for the team's new-issue card (English, as the
    cards are); empty without an SLA, a creation date or a running clock."""
    policy = ctx.config.sla
    if policy is None or state.created is None:
        return ""
    report = issue_clocks(ctx, policy, state, utcnow())
    return remaining_text(report.clock("first_response"), "en") if report is not None else ""
