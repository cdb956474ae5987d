"""Rows and seeded objects as Kaiten's API answers them (field names and types from the documented
shapes and the sanitized live payloads in ``shared/fixtures/kaiten``)."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from flask import request

from sandbox.kaiten.catalogue import (
    BOARDS,
    CARD_TYPES,
    COLUMNS,
    HUB_USER,
    LANES,
    SEED_TIME,
    SPACES,
    USERS,
    Board,
    CardType,
    Column,
    Lane,
    Property,
    SelectValue,
    Space,
    User,
    by_id,
    seed_uid,
)
from sandbox.kaiten.checklists import card_checklists
from sandbox.kaiten.links import card_external_links


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "uid": seed_uid("user", user.id),
        "full_name": user.full_name,
        "username": user.username,
        "email": user.email,
        "activated": True,
        "virtual": False,
        "created": SEED_TIME,
        "updated": SEED_TIME,
    }


def space_json(space: Space) -> dict[str, Any]:
    return {
        "id": space.id,
        "uid": seed_uid("space", space.id),
        "title": space.title,
        "archived": False,
        "external_id": None,
        "parent_entity_uid": None,
        "entity_type": "space",
        "created": SEED_TIME,
        "updated": SEED_TIME,
    }


def column_json(column: Column) -> dict[str, Any]:
    return {
        "id": column.id,
        "uid": seed_uid("column", column.id),
        "title": column.title,
        "sort_order": column.sort_order,
        "type": column.type,
        "board_id": column.board_id,
        "column_id": None,
        "wip_limit": None,
        "external_id": None,
        "created": SEED_TIME,
        "updated": SEED_TIME,
    }


def lane_json(lane: Lane) -> dict[str, Any]:
    return {
        "id": lane.id,
        "uid": seed_uid("lane", lane.id),
        "title": lane.title,
        "sort_order": lane.sort_order,
        "board_id": lane.board_id,
        "condition": 1,
        "default_card_type_id": None,
        "external_id": None,
        "created": SEED_TIME,
        "updated": SEED_TIME,
    }


def board_json(board: Board, *, in_space: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": board.id,
        "uid": seed_uid("board", board.id),
        "title": board.title,
        "description": None,
        "default_card_type_id": board.default_card_type_id,
        "external_id": None,
        "created": SEED_TIME,
        "updated": SEED_TIME,
        "columns": [column_json(c) for c in COLUMNS if c.board_id == board.id],
        "lanes": [lane_json(lane) for lane in LANES if lane.board_id == board.id],
    }
    if in_space:
        doc.update(space_id=board.space_id, board_id=board.id, primary_path=True, sort_order=board.id)
    return doc


def card_type_json(card_type: CardType) -> dict[str, Any]:
    """A card type; its required custom properties appear both as ``card_properties`` (by property uid)
    and in the deprecated ``properties`` map, as the live sample ``card_type.sanitized-live.json`` has
    them."""
    return {
        "id": card_type.id,
        "uid": seed_uid("type", card_type.id),
        "name": card_type.name,
        "letter": card_type.letter,
        "color": card_type.color,
        "archived": False,
        "company_id": 1,
        "properties": {f"id_{p}": True for p in card_type.required},
        "card_properties": [
            {
                "type_uid": seed_uid("type", card_type.id),
                "regular_property": None,
                "property_uid": seed_uid("property", p),
                "sort_order": n,
                "required": True,
            }
            for n, p in enumerate(card_type.required, 1)
        ],
        "created": SEED_TIME,
        "updated": SEED_TIME,
    }


def property_json(prop: Property) -> dict[str, Any]:
    return {
        "id": prop.id,
        "uid": seed_uid("property", prop.id),
        "name": prop.name,
        "type": prop.type,
        "condition": "active",
        "multi_select": prop.multi_select,
        "multiline": False,
        "colorful": prop.type == "select",
        "values_creatable_by_users": False,
        "show_on_facade": True,
        "external_id": None,
        "company_id": 1,
        "author_id": HUB_USER,
        "data": None,
        "created": SEED_TIME,
        "updated": SEED_TIME,
    }


def select_value_json(prop: Property, value: SelectValue) -> dict[str, Any]:
    return {
        "id": value.id,
        "uid": seed_uid("select-value", value.id),
        "custom_property_id": prop.id,
        "value": value.value,
        "color": value.color,
        "condition": "active",
        "sort_order": value.sort_order,
    }


def tag_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "uid": row["uid"],
        "name": row["name"],
        "color": row["color"],
        "company_id": 1,
        "archived": False,
        "created": row["created"],
        "updated": row["created"],
    }


def comment_json(row: sqlite3.Row) -> dict[str, Any]:
    author = by_id(USERS, row["author_id"])
    return {
        "id": row["id"],
        "uid": row["uid"],
        "text": row["text"],
        "type": 1,
        "edited": bool(row["edited"]),
        "card_id": row["card_id"],
        "author_id": row["author_id"],
        "author": user_json(author) if author else None,
        "internal": bool(row["internal"]),
        "deleted": False,
        "created": row["created"],
        "updated": row["updated"],
    }


def file_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "uid": row["uid"],
        "name": row["name"],
        "size": row["size"],
        "mime_type": row["mime_type"],
        "type": 1,
        "url": f"{request.url_root.rstrip('/')}/files/{row['uid']}",
        "card_id": row["card_id"],
        "author_id": row["author_id"],
        "card_cover": False,
        "deleted": False,
        "external": False,
        "comment_id": None,
        "sort_order": row["id"],
        "created": row["created"],
        "updated": row["created"],
    }


def link_json(row: sqlite3.Row) -> dict[str, Any]:
    """A link added as a file: Kaiten lists it among the card's files, with the URL it was given."""
    return {
        "id": row["id"],
        "uid": row["uid"],
        "name": row["name"],
        "size": None,
        "type": row["type"],
        "url": row["url"],
        "card_id": row["card_id"],
        "author_id": row["author_id"],
        "card_cover": False,
        "deleted": False,
        "external": row["type"] != 1,
        "comment_id": None,
        "sort_order": row["id"],
        "created": row["created"],
        "updated": row["created"],
    }


def card_files(conn: sqlite3.Connection, card_id: int) -> list[dict[str, Any]]:
    files = conn.execute("SELECT * FROM file WHERE card_id = ? ORDER BY id", (card_id,))
    links = conn.execute("SELECT * FROM file_link WHERE card_id = ? ORDER BY id", (card_id,))
    return [*(file_json(f) for f in files), *(link_json(link) for link in links)]


def card_tags(conn: sqlite3.Connection, card_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT t.* FROM tag t JOIN card_tag ct ON ct.tag_id = t.id WHERE ct.card_id = ? ORDER BY t.id",
        (card_id,),
    ).fetchall()


def card_members(conn: sqlite3.Connection, card_id: int) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM member WHERE card_id = ? ORDER BY created, user_id", (card_id,))
    out = []
    for row in rows:
        user = by_id(USERS, row["user_id"])
        if user is not None:
            out.append({**user_json(user), "user_id": user.id, "card_id": card_id, "type": row["type"]})
    return out


def related_cards(conn: sqlite3.Connection, card_id: int, mine: str, other: str) -> list[int]:
    sql = f"SELECT {other} FROM child WHERE {mine} = ? ORDER BY {other}"  # noqa: S608 - fixed names
    return [r[0] for r in conn.execute(sql, (card_id,))]


def checklist_counters(conn: sqlite3.Connection, card_id: int) -> dict[str, int]:
    """The card's ``goals_total`` / ``goals_done``: its checklist items, and those checked (the card
    fields of the docs' webhook examples, 2chevskii/kaiten-client ``webhook-events.ts``)."""
    total, done = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(i.checked), 0) FROM checklist_item i"
        " JOIN checklist c ON c.id = i.checklist_id WHERE c.card_id = ?",
        (card_id,),
    ).fetchone()
    return {"goals_total": int(total), "goals_done": int(done)}


def card_json(
    row: sqlite3.Row,
    conn: sqlite3.Connection,
    *,
    full: bool = True,
    description: bool = True,
    listed: bool = False,
) -> dict:
    """A card: ``GET /cards/{id}`` with nested objects, or without them (``full=False``), as a create
    answers and a webhook's ``old`` shows it; ``listed`` adds what ``GET /cards`` items carry besides
    (``owner, board, members, column, lane, type``: the card list response in the docs, as typed by
    2chevskii/kaiten-client ``src/generated/rest/cards.ts`` ``CardsRetrieveCardListResponse``)."""
    column = by_id(COLUMNS, row["column_id"])
    lane = by_id(LANES, row["lane_id"])
    board = by_id(BOARDS, row["board_id"])
    space = by_id(SPACES, board.space_id if board else None)
    tags = card_tags(conn, row["id"])
    children = related_cards(conn, row["id"], "parent_id", "child_id")
    parents = related_cards(conn, row["id"], "child_id", "parent_id")
    doc: dict[str, Any] = {
        "id": row["id"],
        "uid": row["uid"],
        "title": row["title"],
        "asap": bool(row["asap"]),
        "archived": row["condition"] == 2,
        "blocked": False,
        "board_id": row["board_id"],
        "column_id": row["column_id"],
        "lane_id": row["lane_id"],
        "type_id": row["type_id"],
        "owner_id": row["owner_id"],
        "space_id": board.space_id if board else None,
        "state": column.type if column else 1,
        "condition": row["condition"],
        "due_date": row["due_date"],
        "due_date_time_present": bool(row["due_date_time_present"]),
        "expires_later": bool(row["expires_later"]),
        "size_text": row["size_text"],
        "size": _size_number(row["size_text"]),
        "external_id": row["external_id"],
        "properties": json.loads(row["properties"]),
        "sort_order": row["sort_order"],
        "version": row["version"],
        "source": "api",
        "key": None,
        "tag_ids": [t["id"] for t in tags] or None,
        "children_ids": children or None,
        "parents_ids": parents or None,
        "children_count": len(children),
        "parents_count": len(parents),
        **checklist_counters(conn, row["id"]),
        "comments_total": conn.execute(
            "SELECT COUNT(*) FROM comment WHERE card_id = ?", (row["id"],)
        ).fetchone()[0],
        "created": row["created"],
        "updated": row["updated"],
        "last_moved_at": row["last_moved_at"],
        "last_moved_to_done_at": row["last_moved_to_done_at"],
        "path_data": {
            "space": {"id": space.id, "title": space.title} if space else None,
            "board": {"id": board.id, "title": board.title} if board else None,
            "column": {"id": column.id, "title": column.title, "sort_order": column.sort_order}
            if column
            else None,
            "lane": {"id": lane.id, "title": lane.title, "sort_order": lane.sort_order} if lane else None,
        },
    }
    if description:
        doc["description"] = row["description"]
        doc["description_filled"] = bool(row["description"])
        doc["text_format_type_id"] = row["text_format_type_id"]
    if full or listed:
        owner = by_id(USERS, row["owner_id"])
        card_type = by_id(CARD_TYPES, row["type_id"])
        doc.update(
            board={"id": board.id, "title": board.title, "external_id": None} if board else None,
            column=column_json(column) if column else None,
            lane=lane_json(lane) if lane else None,
            type=card_type_json(card_type) if card_type else None,
            owner=user_json(owner) if owner else None,
            members=card_members(conn, row["id"]),
        )
    if full:
        doc.update(
            tags=[tag_json(t) for t in tags],
            files=card_files(conn, row["id"]),
            checklists=card_checklists(conn, row["id"]),
            external_links=card_external_links(conn, row["id"]),
        )
    return doc


def _size_number(text: str | None) -> float | None:
    match = re.match(r"\s*(\d*\.?\d+)", text or "")
    return float(match.group(1)) if match else None
