"""Comments: list, add (as the token's user, or the one ``X-Sandbox-User`` names), edit (only by the
author when ``author_only_comment_edits`` is on, as Kaiten may be set), delete."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from flask import Blueprint, Response, jsonify

from sandbox.app import ApiRoute
from sandbox.kaiten import webhooks
from sandbox.kaiten.context import (
    API_PREFIXES,
    KaitenError,
    acting_user,
    bad_request,
    card_row,
    db,
    kaiten_state,
    not_found,
    request_json,
    touch_card,
)
from sandbox.kaiten.render import comment_json
from sandbox.kaiten.store import stamp_now
from sandbox.store import transaction

bp = Blueprint("kaiten_comments", __name__)
api_route = ApiRoute(bp, API_PREFIXES)

COMMENT_LIMIT = 32768


def _comment_text(body: Any) -> str:
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise bad_request("text is required")
    if len(text) > COMMENT_LIMIT:
        raise bad_request(f"text must be at most {COMMENT_LIMIT} characters")
    return text


@api_route("/cards/<int:card_id>/comments")
def list_comments(card_id: int) -> Response:
    conn = db()
    card_row(card_id, conn)
    rows = conn.execute("SELECT * FROM comment WHERE card_id = ? ORDER BY id", (card_id,))
    return jsonify([comment_json(r) for r in rows])


@api_route("/cards/<int:card_id>/comments", methods=("POST",))
def add_comment(card_id: int) -> Response:
    body = request_json()
    text = _comment_text(body)
    conn = db()
    now = stamp_now()
    with transaction(conn):
        card_row(card_id, conn)
        comment_id = conn.execute(
            "INSERT INTO comment (uid, card_id, text, author_id, internal, created, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), card_id, text, acting_user(), 1 if body.get("internal") else 0, now, now),
        ).lastrowid
        touch_card(conn, card_id)
    row = conn.execute("SELECT * FROM comment WHERE id = ?", (comment_id,)).fetchone()
    webhooks.comment_added(row)
    return jsonify(comment_json(row))


def _comment_row(conn: sqlite3.Connection, card_id: int, comment_id: int) -> sqlite3.Row:
    card_row(card_id, conn)
    row = conn.execute("SELECT * FROM comment WHERE id = ? AND card_id = ?", (comment_id, card_id)).fetchone()
    if row is None:
        raise not_found("Comment not found")
    return row


@api_route("/cards/<int:card_id>/comments/<int:comment_id>", methods=("PATCH",))
def update_comment(card_id: int, comment_id: int) -> Response:
    text = _comment_text(request_json())
    conn = db()
    with transaction(conn):
        row = _comment_row(conn, card_id, comment_id)
        if kaiten_state().author_only_comment_edits and row["author_id"] != acting_user():
            raise KaitenError(403, "Only the author of a comment can edit it")
        conn.execute(
            "UPDATE comment SET text = ?, edited = 1, updated = ? WHERE id = ?",
            (text, stamp_now(), comment_id),
        )
    updated = _comment_row(conn, card_id, comment_id)
    webhooks.comment_updated(row, updated)
    return jsonify(comment_json(updated))


@api_route("/cards/<int:card_id>/comments/<int:comment_id>", methods=("DELETE",))
def delete_comment(card_id: int, comment_id: int) -> Response:
    conn = db()
    with transaction(conn):
        row = _comment_row(conn, card_id, comment_id)
        conn.execute("DELETE FROM comment WHERE id = ?", (comment_id,))
    webhooks.comment_removed(row)
    return jsonify({"id": comment_id})
