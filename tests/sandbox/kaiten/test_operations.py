"""KaitenTracker's operations for routing and automations, against the Kaiten look-alike: what a card looks
like afterwards, what a repeat changes (nothing), and what Kaiten refuses."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.errors import TrackerRejected, UnknownTarget
from connector.kaiten import KaitenTracker
from connector.types import Checklist, ChecklistItem, DateRange, IssueDraft, SearchQuery, Target
from sandbox.server import RunningSandbox
from tests.sandboxes import Receiver, flush
from tests.sandboxes import run_kaiten as run_in_thread

TOKEN = "sandbox-token"


@pytest.fixture
def sandbox(tmp_path: Path, receiver: Receiver) -> Iterator[RunningSandbox]:
    with run_in_thread(tmp_path / "kaiten.sqlite3", token=TOKEN, webhook_url=receiver.url) as running:
        yield running


@pytest.fixture
def kaiten(sandbox: RunningSandbox) -> KaitenTracker:
    return KaitenTracker(sandbox.url, TOKEN, timeout=5, read_retries=0)


def new_card(kaiten: KaitenTracker, key: str = "hub-1", **over: Any) -> str:
    fields: dict[str, Any] = {
        "target": Target("kaiten", "10", column="101", lane="111"),
        "title": "Printer on fire",
        "body": "It is on fire",
        "idempotency_key": key,
    }
    fields.update(over)
    return kaiten.create_issue(IssueDraft(**fields)).key


def keys(found: Any) -> list[str]:
    return [state.ref.key for state in found]


def test_comments_carry_author_date_and_visibility(kaiten: KaitenTracker, sandbox: RunningSandbox) -> None:
    key = new_card(kaiten)
    kaiten.add_comment(key, "first [hub-1]", "hub-1")
    engineer = {"Authorization": f"Bearer {TOKEN}", "X-Sandbox-User": "3"}
    url = f"{sandbox.url}/api/latest/cards/{key}/comments"
    requests.post(
        url, json={"text": "team only", "internal": True}, headers=engineer, timeout=5
    ).raise_for_status()
    comments = kaiten.comments(key)
    assert [(c.body, c.author, c.author_name, c.public) for c in comments] == [
        ("first [hub-1]", "1", "Trackerhub", True),
        ("team only", "3", "Bob Example", False),
    ]
    created = [c.created for c in comments]
    assert all(c is not None and abs(c - datetime.now(UTC)) < timedelta(minutes=5) for c in created)


def test_transition_by_column_title_then_a_repeat_changes_nothing(
    kaiten: KaitenTracker, receiver: Receiver, sandbox: RunningSandbox
) -> None:
    key = new_card(kaiten)
    assert [(t.id, t.name, t.to_category) for t in kaiten.transitions(key)] == [
        ("101", "To do", "new"),
        ("102", "In progress", "indeterminate"),
        ("104", "Waiting for customer", "indeterminate"),
        ("103", "Done", "done"),
    ]
    kaiten.transition(key, "done", resolution="Fixed", comment="Solved, closing.")
    kaiten.transition(key, "103", comment="Solved, closing.")
    state = kaiten.get_state(key)
    assert (state.status, state.status_category, state.done) == ("Done", "done", True)
    assert [c.body for c in kaiten.comments(key)] == ["Solved, closing."]
    flush(sandbox)
    moves = [r.payload["data"]["changes"] for r in receiver.received if r.event == "card:update"]
    assert [m["column_id"] for m in moves if "column_id" in m] == [103]  # Kaiten tells the hub once


def test_a_column_of_another_board_is_refused(kaiten: KaitenTracker) -> None:
    key = new_card(kaiten)
    with pytest.raises(TrackerRejected, match="has no column 'Backlog'"):
        kaiten.transition(key, "Backlog")
    assert kaiten.get_state(key).status == "To do"


def test_update_fields_by_name_and_tags_twice(kaiten: KaitenTracker) -> None:
    key = new_card(kaiten, labels=("printer", "vip"))
    due = date(2027, 3, 1)
    for _ in range(2):
        kaiten.update_fields(
            key,
            {
                "title": "Printer on fire again",
                "due_date": due,
                "Severity": "Critical",
                "Channel": ["Email", "Form"],
            },
            add_labels=["sla-breached"],
            remove_labels=["VIP"],
        )
    card = kaiten.get_card(key)
    assert card["title"] == "Printer on fire again" and card["due_date"] == "2027-03-01"
    assert card["properties"] == {"id_501": [601], "id_503": [611, 613]}
    assert sorted(t["name"] for t in card["tags"]) == ["printer", "sla-breached"]
    kaiten.update_fields(key, {"id_503": None, "condition": 2})  # a property cleared; the card archived
    state = kaiten.get_state(key, all_fields=True)
    assert state.fields == {"id_501": [601]} and state.status == "archived"


def test_assign_reassign_and_unassign(kaiten: KaitenTracker) -> None:
    key = new_card(kaiten, assignee="2")
    kaiten.assign(key, "3")
    kaiten.assign(key, "3")
    assert kaiten.get_state(key).assignee == "3"
    assert sorted((m["id"], m["type"]) for m in kaiten.get_card(key)["members"]) == [(2, 1), (3, 2)]
    kaiten.assign(key, None)
    assert kaiten.get_state(key).assignee is None
    assert sorted((m["id"], m["type"]) for m in kaiten.get_card(key)["members"]) == [(2, 1), (3, 1)]
    with pytest.raises(TrackerRejected, match="User 99 not found"):
        kaiten.assign(key, "99")


def test_search_finds_what_the_query_says_by_list_and_by_key_alike(kaiten: KaitenTracker) -> None:
    todo = new_card(kaiten, "hub-1", labels=("vip",), assignee="3")
    doing = new_card(kaiten, "hub-2", labels=("printer",), due_date=date(2027, 1, 10))
    done = new_card(kaiten, "hub-3", target=Target("kaiten", "20", issue_type="2"))
    archived = new_card(kaiten, "hub-4")
    kaiten.transition(doing, "In progress")
    kaiten.transition(done, "Done")
    kaiten.update_fields(archived, {"condition": 2})
    cases = [
        (SearchQuery(), [todo, doing, done]),
        (SearchQuery(containers=("10",)), [todo, doing]),
        (SearchQuery(containers=("10", "20"), statuses=("done", "in progress")), [doing, done]),
        (SearchQuery(statuses=("In Progress", "203")), [doing, done]),
        (SearchQuery(not_done=True, assignee_empty=True), [doing]),
        (SearchQuery(status_category=("done",)), [done]),
        (SearchQuery(labels=("VIP",)), [todo]),
        (SearchQuery(labels=("vip", "printer")), [todo, doing]),
        (SearchQuery(issue_types=("2",)), [done]),
        (SearchQuery(due_before=date(2027, 1, 11), due_after=date(2027, 1, 9)), [doing]),
        (SearchQuery(due_before=date(2027, 1, 10)), []),
        (SearchQuery(created_after=datetime.now(UTC) - timedelta(minutes=5)), [todo, doing, done]),
        (SearchQuery(updated_before=datetime.now(UTC) - timedelta(minutes=5)), []),
        (SearchQuery(raw={"condition": 2}), [archived]),
    ]
    for query, expected in cases:
        assert keys(kaiten.search(query, page_size=2)) == expected, query
        by_key = replace(query, keys=(todo, doing, done, archived, "999999"))
        assert keys(kaiten.search(by_key)) == expected, by_key


def test_search_states_carry_the_cards_people_tags_and_asked_fields(kaiten: KaitenTracker) -> None:
    key = new_card(kaiten, labels=("vip", "printer"), assignee="3", custom_fields={"id_502": "ACME"})
    [state] = kaiten.search(SearchQuery(keys=()), fields=("description", "id_502"))
    assert (state.ref.key, state.assignee, state.reporter, state.container) == (key, "3", "1", "10")
    assert sorted(state.labels) == ["printer", "vip"]
    assert state.fields == {"description": "It is on fire", "id_502": "ACME"}
    assert (state.status, state.status_category) == ("To do", "new")


def test_remote_link_once_per_url(kaiten: KaitenTracker) -> None:
    key = new_card(kaiten)
    for title in ("Route this ticket", "Route this ticket", "Route (renamed)"):
        kaiten.add_remote_link(key, "https://hub.example.com/route/x", title, global_id="hub-route-1")
    kaiten.add_remote_link(key, "https://jira.example.com/browse/SUP-1", "SUP-1", global_id="jira:SUP-1")
    links = [(link["url"], link["description"]) for link in kaiten.get_card(key)["external_links"]]
    assert links == [
        ("https://hub.example.com/route/x", "Route (renamed)"),
        ("https://jira.example.com/browse/SUP-1", "SUP-1"),
    ]


def test_move_to_another_board_keeps_the_card(kaiten: KaitenTracker, sandbox: RunningSandbox) -> None:
    key = new_card(kaiten, labels=("vip",))
    ref = kaiten.move(
        key, Target("kaiten", "20", issue_type="2", column="Doing"), fields={"Customer": "ACME"}
    )
    assert (ref.key, ref.url) == (key, f"{sandbox.url}/{key}")
    card = kaiten.get_card(key)
    assert (card["board_id"], card["column_id"], card["lane_id"], card["type_id"]) == (20, 202, 211, 2)
    assert card["properties"] == {"id_502": "ACME"} and [t["name"] for t in card["tags"]] == ["vip"]
    kaiten.move(key, Target("kaiten", "20", issue_type="2", column="Doing"))  # already there: no PATCH
    assert kaiten.get_card(key)["version"] == card["version"]


def test_a_move_kaiten_refuses(kaiten: KaitenTracker) -> None:
    key = new_card(kaiten)
    with pytest.raises(TrackerRejected, match=r"board 20 has no lane '111'; it has \['211 Default'\]"):
        kaiten.move(key, Target("kaiten", "20", lane="111"))
    with pytest.raises(UnknownTarget, match="board 99"):
        kaiten.move(key, Target("kaiten", "99"))
    # the Incident type requires a Severity: Kaiten's answer reaches the caller, nothing moves
    with pytest.raises(TrackerRejected, match=r"id_501 \(Severity\) is required"):
        kaiten.move(key, Target("kaiten", "20", issue_type="4"))
    assert kaiten.get_card(key)["board_id"] == 10
    kaiten.move(key, Target("kaiten", "20", issue_type="4"), fields={"Severity": "Major"})
    assert kaiten.get_card(key)["type_id"] == 4


def test_checklists_once_by_name(kaiten: KaitenTracker) -> None:
    key = new_card(kaiten)
    first = kaiten.add_checklist(key, "Onboarding", ["Account", "Laptop"])
    again = kaiten.add_checklist(key, "onboarding", ["Account", "Laptop", "Badge"])
    other = kaiten.add_checklist(key, "Offboarding", [])
    assert first == again != other
    [onboarding, offboarding] = kaiten.checklists(key)
    assert onboarding == Checklist(
        first,
        "Onboarding",
        tuple(
            ChecklistItem(i.id, text)
            for i, text in zip(onboarding.items, ["Account", "Laptop", "Badge"], strict=True)
        ),
    )
    assert offboarding == Checklist(other, "Offboarding")


def test_search_by_when_a_card_last_moved_a_date_property_and_responsible(
    kaiten: KaitenTracker, tmp_path: Path
) -> None:
    stuck = new_card(kaiten, "hub-1", custom_fields={"id_505": "2030-01-10"})
    fresh = new_card(kaiten, "hub-2", custom_fields={"id_505": "2030-02-10"})
    undated = new_card(kaiten, "hub-3", assignee="2")
    kaiten.assign(fresh, "3")
    kaiten.assign(undated, None)
    for key in (stuck, fresh):
        kaiten.transition(key, "In progress")
    with sqlite3.connect(tmp_path / "kaiten.sqlite3") as conn:
        conn.execute(
            "UPDATE card SET last_moved_at = ? WHERE id = ?", ("2026-01-06T10:00:00.000Z", int(stuck))
        )
    since = datetime(2026, 2, 1, tzinfo=UTC)
    january = DateRange("id_505", date(2030, 1, 1), date(2030, 1, 31))
    cases = [
        (SearchQuery(status_since_before=since), [stuck]),
        (SearchQuery(status_since_before=datetime.now(UTC) + timedelta(minutes=1)), [stuck, fresh, undated]),
        (SearchQuery(field_dates=(january,)), [stuck]),
        (SearchQuery(field_dates=(DateRange("id_505", on_or_before=date(2030, 2, 10)),)), [stuck, fresh]),
        (SearchQuery(field_dates=(DateRange("id_505"),)), [stuck, fresh]),
        (SearchQuery(assignees=("3", "4")), [fresh]),
        (SearchQuery(assignees=("2",)), []),
    ]
    for query, expected in cases:
        assert keys(kaiten.search(query)) == expected, query
        assert keys(kaiten.search(replace(query, keys=(stuck, fresh, undated)))) == expected, query
    [state] = kaiten.search(SearchQuery(status_since_before=since), fields=("last_moved_at", "id_505"))
    assert state.fields == {"last_moved_at": "2026-01-06T10:00:00.000Z", "id_505": "2030-01-10"}
