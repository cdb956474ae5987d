"""Which issues a rule fires on and under which occurrence: the scan's one search, the post-filter, time
triggers on the business calendar (a Friday-evening issue, the May holidays, a transferred working
Saturday, time zones), events, SLA states."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.automations import Automation
from config.durations import BusinessDuration
from config.settings import Settings
from config.targets import Scope
from connector.types import DateRange, IssueRef, IssueState
from mappers.automation_match import (
    RuleEvent,
    actions_for,
    date_value,
    event_occurrence,
    matches,
    needs_tracker_check,
    scan_fields,
    scan_query,
    sla_occurrence,
    time_due,
)
from mappers.calendar import add_duration, latest_start
from tests.mappers.calendars import BERLIN_OFFICE, LUNCH, RU, berlin, make, msk

SATURDAY_WORK = make(timezone="Europe/Moscow", working_days=["2027-03-13"], holidays="RU")
NO_TRANSFERS = make(timezone="Europe/Moscow", holidays=None)
NOW = msk(2027, 3, 10, 12)


def rule(**fields: Any) -> Automation:
    body = {"name": "r", "actions": [{"resolve": True}], **fields}
    return Automation.model_validate(body, context=Scope(settings=Settings()))


def issue(**fields: Any) -> IssueState:
    key = fields.pop("key", "SUP-1")
    base: dict[str, Any] = {
        "done": False,
        "status": "In Progress",
        "container": "SUP",
        "created": msk(2027, 1, 11, 10),
    }
    return IssueState(ref=IssueRef("jira", key, f"https://jira/browse/{key}"), **{**base, **fields})


# -- the search ------------------------------------------------------------------------------------------


def test_the_conditions_become_one_search() -> None:
    r = rule(
        trigger={"cron": "0 10 * * 1-5"},
        when={
            "assignee_empty": True,
            "not_done": True,
            "labels": ["vip"],
            "tags": "key",
            "types": "Bug",
            "statuses": ["To Do"],
            "older_than": "1d",
            "jql": "component = Printers",
        },
        actions=[{"digest": {"email": "t@example.com"}}],
    )
    query = scan_query(r, msk(2027, 3, 9, 10), RU)
    assert query.containers == ("SUP",)  # the default target's project
    assert (query.assignee_empty, query.not_done, query.labels) == (True, True, ("vip", "key"))
    assert (query.issue_types, query.statuses, query.raw) == (("Bug",), ("To Do",), "component = Printers")
    assert query.created_before == msk(2027, 3, 5, 10)  # 8 March is a holiday: a day back is Friday
    assert needs_tracker_check(r)


def test_in_status_longer_becomes_a_status_since_bound_on_business_days() -> None:
    r = rule(trigger={"in_status_longer": "20d"}, when={"not_done": True})
    query = scan_query(r, msk(2027, 5, 12, 10), RU)
    # 20 working days back from Wed 12 May 2027 skip 1-3 and 8-10 May: Mon 12 April 10:00
    assert query.status_since_before == msk(2027, 4, 12, 10)
    assert add_duration(RU, msk(2027, 4, 12, 10), BusinessDuration(days=20)) == msk(2027, 5, 12, 10)
    assert scan_fields(r, "jira") == ("statuscategorychangedate",)
    assert scan_fields(r, "kaiten") == ("last_moved_at",)


def test_before_and_after_date_search_a_window_of_the_date_field() -> None:
    before = rule(trigger={"before_date": 30})
    query = scan_query(before, msk(2027, 1, 1, 0, 30), RU, date_field="customfield_10030")
    assert query.field_dates == (DateRange("customfield_10030", date(2027, 1, 1), date(2027, 1, 31)),)
    after = rule(trigger={"after_date": 2, "field": "Renewal"})
    query = scan_query(
        after, datetime(2026, 12, 31, 22, tzinfo=UTC), RU, date_field="id_505"
    )  # 1 Jan in Moscow
    assert query.field_dates == (DateRange("id_505", date(2026, 12, 23), date(2026, 12, 30)),)
    assert scan_fields(after, "kaiten", date_field="id_505") == ("id_505",)
    with pytest.raises(ValueError, match="date field 'Renewal'"):
        scan_query(after, NOW, RU)


# -- conditions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "state", "expected"),
    [
        ({"priorities": ["Highest", "High"]}, {"priority": "high"}, True),
        ({"priorities": ["Highest"]}, {"priority": "Medium"}, False),
        ({"priorities": ["Highest"]}, {"priority": None}, False),
        ({"projects": ["DEV"]}, {}, False),
        ({"projects": ["sup"]}, {}, True),
        ({"boards": [10]}, {"container": "10", "key": "77"}, True),
        ({"types": ["Bug"]}, {"issue_type": "Task"}, False),
        ({"labels": ["VIP"]}, {"labels": ("vip", "x")}, True),
        ({"tags": ["vip"]}, {"labels": ()}, False),
        ({"assignee_empty": True}, {"assignee": "alice"}, False),
        ({"assignee_empty": False}, {"assignee": "alice"}, True),
        ({"statuses": ["waiting for customer"]}, {"status": "Waiting for customer"}, True),
        ({"not_done": True}, {"done": True}, False),
        (
            {"fields": {"Severity": ["Critical", "Major"]}},
            {"fields": {"customfield_10020": {"value": "Major"}}},
            True,
        ),
        ({"fields": {"Severity": "Critical"}}, {"fields": {"customfield_10020": {"value": "Major"}}}, False),
        ({"fields": {"customfield_10010": None}}, {"fields": {"customfield_10010": None}}, True),
        ({"fields": {"customfield_10010": None}}, {"fields": {"customfield_10010": "ACME"}}, False),
        ({"fields": {"id_503": [611]}}, {"fields": {"id_503": [611, 612]}}, True),
        (
            {"older_than": "1d"},
            {"created": msk(2027, 3, 9, 13)},
            False,
        ),  # 8 March off: 1 day is tomorrow 13:00
        ({"older_than": "1d"}, {"created": msk(2027, 3, 5, 17)}, True),
    ],
)
def test_conditions_on_an_issue(when: dict[str, Any], state: dict[str, Any], expected: bool) -> None:
    r = rule(trigger={"event": "created"}, when=when)
    ids = {"Severity": "customfield_10020"}
    assert matches(r, issue(**state), NOW, RU, field_ids=ids) is expected


def test_outside_hours_on_a_friday_evening_and_a_moscow_morning_in_berlin() -> None:
    night = rule(trigger={"event": "created"}, when={"outside_hours": True})
    assert matches(night, issue(), msk(2027, 3, 5, 20), RU)  # Friday 20:00
    assert not matches(night, issue(), msk(2027, 3, 5, 17, 59), RU)
    assert matches(night, issue(), msk(2027, 2, 20, 12), RU) is False  # the transferred working Saturday
    assert matches(night, issue(), msk(2027, 3, 1, 10), BERLIN_OFFICE)  # 08:00 in Berlin
    assert not matches(night, issue(), msk(2027, 3, 1, 11), BERLIN_OFFICE)


# -- time triggers ---------------------------------------------------------------------------------------

QUIET = {"trigger": {"no_customer_reply": "2d"}, "followup": {"after": "3d", "actions": [{"resolve": True}]}}


def test_a_friday_evening_wait_nudges_on_wednesday_morning_and_closes_later() -> None:
    r = rule(**QUIET, when={"statuses": ["Waiting for customer"]})
    quiet = msk(2027, 3, 12, 20)  # Friday 20:00: the clock starts on Monday 09:00
    state = issue(status="Waiting for customer")
    assert time_due(r, state, msk(2027, 3, 17, 8, 59), RU, tracker_kind="jira", quiet_since=quiet) == []
    [nudge] = time_due(r, state, msk(2027, 3, 17, 9), RU, tracker_kind="jira", quiet_since=quiet)
    assert (nudge.stage, nudge.due_at, nudge.occurrence) == (
        "main",
        msk(2027, 3, 17, 9),
        "quiet:2027-03-12T17:00Z",
    )
    both = time_due(r, state, msk(2027, 3, 22, 9), RU, tracker_kind="jira", quiet_since=quiet)
    assert [(d.stage, d.due_at, d.occurrence) for d in both] == [
        ("main", msk(2027, 3, 17, 9), "quiet:2027-03-12T17:00Z"),
        ("followup", msk(2027, 3, 22, 9), "quiet:2027-03-12T17:00Z+followup"),
    ]
    assert both[1].actions[0].kind == "resolve"
    # the customer wrote again: a new quiet period, a new occurrence
    later = time_due(r, state, msk(2027, 3, 30, 9), RU, tracker_kind="jira", quiet_since=msk(2027, 3, 25, 11))
    assert later[0].occurrence == "quiet:2027-03-25T08:00Z"


def test_the_may_holidays_hold_back_a_stuck_card() -> None:
    r = rule(trigger={"in_status_longer": "20d"})
    entered = msk(2027, 4, 12, 10)
    card = issue(fields={"last_moved_at": entered.astimezone(UTC).isoformat()})
    assert time_due(r, card, msk(2027, 5, 12, 9, 59), RU, tracker_kind="kaiten") == []
    [due] = time_due(r, card, msk(2027, 5, 12, 10), RU, tracker_kind="kaiten")
    assert due.occurrence == "status:In Progress@2027-04-12T07:00Z"
    # Jira without the entry time: the search's bound said so; one firing per status
    [jira] = time_due(r, issue(), msk(2027, 5, 12, 10), RU, tracker_kind="jira")
    assert jira.occurrence == "status:In Progress@unknown"


def test_a_transferred_working_saturday_counts_as_a_business_day() -> None:
    r = rule(trigger={"in_status_longer": "1d"})
    card = issue(fields={"last_moved_at": "2027-02-19T12:00:00+03:00"})  # Friday noon
    # the 2027 decree makes Saturday 20 February a working day (and Monday 22 a day off)
    assert time_due(r, card, msk(2027, 2, 20, 12), RU, tracker_kind="kaiten")
    assert not time_due(r, card, msk(2027, 2, 22, 11, 59), NO_TRANSFERS, tracker_kind="kaiten")
    assert time_due(r, card, msk(2027, 2, 22, 12), NO_TRANSFERS, tracker_kind="kaiten")
    # a company's own working Saturday (working_days)
    friday = issue(fields={"last_moved_at": "2027-03-12T12:00:00+03:00"})
    assert time_due(r, friday, msk(2027, 3, 13, 12), SATURDAY_WORK, tracker_kind="kaiten")
    assert not time_due(r, friday, msk(2027, 3, 13, 12), RU, tracker_kind="kaiten")


def test_business_hours_across_time_zones() -> None:
    r = rule(trigger={"in_status_longer": "4h"})
    card = issue(fields={"last_moved_at": berlin(2027, 3, 1, 16).isoformat()})  # Monday 16:00 Berlin
    # Berlin: 16-18 on Monday, then 09-11 on Tuesday; Moscow's lunch calendar: 18-18 … counted in its zone
    assert time_due(r, card, berlin(2027, 3, 2, 11), BERLIN_OFFICE, tracker_kind="kaiten")
    assert not time_due(r, card, berlin(2027, 3, 2, 10, 59), BERLIN_OFFICE, tracker_kind="kaiten")
    # in Moscow 16:00 Berlin is 18:00 (the end of the day): 09-13 on Tuesday
    assert time_due(r, card, msk(2027, 3, 2, 13), LUNCH, tracker_kind="kaiten")
    assert not time_due(r, card, msk(2027, 3, 2, 12, 59), LUNCH, tracker_kind="kaiten")


def test_a_contract_end_fires_once_per_date() -> None:
    r = rule(trigger={"before_date": 30})
    field = "customfield_10030"
    jira = issue(fields={field: "2027-04-08"})
    assert date_value(jira, field) == date(2027, 4, 8)
    assert time_due(r, jira, msk(2027, 3, 8, 23), RU, tracker_kind="jira", date_field=field) == []
    [due] = time_due(r, jira, msk(2027, 3, 9, 0, 1), RU, tracker_kind="jira", date_field=field)
    assert due.occurrence == "date:2027-04-08"
    kaiten = issue(fields={"id_505": {"date": "2027-04-08T00:00:00Z"}})
    assert time_due(r, kaiten, msk(2027, 3, 20), RU, tracker_kind="kaiten", date_field="id_505")[
        0
    ].occurrence == ("date:2027-04-08")
    assert time_due(r, kaiten, msk(2027, 4, 9), RU, tracker_kind="kaiten", date_field="id_505") == []  # past
    assert time_due(r, issue(), NOW, RU, tracker_kind="jira", date_field=field) == []  # no date


# -- events, SLA -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "event", "expected"),
    [
        ({"event": "commented", "text_contains": "следующая задача"}, RuleEvent("commented", "7", text="Ок. Следующая задача: звонок"), "event:7"),
        ({"event": "commented", "text_contains": "следующая задача"}, RuleEvent("commented", "7", text="готово"), None),
        ({"event": "commented", "author": "customer"}, RuleEvent("commented", "8", author_is_customer=True), "event:8"),
        ({"event": "commented", "author": "customer"}, RuleEvent("commented", "8", author_is_customer=False), None),
        ({"event": "moved", "to": ["In Progress"]}, RuleEvent("transitioned", "9", status_to=("in progress", "3")), "event:9"),
        ({"event": "transitioned", "to": [103]}, RuleEvent("transitioned", "9", status_to=("Done", "102")), None),
        ({"event": "field_changed", "field": "checklists"}, RuleEvent("field_changed", "10", field="Checklists"), "event:10"),
        ({"event": "field_changed", "field": "Severity"}, RuleEvent("field_changed", "10", fields_changed=("customfield_10020", "Severity")), "event:10"),
        ({"event": "field_changed", "field": "customfield_10020"}, RuleEvent("field_changed", "10", fields_changed=("customfield_10020", "Severity")), "event:10"),
        ({"event": "field_changed", "field": "Customer"}, RuleEvent("field_changed", "10", fields_changed=("customfield_10020", "Severity")), None),
        ({"event": "field_changed", "field": "resolution"}, RuleEvent("transitioned", "10", fields_changed=("resolution", "status")), "event:10"),
        ({"event": "linked_resolved", "linked_projects": "DEV"}, RuleEvent("linked_resolved", "11", linked_project="DEV"), "event:11"),
        ({"event": "linked_resolved", "linked_projects": "DEV"}, RuleEvent("linked_resolved", "11", linked_project="HW"), None),
        ({"event": "created"}, RuleEvent("assigned", "12"), None),
        ({"event": "assigned"}, RuleEvent("field_changed", "13", fields_changed=("assignee", "Assignee")), "event:13"),
        ({"event": "assigned"}, RuleEvent("field_changed", "13", fields_changed=("responsible_id",)), "event:13"),
        ({"event": "assigned"}, RuleEvent("field_changed", "13", fields_changed=("priority",)), None),
        ({"event": "assigned"}, RuleEvent("transitioned", "13", fields_changed=("status",)), None),
        ({"cron": "0 10 * * *"}, RuleEvent("created", "12"), None),
    ],
)  # fmt: skip
def test_events(trigger: dict[str, Any], event: RuleEvent, expected: str | None) -> None:
    assert event_occurrence(rule(trigger=trigger), event) == expected


def test_sla_states_pick_their_actions() -> None:
    r = rule(
        trigger={"sla": ["warning", "breached"]},
        actions=[{"notify": {"email": "t@example.com"}}, {"set": {"labels": ["late"]}, "only": "breached"}],
    )
    assert sla_occurrence(r, "breached", "resolution") == "sla:breached:resolution"
    assert sla_occurrence(rule(trigger={"sla": "breached"}), "warning", "resolution") is None
    assert [a.kind for a in actions_for(r.actions, "warning")] == ["notify"]
    assert [a.kind for a in actions_for(r.actions, "breached")] == ["notify", "set"]


# -- the threshold ---------------------------------------------------------------------------------------

durations = st.builds(
    BusinessDuration,
    days=st.integers(min_value=0, max_value=25),
    minutes=st.integers(min_value=0, max_value=1200),
)
nows = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([RU, LUNCH, BERLIN_OFFICE, SATURDAY_WORK]), nows, durations)
def test_latest_start_is_the_last_minute_whose_clock_has_run_out(
    calendar: Any, now: datetime, amount: Any
) -> None:
    start = latest_start(calendar, now, amount)
    assert start.second == 0 and start.microsecond == 0
    assert add_duration(calendar, start, amount) <= now
    assert add_duration(calendar, start + timedelta(minutes=1), amount) > now
