"""The Kaiten stand-in driven by KaitenTracker: cards, validation, comments, files, done, faults, 429s."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from redis import Redis

from connector.errors import TrackerRejected, TrackerUnavailable
from connector.kaiten import KaitenTracker
from connector.kaiten.client import RATE_LIMIT, RATE_PERIOD
from connector.ratelimit import RedisRateLimiter, limiter_key
from connector.types import FileUpload, IssueDraft, SearchQuery, Target
from sandbox.kaiten.app import main
from sandbox.server import RunningSandbox
from tests.sandboxes import CONTROL
from tests.sandboxes import run_kaiten as run_in_thread

TOKEN = "sandbox-token"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    with run_in_thread(tmp_path / "kaiten.sqlite3", token=TOKEN, faults=True) as running:
        yield running


@pytest.fixture
def kaiten(sandbox: RunningSandbox) -> KaitenTracker:
    return KaitenTracker(sandbox.url, TOKEN, timeout=5, read_retries=0)


TARGET = Target("kaiten", "10", issue_type="2", column="101", lane="112")


def draft(**over: Any) -> IssueDraft:
    fields: dict[str, Any] = {
        "target": TARGET,
        "title": "Printer on fire",
        "body": "It is **really** on fire",
        "idempotency_key": "hub-1",
        "labels": ("support", "telegram"),
        "priority": "asap",
        "assignee": "3",
        "custom_fields": {"id_501": [602], "id_502": "ACME Corp", "id_503": [611, 612], "id_504": 42},
    }
    fields.update(over)
    return IssueDraft(**fields)


def control(sandbox: RunningSandbox, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, sandbox.url + "/_sandbox" + path, headers=CONTROL, timeout=5, **kw)


def test_create_a_complete_card(kaiten: KaitenTracker, sandbox: RunningSandbox) -> None:
    ref = kaiten.create_issue(draft())
    card = kaiten.get_card(ref.key)
    assert card["title"] == "Printer on fire"
    assert (card["board_id"], card["column_id"], card["lane_id"], card["type_id"]) == (10, 101, 112, 2)
    assert card["asap"] is True and card["external_id"] == "hub-1" and card["state"] == 1
    assert card["properties"] == {"id_501": [602], "id_502": "ACME Corp", "id_503": [611, 612], "id_504": 42}
    assert sorted(t["name"] for t in card["tags"]) == ["support", "telegram"]
    assert [(m["id"], m["type"]) for m in card["members"]] == [(3, 2)]
    assert ref.url == f"{sandbox.url}/{ref.key}"
    page = requests.get(ref.url, timeout=5)
    assert (
        page.status_code == 200
        and "Printer on fire" in page.text
        and "Bob Example (responsible)" in page.text
    )


def test_defaults_place_a_card_in_the_first_column_and_lane(kaiten: KaitenTracker) -> None:
    minimal = draft(target=Target("kaiten", "10"), labels=(), priority=None, assignee=None, custom_fields={})
    card = kaiten.get_card(kaiten.create_issue(minimal).key)
    assert (card["column_id"], card["lane_id"], card["type_id"], card["asap"]) == (101, 111, 1, False)


def test_find_issue_by_external_id(kaiten: KaitenTracker) -> None:
    ref = kaiten.create_issue(draft(idempotency_key="hub-77"))
    kaiten.create_issue(draft(idempotency_key="hub-78"))
    found = kaiten.find_issue("hub-77")
    assert found is not None and found.key == ref.key
    assert kaiten.find_issue("hub-79") is None


def test_complete_issue_finishes_a_half_done_saga(kaiten: KaitenTracker) -> None:
    bare = kaiten.request("POST", "/cards", json={"title": "Half", "board_id": 10, "external_id": "hub-5"})
    kaiten.update_fields(str(bare["id"]), {}, add_labels=["support"])
    kaiten.complete_issue(str(bare["id"]), draft(idempotency_key="hub-5"))
    card = kaiten.get_card(bare["id"])
    assert sorted(t["name"] for t in card["tags"]) == ["support", "telegram"]
    assert [(m["id"], m["type"]) for m in card["members"]] == [(3, 2)]


BASE = {"title": "t", "board_id": 10}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"board_id": 10}, "title is required"),
        ({"title": "   ", "board_id": 10}, "title is required"),
        ({"title": "x" * 1025, "board_id": 10}, "at most 1024"),
        ({"title": "t"}, "board_id is required"),
        ({"title": "t", "board_id": 99}, "Board 99 not found"),
        ({**BASE, "column_id": 999}, "Column 999 not found"),
        ({**BASE, "column_id": 201}, "Column 201 does not belong to board 10"),
        ({**BASE, "lane_id": 999}, "Lane 999 not found"),
        ({**BASE, "lane_id": 211}, "Lane 211 does not belong to board 10"),
        ({**BASE, "type_id": 99}, "Card type 99 not found"),
        ({**BASE, "responsible_id": 99}, "User 99 not found"),
        ({**BASE, "properties": {"id_999": "x"}}, "Custom property id_999 not found"),
        ({**BASE, "properties": {"Severity": [601]}}, "Custom property Severity not found"),
        ({**BASE, "properties": {"id_501": [699]}}, "Select value 699 is not allowed"),
        ({**BASE, "properties": {"id_501": 601}}, "array of select value ids"),
        ({**BASE, "properties": {"id_501": [601, 602]}}, "takes one value"),
        ({**BASE, "properties": {"id_502": 5}}, "must be a string"),
        ({**BASE, "properties": {"id_504": "five"}}, "must be a number"),
        ({**BASE, "due_date": "tomorrow"}, "ISO 8601"),
    ],
)
def test_create_validation_answers_400_with_a_message(
    kaiten: KaitenTracker, body: dict[str, Any], message: str
) -> None:
    with pytest.raises(TrackerRejected) as caught:
        kaiten.request("POST", "/cards", json=body)
    assert caught.value.status == 400
    assert message in str(caught.value)


def test_a_draft_with_a_wrong_select_value_is_rejected(
    kaiten: KaitenTracker, sandbox: RunningSandbox
) -> None:
    with pytest.raises(TrackerRejected) as caught:
        kaiten.create_issue(draft(custom_fields={"id_501": [611]}))
    assert caught.value.status == 400
    assert control(sandbox, "GET", "/stats").json()["cards"] == 0


def test_bad_or_missing_token_is_401(sandbox: RunningSandbox) -> None:
    wrong = KaitenTracker(sandbox.url, "not-the-token", read_retries=0)
    with pytest.raises(TrackerRejected) as caught:
        wrong.list_spaces()
    assert caught.value.status == 401
    assert "not-the-token" not in str(caught.value)
    assert requests.get(sandbox.url + "/api/latest/spaces", timeout=5).status_code == 401


def test_comments(kaiten: KaitenTracker) -> None:
    key = kaiten.create_issue(draft()).key
    first = kaiten.add_comment(key, "Customer wrote again\n\n[hub-2]", "hub-2")
    kaiten.add_comment(key, "Another [hub-3]", "hub-3")
    assert kaiten.find_comment(key, "hub-2") == first
    assert kaiten.find_comment(key, "hub-4") is None
    with pytest.raises(TrackerRejected) as caught:
        kaiten.add_comment("999999", "x", "x")
    assert caught.value.status == 404


def test_files_upload_once_per_name_and_size(kaiten: KaitenTracker, sandbox: RunningSandbox) -> None:
    key = kaiten.create_issue(draft()).key
    files = [FileUpload("log.txt", b"line 1\n", "text/plain"), FileUpload("shot.png", b"\x89PNG....")]
    kaiten.attach_files(key, files)
    kaiten.attach_files(key, files)
    kaiten.attach_files(
        key, [FileUpload("log.txt", b"line 1\nline 2\n", "text/plain")]
    )  # same name, new size
    card = kaiten.get_card(key)
    assert sorted((f["name"], f["size"]) for f in card["files"]) == [
        ("log.txt", 7),
        ("log.txt", 14),
        ("shot.png", 8),
    ]
    content = requests.get(card["files"][0]["url"], timeout=5)
    assert content.content == b"line 1\n"


def test_done_by_moving_to_the_done_column(kaiten: KaitenTracker) -> None:
    key = kaiten.create_issue(draft()).key
    assert kaiten.get_state(key).done is False
    kaiten.move_card(key, column_id=102)
    state = kaiten.get_state(key)
    assert (state.done, state.status) == (False, "In progress")
    kaiten.move_card(key, column_id=103)
    state = kaiten.get_state(key)
    assert (state.done, state.status) == (True, "Done")
    assert kaiten.get_card(key)["state"] == 3


def test_done_by_archiving(kaiten: KaitenTracker) -> None:
    key = kaiten.create_issue(draft()).key
    kaiten.archive_card(key)
    state = kaiten.get_state(key)
    assert (state.done, state.status) == (True, "archived")
    archived = kaiten.search(SearchQuery(containers=("10",), raw={"condition": 2}))
    assert [s.ref.key for s in archived] == [key]
    assert list(kaiten.search(SearchQuery(containers=("10",)))) == []  # cards on a board, by default


def test_moving_across_boards_needs_a_column_and_lane_of_the_target(kaiten: KaitenTracker) -> None:
    key = kaiten.create_issue(draft()).key
    with pytest.raises(TrackerRejected, match="required to move"):
        kaiten.move_card(key, board_id=20)
    with pytest.raises(TrackerRejected, match="does not belong to board 20"):
        kaiten.move_card(key, board_id=20, column_id=101, lane_id=211)
    card = kaiten.move_card(key, board_id=20, column_id=201, lane_id=211)
    assert (card["board_id"], card["column_id"], card["lane_id"]) == (20, 201, 211)


def test_catalogue_for_config_validation(kaiten: KaitenTracker) -> None:
    assert [s["id"] for s in kaiten.list_spaces()] == [1]
    assert [b["id"] for b in kaiten.list_boards(1)] == [10, 20]
    assert [(c["title"], c["type"]) for c in kaiten.list_columns(10)] == [
        ("To do", 1),
        ("In progress", 2),
        ("Waiting for customer", 2),
        ("Done", 3),
    ]
    assert [lane["id"] for lane in kaiten.list_lanes(10)] == [111, 112]
    assert {t["name"] for t in kaiten.list_card_types()} >= {"Bug", "Request"}
    props = {p["id"]: p for p in kaiten.list_properties()}
    assert props[501]["type"] == "select" and props[502]["type"] == "string"
    assert [v["value"] for v in kaiten.list_select_values(501)] == ["Critical", "Major", "Minor"]
    assert len(kaiten.list_users()) >= 4
    assert kaiten.get_board(10)["columns"][3]["type"] == 3


def test_children(kaiten: KaitenTracker) -> None:
    parent = kaiten.create_issue(draft()).key
    child = kaiten.create_issue(draft(idempotency_key="hub-2")).key
    kaiten.add_child(parent, child)
    assert kaiten.get_card(parent)["children_ids"] == [int(child)]
    assert kaiten.get_card(child)["parents_ids"] == [int(parent)]


def test_html_escapes_customer_text(kaiten: KaitenTracker, sandbox: RunningSandbox) -> None:
    ref = kaiten.create_issue(draft(title="<script>alert(1)</script>", body="<img src=x onerror=alert(1)>"))
    kaiten.add_comment(ref.key, "<b>bold</b>", "m")
    for url in (sandbox.url + "/", ref.url, f"{sandbox.url}/space/1/boards/card/{ref.key}"):
        page = requests.get(url, timeout=5)
        assert page.status_code == 200
        assert "<script>" not in page.text and "<img" not in page.text and "<b>bold" not in page.text
        assert "&lt;script&gt;" in page.text
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]


# --- faults ------------------------------------------------------------------------------------------------


def test_injected_503_then_recovery(kaiten: KaitenTracker, sandbox: RunningSandbox) -> None:
    spec = {"status": 503, "count": 1, "methods": ["POST"], "paths": ["/api/latest/cards"]}
    assert control(sandbox, "POST", "/faults", json=spec).status_code == 201
    with pytest.raises(TrackerUnavailable):
        kaiten.create_issue(draft())
    assert kaiten.find_issue("hub-1") is None  # nothing was created
    kaiten.create_issue(draft())
    stats = control(sandbox, "GET", "/stats").json()
    assert stats["faults_injected"] == 1 and stats["cards"] == 1


def test_injected_429_carries_kaitens_headers(kaiten: KaitenTracker, sandbox: RunningSandbox) -> None:
    control(sandbox, "POST", "/faults", json={"status": 429, "count": 1, "retry_after": 3})
    raw = requests.get(sandbox.url + "/api/latest/spaces", headers={"Authorization": "Bearer x"}, timeout=5)
    assert raw.status_code == 429 and raw.headers["X-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in raw.headers
    control(sandbox, "POST", "/faults", json={"status": 429, "count": 1, "retry_after": 3})
    with pytest.raises(TrackerUnavailable) as caught:
        kaiten.add_comment(kaiten.create_issue(draft()).key, "x", "x")
    assert caught.value.retry_after is not None and 1.0 <= caught.value.retry_after <= 4.0


def test_answer_lost_after_commit_is_found_by_marker(kaiten: KaitenTracker, sandbox: RunningSandbox) -> None:
    key = kaiten.create_issue(draft()).key
    control(
        sandbox,
        "POST",
        "/faults",
        json={"status": 502, "count": 1, "methods": ["POST"], "after_commit": True},
    )
    with pytest.raises(TrackerUnavailable):
        kaiten.add_comment(key, "follow-up [hub-9]", "hub-9")
    assert kaiten.find_comment(key, "hub-9") is not None


def test_latency_beyond_the_timeout_is_unavailable(sandbox: RunningSandbox) -> None:
    control(sandbox, "POST", "/faults", json={"latency_ms": 600, "count": 1})
    slow = KaitenTracker(sandbox.url, TOKEN, timeout=0.2, read_retries=0)
    with pytest.raises(TrackerUnavailable, match="unreachable"):
        slow.list_spaces()


def test_fault_controls(sandbox: RunningSandbox) -> None:
    assert control(sandbox, "POST", "/faults", json={"bogus": 1}).status_code == 400
    control(sandbox, "POST", "/faults", json={"status": 500})
    assert len(control(sandbox, "GET", "/faults").json()["faults"]) == 1
    assert control(sandbox, "DELETE", "/faults").status_code == 204
    assert control(sandbox, "GET", "/faults").json()["faults"] == []
    assert control(sandbox, "POST", "/reset").status_code == 204


def test_reset_wipes_cards_but_keeps_the_seed(kaiten: KaitenTracker, sandbox: RunningSandbox) -> None:
    kaiten.create_issue(draft())
    control(sandbox, "POST", "/reset")
    assert control(sandbox, "GET", "/stats").json()["cards"] == 0
    assert kaiten.find_issue("hub-1") is None
    assert kaiten.list_spaces()


# --- the 5 requests/s limit --------------------------------------------------------------------------------


def test_rate_limit_answers_429_like_kaiten(tmp_path: Path) -> None:
    with run_in_thread(tmp_path / "k.sqlite3", rate_limit=True) as sandbox:
        headers = {"Authorization": "Bearer burst"}
        answers = [
            requests.get(sandbox.url + "/api/latest/spaces", headers=headers, timeout=5) for _ in range(8)
        ]
        limited = [a for a in answers if a.status_code == 429]
        assert limited, "eight requests at once must exceed 5/s"
        assert all(a.headers["X-RateLimit-Remaining"] == "0" for a in limited)
        assert all(int(a.headers["X-RateLimit-Reset"]) > 0 for a in limited)
        assert answers[0].headers["X-RateLimit-Remaining"] == "4"


def test_shared_limiter_keeps_several_clients_under_the_limit(tmp_path: Path, redis_url: str) -> None:
    with run_in_thread(tmp_path / "k.sqlite3", rate_limit=True) as sandbox:
        key = limiter_key("kaiten", "shared-token")
        errors: list[BaseException] = []

        def work() -> None:
            limiter = RedisRateLimiter(Redis.from_url(redis_url), key, rate=RATE_LIMIT, period=RATE_PERIOD)
            client = KaitenTracker(sandbox.url, "shared-token", limiter=limiter, read_retries=0)
            try:
                for _ in range(3):
                    client.list_spaces()
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=work) for _ in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
        stats = control(sandbox, "GET", "/stats").json()
        assert errors == []
        assert stats["rate_limited"] == 0
        assert stats["requests"]["GET /api/latest/spaces"] == 9


def test_main_parses_its_arguments() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
