"""KaitenTracker (the ``Tracker`` protocol) against mocked HTTP (``responses``), checked against Kaiten's
documented shapes: the create saga, finding what an earlier attempt made, comments, files, search."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from responses import matchers

from connector.errors import TrackerRejected, TrackerUnavailable, Unsupported
from connector.kaiten import KaitenTracker
from connector.kaiten.tracker import IncompleteCard
from connector.types import FileUpload, IssueRef, TrackerFile
from tests.connector.kaiten.factories import API, ORIGIN, TOKEN, body_of, draft, live_card


@responses.activate(assert_all_requests_are_fired=True)
def test_create_posts_the_documented_card_body_then_tags(tracker: KaitenTracker) -> None:
    responses.post(API + "/cards", json=live_card(id=555, external_id="hub-42"))
    responses.post(API + "/cards/555/tags", json={"id": 1, "name": "support"})
    ref = tracker.create_issue(draft())
    assert (ref.tracker, ref.key, ref.url) == ("kaiten", "555", ORIGIN + "/555")
    create = responses.calls[0]
    assert create.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert body_of(create) == {
        "title": "Printer on fire",
        "board_id": 10,
        "description": "It is \\*really\\* on fire",
        "asap": True,
        "external_id": "hub-42",
        "column_id": 101,
        "lane_id": 111,
        "type_id": 2,
        "responsible_id": 3,
        "due_date": "2026-01-31T00:00:00Z",
        "properties": {"id_501": [601], "id_502": "ACME Corp"},
    }
    tags = [body_of(c) for c in responses.calls[1:]]
    assert tags == [{"name": "support"}, {"name": "telegram"}]


@responses.activate(assert_all_requests_are_fired=True)
def test_create_skips_tags_the_card_already_has(tracker: KaitenTracker) -> None:
    # a column's default_tags can put a tag on a new card before the hub adds it
    responses.post(API + "/cards", json=live_card(id=556, tags=[{"id": 9, "name": "Support"}]))
    responses.post(API + "/cards/556/tags", json={"id": 2, "name": "telegram"})
    tracker.create_issue(draft())
    assert [body_of(c) for c in responses.calls[1:]] == [{"name": "telegram"}]


@responses.activate(assert_all_requests_are_fired=True)
def test_failed_tag_step_keeps_the_card_ref(tracker: KaitenTracker) -> None:
    responses.post(API + "/cards", json=live_card(id=557))
    responses.post(API + "/cards/557/tags", status=503, json={"message": "Service unavailable"})
    with pytest.raises(IncompleteCard) as caught:
        tracker.create_issue(draft())
    assert caught.value.ref.key == "557"
    assert isinstance(caught.value, TrackerUnavailable)
    assert len(responses.calls) == 2  # the create is never re-sent


@responses.activate(assert_all_requests_are_fired=True)
def test_complete_issue_reads_the_card_before_each_step(tracker: KaitenTracker) -> None:
    card = live_card(id=558, tags=[{"id": 1, "name": "support"}], members=[{"id": 7, "type": 1}])
    responses.get(
        API + "/cards/558", json=card, match=[matchers.query_param_matcher({"broken_api": "false"})]
    )
    responses.post(API + "/cards/558/tags", json={"id": 2, "name": "telegram"})
    responses.post(API + "/cards/558/members", json={"id": 3, "type": 1})
    responses.patch(API + "/cards/558/members/3", json={"card_id": 558, "user_id": 3, "type": 2})
    tracker.complete_issue("558", draft())
    methods = [(c.request.method, c.request.url.split("?")[0]) for c in responses.calls]
    assert methods == [
        ("GET", API + "/cards/558"),
        ("POST", API + "/cards/558/tags"),
        ("POST", API + "/cards/558/members"),
        ("PATCH", API + "/cards/558/members/3"),
    ]
    assert body_of(responses.calls[2]) == {"user_id": 3}
    assert body_of(responses.calls[3]) == {"type": 2}


@responses.activate(assert_all_requests_are_fired=True)
def test_complete_issue_does_nothing_on_a_complete_card(tracker: KaitenTracker) -> None:
    card = live_card(
        id=559,
        tags=[{"id": 1, "name": "support"}, {"id": 2, "name": "telegram"}],
        members=[{"id": 3, "type": 2}],
    )
    responses.get(API + "/cards/559", json=card)
    tracker.complete_issue("559", draft())
    assert len(responses.calls) == 1


@responses.activate(assert_all_requests_are_fired=True)
def test_find_issue_filters_by_external_id(tracker: KaitenTracker) -> None:
    match = [matchers.query_param_matcher({"external_id": "hub-42", "limit": "2"})]
    responses.get(API + "/cards", json=[live_card(id=560, external_id="hub-42")], match=match)
    ref = tracker.find_issue("hub-42")
    assert ref is not None and ref.key == "560" and ref.url == ORIGIN + "/560"


@responses.activate(assert_all_requests_are_fired=True)
def test_find_issue_none_when_no_card_carries_the_key(tracker: KaitenTracker) -> None:
    responses.get(API + "/cards", json=[])
    assert tracker.find_issue("hub-43") is None
    # a server that ignored the filter must not make another card look like ours
    responses.replace(responses.GET, API + "/cards", json=[live_card(id=1, external_id=None)])
    assert tracker.find_issue("hub-43") is None


@responses.activate(assert_all_requests_are_fired=True)
def test_comments_add_and_find(tracker: KaitenTracker) -> None:
    responses.post(
        API + "/cards/7/comments", json={"id": 9001, "text": "hi [hub-5]", "type": 1, "card_id": 7}
    )
    responses.get(
        API + "/cards/7/comments",
        json=[{"id": 9000, "text": "other"}, {"id": 9001, "text": "hi [hub-5]"}],
    )
    assert tracker.add_comment("7", "hi [hub-5]", "hub-5") == "9001"
    assert body_of(responses.calls[0]) == {"text": "hi [hub-5]"}
    assert tracker.find_comment("7", "hub-5") == "9001"
    assert tracker.find_comment("7", "hub-6") is None


@responses.activate(assert_all_requests_are_fired=True)
def test_attach_skips_files_with_same_name_and_size(tracker: KaitenTracker) -> None:
    card = live_card(id=8, files=[{"id": "f-uid", "name": "a.txt", "size": "3", "type": 11}])
    responses.get(API + "/cards/8", json=card)
    responses.put(API + "/cards/8/files", json={"id": 1, "name": "b.txt", "size": 2})
    tracker.attach_files(
        "8",
        [
            FileUpload("a.txt", b"abc"),
            FileUpload("b.txt", b"hi", "text/plain"),
            FileUpload("b.txt", b"hi", "text/plain"),
        ],
    )
    uploads = [c for c in responses.calls if c.request.method == "PUT"]
    assert len(uploads) == 1
    request = uploads[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="file"; filename="b.txt"' in request.body


def file_entry(id: int, name: str, url: str, type: int = 1, **over: Any) -> dict[str, Any]:
    """A card's ``files[]`` entry (S2 ``File``: legacy files carry ``type``, ``url`` and ``external``)."""
    return {"id": id, "name": name, "size": 5, "type": type, "url": url, "external": False, **over}


@responses.activate(assert_all_requests_are_fired=True)
def test_only_files_kaiten_keeps_on_its_origin_are_listed(tracker: KaitenTracker) -> None:
    files = [
        file_entry(1, "driver.pdf", ORIGIN + "/files/aa11"),
        file_entry(2, "voice.ogg", "/files/bb22", type=10),  # relative: on the origin
        file_entry(3, "report.pdf", "https://evil.example/report.pdf"),  # a link added as a "file"
        file_entry(4, "logs.zip", ORIGIN + "/files/cc33", type=2),  # a Google Drive link
        file_entry(5, "notes.txt", ORIGIN + "/files/dd44", external=True),
        file_entry(6, "phish.pdf", "https://acme.kaiten.ru@evil.example/x"),
        {"id": "p-uid", "name": "private.pdf", "size": "9", "type": 11},  # private: no url here
    ]
    responses.get(API + "/cards/9", json=live_card(id=9, files=files))
    assert [(f.filename, f.url) for f in tracker.list_files("9")] == [
        ("driver.pdf", ORIGIN + "/files/aa11"),
        ("voice.ogg", ORIGIN + "/files/bb22"),
    ]


@responses.activate(assert_all_requests_are_fired=True)
def test_an_off_origin_file_is_never_fetched_and_never_gets_the_token(tracker: KaitenTracker) -> None:
    # nothing answers for evil.example: a request there would fail the test
    with pytest.raises(TrackerRejected, match="not fetched"):
        tracker.download_file(TrackerFile("3", "report.pdf", 5, "https://evil.example/report.pdf"), 1024)
    assert len(responses.calls) == 0


@responses.activate(assert_all_requests_are_fired=True)
def test_the_token_goes_to_the_kaiten_origin_and_not_through_a_redirect(tracker: KaitenTracker) -> None:
    responses.get(ORIGIN + "/files/aa11", body=b"%PDF-driver")
    responses.get(
        ORIGIN + "/files/bb22", status=302, headers={"Location": "https://storage.example/signed?x=1"}
    )
    responses.get("https://storage.example/signed", body=b"%PDF-stored")
    assert tracker.download_file(TrackerFile("1", "driver.pdf", 11, ORIGIN + "/files/aa11"), 1024) == (
        b"%PDF-driver"
    )
    assert tracker.download_file(TrackerFile("2", "manual.pdf", 11, ORIGIN + "/files/bb22"), 1024) == (
        b"%PDF-stored"
    )
    sent = {c.request.url.split("?")[0]: c.request.headers.get("Authorization") for c in responses.calls}
    assert sent == {
        ORIGIN + "/files/aa11": f"Bearer {TOKEN}",
        ORIGIN + "/files/bb22": f"Bearer {TOKEN}",
        "https://storage.example/signed": None,
    }


# -- parent and links: Kaiten relates cards as parent and child (POST /cards/{parent}/children) -----------


@responses.activate(assert_all_requests_are_fired=True)
def test_a_drafts_parent_is_one_more_step_of_the_create(tracker: KaitenTracker) -> None:
    responses.post(API + "/cards", json=live_card(id=600, tags=[{"name": "support"}, {"name": "telegram"}]))
    child = responses.post(API + "/cards/42/children", json={"id": 600})
    assert tracker.create_issue(draft(parent="42")).key == "600"
    assert body_of(child.calls[0]) == {"card_id": 600}


@responses.activate(assert_all_requests_are_fired=True)
def test_a_failed_parent_step_keeps_the_card_and_complete_issue_finishes_it(tracker: KaitenTracker) -> None:
    responses.post(API + "/cards", json=live_card(id=601, tags=[{"name": "support"}, {"name": "telegram"}]))
    child = responses.post(API + "/cards/42/children", status=502)
    with pytest.raises(IncompleteCard) as caught:
        tracker.create_issue(draft(parent="42", assignee=None))
    assert caught.value.ref.key == "601"
    tags = [{"name": "support"}, {"name": "telegram"}]
    responses.get(API + "/cards/601", json=live_card(id=601, tags=tags, parents_ids=None))
    responses.replace(responses.POST, API + "/cards/42/children", json={"id": 601})
    tracker.complete_issue("601", draft(parent="42", assignee=None))
    assert child.call_count == 1 and body_of(responses.calls[-1]) == {"card_id": 601}


@responses.activate(assert_all_requests_are_fired=True)
def test_link_makes_the_source_the_parent_once(tracker: KaitenTracker) -> None:
    responses.get(API + "/cards/8", json=live_card(id=8, parents_ids=None))
    responses.get(API + "/cards/9", json=live_card(id=9, parents_ids=[7]))
    add = responses.post(API + "/cards/7/children", json={"id": 8})
    tracker.link("7", "8")
    tracker.link("7", "9", "Parent")  # already its parent: nothing is sent
    tracker.link_issues("7", "8")  # a follow-up's previous card is its parent
    assert add.call_count == 2 and body_of(add.calls[0]) == {"card_id": 8}


def test_link_refuses_a_type_kaiten_cannot_make(tracker: KaitenTracker) -> None:
    with responses.RequestsMock() as rsps, pytest.raises(Unsupported, match="Blocks"):
        tracker.link("7", "8", "Blocks")
    assert len(rsps.calls) == 0


@responses.activate(assert_all_requests_are_fired=True)
def test_an_instance_has_its_own_name_and_the_kaiten_kind() -> None:
    board = KaitenTracker(ORIGIN, TOKEN, name="kaiten-sales", read_retries=0)
    assert (board.name, board.kind, KaitenTracker(ORIGIN, TOKEN).name) == ("kaiten-sales", "kaiten", "kaiten")
    responses.get(API + "/cards", json=[live_card(id=5, external_id="hub-5")])
    assert board.find_issue("hub-5") == IssueRef("kaiten-sales", "5", ORIGIN + "/5", "5")
