"""Card members: add, make responsible (type 2, one per card), remove."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from sandbox.app import ApiRoute
from sandbox.kaiten import webhooks
from sandbox.kaiten.context import (
    API_PREFIXES,
    bad_request,
    card_row,
    db,
    json_object,
    not_found,
    request_json,
    touch_card,
)
from sandbox.kaiten.fields import user_or_400
from sandbox.kaiten.render import card_members
from sandbox.kaiten.store import stamp_now
from sandbox.store import transaction

bp = Blueprint("kaiten_members", __name__)
api_route = ApiRoute(bp, API_PREFIXES)


@api_route("/cards/<int:card_id>/members")
def list_members(card_id: int) -> Response:
    conn = db()
    card_row(card_id, conn)
    return jsonify(card_members(conn, card_id))


@api_route("/cards/<int:card_id>/members", methods=("POST",))
def add_member(card_id: int) -> Response:
    body = json_object()
    user = user_or_400(body, "user_id")
    conn = db()
    with transaction(conn):
        card_row(card_id, conn)
        added = conn.execute(
            "INSERT OR IGNORE INTO member VALUES (?, ?, 1, ?)", (card_id, user.id, stamp_now())
        ).rowcount
        touch_card(conn, card_id)
    if added:
        webhooks.member_added(card_id, user.id, 1)
    member = next(m for m in card_members(conn, card_id) if m["id"] == user.id)
    return jsonify(member)


@api_route("/cards/<int:card_id>/members/<int:user_id>", methods=("PATCH",))
def update_member(card_id: int, user_id: int) -> Response:
    body = request_json()
    kind = body.get("type") if isinstance(body, dict) else None
    if kind not in (1, 2):
        raise bad_request("type must be 1 (member) or 2 (responsible)")
    conn = db()
    with transaction(conn):
        card_row(card_id, conn)
        member = conn.execute(
            "SELECT type FROM member WHERE card_id = ? AND user_id = ?", (card_id, user_id)
        ).fetchone()
        if member is None:
            raise not_found("Member not found")
        if kind == 2:  # one responsible per card
            conn.execute("UPDATE member SET type = 1 WHERE card_id = ? AND type = 2", (card_id,))
        conn.execute("UPDATE member SET type = ? WHERE card_id = ? AND user_id = ?", (kind, card_id, user_id))
        touch_card(conn, card_id)
    if kind == 2 and member["type"] != 2:
        webhooks.member_made_responsible(card_id, user_id, member["type"])
    return jsonify({"card_id": card_id, "user_id": user_id, "type": kind})


@api_route("/cards/<int:card_id>/members/<int:user_id>", methods=("DELETE",))
def remove_member(card_id: int, user_id: int) -> Response:
    conn = db()
    with transaction(conn):
        card_row(card_id, conn)
        if (
            conn.execute("DELETE FROM member WHERE card_id = ? AND user_id = ?", (card_id, user_id)).rowcount
            == 0
        ):
            raise not_found("Member not found")
        touch_card(conn, card_id)
    webhooks.member_removed(card_id, user_id)
    return jsonify({"id": user_id})
