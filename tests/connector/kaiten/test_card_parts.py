"""KaitenTracker's reads and additions beside the card itself against Kaiten's documented shapes
(``responses``): what it can do, comments, external links, checklists."""

from __future__ import annotations

from typing import Any

import responses

from connector.base import CAN_BULK_CREATE, CAN_CHECKLISTS, CAN_MOVE, CAN_REMOTE_LINKS
from connector.kaiten import KaitenTracker
from connector.types import Checklist, ChecklistItem, LinkType
from tests.connector.kaiten.factories import (
    API,
    body_of,
    card_read,
    live_card,
    sent,
)


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
