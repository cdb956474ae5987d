"""A card's external links: list, add, update, remove.

Shapes from developers.kaiten.ru (card external links) through S2: ``CreateExternalLinkRequest``
``{url (1–16384), description? (≤ 512, nullable)}``, answers ``ExternalLink`` ``{id, url, description,
card_id, external_link_id, created, updated}``. Kaiten sends no webhook for them.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Blueprint, Response, jsonify

from sandbox.app import ApiRoute
from sandbox.kaiten.context import (
    API_PREFIXES,
    card_row,
    db,
    insert_row,
    json_object,
    owned_row,
    touch_card,
    update_row,
)
from sandbox.kaiten.fields import checked_text, required_text
from sandbox.kaiten.store import stamp_now
from sandbox.store import transaction

bp = Blueprint("kaiten_links", __name__)
api_route = ApiRoute(bp, API_PREFIXES)

URL_LIMIT = 16384
DESCRIPTION_LIMIT = 512


def _fields(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if creating or "url" in body:
        out["url"] = required_text(body.get("url"), "url", URL_LIMIT)
    if "description" in body:
        out["description"] = checked_text(body["description"], "description", DESCRIPTION_LIMIT)
    return out


def _link_row(conn: sqlite3.Connection, card_id: int, link_id: int) -> sqlite3.Row:
    card_row(card_id, conn)
    return owned_row(conn, "external_link", link_id, "card_id", card_id)


@api_route("/cards/<int:card_id>/external-links")
def list_links(card_id: int) -> Response:
    conn = db()
    card_row(card_id, conn)
    return jsonify(card_external_links(conn, card_id))


@api_route("/cards/<int:card_id>/external-links", methods=("POST",))
def add_link(card_id: int) -> Response:
    fields = _fields(json_object(), creating=True)
    conn = db()
    now = stamp_now()
    with transaction(conn):
        card_row(card_id, conn)
        link_id = insert_row(
            conn, "external_link", {**fields, "card_id": card_id, "created": now, "updated": now}
        )
        touch_card(conn, card_id)
    return jsonify(external_link_json(_link_row(conn, card_id, link_id)))


@api_route("/cards/<int:card_id>/external-links/<int:link_id>", methods=("PATCH",))
def update_link(card_id: int, link_id: int) -> Response:
    fields = _fields(json_object(), creating=False)
    conn = db()
    with transaction(conn):
        _link_row(conn, card_id, link_id)
        update_row(conn, "external_link", link_id, {**fields, "updated": stamp_now()})
        touch_card(conn, card_id)
    return jsonify(external_link_json(_link_row(conn, card_id, link_id)))


@api_route("/cards/<int:card_id>/external-links/<int:link_id>", methods=("DELETE",))
def remove_link(card_id: int, link_id: int) -> Response:
    conn = db()
    with transaction(conn):
        _link_row(conn, card_id, link_id)
        conn.execute("DELETE FROM external_link WHERE id = ?", (link_id,))
        touch_card(conn, card_id)
    return jsonify({"id": link_id})


def external_link_json(row: sqlite3.Row) -> dict[str, Any]:
    """A card's external link (S2 ``ExternalLink``; ``external_link_id`` repeats the id there)."""
    return {
        "id": row["id"],
        "url": row["url"],
        "description": row["description"],
        "card_id": row["card_id"],
        "external_link_id": row["id"],
        "created": row["created"],
        "updated": row["updated"],
    }


def card_external_links(conn: sqlite3.Connection, card_id: int) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM external_link WHERE card_id = ? ORDER BY id", (card_id,))
    return [external_link_json(r) for r in rows]
