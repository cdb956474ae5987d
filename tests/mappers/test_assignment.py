"""Load-aware assignment: the fewest open issues among who is not away, ties to the first listed, and the
one search that counts them; round-robin in turn."""

from __future__ import annotations

from datetime import date

import pytest

from config.automation_actions import AssignAction
from connector.types import IssueRef, IssueState, SearchQuery
from mappers.assignment import least_open, load_query, next_in_turn

TEAM = AssignAction.model_validate(
    {
        "least_open": ["alice", "bob", "carol"],
        "absences": [{"user": "bob", "from": "2027-05-04", "to": "2027-05-07"}],
    }
)


def open_issue(assignee: str | None, done: bool = False) -> IssueState:
    return IssueState(ref=IssueRef("jira", "SUP-1", "u"), done=done, assignee=assignee)


def test_the_least_loaded_available_user_is_chosen() -> None:
    issues = [
        open_issue("alice"),
        open_issue("alice"),
        open_issue("bob"),
        open_issue("carol"),
        open_issue(None),
    ]
    assert least_open(TEAM, date(2027, 5, 3), issues) == "bob"
    assert least_open(TEAM, date(2027, 5, 4), issues) == "carol"  # bob is away
    assert least_open(TEAM, date(2027, 5, 4), [*issues, open_issue("carol"), open_issue("carol")]) == "alice"
    assert least_open(TEAM, date(2027, 5, 8), []) == "alice"  # a tie: the first listed
    assert least_open(TEAM, date(2027, 5, 8), [open_issue("alice", done=True)] * 3) == "alice"


def test_nobody_available_picks_nobody() -> None:
    away = AssignAction.model_validate(
        {"least_open": ["bob"], "absences": [{"user": "bob", "from": "2027-05-01", "to": "2027-05-11"}]}
    )
    assert least_open(away, date(2027, 5, 5), []) is None
    assert load_query(away, date(2027, 5, 5), ["SUP"]) is None


def test_one_search_counts_the_load() -> None:
    assert load_query(TEAM, date(2027, 5, 5), ["SUP"]) == SearchQuery(
        containers=("SUP",), assignees=("alice", "carol"), not_done=True
    )


def test_round_robin_goes_in_turn() -> None:
    users = ["alice", "bob"]
    assert [next_in_turn(users, last) for last in (None, "alice", "bob", "zed")] == [
        "alice",
        "bob",
        "alice",
        "alice",
    ]
    with pytest.raises(ValueError):
        next_in_turn([], None)
