"""The Kaiten look-alike's REST answers for what routing and automations use: checklists (and the 405s of
their list endpoints, as live Kaiten answers), external links, the card list's filters and items, and a
card type that requires a custom property."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.server import RunningSandbox
from tests.sandboxes import run_kaiten

HUB = {"Authorization": "Bearer t"}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    with run_kaiten(tmp_path / "kaiten.sqlite3") as running:
        yield running


def call(sandbox: RunningSandbox, method: str, path: str, status: int = 200, **kw: Any) -> Any:
    response = requests.request(method, f"{sandbox.url}/api/latest{path}", headers=HUB, timeout=5, **kw)
    assert response.status_code == status, response.text
    return response.json()


def new_card(sandbox: RunningSandbox, **fields: Any) -> int:
    return int(
        call(sandbox, "POST", "/cards", json={"title": "Printer on fire", "board_id": 10, **fields})["id"]
    )


def test_checklists_live_on_the_card_and_their_lists_answer_405(sandbox: RunningSandbox) -> None:
    card = new_card(sandbox)
    checklist = call(sandbox, "POST", f"/cards/{card}/checklists", json={"name": "Steps"})
    base = f"/cards/{card}/checklists/{checklist['id']}"
    first = call(sandbox, "POST", base + "/items", json={"text": "Reboot"})
    call(sandbox, "POST", base + "/items", json={"text": "Call back", "sort_order": 0.5})
    checked = call(sandbox, "PATCH", f"{base}/items/{first['id']}", json={"checked": True})
    assert checked["checked"] is True and checked["checker_id"] == 1 and checked["checked_at"]
    [embedded] = call(sandbox, "GET", f"/cards/{card}")["checklists"]
    assert embedded["name"] == "Steps" and [i["text"] for i in embedded["items"]] == ["Call back", "Reboot"]
    assert call(sandbox, "GET", base) == embedded
    assert call(sandbox, "GET", f"/cards/{card}/checklists", 405) == {"message": "Method Not Allowed"}
    assert call(sandbox, "GET", base + "/items", 405) == {"message": "Method Not Allowed"}
    call(sandbox, "DELETE", f"{base}/items/{first['id']}")
    call(sandbox, "DELETE", base)
    assert call(sandbox, "GET", f"/cards/{card}")["checklists"] == []
    call(sandbox, "GET", base, 404)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/checklists", {"name": " "}, "name is required"),
        ("/checklists", ["Steps"], "JSON object"),
        ("/checklists", {"name": "x", "sort_order": 0}, "greater than 0"),
        ("/checklists/{checklist}/items", {}, "text is required"),
        ("/checklists/{checklist}/items", {"text": "x", "checked": "yes"}, "checked must be a boolean"),
        ("/checklists/{checklist}/items", {"text": "x", "responsible_id": 99}, "User 99 not found"),
        ("/external-links", {"description": "no url"}, "url is required"),
        ("/external-links", {"url": "https://x.example", "description": "d" * 513}, "at most 512"),
    ],
)
def test_bad_checklists_and_links_are_400s(
    sandbox: RunningSandbox, path: str, body: Any, message: str
) -> None:
    card = new_card(sandbox)
    checklist = call(sandbox, "POST", f"/cards/{card}/checklists", json={"name": "Steps"})["id"]
    answer = call(sandbox, "POST", f"/cards/{card}" + path.format(checklist=checklist), 400, json=body)
    assert message in answer["message"]


def test_external_links_list_update_and_remove(sandbox: RunningSandbox) -> None:
    card = new_card(sandbox)
    link = call(sandbox, "POST", f"/cards/{card}/external-links", json={"url": "https://x.example/1"})
    assert (link["url"], link["description"], link["card_id"]) == ("https://x.example/1", None, card)
    call(sandbox, "PATCH", f"/cards/{card}/external-links/{link['id']}", json={"description": "SUP-1"})
    [listed] = call(sandbox, "GET", f"/cards/{card}/external-links")
    assert listed["description"] == "SUP-1" and call(sandbox, "GET", f"/cards/{card}")["external_links"] == [
        listed
    ]
    call(sandbox, "DELETE", f"/cards/{card}/external-links/{link['id']}")
    assert call(sandbox, "GET", f"/cards/{card}/external-links") == []
    call(sandbox, "DELETE", f"/cards/{card}/external-links/{link['id']}", 404)


def test_card_list_items_carry_members_and_column(sandbox: RunningSandbox) -> None:
    card = new_card(sandbox, responsible_id=3, column_id=102)
    [item] = call(sandbox, "GET", "/cards")
    assert item["id"] == card and [(m["user_id"], m["type"]) for m in item["members"]] == [(3, 2)]
    assert (item["column"]["title"], item["type"]["name"], item["owner"]["id"]) == ("In progress", "Card", 1)
    assert "tags" not in item and "checklists" not in item  # the list carries tag_ids only


def test_card_list_filters_by_types_columns_and_due_dates(sandbox: RunningSandbox) -> None:
    early = new_card(sandbox, type_id=3, due_date="2027-01-10")
    late = new_card(sandbox, column_id=102, due_date="2027-01-12T15:00:00+03:00")
    new_card(sandbox, board_id=20)

    def ids(**params: Any) -> list[int]:
        return [c["id"] for c in call(sandbox, "GET", "/cards", params=params)]

    assert ids(type_ids="3,4") == [early]
    assert ids(column_ids="102,201") == [late, late + 1]
    assert ids(due_date_after="2027-01-10T00:00:00.000Z") == [late]
    assert ids(due_date_before="2027-01-12T12:00:00.001Z") == [early, late]  # 15:00+03:00 is 12:00Z
    assert ids(due_date_before="2027-01-12T12:00:00Z") == [early]
    assert ids(created_after="2000-01-01T03:00:00+03:00") == [early, late, late + 1]
    call(sandbox, "GET", "/cards", 400, params={"due_date_after": "soon"})


def test_a_card_type_can_require_a_custom_property(sandbox: RunningSandbox) -> None:
    incident = call(sandbox, "GET", "/card-types/4")
    severity = call(sandbox, "GET", "/company/custom-properties/501")
    assert [(p["property_uid"], p["required"]) for p in incident["card_properties"]] == [
        (severity["uid"], True)
    ]
    refused = call(sandbox, "POST", "/cards", 400, json={"title": "Down", "board_id": 10, "type_id": 4})
    assert refused["message"] == "Property id_501 (Severity) is required for card type Incident"
    card = new_card(sandbox, type_id=4, properties={"id_501": [601]})
    call(sandbox, "PATCH", f"/cards/{card}", 400, json={"properties": {"id_501": None}})
    other = new_card(sandbox)
    call(sandbox, "PATCH", f"/cards/{other}", 400, json={"type_id": 4})
    call(sandbox, "PATCH", f"/cards/{other}", json={"type_id": 4, "properties": {"id_501": [602]}})
