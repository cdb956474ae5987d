"""The Kaiten look-alike's outgoing webhooks: Kaiten's events and shapes (https://developers.kaiten.ru/
external-webhooks; 2chevskii/kaiten-client src/generated/webhook-events.ts @ 3c544411), sent after the
change to the URL it starts with, and read by the hub's own parser as the events they are."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from mappers.kaiten_events import parse_kaiten_webhook
from sandbox.controls import STATE_KEY
from sandbox.kaiten import app as kaiten_app
from sandbox.server import RunningSandbox
from tests.sandboxes import CONTROL, Receiver, deliveries, flush, run_kaiten

HUB = {"Authorization": "Bearer t"}
ENGINEER = {**HUB, "X-Sandbox-User": "2"}
AUTHOR_KEYS = ["id", "full_name", "username", "email"]


@pytest.fixture
def sandbox(tmp_path: Path, receiver: Receiver) -> Iterator[RunningSandbox]:
    with run_kaiten(tmp_path / "kaiten.sqlite3", webhook_url=receiver.url + "?token=hook-s3cret") as running:
        yield running


def api(sandbox: RunningSandbox, method: str, path: str, headers: dict[str, str] = HUB, **kw: Any) -> Any:
    response = requests.request(method, f"{sandbox.url}/api/latest{path}", headers=headers, timeout=5, **kw)
    assert response.status_code == 200, response.text
    return response.json()


def new_card(sandbox: RunningSandbox) -> int:
    return int(api(sandbox, "POST", "/cards", json={"title": "Printer on fire", "board_id": 10})["id"])


def sent(sandbox: RunningSandbox, receiver: Receiver) -> list[dict[str, Any]]:
    flush(sandbox)
    return [r.payload for r in receiver.received]


def test_a_new_card_is_card_add_with_its_nested_objects(sandbox: RunningSandbox, receiver: Receiver) -> None:
    card = new_card(sandbox)
    [event] = sent(sandbox, receiver)
    assert event["event"] == "card:add"
    data = event["data"]
    assert data["id"] == card and data["title"] == "Printer on fire" and data["column_id"] == 101
    assert data["owner"]["id"] == 1 and data["type"]["id"] == 1
    assert data["files"] == [] and data["checklists"] == [] and data["external_links"] == []
    assert list(data["author"]) == AUTHOR_KEYS and data["author"]["id"] == 1
    assert receiver.received[0].headers["Content-Type"] == "application/json"
    parsed = parse_kaiten_webhook(event)  # the automations' ``created`` trigger
    assert (parsed.kind, parsed.issue_key, parsed.status_to) == ("issue_created", str(card), "101")


def test_an_engineer_s_comment_is_comment_add_the_hub_reads_as_theirs(
    sandbox: RunningSandbox, receiver: Receiver
) -> None:
    card = new_card(sandbox)
    comment = api(sandbox, "POST", f"/cards/{card}/comments", ENGINEER, json={"text": "/reply Restart it"})
    event = sent(sandbox, receiver)[-1]
    assert event["event"] == "comment:add"
    data = event["data"]
    assert (data["id"], data["card_id"], data["text"], data["author_id"]) == (
        comment["id"],
        card,
        "/reply Restart it",
        2,
    )
    assert data["internal"] is False and data["author"] == {
        "id": 2,
        "full_name": "Alice Example",
        "username": "alice",
        "email": "alice@example.com",
    }
    parsed = parse_kaiten_webhook(event)
    assert (parsed.kind, parsed.issue_key, parsed.comment_id) == (
        "comment_created",
        str(card),
        str(comment["id"]),
    )
    assert (parsed.comment_body, parsed.comment_author, parsed.actor) == ("/reply Restart it", "2", "2")
    assert parsed.comment_public is True


def test_an_edited_comment_is_comment_update_with_old_and_changes(
    sandbox: RunningSandbox, receiver: Receiver
) -> None:
    card = new_card(sandbox)
    comment = api(sandbox, "POST", f"/cards/{card}/comments", ENGINEER, json={"text": "first"})
    edited = api(
        sandbox, "PATCH", f"/cards/{card}/comments/{comment['id']}", ENGINEER, json={"text": "second"}
    )
    api(sandbox, "DELETE", f"/cards/{card}/comments/{comment['id']}", ENGINEER)
    _, _, update, remove = sent(sandbox, receiver)
    assert update["event"] == "comment:update"
    assert update["data"]["old"]["text"] == "first" and "author" not in update["data"]["old"]
    assert update["data"]["changes"] == {"updated": edited["updated"], "text": "second"}
    parsed = parse_kaiten_webhook(update)
    assert (parsed.kind, parsed.comment_body, parsed.actor) == ("comment_updated", "second", "2")
    assert remove["event"] == "comment:remove" and remove["data"]["id"] == comment["id"]


def test_a_moved_card_is_card_update_with_only_what_changed(
    sandbox: RunningSandbox, receiver: Receiver
) -> None:
    card = new_card(sandbox)
    api(sandbox, "PATCH", f"/cards/{card}", ENGINEER, json={"column_id": 103})
    update = sent(sandbox, receiver)[-1]
    assert update["event"] == "card:update"
    old, changes = update["data"]["old"], update["data"]["changes"]
    assert old["id"] == card and old["column_id"] == 101 and old["state"] == 1
    assert "owner" not in old and "path_data" not in old  # no nested objects
    assert changes["column_id"] == 103 and changes["state"] == 3
    assert changes["version"] == old["version"] + 1 and changes["updated"] >= old["updated"]
    assert "title" not in changes and "board_id" not in changes
    parsed = parse_kaiten_webhook(update)
    assert (parsed.kind, parsed.issue_key, parsed.status_to, parsed.status_category_to) == (
        "issue_transitioned",
        str(card),
        "103",
        "done",
    )
    assert parsed.actor == "2"


def test_archiving_and_deleting_are_card_updates(sandbox: RunningSandbox, receiver: Receiver) -> None:
    card = new_card(sandbox)
    api(sandbox, "PATCH", f"/cards/{card}", json={"condition": 2})
    api(sandbox, "DELETE", f"/cards/{card}")
    _, archived, deleted = sent(sandbox, receiver)
    assert archived["data"]["changes"]["condition"] == 2 and archived["data"]["changes"]["archived"] is True
    assert deleted["event"] == "card:update" and deleted["data"]["changes"]["condition"] == 3
    assert parse_kaiten_webhook(deleted).kind == "issue_deleted"


def test_members_send_card_member_events(sandbox: RunningSandbox, receiver: Receiver) -> None:
    card = new_card(sandbox)
    api(sandbox, "POST", f"/cards/{card}/members", json={"user_id": 3})
    api(sandbox, "POST", f"/cards/{card}/members", json={"user_id": 3})  # already a member: nothing
    api(sandbox, "PATCH", f"/cards/{card}/members/3", json={"type": 2})
    api(sandbox, "PATCH", f"/cards/{card}/members/3", json={"type": 2})  # already responsible: nothing
    api(sandbox, "DELETE", f"/cards/{card}/members/3")
    events = sent(sandbox, receiver)[1:]
    assert [e["event"] for e in events] == ["card_member:add", "card_member:update", "card_member:remove"]
    added, responsible, removed = (e["data"] for e in events)
    assert (added["id"], added["card_id"], added["type"], added["username"]) == (3, card, 1, "bob")
    assert responsible["old"] == {"card_id": card, "user_id": 3, "type": 1}
    assert responsible["changes"] == {"card_id": card, "user_id": 3, "type": 2}
    assert (removed["card_id"], removed["user_id"]) == (card, 3)


def test_a_refused_change_sends_nothing(sandbox: RunningSandbox, receiver: Receiver) -> None:
    card = new_card(sandbox)
    bad = requests.patch(
        f"{sandbox.url}/api/latest/cards/{card}", json={"column_id": 999}, headers=HUB, timeout=5
    )
    assert bad.status_code == 400
    assert [e["event"] for e in sent(sandbox, receiver)] == ["card:add"]


def test_without_a_webhook_url_nothing_is_sent(tmp_path: Path) -> None:
    with run_kaiten(tmp_path / "kaiten.sqlite3") as sandbox:
        card = new_card(sandbox)
        api(sandbox, "POST", f"/cards/{card}/comments", ENGINEER, json={"text": "hello"})
        flush(sandbox)
        assert deliveries(sandbox) == []


def test_deliveries_are_recorded_and_the_url_s_token_stays_out_of_the_log(
    sandbox: RunningSandbox, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="sandbox"):
        new_card(sandbox)
        flush(sandbox)
    [delivery] = deliveries(sandbox)
    assert (delivery["event"], delivery["status"], delivery["state"]) == ("card:add", 200, "delivered")
    assert delivery["url"] == receiver.url + "?token=hook-s3cret"
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("sandbox."))
    assert receiver.url in logged and "hook-s3cret" not in logged  # (the receiver's own log is not ours)
    assert requests.post(f"{sandbox.url}/_sandbox/reset", headers=CONTROL, timeout=5).status_code == 204
    assert deliveries(sandbox) == []


def test_a_bad_webhook_url_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="webhook_url"):
        run_kaiten(tmp_path / "kaiten.sqlite3", webhook_url="hub.example/hooks/kaiten")


def test_main_takes_the_webhook_url_from_a_flag_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    served: list[Flask] = []
    monkeypatch.setattr(kaiten_app, "serve", lambda app, *args, **kwargs: served.append(app))
    db = ["--db", str(tmp_path / "kaiten.sqlite3")]
    kaiten_app.main([*db, "--webhook-url", "http://127.0.0.1:8080/hooks/kaiten?token=a"])
    monkeypatch.setenv("SANDBOX_KAITEN_WEBHOOK_URL", "http://hub:8080/hooks/kaiten?token=b")
    kaiten_app.main(db)
    assert [app.extensions[STATE_KEY].webhook_url for app in served] == [
        "http://127.0.0.1:8080/hooks/kaiten?token=a",
        "http://hub:8080/hooks/kaiten?token=b",
    ]
    with pytest.raises(SystemExit):
        kaiten_app.main([*db, "--webhook-url", "hub/hooks/kaiten"])


def test_a_checklist_item_added_or_checked_is_a_card_update_of_its_counters(
    sandbox: RunningSandbox, receiver: Receiver
) -> None:
    card = new_card(sandbox)
    checklist = api(sandbox, "POST", f"/cards/{card}/checklists", ENGINEER, json={"name": "Подзадачи"})
    path = f"/cards/{card}/checklists/{checklist['id']}/items"
    item = api(sandbox, "POST", path, ENGINEER, json={"text": "Договор"})
    api(sandbox, "PATCH", f"{path}/{item['id']}", ENGINEER, json={"checked": True})
    added, checked = sent(sandbox, receiver)[1:]  # after card:add; the checklist itself sends nothing
    assert added["event"] == checked["event"] == "card:update"
    assert added["data"]["changes"]["goals_total"] == 1 and "goals_done" not in added["data"]["changes"]
    assert checked["data"]["changes"]["goals_done"] == 1 and "goals_total" not in checked["data"]["changes"]
    assert added["data"]["author"]["id"] == 2
    parsed = [parse_kaiten_webhook(event) for event in (added, checked)]
    assert [(p.kind, p.issue_key, p.fields_changed) for p in parsed] == [
        ("issue_updated", str(card), ("checklists",)),
        ("issue_updated", str(card), ("checklists",)),
    ]
    assert parsed[0].event_id != parsed[1].event_id
