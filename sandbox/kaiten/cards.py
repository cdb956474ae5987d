"""Cards: create, list with Kaiten's filters (the card list's items carry members, column, lane, board,
type and owner too), get, update (move with ``board_id/column_id/lane_id``,
archive with ``condition`` 2), soft delete, and children."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from flask import Blueprint, Response, jsonify, request

from sandbox.app import ApiRoute
from sandbox.kaiten import webhooks
from sandbox.kaiten.catalogue import BOARDS, COLUMNS, HUB_USER, by_id
from sandbox.kaiten.context import (
    API_PREFIXES,
    LIST_LIMIT,
    bad_request,
    card_row,
    db,
    id_list,
    insert_row,
    int_param,
    json_object,
    not_found,
    request_json,
    touch_card,
    update_row,
)
from sandbox.kaiten.fields import check_card, checked_iso, require_int
from sandbox.kaiten.render import card_json, related_cards
from sandbox.kaiten.store import stamp_now
from sandbox.store import transaction

bp = Blueprint("kaiten_cards", __name__)
api_route = ApiRoute(bp, API_PREFIXES)

# ``GET /cards`` time filters: the parameter, the card's column, the comparison (S2 ``get_cards``).
TIME_FILTERS = (
    ("updated_after", "updated", ">"),
    ("updated_before", "updated", "<"),
    ("created_after", "created", ">"),
    ("created_before", "created", "<"),
    ("due_date_after", "due_date", ">"),
    ("due_date_before", "due_date", "<"),
)


@api_route("/cards", methods=("POST",))
def create_card() -> Response:
    fields = check_card(request_json())
    responsible = fields.pop("responsible_id", None)
    now = stamp_now()
    column = by_id(COLUMNS, fields["column_id"])
    fields.setdefault("owner_id", HUB_USER)
    fields["properties"] = json.dumps(fields.get("properties") or {})
    fields.update(uid=str(uuid.uuid4()), created=now, updated=now, last_moved_at=now)
    if column is not None and column.type == 3:
        fields["last_moved_to_done_at"] = now
    conn = db()
    with transaction(conn):
        fields["sort_order"] = conn.execute(
            "SELECT COALESCE(MAX(sort_order), 0) + 1 FROM card WHERE column_id = ? AND lane_id = ?",
            (fields["column_id"], fields["lane_id"]),
        ).fetchone()[0]
        card_id = insert_row(conn, "card", fields)
        if responsible is not None:
            conn.execute("INSERT INTO member VALUES (?, ?, 2, ?)", (card_id, responsible, now))
    webhooks.card_added(conn, card_id)
    return jsonify(card_json(card_row(card_id), conn, full=False))


@api_route("/cards")
def list_cards() -> Response:
    where: list[str] = ["c.condition != 3"]
    params: list[Any] = []
    for name in ("board_id", "column_id", "lane_id", "type_id", "condition"):
        if request.args.get(name):
            where.append(f"c.{name} = ?")
            params.append(int_param(name, 0))
    if request.args.get("space_id"):
        space = int_param("space_id", 0)
        boards = [b.id for b in BOARDS if b.space_id == space] or [0]
        where.append(f"c.board_id IN ({', '.join('?' for _ in boards)})")
        params += boards
    if request.args.get("external_id") is not None:
        where.append("c.external_id = ?")
        params.append(request.args["external_id"])
    if request.args.get("tag"):
        where.append("EXISTS (SELECT 1 FROM card_tag ct JOIN tag t ON t.id = ct.tag_id "
                     "WHERE ct.card_id = c.id AND t.name = ?)")  # fmt: skip
        params.append(request.args["tag"])
    tag_ids = id_list("tag_ids")
    if tag_ids:
        marks = ", ".join("?" for _ in tag_ids)
        where.append(f"EXISTS (SELECT 1 FROM card_tag ct WHERE ct.card_id = c.id AND ct.tag_id IN ({marks}))")  # noqa: S608
        params += tag_ids
    responsible = id_list("responsible_ids")
    if responsible:
        marks = ", ".join("?" for _ in responsible)
        member = "SELECT 1 FROM member m WHERE m.card_id = c.id AND m.type = 2"
        where.append(f"EXISTS ({member} AND m.user_id IN ({marks}))")
        params += responsible
    for name, column in (("type_ids", "type_id"), ("column_ids", "column_id")):
        ids = id_list(name)
        if ids:
            where.append(f"c.{column} IN ({', '.join('?' for _ in ids)})")
            params += ids
    states = id_list("states")
    if states:
        columns = [c.id for c in COLUMNS if c.type in states] or [0]
        where.append(f"c.column_id IN ({', '.join('?' for _ in columns)})")
        params += columns
    if request.args.get("archived") in ("true", "false"):
        where.append("c.condition = ?")
        params.append(2 if request.args["archived"] == "true" else 1)
    if request.args.get("query"):
        where.append("c.title LIKE ? ESCAPE '\\'")
        escaped = re.sub(r"([\\%_])", r"\\\1", request.args["query"])
        params.append(f"%{escaped}%")
    for name, column, op in TIME_FILTERS:
        if request.args.get(name):
            where.append(f"utc_stamp(c.{column}) {op} utc_stamp(?)")
            params.append(checked_iso(request.args[name], name))
    limit = int_param("limit", LIST_LIMIT, 1, LIST_LIMIT)
    offset = int_param("offset", 0)
    conn = db()
    rows = conn.execute(
        f"SELECT c.* FROM card c WHERE {' AND '.join(where)} ORDER BY c.id LIMIT ? OFFSET ?",  # noqa: S608
        [*params, limit, offset],
    ).fetchall()
    extra = request.args.get("additional_card_fields", "")
    with_description = "description" in [f.strip() for f in extra.split(",")]
    return jsonify([card_json(r, conn, full=False, listed=True, description=with_description) for r in rows])


@api_route("/cards/<int:card_id>")
def get_card(card_id: int) -> Response:
    conn = db()
    return jsonify(card_json(card_row(card_id, conn), conn))


@api_route("/cards/<int:card_id>", methods=("PATCH",))
def update_card(card_id: int) -> Response:
    conn = db()
    with transaction(conn):
        row = card_row(card_id, conn)
        fields = check_card(request_json(), row)
        old = webhooks.card_before(conn, card_id)
        if "properties" in fields:
            fields["properties"] = json.dumps(fields["properties"])
        now = stamp_now()
        if (
            fields.get("column_id", row["column_id"]) != row["column_id"]
            or fields.get("lane_id", row["lane_id"]) != row["lane_id"]
        ):
            fields["last_moved_at"] = now
            column = by_id(COLUMNS, fields.get("column_id", row["column_id"]))
            if column is not None and column.type == 3:
                fields["last_moved_to_done_at"] = now
        if fields:
            update_row(conn, "card", card_id, fields)
        touch_card(conn, card_id)
    webhooks.card_updated(conn, old)
    return jsonify(card_json(card_row(card_id, conn), conn))


@api_route("/cards/<int:card_id>", methods=("DELETE",))
def delete_card(card_id: int) -> Response:
    conn = db()
    with transaction(conn):
        row = card_row(card_id, conn)
        old = webhooks.card_before(conn, card_id)
        conn.execute("UPDATE card SET condition = 3, updated = ? WHERE id = ?", (stamp_now(), card_id))
    webhooks.card_updated(conn, old)
    return jsonify(card_json(row, conn, full=False))


@api_route("/cards/<int:card_id>/children")
def list_children(card_id: int) -> Response:
    conn = db()
    card_row(card_id, conn)
    ids = related_cards(conn, card_id, "parent_id", "child_id")
    return jsonify([card_json(card_row(i, conn), conn, full=False) for i in ids])


@api_route("/cards/<int:card_id>/children", methods=("POST",))
def add_child(card_id: int) -> Response:
    body = json_object()
    child_id = require_int(body, "card_id")
    if child_id == card_id:
        raise bad_request("A card cannot be its own child")
    conn = db()
    with transaction(conn):
        card_row(card_id, conn)
        child = card_row(child_id, conn)
        conn.execute("INSERT OR IGNORE INTO child VALUES (?, ?)", (card_id, child_id))
        touch_card(conn, card_id)
    return jsonify(card_json(child, conn, full=False))


@api_route("/cards/<int:card_id>/children/<int:child_id>", methods=("DELETE",))
def remove_child(card_id: int, child_id: int) -> Response:
    conn = db()
    with transaction(conn):
        card_row(card_id, conn)
        if (
            conn.execute(
                "DELETE FROM child WHERE parent_id = ? AND child_id = ?", (card_id, child_id)
            ).rowcount
            == 0
        ):
            raise not_found("Child not found")
    return jsonify({"id": child_id})
