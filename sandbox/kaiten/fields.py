"""The checks Kaiten makes on a card's fields, answered 400 ``{"message": ...}``: title, placement
(a column and lane of the card's board), type, flags, dates, custom property values."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sandbox.kaiten.catalogue import (
    BOARDS,
    CARD_TYPES,
    COLUMNS,
    LANES,
    PROPERTIES,
    USERS,
    Column,
    Lane,
    Property,
    User,
    as_int,
    by_id,
)
from sandbox.kaiten.context import bad_request

TITLE_LIMIT = 1024
DESCRIPTION_LIMIT = 32768
SIZE_TEXT_LIMIT = 267
EXTERNAL_ID_LIMIT = 1024
PROPERTY_KEY = re.compile(r"id_(\d+)")


def require_int(body: dict[str, Any], name: str) -> int:
    number = as_int(body.get(name))
    if number is None:
        raise bad_request(f"{name} must be an integer")
    return number


def _bool(body: dict[str, Any], name: str) -> int:
    value = body[name]
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be a boolean")
    return int(value)


def checked_text(value: Any, name: str, limit: int, *, nullable: bool = True) -> str | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise bad_request(f"{name} must be a string")
    text = str(value)
    if len(text) > limit:
        raise bad_request(f"{name} must be at most {limit} characters")
    return text


def required_text(value: Any, name: str, limit: int) -> str:
    """A text that must be there and not blank (400 ``<name> is required`` otherwise)."""
    text = checked_text(value, name, limit)
    if text is None or not text.strip():
        raise bad_request(f"{name} is required")
    return text


def checked_iso(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be an ISO 8601 string")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"{name} must be an ISO 8601 string")
    return value


def check_property(prop: Property, value: Any) -> Any:
    """The stored value for one property, or a 400 naming what is wrong."""
    if value is None:
        return None
    if prop.type == "select":
        ids = value if isinstance(value, list) else None
        if ids is None or not ids or any(as_int(v) is None for v in ids):
            raise bad_request(f"Value of property id_{prop.id} must be an array of select value ids")
        allowed = {v.id for v in prop.values}
        chosen = [as_int(v) for v in ids]
        unknown = [v for v in chosen if v not in allowed]
        if unknown:
            raise bad_request(f"Select value {unknown[0]} is not allowed for property id_{prop.id}")
        if not prop.multi_select and len(chosen) > 1:
            raise bad_request(f"Property id_{prop.id} takes one value")
        return chosen
    if prop.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_request(f"Value of property id_{prop.id} must be a number")
        return value
    if prop.type == "date":
        return checked_iso(value, f"property id_{prop.id}")
    if not isinstance(value, str):
        raise bad_request(f"Value of property id_{prop.id} must be a string")
    return value


def check_properties(raw: Any, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge ``{"id_<n>": value}`` into ``current``; ``null`` removes a value."""
    if not isinstance(raw, dict):
        raise bad_request("properties must be an object")
    merged = dict(current or {})
    for key, value in raw.items():
        match = PROPERTY_KEY.fullmatch(str(key))
        prop = by_id(PROPERTIES, match.group(1)) if match else None
        if prop is None:
            raise bad_request(f"Custom property {key} not found")
        stored = check_property(prop, value)
        if stored is None:
            merged.pop(key, None)
        else:
            merged[key] = stored
    return merged


def _placement(body: dict[str, Any], current: sqlite3.Row | None) -> dict[str, int]:
    """Board, column and lane after this request: each known, and the column and lane of that board."""
    out: dict[str, int] = {}
    board_changed = False
    if current is None or "board_id" in body:
        if current is None and body.get("board_id") is None:
            raise bad_request("board_id is required")
        board = by_id(BOARDS, require_int(body, "board_id"))
        if board is None:
            raise bad_request(f"Board {body.get('board_id')} not found")
        board_changed = current is None or board.id != current["board_id"]
        out["board_id"] = board.id
    board_id = out.get("board_id", current["board_id"] if current is not None else 0)
    creating = current is None
    column = _cell(body, "column_id", COLUMNS, board_id, creating=creating, board_changed=board_changed)
    lane = _cell(body, "lane_id", LANES, board_id, creating=creating, board_changed=board_changed)
    out.update({k: v for k, v in (("column_id", column), ("lane_id", lane)) if v is not None})
    return out


_Cell = TypeVar("_Cell", Column, Lane)


def _cell(
    body: dict[str, Any],
    name: str,
    items: Sequence[_Cell],
    board_id: int,
    *,
    creating: bool,
    board_changed: bool,
) -> int | None:
    """The column or lane id to store: the one named (of that board), the board's first, or unchanged."""
    kind = name.split("_")[0].title()
    if body.get(name) is not None:
        found = by_id(items, require_int(body, name))
        if found is None:
            raise bad_request(f"{kind} {body.get(name)} not found")
        if found.board_id != board_id:
            raise bad_request(f"{kind} {found.id} does not belong to board {board_id}")
        return found.id
    if creating:
        return min((i for i in items if i.board_id == board_id), key=lambda i: i.sort_order).id
    if board_changed:
        raise bad_request(f"{name} of board {board_id} is required to move a card to another board")
    return None


def check_card(body: Any, current: sqlite3.Row | None = None) -> dict[str, Any]:
    """Validate a create (``current`` None) or update body; the columns to write, 400 otherwise."""
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    out: dict[str, Any] = _placement(body, current)
    if current is None or "title" in body:
        out["title"] = required_text(body.get("title"), "title", TITLE_LIMIT)
    if "description" in body:
        out["description"] = checked_text(body["description"], "description", DESCRIPTION_LIMIT)
    if body.get("type_id") is not None:
        card_type = by_id(CARD_TYPES, require_int(body, "type_id"))
        if card_type is None:
            raise bad_request(f"Card type {body.get('type_id')} not found")
        out["type_id"] = card_type.id
    elif current is None:
        board = by_id(BOARDS, out["board_id"])
        out["type_id"] = board.default_card_type_id if board else 1
    for name in ("asap", "due_date_time_present", "expires_later"):
        if name in body:
            out[name] = _bool(body, name)
    if "due_date" in body:
        out["due_date"] = checked_iso(body["due_date"], "due_date")
    if "size_text" in body:
        out["size_text"] = checked_text(body["size_text"], "size_text", SIZE_TEXT_LIMIT)
    if "external_id" in body:
        out["external_id"] = checked_text(body["external_id"], "external_id", EXTERNAL_ID_LIMIT)
    if "text_format_type_id" in body:
        if body["text_format_type_id"] not in (1, 2, 3):
            raise bad_request("text_format_type_id must be 1, 2 or 3")
        out["text_format_type_id"] = body["text_format_type_id"]
    if body.get("owner_id") is not None:
        out["owner_id"] = user_or_400(body, "owner_id").id
    if current is not None and "condition" in body:
        if body["condition"] not in (1, 2):
            raise bad_request("condition must be 1 or 2")
        out["condition"] = body["condition"]
    if current is None and body.get("responsible_id") is not None:
        out["responsible_id"] = user_or_400(body, "responsible_id").id
    if "properties" in body and body["properties"] is not None:
        existing = json.loads(current["properties"]) if current is not None else {}
        out["properties"] = check_properties(body["properties"], existing)
    _check_required(out, current)
    return out


def _check_required(out: dict[str, Any], current: sqlite3.Row | None) -> None:
    """A card of a type that requires custom properties must carry them, when it is created, changes
    type or changes properties. Kaiten's web app enforces a type's required fields; that its API does
    too is the sandbox's assumption (the API reference does not say), and the message is its own."""
    if current is not None and "type_id" not in out and "properties" not in out:
        return
    card_type = by_id(CARD_TYPES, out.get("type_id", current["type_id"] if current is not None else None))
    if card_type is None:
        return
    if "properties" in out:
        values = out["properties"]
    else:
        values = json.loads(current["properties"]) if current is not None else {}
    for prop_id in card_type.required:
        if f"id_{prop_id}" not in values:
            prop = by_id(PROPERTIES, prop_id)
            name = prop.name if prop else prop_id
            raise bad_request(f"Property id_{prop_id} ({name}) is required for card type {card_type.name}")


def user_or_400(body: dict[str, Any], name: str) -> User:
    user = by_id(USERS, require_int(body, name))
    if user is None:
        raise bad_request(f"User {body.get(name)} not found")
    return user
