"""Kaiten cards in the hub's terms: the ``POST /cards`` body a draft becomes (developers.kaiten.ru
/cards/create-new-card: title, board_id, column_id, lane_id, type_id, description, asap, responsible_id,
external_id, properties {"id_<n>": value}), and the state a card read gives."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses

from connector.errors import TrackerRejected
from connector.kaiten import KaitenTracker
from connector.kaiten.cards import card_body, card_state
from connector.types import IssueRef, Target
from tests.connector.kaiten.factories import API, ORIGIN, draft, live_card

REF = IssueRef("kaiten", "101", ORIGIN + "/101", "101")


def test_card_body_minimal_draft_leaves_optional_fields_out() -> None:
    target = Target("kaiten", "10", issue_type="2")
    body = card_body(draft(target=target, labels=(), priority=None, assignee=None, custom_fields={}))
    assert body == {
        "title": "Printer on fire",
        "board_id": 10,
        "description": "It is \\*really\\* on fire",
        "asap": False,
        "external_id": "hub-42",
        "type_id": 2,
    }


def test_card_body_rejects_names_where_ids_are_needed() -> None:
    with pytest.raises(TrackerRejected):
        card_body(draft(target=Target("kaiten", "Support")))
    with pytest.raises(TrackerRejected):
        card_body(draft(custom_fields={"Severity": "High"}))


@pytest.mark.parametrize(
    ("over", "done", "status"),
    [
        ({"state": 1}, False, "To do"),
        ({"state": 2, "column": {"id": 102, "title": "In progress", "type": 2}}, False, "In progress"),
        ({"state": 3, "column": {"id": 103, "title": "Done", "type": 3}}, True, "Done"),
        ({"state": 1, "condition": 2, "archived": True}, True, "archived"),
    ],
)
@responses.activate(assert_all_requests_are_fired=True)
def test_state_done_in_done_column_or_archived(
    tracker: KaitenTracker, over: dict[str, Any], done: bool, status: str
) -> None:
    responses.get(API + "/cards/101", json=live_card(**over))
    state = tracker.get_state("101")
    assert (state.done, state.status, state.ref.key) == (done, status, "101")


@pytest.mark.parametrize(
    ("over", "category"),
    [
        ({"state": 1}, "new"),
        ({"state": 2}, "indeterminate"),
        ({"state": 3}, "done"),
        ({"state": 1, "condition": 2}, "done"),  # archived
    ],
)
def test_state_category_follows_the_column_type(over: dict[str, Any], category: str) -> None:
    state = card_state(live_card(**over), REF)
    assert (state.status_category, state.done) == (category, category == "done")


def test_state_reads_people_dates_type_and_board_from_a_card() -> None:
    card = live_card(
        asap=True,
        due_date="2026-01-31T00:00:00Z",
        members=[{"id": 7, "user_id": 7, "type": 1}, {"id": 3, "user_id": 3, "type": 2}],
        properties={"id_501": [601], "id_502": "ACME"},
    )
    state = card_state(card, REF, ("id_501", "size_text"))
    assert (state.assignee, state.reporter) == ("3", "7")  # the responsible member; the owner
    assert state.created == datetime(2024, 10, 14, 10, 48, 16, 594000, tzinfo=UTC)
    assert state.updated == datetime(2024, 10, 28, 14, 36, 34, 877000, tzinfo=UTC)
    assert (state.due_date, state.issue_type, state.container) == (date(2026, 1, 31), "2", "10")
    assert state.priority == "asap"
    assert state.fields == {"id_501": [601], "size_text": None}  # only what was asked for
    assert card_state(card, REF, all_fields=True).fields == {"id_501": [601], "id_502": "ACME"}


def test_a_card_without_members_or_dates_has_none() -> None:
    state = card_state(live_card(created=None, updated="garbage", due_date=None), REF)
    assert (state.assignee, state.created, state.updated, state.due_date, state.priority) == (None,) * 5


def test_card_body_takes_the_drafts_due_date() -> None:
    assert card_body(draft(due_date=date(2026, 2, 28), custom_fields={}))["due_date"] == "2026-02-28"
