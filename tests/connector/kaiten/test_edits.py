"""KaitenTracker's changes to a card against Kaiten's documented shapes (``responses``): transitions, field
updates and tags, the responsible member, moves. Every request the test expects must also happen."""

from __future__ import annotations

import pytest
import responses

from connector.errors import MoveUnsupported, TrackerRejected, UnknownTarget
from connector.kaiten import KaitenTracker
from connector.types import IssueRef, Target
from tests.connector.kaiten.factories import (
    API,
    ORIGIN,
    TOKEN,
    board,
    body_of,
    card_read,
    live_card,
    member,
    sent,
)

# GET /boards/{id}: columns (type 1 queue, 2 in progress, 3 done) and lanes, as the docs describe them.
BOARD_10 = board(10, "Support", [("To do", 1), ("In progress", 2), ("Done", 3)], [("Default", 1)])
BOARD_20 = board(20, "Sales", [("Leads", 1), ("Won", 3)], [("Archived lane", 2), ("Main", 1)])


# -- transitions -----------------------------------------------------------------------------------------------


@responses.activate(assert_all_requests_are_fired=True)
def test_transitions_are_the_columns_of_the_cards_board(tracker: KaitenTracker) -> None:
    card_read(live_card(id=7))
    responses.get(API + "/boards/10", json=BOARD_10)
    found = tracker.transitions("7")
    assert [(t.id, t.name, t.to_status, t.to_category) for t in found] == [
        ("101", "To do", "To do", "new"),
        ("102", "In progress", "In progress", "indeterminate"),
        ("103", "Done", "Done", "done"),
    ]


@responses.activate(assert_all_requests_are_fired=True)
def test_transition_by_title_patches_the_column_with_fields_then_comments(tracker: KaitenTracker) -> None:
    card_read(live_card(id=7, column_id=101))
    responses.get(API + "/boards/10", json=BOARD_10)
    patch = responses.patch(API + "/cards/7", json=live_card(id=7, column_id=103))
    responses.get(API + "/cards/7/comments", json=[])
    post = responses.post(API + "/cards/7/comments", json={"id": 9005, "text": "Closed by the hub"})
    tracker.transition(
        "7", "DONE", fields={"size_text": "S"}, resolution="Fixed", comment="Closed by the hub"
    )
    assert body_of(patch.calls[0]) == {"size_text": "S", "column_id": 103}
    assert body_of(post.calls[0]) == {"text": "Closed by the hub"}


@responses.activate(assert_all_requests_are_fired=True)
def test_a_transition_already_made_moves_nothing_and_adds_a_comment_once(tracker: KaitenTracker) -> None:
    card_read(live_card(id=7, column_id=103))
    responses.get(API + "/boards/10", json=BOARD_10)
    responses.get(API + "/cards/7/comments", json=[{"id": 9005, "text": "Closed by the hub"}])
    tracker.transition("7", "103", comment="Closed by the hub")
    assert sent("PATCH") == [] and sent("POST") == []


@responses.activate(assert_all_requests_are_fired=True)
def test_a_column_the_board_lacks_is_refused_naming_its_columns(tracker: KaitenTracker) -> None:
    card_read(live_card(id=7))
    responses.get(API + "/boards/10", json=BOARD_10)
    with pytest.raises(
        TrackerRejected, match=r"no column 'Closed'.*'101 To do', '102 In progress', '103 Done'"
    ):
        tracker.transition("7", "Closed")
    assert sent("PATCH") == []


@responses.activate(assert_all_requests_are_fired=True)
def test_a_column_added_since_the_board_was_read_is_found_by_reading_it_again(tracker: KaitenTracker) -> None:
    card_read(live_card(id=7, column_id=101))
    responses.get(API + "/boards/10", json=BOARD_10)
    tracker.transitions("7")  # the layout is kept from here
    waiting = {"id": 104, "title": "Waiting for customer", "type": 2, "sort_order": 4, "column_id": None}
    responses.replace(
        responses.GET, API + "/boards/10", json={**BOARD_10, "columns": [*BOARD_10["columns"], waiting]}
    )
    patch = responses.patch(API + "/cards/7", json=live_card(id=7, column_id=104))
    tracker.transition("7", "Waiting for customer")
    assert body_of(patch.calls[0]) == {"column_id": 104}


# -- fields and tags -------------------------------------------------------------------------------------------


READS = [
    "/card-types",
    "/company/custom-properties",
    "/company/custom-properties/501/select-values",
    "/company/custom-properties/503/select-values",
]


def catalogue() -> None:
    """The field catalogue: card types and custom properties with select values (live shapes)."""
    responses.get(API + "/card-types", json=[{"id": 2, "name": "Bug", "card_properties": []}])
    responses.get(
        API + "/company/custom-properties",
        json=[
            {"id": 501, "uid": "u1", "name": "Severity", "type": "select", "multi_select": False},
            {"id": 503, "uid": "u3", "name": "Channel", "type": "select", "multi_select": True},
            {"id": 504, "uid": "u4", "name": "Order number", "type": "number"},
        ],
    )
    values = {501: [(601, "Critical"), (602, "Major")], 503: [(611, "Email"), (612, "Telegram")]}
    for prop, pairs in values.items():
        body = [{"id": i, "value": v, "custom_property_id": prop, "condition": "active"} for i, v in pairs]
        responses.get(f"{API}/company/custom-properties/{prop}/select-values", json=body)


@responses.activate(assert_all_requests_are_fired=True)
def test_update_fields_is_one_patch_with_properties_by_name_and_select_values_as_id_lists(
    tracker: KaitenTracker,
) -> None:
    catalogue()
    patch = responses.patch(API + "/cards/7", json=live_card(id=7))
    tracker.update_fields(
        "7",
        {
            "title": "Printer on fire",
            "asap": "true",
            "Severity": "major",
            "id_503": ["Email", 612],
            "504": "42",
        },
    )
    assert body_of(patch.calls[0]) == {
        "title": "Printer on fire",
        "asap": True,
        "properties": {"id_501": [602], "id_503": [611, 612], "id_504": 42},
    }
    assert sent("GET") == [(p, None) for p in READS]  # the catalogue; no card read for a PATCH alone


@responses.activate(assert_all_requests_are_fired=True)
def test_an_unknown_field_or_value_is_refused_before_anything_is_sent(tracker: KaitenTracker) -> None:
    catalogue()
    with pytest.raises(
        TrackerRejected, match=r"'Blocker' is not a value of Severity.*'601 Critical', '602 Major'"
    ):
        tracker.update_fields("7", {"Severity": "Blocker"})
    with pytest.raises(TrackerRejected, match="no card field or custom property 'Colour'"):
        tracker.update_fields("7", {"Colour": "red"})
    with pytest.raises(TrackerRejected, match="column_id is set by a transition or a move"):
        tracker.update_fields("7", {"column_id": 103})
    assert sent("PATCH") == []


@responses.activate(assert_all_requests_are_fired=True)
def test_tags_are_added_and_removed_only_when_needed(tracker: KaitenTracker) -> None:
    # a card's tags as GET /cards/{id} lists them; a card tag may name its tag as ``tag_id`` (S2 CardTag)
    tags = [{"id": 901, "tag_id": 301, "name": "VIP"}, {"id": 302, "name": "printer"}]
    card_read(live_card(id=7, tags=tags))
    responses.post(API + "/cards/7/tags", json={"id": 303, "name": "sla-breached"})
    responses.delete(API + "/cards/7/tags/301", json={"id": 301})
    tracker.update_fields("7", {}, add_labels=["sla-breached", "printer"], remove_labels=["vip", "absent"])
    assert sent("POST") == [("/cards/7/tags", {"name": "sla-breached"})]
    assert sent("DELETE") == [("/cards/7/tags/301", None)]
    assert sent("PATCH") == []


@responses.activate(assert_all_requests_are_fired=True)
def test_a_tag_asked_for_twice_is_added_once_with_the_responsible_from_the_fields(
    tracker: KaitenTracker,
) -> None:
    card_read(live_card(id=7, members=[member(3, 2)], tags=[]))
    responses.post(API + "/cards/7/tags", json={"id": 303, "name": "sla-breached"})
    tracker.update_fields("7", {"tags": ["sla-breached"], "responsible_id": "3"}, add_labels=["SLA-breached"])
    assert sent("POST") == [("/cards/7/tags", {"name": "sla-breached"})]
    assert sent("PATCH") == []  # 3 is already responsible


# -- the responsible member --------------------------------------------------------------------------------------


@responses.activate(assert_all_requests_are_fired=True)
def test_assign_adds_the_member_makes_them_responsible_and_demotes_the_previous_one(
    tracker: KaitenTracker,
) -> None:
    card_read(live_card(id=7, members=[member(2, 2), member(4, 1)]))
    responses.post(API + "/cards/7/members", json=member(3, 1))
    responses.patch(API + "/cards/7/members/3", json={"card_id": 7, "user_id": 3, "type": 2})
    responses.patch(API + "/cards/7/members/2", json={"card_id": 7, "user_id": 2, "type": 1})
    tracker.assign("7", "3")
    assert sent("POST") == [("/cards/7/members", {"user_id": 3})]
    assert sent("PATCH") == [("/cards/7/members/3", {"type": 2}), ("/cards/7/members/2", {"type": 1})]


@responses.activate(assert_all_requests_are_fired=True)
def test_assigning_the_responsible_again_or_a_member_sends_only_what_is_missing(
    tracker: KaitenTracker,
) -> None:
    card_read(live_card(id=7, members=[member(3, 2)]))
    tracker.assign("7", "3")
    assert len(responses.calls) == 1
    responses.replace(
        responses.GET, API + "/cards/7", json=live_card(id=7, members=[member(4, 1), member(3, 2)])
    )
    responses.patch(API + "/cards/7/members/4", json={"card_id": 7, "user_id": 4, "type": 2})
    responses.patch(API + "/cards/7/members/3", json={"card_id": 7, "user_id": 3, "type": 1})
    tracker.assign("7", "4")
    assert sent("POST") == []


@responses.activate(assert_all_requests_are_fired=True)
def test_unassign_leaves_the_responsible_a_plain_member(tracker: KaitenTracker) -> None:
    card_read(live_card(id=7, members=[member(3, 2)]))
    responses.patch(API + "/cards/7/members/3", json={"card_id": 7, "user_id": 3, "type": 1})
    tracker.assign("7", None)
    assert sent("PATCH") == [("/cards/7/members/3", {"type": 1})] and sent("DELETE") == []


# -- moves -------------------------------------------------------------------------------------------------------------


@responses.activate(assert_all_requests_are_fired=True)
def test_move_is_one_patch_with_board_column_lane_type_and_properties(tracker: KaitenTracker) -> None:
    catalogue()
    card_read(live_card(id=7))
    responses.get(API + "/boards/20", json=BOARD_20)
    patch = responses.patch(API + "/cards/7", json=live_card(id=7, board_id=20))
    ref = tracker.move(
        "7", Target("kaiten", "20", issue_type="3", column="Won"), fields={"Severity": "Critical"}
    )
    assert ref == IssueRef("kaiten", "7", ORIGIN + "/7", "7")
    assert body_of(patch.calls[0]) == {
        "properties": {"id_501": [601]},
        "board_id": 20,
        "column_id": 202,
        "lane_id": 212,  # the first live lane
        "type_id": 3,
    }


@responses.activate(assert_all_requests_are_fired=True)
def test_move_to_another_board_defaults_to_its_first_column(tracker: KaitenTracker) -> None:
    card_read(live_card(id=7))
    responses.get(API + "/boards/20", json=BOARD_20)
    patch = responses.patch(API + "/cards/7", json=live_card(id=7, board_id=20))
    tracker.move("7", Target("kaiten", "20"))
    assert body_of(patch.calls[0]) == {"board_id": 20, "column_id": 201, "lane_id": 212}


@responses.activate(assert_all_requests_are_fired=True)
def test_a_column_or_lane_of_another_board_is_refused_naming_what_the_target_has(
    tracker: KaitenTracker,
) -> None:
    card_read(live_card(id=7))
    responses.get(API + "/boards/20", json=BOARD_20)
    with pytest.raises(
        TrackerRejected, match=r"board 20 has no column '101'; it has \['201 Leads', '202 Won'\]"
    ):
        tracker.move("7", Target("kaiten", "20", column="101"))
    with pytest.raises(TrackerRejected, match=r"board 20 has no lane '111'; it has \['212 Main'\]"):
        tracker.move("7", Target("kaiten", "20", lane="111"))
    assert sent("PATCH") == []


def test_a_move_to_another_tracker_is_for_the_caller_to_copy(tracker: KaitenTracker) -> None:
    with responses.RequestsMock() as rsps, pytest.raises(MoveUnsupported, match="'jira'"):
        tracker.move("7", Target("jira", "SUP", issue_type="Task"))
    assert len(rsps.calls) == 0


@responses.activate(assert_all_requests_are_fired=True)
def test_move_to_a_board_kaiten_lacks_is_an_unknown_target(tracker: KaitenTracker) -> None:
    card_read(live_card(id=7))
    responses.get(API + "/boards/99", status=404, json={"message": "Not found"})
    with pytest.raises(UnknownTarget) as caught:
        tracker.move("7", Target("kaiten", "99"))
    assert caught.value.part == "board"


@responses.activate(assert_all_requests_are_fired=True)
def test_every_new_operation_waits_for_the_rate_limiter() -> None:
    class Counting:
        calls = 0

        def acquire(self) -> float:
            self.calls += 1
            return 0.0

    limiter = Counting()
    tracker = KaitenTracker(ORIGIN, TOKEN, limiter=limiter, read_retries=0)  # type: ignore[arg-type]
    card_read(live_card(id=7, members=[]))
    responses.get(API + "/boards/10", json=BOARD_10)
    responses.patch(API + "/cards/7", json=live_card(id=7))
    responses.post(API + "/cards/7/members", json=member(3, 1))
    responses.patch(API + "/cards/7/members/3", json={"type": 2})
    tracker.transition("7", "Done")
    tracker.assign("7", "3")
    assert limiter.calls == len(responses.calls) == 6
