"""KaitenTracker's operations for routing and automations against Kaiten's documented shapes (``responses``):
comments, transitions, field updates and tags, the responsible member, search, external links, moves,
checklists. Every request the test expects is also required to happen."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from responses import matchers

from connector.base import CAN_BULK_CREATE, CAN_CHECKLISTS, CAN_MOVE, CAN_REMOTE_LINKS
from connector.errors import MoveUnsupported, TrackerRejected, UnknownTarget
from connector.kaiten import KaitenTracker
from connector.types import Checklist, ChecklistItem, IssueRef, LinkType, SearchQuery, Target
from tests.connector.kaiten.factories import API, ORIGIN, TOKEN, board, body_of, live_card

# GET /boards/{id}: columns (type 1 queue, 2 in progress, 3 done) and lanes, as the docs describe them.
BOARD_10 = board(10, "Support", [("To do", 1), ("In progress", 2), ("Done", 3)], [("Default", 1)])
BOARD_20 = board(20, "Sales", [("Leads", 1), ("Won", 3)], [("Archived lane", 2), ("Main", 1)])


def card_read(card: dict[str, Any]) -> Any:
    """GET /cards/{id}, which the tracker always asks with ``broken_api=false``."""
    return responses.get(
        f"{API}/cards/{card['id']}", json=card, match=[matchers.query_param_matcher({"broken_api": "false"})]
    )


def member(user: int, kind: int) -> dict[str, Any]:
    """A card member (S2 ``MemberDetailed``: the user plus ``card_id``, ``user_id``, ``type``)."""
    return {"id": user, "full_name": f"User {user}", "user_id": user, "card_id": 7, "type": kind}


def sent(method: str) -> list[tuple[str, Any]]:
    return [
        (c.request.url.split("?")[0].removeprefix(API), body_of(c) if c.request.body else None)
        for c in responses.calls
        if c.request.method == method
    ]


def test_what_kaiten_can_do(tracker: KaitenTracker) -> None:
    can = tracker.capabilities()
    assert {CAN_MOVE, CAN_CHECKLISTS, CAN_REMOTE_LINKS} <= can and CAN_BULK_CREATE not in can
    assert tracker.link_types() == [LinkType("Parent", "is a child of", "is the parent of")]


# -- comments ------------------------------------------------------------------------------------------------


@responses.activate(assert_all_requests_are_fired=True)
def test_comments_oldest_first_with_author_date_and_visibility(tracker: KaitenTracker) -> None:
    # GET /cards/{id}/comments as the docs answer it (CardCommentsRetrieveCardCommentsResponse)
    later = {
        "id": 9002,
        "text": "internal note",
        "card_id": 7,
        "author_id": 3,
        "author": {"id": 3, "full_name": "Bob Example"},
        "internal": True,
        "created": "2024-10-15T08:00:00.000Z",
        "updated": "2024-10-15T08:00:00.000Z",
    }
    earlier = {**later, "id": 9001, "text": "hello", "internal": False, "created": "2024-10-14T10:48:16.594Z"}
    responses.get(API + "/cards/7/comments", json=[later, earlier])
    comments = tracker.comments("7")
    assert [(c.id, c.body, c.author, c.author_name, c.public) for c in comments] == [
        ("9001", "hello", "3", "Bob Example", True),
        ("9002", "internal note", "3", "Bob Example", False),
    ]
    assert (
        comments[0].created is not None
        and comments[0].created.isoformat() == "2024-10-14T10:48:16.594000+00:00"
    )


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


# -- external links --------------------------------------------------------------------------------------------------


@responses.activate(assert_all_requests_are_fired=True)
def test_remote_link_is_added_once_by_url_and_its_title_kept_current(tracker: KaitenTracker) -> None:
    url = "https://hub.example.com/route/abc"
    responses.get(API + "/cards/7/external-links", json=[])
    add = responses.post(API + "/cards/7/external-links", json={"id": 41, "url": url, "description": "Route"})
    tracker.add_remote_link("7", url, "Route", global_id="hub-route-7")
    assert body_of(add.calls[0]) == {"url": url, "description": "Route"}
    # the card now has it (S2 ExternalLink): the same title sends nothing, another updates it
    responses.replace(
        responses.GET,
        API + "/cards/7/external-links",
        json=[{"id": 41, "url": url, "description": "Route", "card_id": 7}],
    )
    tracker.add_remote_link("7", url, "Route", global_id="hub-route-7")
    update = responses.patch(API + "/cards/7/external-links/41", json={"id": 41})
    tracker.add_remote_link("7", url, "Route this ticket " + "x" * 600, global_id="hub-route-7")
    assert add.call_count == 1 and len(sent("GET")) == 3
    assert body_of(update.calls[0]) == {"description": ("Route this ticket " + "x" * 600)[:512]}


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


# -- checklists ---------------------------------------------------------------------------------------------------------


def checklist(
    checklist_id: int, name: str, *items: tuple[int, str, bool], order: float = 1
) -> dict[str, Any]:
    """A checklist as GET /cards/{id} embeds it (S2 Checklist with ChecklistItem items)."""
    return {
        "id": checklist_id,
        "name": name,
        "sort_order": order,
        "items": [
            {"id": i, "text": t, "checked": c, "sort_order": n} for n, (i, t, c) in enumerate(items, 1)
        ],
    }


@responses.activate(assert_all_requests_are_fired=True)
def test_checklists_are_read_from_the_card(tracker: KaitenTracker) -> None:
    lists = [
        checklist(2, "Later", order=2),
        checklist(1, "Steps", (11, "Reboot", True), (12, "Call back", False)),
    ]
    card_read(live_card(id=7, checklists=lists))
    assert tracker.checklists("7") == [
        Checklist(
            "1", "Steps", (ChecklistItem("11", "Reboot", True), ChecklistItem("12", "Call back", False))
        ),
        Checklist("2", "Later"),
    ]


@responses.activate(assert_all_requests_are_fired=True)
def test_add_checklist_creates_it_then_its_items(tracker: KaitenTracker) -> None:
    card_read(live_card(id=7, checklists=[]))
    responses.post(API + "/cards/7/checklists", json={"id": 3, "name": "Onboarding", "items": None})
    responses.post(API + "/cards/7/checklists/3/items", json={"id": 31, "text": "x"})
    assert tracker.add_checklist("7", "Onboarding", ["Account", "Laptop"]) == "3"
    assert sent("POST") == [
        ("/cards/7/checklists", {"name": "Onboarding"}),
        ("/cards/7/checklists/3/items", {"text": "Account"}),
        ("/cards/7/checklists/3/items", {"text": "Laptop"}),
    ]


@responses.activate(assert_all_requests_are_fired=True)
def test_add_checklist_again_adds_only_the_items_a_lost_answer_left_out(tracker: KaitenTracker) -> None:
    card_read(live_card(id=7, checklists=[checklist(3, "Onboarding", (31, "Account", False))]))
    responses.post(API + "/cards/7/checklists/3/items", json={"id": 32, "text": "Laptop"})
    assert tracker.add_checklist("7", "onboarding", ["Account", "Laptop"]) == "3"
    assert sent("POST") == [("/cards/7/checklists/3/items", {"text": "Laptop"})]


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
