"""Checklists and their items on a card.

Shapes from developers.kaiten.ru (card checklists) through S2 (``CreateChecklistRequest`` ``{name,
sort_order?}``, ``CreateChecklistItemRequest`` ``{text, sort_order?, checked?, due_date?,
responsible_id?}``, ``Checklist``, ``ChecklistItem``). The lists ``GET /cards/{id}/checklists`` and
``GET .../items`` answer 405 as live Kaiten does (kaiten-cli's live matrix, research/kaiten.md §6): a
card's checklists are read from ``GET /cards/{id}`` or one by one. Kaiten has no checklist webhook
events; an item added, checked or removed changes the card's ``goals_total`` / ``goals_done``, which the
look-alike reports as a ``card:update`` (sandbox/kaiten/webhooks.py).
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from flask import Blueprint, Response, jsonify

from sandbox.app import ApiRoute
from sandbox.kaiten import webhooks
from sandbox.kaiten.context import (
    API_PREFIXES,
    acting_user,
    bad_request,
    card_row,
    db,
    insert_row,
    json_object,
    owned_row,
    touch_card,
    update_row,
)
from sandbox.kaiten.fields import checked_iso, required_text, user_or_400
from sandbox.kaiten.store import stamp_now
from sandbox.store import transaction

bp = Blueprint("kaiten_checklists", __name__)
api_route = ApiRoute(bp, API_PREFIXES)

NAME_LIMIT = 1024
TEXT_LIMIT = 4096


def _sort_order(
    body: dict[str, Any], conn: sqlite3.Connection, table: str, owner: str, owner_id: int
) -> float:
    """The given ``sort_order`` (> 0), or after the last one."""
    given = body.get("sort_order")
    if given is None:
        sql = f"SELECT COALESCE(MAX(sort_order), 0) + 1 FROM {table} WHERE {owner} = ?"  # noqa: S608 - fixed names
        return float(conn.execute(sql, (owner_id,)).fetchone()[0])
    if isinstance(given, bool) or not isinstance(given, int | float) or given <= 0:
        raise bad_request("sort_order must be a number greater than 0")
    return float(given)


def _checklist_row(conn: sqlite3.Connection, card_id: int, checklist_id: int) -> sqlite3.Row:
    card_row(card_id, conn)
    return owned_row(conn, "checklist", checklist_id, "card_id", card_id)


def _item_row(conn: sqlite3.Connection, card_id: int, checklist_id: int, item_id: int) -> sqlite3.Row:
    _checklist_row(conn, card_id, checklist_id)
    return owned_row(conn, "checklist_item", item_id, "checklist_id", checklist_id)


@api_route("/cards/<int:card_id>/checklists", methods=("POST",))
def create_checklist(card_id: int) -> Response:
    body = json_object()
    name = required_text(body.get("name"), "name", NAME_LIMIT)
    conn = db()
    now = stamp_now()
    with transaction(conn):
        card_row(card_id, conn)
        order = _sort_order(body, conn, "checklist", "card_id", card_id)
        fields = {"uid": str(uuid.uuid4()), "card_id": card_id, "name": name, "sort_order": order}
        checklist_id = insert_row(conn, "checklist", {**fields, "created": now, "updated": now})
        touch_card(conn, card_id)
    return jsonify(checklist_json(_checklist_row(conn, card_id, checklist_id), conn))


@api_route("/cards/<int:card_id>/checklists/<int:checklist_id>")
def get_checklist(card_id: int, checklist_id: int) -> Response:
    conn = db()
    return jsonify(checklist_json(_checklist_row(conn, card_id, checklist_id), conn))


@api_route("/cards/<int:card_id>/checklists/<int:checklist_id>", methods=("DELETE",))
def delete_checklist(card_id: int, checklist_id: int) -> Response:
    conn = db()
    with transaction(conn):
        _checklist_row(conn, card_id, checklist_id)
        conn.execute("DELETE FROM checklist_item WHERE checklist_id = ?", (checklist_id,))
        conn.execute("DELETE FROM checklist WHERE id = ?", (checklist_id,))
        touch_card(conn, card_id)
    return jsonify({"id": checklist_id})


def _item_fields(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The item columns a create or update body sets, each checked (400 otherwise)."""
    out: dict[str, Any] = {}
    if creating or "text" in body:
        out["text"] = required_text(body.get("text"), "text", TEXT_LIMIT)
    if "checked" in body:
        if not isinstance(body["checked"], bool):
            raise bad_request("checked must be a boolean")
        out["checked"] = int(body["checked"])
        out["checker_id"] = acting_user() if body["checked"] else None
        out["checked_at"] = stamp_now() if body["checked"] else None
    if "due_date" in body:
        out["due_date"] = checked_iso(body["due_date"], "due_date")
    if body.get("responsible_id") is not None:
        out["responsible_id"] = user_or_400(body, "responsible_id").id
    return out


@api_route("/cards/<int:card_id>/checklists/<int:checklist_id>/items", methods=("POST",))
def create_item(card_id: int, checklist_id: int) -> Response:
    body = json_object()
    fields = _item_fields(body, creating=True)
    conn = db()
    now = stamp_now()
    with transaction(conn):
        old = webhooks.card_before(conn, card_id)
        _checklist_row(conn, card_id, checklist_id)
        fields.update(
            uid=str(uuid.uuid4()),
            checklist_id=checklist_id,
            sort_order=_sort_order(body, conn, "checklist_item", "checklist_id", checklist_id),
            user_id=acting_user(),
            created=now,
            updated=now,
        )
        item_id = insert_row(conn, "checklist_item", fields)
        touch_card(conn, card_id)
    webhooks.card_updated(conn, old)
    return jsonify(checklist_item_json(_item_row(conn, card_id, checklist_id, item_id)))


@api_route("/cards/<int:card_id>/checklists/<int:checklist_id>/items/<int:item_id>", methods=("PATCH",))
def update_item(card_id: int, checklist_id: int, item_id: int) -> Response:
    fields = _item_fields(json_object(), creating=False)
    conn = db()
    with transaction(conn):
        old = webhooks.card_before(conn, card_id)
        _item_row(conn, card_id, checklist_id, item_id)
        update_row(conn, "checklist_item", item_id, {**fields, "updated": stamp_now()})
        touch_card(conn, card_id)
    webhooks.card_updated(conn, old)
    return jsonify(checklist_item_json(_item_row(conn, card_id, checklist_id, item_id)))


@api_route("/cards/<int:card_id>/checklists/<int:checklist_id>/items/<int:item_id>", methods=("DELETE",))
def delete_item(card_id: int, checklist_id: int, item_id: int) -> Response:
    conn = db()
    with transaction(conn):
        old = webhooks.card_before(conn, card_id)
        _item_row(conn, card_id, checklist_id, item_id)
        conn.execute("DELETE FROM checklist_item WHERE id = ?", (item_id,))
        touch_card(conn, card_id)
    webhooks.card_updated(conn, old)
    return jsonify({"id": item_id})


# -- JSON ----------------------------------------------------------------------------------------------


def checklist_item_json(row: sqlite3.Row) -> dict[str, Any]:
    """A checklist item (S2 ``ChecklistItem``)."""
    return {
        "id": row["id"],
        "uid": row["uid"],
        "text": row["text"],
        "sort_order": row["sort_order"],
        "checked": bool(row["checked"]),
        "checklist_id": row["checklist_id"],
        "checker_id": row["checker_id"],
        "user_id": row["user_id"],
        "checked_at": row["checked_at"],
        "responsible_id": row["responsible_id"],
        "deleted": False,
        "due_date": row["due_date"],
        "created": row["created"],
        "updated": row["updated"],
    }


def checklist_json(row: sqlite3.Row, conn: sqlite3.Connection) -> dict[str, Any]:
    """A card's checklist with its items (S2 ``Checklist``: items are present in a card read)."""
    items = conn.execute(
        "SELECT * FROM checklist_item WHERE checklist_id = ? ORDER BY sort_order, id", (row["id"],)
    )
    return {
        "id": row["id"],
        "uid": row["uid"],
        "name": row["name"],
        "card_id": row["card_id"],
        "policy_id": None,
        "checklist_id": None,
        "sort_order": row["sort_order"],
        "items": [checklist_item_json(i) for i in items],
        "created": row["created"],
        "updated": row["updated"],
    }


def card_checklists(conn: sqlite3.Connection, card_id: int) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM checklist WHERE card_id = ? ORDER BY sort_order, id", (card_id,))
    return [checklist_json(r, conn) for r in rows.fetchall()]
