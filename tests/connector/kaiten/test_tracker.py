"""KaitenTracker against mocked HTTP (``responses``), checked against Kaiten's documented shapes.

Request bodies follow developers.kaiten.ru/cards/create-new-card (title, board_id, column_id, lane_id,
type_id, description, asap, responsible_id, external_id, properties {"id_<n>": value}); the card
answers below are trimmed from the sanitized live card in
``shared/fixtures/kaiten/card_list_item.sanitized-live.json`` (AllDmeat/kaiten-sdk @ 1e38564d).
"""

from __future__ import annotations

import json
import time
import traceback
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from connector.errors import TrackerRejected, TrackerUnavailable
from connector.kaiten import KaitenTracker
from connector.kaiten.cards import card_body
from connector.kaiten.client import reset_delay, split_url
from connector.kaiten.tracker import IncompleteCard
from connector.types import FileUpload, IssueDraft, TrackerFile

ORIGIN = "https://acme.kaiten.ru"
API = ORIGIN + "/api/latest"
TOKEN = "296a5709-99bc-49a7-96e0-c0a1b236091f"  # the docs' example token format


def live_card(**over: Any) -> dict[str, Any]:
    """The live sample's field set and types (trimmed), with overrides."""
    card = {
        "archived": False,
        "asap": False,
        "board_id": 10,
        "column_id": 101,
        "condition": 1,
        "created": "2024-10-14T10:48:16.594Z",
        "description": "Steps to reproduce",
        "external_id": None,
        "id": 101,
        "key": None,
        "lane_id": 111,
        "owner_id": 7,
        "path_data": {
            "board": {"id": 10, "title": "Support"},
            "column": {"id": 101, "sort_order": 1, "title": "To do"},
            "lane": {"id": 111, "sort_order": 40.65, "title": "Default"},
            "space": {"id": 9, "title": "Demo space"},
        },
        "properties": {},
        "source": "api",
        "space_id": 9,
        "state": 1,
        "tag_ids": None,
        "title": "Fix login",
        "type_id": 2,
        "uid": "00000000-0000-0000-0000-000000000001",
        "updated": "2024-10-28T14:36:34.877Z",
        "version": 1,
    }
    card.update(over)
    return card


def draft(**over: Any) -> IssueDraft:
    fields: dict[str, Any] = {
        "tracker": "kaiten",
        "project": "10",
        "issue_type": "2",
        "title": "Printer on fire",
        "body": "It is \\*really\\* on fire",
        "idempotency_key": "hub-42",
        "labels": ("support", "telegram"),
        "priority": "asap",
        "assignee": "3",
        "custom_fields": {"id_501": [601], "502": "ACME Corp", "due_date": "2026-01-31T00:00:00Z"},
        "column": "101",
        "lane": "111",
    }
    fields.update(over)
    return IssueDraft(**fields)


@pytest.fixture
def tracker() -> KaitenTracker:
    return KaitenTracker(ORIGIN, TOKEN, timeout=5, read_retries=0)


def body_of(call: Any) -> Any:
    return json.loads(call.request.body)


@responses.activate
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


def test_card_body_minimal_draft_leaves_optional_fields_out() -> None:
    body = card_body(draft(labels=(), priority=None, assignee=None, custom_fields={}, column=None, lane=None))
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
        card_body(draft(project="Support"))
    with pytest.raises(TrackerRejected):
        card_body(draft(custom_fields={"Severity": "High"}))


@responses.activate
def test_create_skips_tags_the_card_already_has(tracker: KaitenTracker) -> None:
    # a column's default_tags can put a tag on a new card before the hub adds it
    responses.post(API + "/cards", json=live_card(id=556, tags=[{"id": 9, "name": "Support"}]))
    responses.post(API + "/cards/556/tags", json={"id": 2, "name": "telegram"})
    tracker.create_issue(draft())
    assert [body_of(c) for c in responses.calls[1:]] == [{"name": "telegram"}]


@responses.activate
def test_failed_tag_step_keeps_the_card_ref(tracker: KaitenTracker) -> None:
    responses.post(API + "/cards", json=live_card(id=557))
    responses.post(API + "/cards/557/tags", status=503, json={"message": "Service unavailable"})
    with pytest.raises(IncompleteCard) as caught:
        tracker.create_issue(draft())
    assert caught.value.ref.key == "557"
    assert isinstance(caught.value, TrackerUnavailable)
    assert len(responses.calls) == 2  # the create is never re-sent


@responses.activate
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


@responses.activate
def test_complete_issue_does_nothing_on_a_complete_card(tracker: KaitenTracker) -> None:
    card = live_card(
        id=559,
        tags=[{"id": 1, "name": "support"}, {"id": 2, "name": "telegram"}],
        members=[{"id": 3, "type": 2}],
    )
    responses.get(API + "/cards/559", json=card)
    tracker.complete_issue("559", draft())
    assert len(responses.calls) == 1


@responses.activate
def test_find_issue_filters_by_external_id(tracker: KaitenTracker) -> None:
    match = [matchers.query_param_matcher({"external_id": "hub-42", "limit": "2"})]
    responses.get(API + "/cards", json=[live_card(id=560, external_id="hub-42")], match=match)
    ref = tracker.find_issue("hub-42")
    assert ref is not None and ref.key == "560" and ref.url == ORIGIN + "/560"


@responses.activate
def test_find_issue_none_when_no_card_carries_the_key(tracker: KaitenTracker) -> None:
    responses.get(API + "/cards", json=[])
    assert tracker.find_issue("hub-43") is None
    # a server that ignored the filter must not make another card look like ours
    responses.replace(responses.GET, API + "/cards", json=[live_card(id=1, external_id=None)])
    assert tracker.find_issue("hub-43") is None


@pytest.mark.parametrize(
    ("over", "done", "status"),
    [
        ({"state": 1}, False, "To do"),
        ({"state": 2, "column": {"id": 102, "title": "In progress", "type": 2}}, False, "In progress"),
        ({"state": 3, "column": {"id": 103, "title": "Done", "type": 3}}, True, "Done"),
        ({"state": 1, "condition": 2, "archived": True}, True, "archived"),
    ],
)
@responses.activate
def test_state_done_in_done_column_or_archived(
    tracker: KaitenTracker, over: dict[str, Any], done: bool, status: str
) -> None:
    responses.get(API + "/cards/101", json=live_card(**over))
    state = tracker.get_state("101")
    assert (state.done, state.status, state.ref.key) == (done, status, "101")


@responses.activate
def test_429_retry_after_comes_from_ratelimit_reset(tracker: KaitenTracker) -> None:
    reset = int(time.time()) + 7
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    responses.post(API + "/cards/1/comments", status=429, headers=headers, json={"message": "Too many"})
    with pytest.raises(TrackerUnavailable) as caught:
        tracker.add_comment("1", "hello hub-1", "hub-1")
    assert caught.value.retry_after is not None
    assert 5.5 <= caught.value.retry_after <= 7.0


def test_reset_delay_edges() -> None:
    now = 1_700_000_000.0
    assert reset_delay({"X-RateLimit-Reset": "1700000000"}, now=now + 0.4) == 1.0  # at least one second
    assert reset_delay({"X-RateLimit-Reset": "1700000010"}, now=now) == 10.0
    assert reset_delay({"X-RateLimit-Reset": "1700000010000"}, now=now) == 10.0  # milliseconds
    assert reset_delay({"X-RateLimit-Reset": "3"}, now=now) == 3.0  # a delay, not an epoch
    assert reset_delay({}, now=now) == 1.0
    assert reset_delay({"Retry-After": "4"}, now=now) == 4.0
    assert reset_delay({"X-RateLimit-Reset": "soon"}, now=now) == 1.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
@responses.activate
def test_5xx_is_unavailable(tracker: KaitenTracker, status: int) -> None:
    responses.post(API + "/cards", status=status, body="<html>Bad gateway</html>")
    with pytest.raises(TrackerUnavailable):
        tracker.create_issue(draft())
    assert len(responses.calls) == 1  # a create is never retried inside


@pytest.mark.parametrize("error", [requests.ConnectionError("reset"), requests.ConnectTimeout("slow")])
@responses.activate
def test_connection_errors_are_unavailable(tracker: KaitenTracker, error: Exception) -> None:
    responses.post(API + "/cards", body=error)
    with pytest.raises(TrackerUnavailable) as caught:
        tracker.create_issue(draft())
    assert type(caught.value) is TrackerUnavailable


@pytest.mark.parametrize("status", [400, 403, 404])
@responses.activate
def test_4xx_is_rejected_with_kaitens_message(tracker: KaitenTracker, status: int) -> None:
    responses.post(API + "/cards", status=status, json={"message": "Column not found"})
    with pytest.raises(TrackerRejected) as caught:
        tracker.create_issue(draft())
    assert caught.value.status == status
    assert "Column not found" in str(caught.value)


@responses.activate
def test_402_feature_not_in_tariff_is_rejected(tracker: KaitenTracker) -> None:
    responses.get(API + "/spaces", status=402, json={"message": "Feature is not supported by tariff"})
    with pytest.raises(TrackerRejected) as caught:
        tracker.list_spaces()
    assert caught.value.status == 402


@responses.activate
def test_token_never_in_exception_text() -> None:
    tracker = KaitenTracker(ORIGIN, TOKEN, read_retries=0)
    responses.post(API + "/cards", status=400, json={"message": "bad"})
    responses.get(API + "/cards/1", body=requests.ConnectionError(f"failed with Bearer {TOKEN}"))
    responses.get(API + "/cards/2", status=401, body="Invalid token")
    responses.post(API + "/cards/3/comments", status=429, headers={"X-RateLimit-Reset": "0"})
    failures: list[BaseException] = []
    for action in (
        lambda: tracker.create_issue(draft()),
        lambda: tracker.get_card(1),
        lambda: tracker.get_card(2),
        lambda: tracker.add_comment("3", "x", "x"),
    ):
        with pytest.raises((TrackerRejected, TrackerUnavailable)) as caught:
            action()
        failures.append(caught.value)
    for exc in failures:
        text = "".join(traceback.format_exception(exc))
        assert TOKEN not in text
        assert TOKEN not in repr(exc)


@responses.activate
def test_reads_are_retried_briefly_writes_are_not() -> None:
    tracker = KaitenTracker(ORIGIN, TOKEN, read_retries=2)
    responses.get(API + "/cards/5", status=503)
    responses.get(API + "/cards/5", json=live_card(id=5))
    assert tracker.get_card(5)["id"] == 5
    assert len(responses.calls) == 2
    responses.post(API + "/cards/5/comments", status=503)
    with pytest.raises(TrackerUnavailable):
        tracker.add_comment("5", "hi", "hub-1")
    assert len(responses.calls) == 3


@responses.activate
def test_reads_do_not_wait_out_a_long_rate_limit() -> None:
    tracker = KaitenTracker(ORIGIN, TOKEN, read_retries=2)
    reset = int(time.time()) + 60
    responses.get(API + "/cards/5", status=429, headers={"X-RateLimit-Reset": str(reset)})
    with pytest.raises(TrackerUnavailable) as caught:
        tracker.get_card(5)
    assert caught.value.retry_after is not None and caught.value.retry_after > 50
    assert len(responses.calls) == 1


@responses.activate
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


@responses.activate
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


@responses.activate
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


@responses.activate
def test_an_off_origin_file_is_never_fetched_and_never_gets_the_token(tracker: KaitenTracker) -> None:
    responses.get("https://evil.example/report.pdf", body=b"%PDF-stolen")
    with pytest.raises(TrackerRejected, match="not fetched"):
        tracker.download_file(TrackerFile("3", "report.pdf", 5, "https://evil.example/report.pdf"), 1024)
    assert len(responses.calls) == 0


@responses.activate
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


@pytest.mark.parametrize(
    ("url", "origin", "api"),
    [
        ("https://acme.kaiten.ru", ORIGIN, API),
        ("https://acme.kaiten.ru/", ORIGIN, API),
        ("https://acme.kaiten.ru/api/latest", ORIGIN, API),
        ("https://acme.kaiten.ru/api/v1/", ORIGIN, ORIGIN + "/api/v1"),
        (
            "https://kaiten.example.com/api",
            "https://kaiten.example.com",
            "https://kaiten.example.com/api/latest",
        ),
    ],
)
def test_url_forms(url: str, origin: str, api: str) -> None:
    assert split_url(url) == (origin, api)
    assert KaitenTracker(url, TOKEN).issue_url("12") == origin + "/12"


class CountingLimiter:
    def __init__(self) -> None:
        self.calls = 0

    def acquire(self, timeout: float | None = None) -> float:
        self.calls += 1
        return 0.0


@responses.activate
def test_limiter_is_asked_before_every_request() -> None:
    limiter = CountingLimiter()
    tracker = KaitenTracker(ORIGIN, TOKEN, limiter=limiter, read_retries=0)  # type: ignore[arg-type]
    responses.post(API + "/cards", json=live_card(id=9))
    responses.post(API + "/cards/9/tags", json={"id": 1, "name": "x"})
    tracker.create_issue(draft())
    assert limiter.calls == len(responses.calls) == 3


@responses.activate
def test_search_pages_and_filters_properties_locally(tracker: KaitenTracker) -> None:
    first = [live_card(id=i, properties={"id_501": [601]}) for i in range(100)]
    second = [live_card(id=100, properties={"id_501": [602]}), live_card(id=101, properties={})]
    responses.get(
        API + "/cards", json=first, match=[matchers.query_param_matcher({"offset": "0"}, strict_match=False)]
    )
    responses.get(
        API + "/cards",
        json=second,
        match=[matchers.query_param_matcher({"offset": "100"}, strict_match=False)],
    )
    cards = tracker.search_cards(board_id=10, tag="vip", properties={"id_501": 602})
    assert [c["id"] for c in cards] == [100]
    query = responses.calls[0].request.params
    assert query["board_id"] == "10" and query["tag"] == "vip" and query["limit"] == "100"
    assert query["broken_api"] == "false"


@responses.activate
def test_move_and_archive_patch_the_card(tracker: KaitenTracker) -> None:
    responses.patch(API + "/cards/12", json=live_card(id=12))
    tracker.move_card(12, board_id="20", column_id=201, lane_id=211)
    tracker.archive_card("12")
    assert body_of(responses.calls[0]) == {"board_id": 20, "column_id": 201, "lane_id": 211}
    assert body_of(responses.calls[1]) == {"condition": 2}


@responses.activate
def test_catalogue_reads(tracker: KaitenTracker) -> None:
    responses.get(API + "/spaces", json=[{"id": 9, "title": "Demo space"}])
    responses.get(API + "/spaces/9/boards", json=[{"id": 10, "title": "Support"}])
    responses.get(API + "/boards/10/columns", json=[{"id": 101, "title": "To do", "type": 1}])
    responses.get(API + "/boards/10/lanes", json=[{"id": 111, "title": "Default", "condition": 1}])
    responses.get(API + "/card-types", json=[{"id": 2, "name": "Bug"}])
    responses.get(API + "/company/custom-properties", json=[{"id": 501, "name": "Team", "type": "select"}])
    responses.get(API + "/company/custom-properties/501/select-values", json=[{"id": 601, "value": "iOS"}])
    responses.get(API + "/users", json=[{"id": 3, "full_name": "Bob"}])
    assert tracker.list_spaces()[0]["id"] == 9
    assert tracker.list_boards(9)[0]["id"] == 10
    assert tracker.list_columns(10)[0]["type"] == 1
    assert tracker.list_lanes(10)[0]["id"] == 111
    assert tracker.list_card_types()[0]["name"] == "Bug"
    assert tracker.list_properties()[0]["type"] == "select"
    assert tracker.list_select_values(501)[0]["value"] == "iOS"
    assert tracker.list_users()[0]["id"] == 3


def test_from_settings_builds_a_limiter_without_the_token(settings: Any, redis_url: str) -> None:
    from pydantic import SecretStr
    from redis import Redis

    configured = settings.model_copy(update={"KAITEN_URL": ORIGIN, "KAITEN_TOKEN": SecretStr(TOKEN)})
    tracker = KaitenTracker.from_settings(configured, redis=Redis.from_url(redis_url))
    assert tracker.limiter is not None and TOKEN not in tracker.limiter.key
    assert tracker.api == API
    with pytest.raises(TrackerRejected):
        KaitenTracker.from_settings(settings)  # no KAITEN_URL
