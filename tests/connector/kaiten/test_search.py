"""KaitenTracker.search against Kaiten's documented card list (``responses``): the filters it sends, lazy
paging, what is checked on each card, cards read by key."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from responses import matchers

from connector.errors import TrackerRejected
from connector.kaiten import KaitenTracker
from connector.types import IssueRef, SearchQuery
from tests.connector.kaiten.factories import (
    API,
    ORIGIN,
    board,
    card_read,
    live_card,
    member,
)

# GET /boards/{id}: columns (type 1 queue, 2 in progress, 3 done) and lanes, as the docs describe them.
BOARD_10 = board(10, "Support", [("To do", 1), ("In progress", 2), ("Done", 3)], [("Default", 1)])
BOARD_20 = board(20, "Sales", [("Leads", 1), ("Won", 3)], [("Archived lane", 2), ("Main", 1)])


# -- search ---------------------------------------------------------------------------------------------------------


def list_item(card_id: int, **over: Any) -> dict[str, Any]:
    """A GET /cards item: the card with its members and column, its tags only as ids."""
    item = live_card(id=card_id, members=[], column={"id": 101, "title": "To do", "type": 1})
    item.update(over)
    return item


@responses.activate(assert_all_requests_are_fired=True)
def test_search_pages_lazily_through_the_card_list_with_the_querys_filters(tracker: KaitenTracker) -> None:
    first = [list_item(i) for i in range(1, 51)]
    second = [list_item(51, tag_ids=[301])]
    wanted = {
        "board_id": "10",
        "column_ids": "102",
        "states": "1,2",
        "condition": "1",
        "tag": "vip",
        "broken_api": "false",
        "additional_card_fields": "description",
        "limit": "50",
    }
    responses.get(API + "/boards/10", json=BOARD_10)
    page1 = responses.get(
        API + "/cards", json=first, match=[matchers.query_param_matcher({**wanted, "offset": "0"})]
    )
    page2 = responses.get(
        API + "/cards", json=second, match=[matchers.query_param_matcher({**wanted, "offset": "50"})]
    )
    responses.get(API + "/tags", json=[{"id": 301, "name": "vip"}, {"id": 302, "name": "bug"}])
    query = SearchQuery(containers=("10",), statuses=("in progress",), not_done=True, labels=("vip",))
    found = tracker.search(query, fields=("description",), page_size=50)
    assert page1.call_count == 0  # nothing is read before the caller asks
    assert next(found).ref == IssueRef("kaiten", "1", ORIGIN + "/1", "1")
    assert page1.call_count == 1 and page2.call_count == 0
    rest = list(found)
    assert (
        len(rest) == 50
        and rest[-1].labels == ("vip",)
        and rest[-1].fields == {"description": "Steps to reproduce"}
    )


@responses.activate(assert_all_requests_are_fired=True)
def test_search_for_unassigned_cards_checks_each_cards_members(tracker: KaitenTracker) -> None:
    cards = [list_item(1, members=[member(3, 2)]), list_item(2, members=[member(4, 1)]), list_item(3)]
    responses.get(
        API + "/cards",
        json=cards,
        match=[matchers.query_param_matcher({"condition": "1"}, strict_match=False)],
    )
    assert [s.ref.key for s in tracker.search(SearchQuery(assignee_empty=True))] == ["2", "3"]
    assert "responsible_id" not in responses.calls[0].request.params


@responses.activate(assert_all_requests_are_fired=True)
def test_search_by_keys_reads_those_cards_and_checks_the_rest_of_the_query(tracker: KaitenTracker) -> None:
    card_read(live_card(id=5, state=1))
    card_read(live_card(id=6, state=3, column_id=103))
    responses.get(f"{API}/cards/8", status=404, json={"message": "Card not found"})
    found = tracker.search(SearchQuery(keys=("5", "6", "8"), not_done=True))
    assert [s.ref.key for s in found] == ["5"]


def test_search_refuses_a_status_no_board_has_before_reading_cards(tracker: KaitenTracker) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(API + "/boards/10", json=BOARD_10)
        with pytest.raises(TrackerRejected, match="no column is named"):
            tracker.search(SearchQuery(containers=("10",), statuses=("Waiting",)))
