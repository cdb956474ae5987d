"""Tags: add to a card by name (created for the company when new), remove, list the company's."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, jsonify

from sandbox.app import ApiRoute
from sandbox.kaiten.context import (
    API_PREFIXES,
    LIST_LIMIT,
    bad_request,
    card_row,
    db,
    int_param,
    not_found,
    request_json,
    touch_card,
)
from sandbox.kaiten.render import card_tags, tag_json
from sandbox.kaiten.store import stamp_now
from sandbox.store import transaction

bp = Blueprint("kaiten_tags", __name__)
api_route = ApiRoute(bp, API_PREFIXES)

TAG_LIMIT = 128


@api_route("/cards/<int:card_id>/tags")
def list_card_tags(card_id: int) -> Response:
    conn = db()
    card_row(card_id, conn)
    tags = card_tags(conn, card_id)
    return jsonify([{**tag_json(t), "card_id": card_id, "tag_id": t["id"]} for t in tags])


@api_route("/cards/<int:card_id>/tags", methods=("POST",))
def add_card_tag(card_id: int) -> Response:
    body = request_json()
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name.strip() or len(name) > TAG_LIMIT:
        raise bad_request(f"name is required, 1 to {TAG_LIMIT} characters")
    conn = db()
    with transaction(conn):
        card_row(card_id, conn)
        tag = conn.execute("SELECT * FROM tag WHERE name = ?", (name,)).fetchone()
        if tag is None:
            count = conn.execute("SELECT COUNT(*) FROM tag").fetchone()[0]
            tag_id = conn.execute(
                "INSERT INTO tag (uid, name, color, created) VALUES (?, ?, ?, ?)",
                (str(uuid.uuid4()), name, count % 16 + 1, stamp_now()),
            ).lastrowid
            tag = conn.execute("SELECT * FROM tag WHERE id = ?", (tag_id,)).fetchone()
        conn.execute("INSERT OR IGNORE INTO card_tag VALUES (?, ?)", (card_id, tag["id"]))
        touch_card(conn, card_id)
    return jsonify(tag_json(tag))


@api_route("/cards/<int:card_id>/tags/<int:tag_id>", methods=("DELETE",))
def remove_card_tag(card_id: int, tag_id: int) -> Response:
    conn = db()
    with transaction(conn):
        card_row(card_id, conn)
        if (
            conn.execute("DELETE FROM card_tag WHERE card_id = ? AND tag_id = ?", (card_id, tag_id)).rowcount
            == 0
        ):
            raise not_found("Tag not found")
        touch_card(conn, card_id)
    return jsonify({"id": tag_id})


@api_route("/tags")
def list_tags() -> Response:
    rows = db().execute("SELECT * FROM tag ORDER BY id LIMIT ? OFFSET ?",
                         (int_param("limit", LIST_LIMIT, 1, LIST_LIMIT), int_param("offset", 0)))  # fmt: skip
    return jsonify([tag_json(r) for r in rows])
