"""SLA clocks: start, pauses, stops, states, the warning and breach moments a scheduler waits for, texts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.sla import SlaPolicy
from mappers.canned import canned_variables
from mappers.canned_files import load_library
from mappers.sla import SlaClock, SlaState, StatusChange, Timeline, evaluate, remaining_text
from tests.mappers.calendars import LUNCH, RU, H, M, msk
from tests.mappers.test_canned import SHIPPED

WAITING, WORKING = "Waiting for customer", "In Progress"


def policy(**overrides: Any) -> SlaPolicy:
    return SlaPolicy.model_validate(
        {
            "pause_statuses": [WAITING],
            "targets": [
                {"priority": "Highest", "first_response": "1h", "resolution": "8h"},
                {"priority": "High", "first_response": "4h", "resolution": "2d"},
                {"priority": "Low", "resolution": "5d"},
            ],
            **overrides,
        }
    )


def clocks(
    timeline: Timeline, now: datetime, sla: SlaPolicy | None = None, calendar: Any = RU
) -> dict[str, SlaClock]:
    report = evaluate(sla or policy(), calendar, timeline, now)
    assert report is not None
    return {clock.metric: clock for clock in report.clocks}


FRIDAY_EVENING = Timeline(created=msk(2026, 3, 20, 17, 30), priority="Highest", project="SUP")


def test_a_friday_evening_issue_runs_on_from_monday_morning() -> None:
    got = clocks(FRIDAY_EVENING, msk(2026, 3, 20, 17, 45))
    response, resolution = got["first_response"], got["resolution"]
    assert response.state is SlaState.RUNNING
    assert response.started_at == msk(2026, 3, 20, 17, 30)
    assert (response.elapsed, response.remaining) == (15 * M, 45 * M)
    assert response.due_at == msk(2026, 3, 23, 9, 30)  # 30 min on Friday, 30 on Monday
    assert response.warning_at == msk(2026, 3, 23, 9, 18)  # 80% of an hour: 48 min
    assert response.breach_at == msk(2026, 3, 23, 9, 30)
    assert resolution.due_at == msk(2026, 3, 23, 16, 30)
    assert resolution.warning_at == msk(2026, 3, 23, 14, 54)  # 6 h 24 min of working time
    assert resolution.target == 8 * H


@pytest.mark.parametrize(
    ("now", "first_response", "state", "remaining", "warning_at", "breach_at"),
    [
        (
            msk(2026, 3, 21, 12),
            None,
            SlaState.RUNNING,
            30 * M,
            msk(2026, 3, 23, 9, 18),
            msk(2026, 3, 23, 9, 30),
        ),
        (msk(2026, 3, 23, 9, 18), None, SlaState.WARNING, 12 * M, None, msk(2026, 3, 23, 9, 30)),
        (msk(2026, 3, 23, 9, 30), None, SlaState.BREACHED, timedelta(), None, None),
        (msk(2026, 3, 23, 9, 40), None, SlaState.BREACHED, -10 * M, None, None),
        (msk(2026, 3, 23, 12), msk(2026, 3, 23, 9, 10), SlaState.MET, 20 * M, None, None),
        (
            msk(2026, 3, 23, 12),
            msk(2026, 3, 23, 9, 30),
            SlaState.MET,
            timedelta(),
            None,
            None,
        ),  # right on time
        (msk(2026, 3, 23, 12), msk(2026, 3, 23, 9, 35), SlaState.BREACHED, -5 * M, None, None),
        (
            msk(2026, 3, 23, 9),
            msk(2026, 3, 23, 9, 10),
            SlaState.RUNNING,
            30 * M,
            msk(2026, 3, 23, 9, 18),
            msk(2026, 3, 23, 9, 30),
        ),  # the reply is still ahead of "now"
    ],
)
def test_first_response_states(
    now: datetime,
    first_response: datetime | None,
    state: SlaState,
    remaining: timedelta,
    warning_at: datetime | None,
    breach_at: datetime | None,
) -> None:
    timeline = Timeline(created=FRIDAY_EVENING.created, priority="Highest", first_response=first_response)
    clock = clocks(timeline, now)["first_response"]
    assert (clock.state, clock.remaining, clock.warning_at, clock.breach_at) == (
        state,
        remaining,
        warning_at,
        breach_at,
    )
    assert clock.due_at == msk(2026, 3, 23, 9, 30)


def test_waiting_for_the_customer_moves_the_due_moment() -> None:
    statuses = (StatusChange(msk(2026, 3, 23, 10), WAITING), StatusChange(msk(2026, 3, 23, 14), WORKING))
    timeline = Timeline(created=FRIDAY_EVENING.created, priority="Highest", statuses=statuses)
    clock = clocks(timeline, msk(2026, 3, 24, 9))["resolution"]
    assert clock.elapsed == 30 * M + 1 * H + 4 * H  # Friday, Monday 09-10 and 14-18
    assert clock.due_at == msk(2026, 3, 24, 11, 30)  # 16:30 on Monday plus the 4 paused hours
    assert clock.state is SlaState.RUNNING and not clock.paused


def test_a_clock_stands_still_while_the_issue_waits_for_the_customer() -> None:
    statuses = (StatusChange(msk(2026, 3, 23, 10), WAITING),)
    timeline = Timeline(
        created=FRIDAY_EVENING.created,
        priority="Highest",
        statuses=statuses,
        first_response=msk(2026, 3, 23, 9, 5),
    )
    got = clocks(timeline, msk(2026, 3, 25, 15))
    clock = got["resolution"]
    assert clock.state is SlaState.PAUSED and clock.paused
    assert clock.elapsed == 90 * M
    assert (clock.due_at, clock.warning_at, clock.breach_at) == (None, None, None)  # unknown until it resumes
    assert got["first_response"].state is SlaState.MET  # a stopped clock is not paused
    assert remaining_text(clock, "en") == "the clock is paused with 6 h 30 min of working time left"


def test_a_breached_clock_stays_breached_while_paused() -> None:
    statuses = (StatusChange(msk(2026, 3, 23, 10), WAITING),)
    timeline = Timeline(created=FRIDAY_EVENING.created, priority="Highest", statuses=statuses)
    clock = clocks(timeline, msk(2026, 3, 24, 12))["first_response"]
    assert clock.state is SlaState.BREACHED and clock.paused
    assert clock.due_at == msk(2026, 3, 23, 9, 30)  # reached before the pause began


def test_an_issue_created_waiting_starts_paused() -> None:
    statuses = (StatusChange(msk(2026, 3, 23, 9), WAITING),)
    timeline = Timeline(created=msk(2026, 3, 23, 9), priority="Highest", statuses=statuses)
    clock = clocks(timeline, msk(2026, 3, 23, 17))["resolution"]
    assert (clock.state, clock.elapsed, clock.due_at) == (SlaState.PAUSED, timedelta(), None)


def test_the_clock_can_start_at_the_first_assignment() -> None:
    assigned = policy(start="assigned")
    unassigned = Timeline(created=msk(2026, 3, 23, 10), priority="High")
    pending = clocks(unassigned, msk(2026, 3, 23, 15), assigned)["first_response"]
    assert (pending.state, pending.started_at, pending.due_at, pending.breach_at) == (
        SlaState.PENDING,
        None,
        None,
        None,
    )
    assert remaining_text(pending, "ru") == ""
    timeline = Timeline(created=msk(2026, 3, 23, 10), priority="High", assigned=msk(2026, 3, 23, 12))
    clock = clocks(timeline, msk(2026, 3, 23, 15), assigned)["first_response"]
    assert (clock.started_at, clock.elapsed, clock.due_at) == (
        msk(2026, 3, 23, 12),
        3 * H,
        msk(2026, 3, 23, 16),
    )
    before = clocks(timeline, msk(2026, 3, 23, 11), assigned)["first_response"]
    assert before.state is SlaState.PENDING  # assigned later than "now"


def test_days_of_a_target_are_working_days_of_the_calendar_over_the_may_holidays() -> None:
    # High: resolution 2d = 18 h of working time; April 30 has 3 h left, May 1-3 are off
    timeline = Timeline(created=msk(2026, 4, 30, 15), priority="High")
    clock = clocks(timeline, msk(2026, 5, 2, 12))["resolution"]
    assert clock.target == 18 * H
    assert clock.due_at == msk(2026, 5, 5, 15)
    assert clock.elapsed == 3 * H
    lunch = clocks(timeline, msk(2026, 5, 2, 12), calendar=LUNCH)["resolution"]
    assert lunch.target == 16 * H  # a day of that calendar is 8 h (09-13, 14-18)


def test_an_issue_created_at_night_utc_is_counted_from_moscow_morning() -> None:
    timeline = Timeline(
        created=datetime(2026, 3, 19, 23, 30, tzinfo=UTC), priority="Highest"
    )  # Fri 02:30 MSK
    clock = clocks(timeline, datetime(2026, 3, 20, 5, 0, tzinfo=UTC))["first_response"]
    assert clock.elapsed == timedelta()
    assert clock.due_at == msk(2026, 3, 20, 10)


def test_resolution_without_a_reply_stops_the_response_clock_too() -> None:
    timeline = Timeline(created=msk(2026, 3, 23, 9), priority="Highest", resolved=msk(2026, 3, 23, 9, 40))
    got = clocks(timeline, msk(2026, 3, 24, 12))
    assert got["first_response"].state is SlaState.MET
    assert got["first_response"].stopped_at == msk(2026, 3, 23, 9, 40)
    assert got["resolution"].state is SlaState.MET and got["resolution"].elapsed == 40 * M


def test_the_report_names_the_next_moment_to_wake_up_for() -> None:
    report = evaluate(policy(), RU, FRIDAY_EVENING, msk(2026, 3, 20, 17, 45))
    assert report is not None
    assert report.next_event == msk(2026, 3, 23, 9, 18)
    assert not report.breached
    later = evaluate(policy(), RU, FRIDAY_EVENING, msk(2026, 3, 23, 17))
    assert later is not None and later.breached and later.next_event is None


def test_targets_that_do_not_fit_give_no_report_and_missing_targets_no_clock() -> None:
    assert (
        evaluate(policy(), RU, Timeline(created=msk(2026, 3, 23, 9), priority="Medium"), msk(2026, 3, 23, 10))
        is None
    )
    report = evaluate(
        policy(), RU, Timeline(created=msk(2026, 3, 23, 9), priority="low"), msk(2026, 3, 23, 10)
    )
    assert report is not None
    assert report.clock("first_response") is None
    assert report.clock("resolution") is not None


def clock_with(
    remaining: timedelta, *, paused: bool = False, stopped: bool = False, target: timedelta = 8 * H
) -> SlaClock:
    elapsed = target - remaining
    state = SlaState.BREACHED if remaining <= timedelta() else SlaState.PAUSED if paused else SlaState.RUNNING
    start = msk(2026, 3, 23, 9)
    return SlaClock(
        "resolution", target, state, start, start if stopped else None, None, elapsed, paused, None, None
    )


@pytest.mark.parametrize(
    ("clock", "language", "text"),
    [
        (clock_with(3 * H + 20 * M), "ru", "осталось 3 ч 20 мин рабочего времени"),
        (clock_with(3 * H + 20 * M), "en", "3 h 20 min of working time left"),
        (
            clock_with(3 * H + 20 * M + timedelta(seconds=59)),
            "en",
            "3 h 20 min of working time left",
        ),  # rounded down
        (clock_with(2 * H), "ru-RU", "осталось 2 ч рабочего времени"),
        (clock_with(45 * M), None, "45 min of working time left"),
        (clock_with(timedelta(seconds=30)), "ru", "осталось меньше минуты рабочего времени"),
        (clock_with(-(1 * H + 5 * M)), "ru", "срок истёк, просрочено на 1 ч 5 мин рабочего времени"),
        (
            clock_with(-(1 * H + 4 * M + timedelta(seconds=1))),
            "en",
            "overdue by 1 h 5 min of working time",
        ),  # up
        (clock_with(timedelta()), "en", "overdue by less than a minute of working time"),
        (clock_with(90 * M, paused=True), "ru", "таймер на паузе, осталось 1 ч 30 мин рабочего времени"),
        (clock_with(90 * M, stopped=True), "ru", ""),
        (None, "en", ""),
    ],
)
def test_remaining_time_as_the_customer_reads_it(
    clock: SlaClock | None, language: str | None, text: str
) -> None:
    assert remaining_text(clock, language) == text


def test_the_canned_templates_get_the_sla_text_from_the_clock() -> None:
    variables = canned_variables(issue_key="SUP-1", sla=clock_with(3 * H + 20 * M), language="ru")
    assert variables["sla_text"] == "осталось 3 ч 20 мин рабочего времени"
    rendered = load_library(SHIPPED).render("status-in-progress", "ru", variables)
    assert "осталось 3 ч 20 мин рабочего времени" in rendered
    assert canned_variables(issue_key="SUP-1", sla_text="as given")["sla_text"] == "as given"
    assert canned_variables(issue_key="SUP-1", sla=clock_with(1 * H, stopped=True))["sla_text"] == ""


# Properties: what the scheduler relies on. Evaluated at the announced moment, a clock is in the
# announced state, and a moment earlier it is not; the announced moments do not move while the
# timeline does not change.
PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
moments = st.datetimes(datetime(2025, 6, 1), datetime(2027, 12, 1), timezones=st.just(UTC))
US = timedelta(microseconds=1)


@st.composite
def timelines(draw: st.DrawFn) -> tuple[Timeline, datetime]:
    created = draw(moments)
    offsets = sorted(draw(st.lists(st.timedeltas(timedelta(), timedelta(days=10)), max_size=5)))
    statuses = tuple(
        StatusChange(created + offset, draw(st.sampled_from([WAITING, WORKING, "Open"])))
        for offset in offsets
    )
    now = created + draw(st.timedeltas(timedelta(), timedelta(days=20)))
    priority = draw(st.sampled_from(["Highest", "High", "Low"]))
    return Timeline(created=created, priority=priority, statuses=statuses), now


def unchanged(timeline: Timeline, now: datetime, until: datetime) -> bool:
    """Whether no status changes after ``now`` up to ``until`` (the announced moments assume none)."""
    return not any(now < change.at <= until for change in timeline.statuses)


@PROFILE
@given(timelines())
def test_warning_and_breach_happen_exactly_when_announced(case: tuple[Timeline, datetime]) -> None:
    timeline, now = case
    for metric, clock in clocks(timeline, now).items():
        assert clock.elapsed + clock.remaining == clock.target
        assert clock.elapsed <= now - timeline.created
        if clock.breach_at is not None and unchanged(timeline, now, clock.breach_at):
            at_breach = clocks(timeline, clock.breach_at)[metric]
            assert at_breach.state is SlaState.BREACHED and at_breach.elapsed == clock.target
            assert clocks(timeline, clock.breach_at - US)[metric].state is not SlaState.BREACHED
            assert at_breach.due_at == clock.due_at == clock.breach_at
        if clock.warning_at is not None and unchanged(timeline, now, clock.warning_at):
            assert clocks(timeline, clock.warning_at)[metric].state is SlaState.WARNING
            assert clocks(timeline, clock.warning_at - US)[metric].state is SlaState.RUNNING
            assert clocks(timeline, clock.warning_at)[metric].due_at == clock.due_at


@PROFILE
@given(timelines(), st.timedeltas(timedelta(), timedelta(days=3)))
def test_elapsed_time_never_decreases_and_never_runs_while_paused(
    case: tuple[Timeline, datetime], step: timedelta
) -> None:
    timeline, now = case
    before, after = clocks(timeline, now), clocks(timeline, now + step)
    for metric, clock in before.items():
        assert after[metric].elapsed >= clock.elapsed
        if clock.paused and unchanged(timeline, now, now + step):
            assert after[metric].elapsed == clock.elapsed


def test_the_moment_a_clock_warned_does_not_move_when_it_pauses_afterwards() -> None:
    """What the ``sla`` trigger keys its warning on: a pause after the warning moves the deadline, not
    the moment the warning was reached; a pause before it moves both."""
    warned = msk(2026, 3, 23, 9, 18)  # FRIDAY_EVENING's first response: 80% of an hour
    assert clocks(FRIDAY_EVENING, msk(2026, 3, 23, 9, 20))["first_response"].warned_at == warned
    assert clocks(FRIDAY_EVENING, msk(2026, 3, 23, 9, 17))["first_response"].warned_at is None
    after = replace(
        FRIDAY_EVENING,
        statuses=(
            StatusChange(msk(2026, 3, 23, 9, 20), WAITING),
            StatusChange(msk(2026, 3, 23, 11), WORKING),
        ),
    )
    moved = clocks(after, msk(2026, 3, 23, 11, 5))["first_response"]
    assert (moved.state, moved.warned_at, moved.due_at) == (
        SlaState.WARNING,
        warned,
        msk(2026, 3, 23, 11, 10),
    )
    before = replace(
        FRIDAY_EVENING,
        statuses=(StatusChange(msk(2026, 3, 23, 9), WAITING), StatusChange(msk(2026, 3, 23, 10), WORKING)),
    )
    assert clocks(before, msk(2026, 3, 23, 11))["first_response"].warned_at == msk(2026, 3, 23, 10, 18)
