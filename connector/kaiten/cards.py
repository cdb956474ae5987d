"""Kaiten cards in the hub's terms: a draft as a ``POST /cards`` body, a card's status and done-ness.

- ``POST /cards`` (developers.kaiten.ru/cards/create-new-card): ``title`` and ``board_id`` required;
  ``column_id``, ``lane_id``, ``type_id``, ``description`` (markdown by default,
  ``text_format_type_id`` 1), ``asap``, ``due_date``, ``size_text``, ``responsible_id``,
  ``external_id`` ("any external id you want to assign to card"), ``properties``
  (``{"id_<custom_property_id>": value}``).
- card ``state`` 1 queued / 2 in progress / 3 done follows the column's type; ``condition`` 1 live,
  2 archived (card response tables, developers.kaiten.ru/card-children/add-children).
- card members carry ``type`` 1 (member) or 2 (responsible).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.errors import TrackerRejected
from connector.kaiten.client import CONDITION_ARCHIVED, as_int, to_int
from connector.types import IssueDraft

STATE_DONE = 3
MEMBER_RESPONSIBLE = 2
STATE_NAMES = {1: "queued", 2: "in progress", 3: "done"}
# IssueDraft.custom_fields keys that are card fields, not custom properties.
CARD_FIELDS = ("due_date", "due_date_time_present", "size_text", "expires_later", "sort_order", "position")


def card_body(draft: IssueDraft) -> dict[str, Any]:
    """The ``POST /cards`` body for a draft (developers.kaiten.ru/cards/create-new-card)."""
    body: dict[str, Any] = {
        "title": draft.title,
        "board_id": as_int(draft.project, "board id"),
        "description": draft.body,
        "asap": (draft.priority or "").strip().lower() == "asap",
        "external_id": draft.idempotency_key,
    }
    if draft.column:
        body["column_id"] = as_int(draft.column, "column id")
    if draft.lane:
        body["lane_id"] = as_int(draft.lane, "lane id")
    if draft.issue_type:
        body["type_id"] = as_int(draft.issue_type, "card type id")
    if draft.assignee:
        body["responsible_id"] = as_int(draft.assignee, "responsible user id")
    properties: dict[str, Any] = {}
    for name, value in draft.custom_fields.items():
        if name in CARD_FIELDS:
            body[name] = value
        else:
            properties[property_key(name)] = value
    if properties:
        body["properties"] = properties
    return body


def property_key(name: str | int) -> str:
    """``id_<n>`` for a custom property given as ``5``, ``"5"`` or ``"id_5"``."""
    text = str(name).strip()
    number = text[3:] if text.startswith("id_") else text
    if not number.isdigit():
        raise TrackerRejected(f"custom property {text!r} is not an id (expected id_<n>)", 400)
    return f"id_{int(number)}"


def card_done(card: Mapping[str, Any]) -> bool:
    """In a "done" column (``state`` 3, or the column's ``type`` 3) or archived (``condition`` 2)."""
    column = card.get("column") or {}
    return (
        card.get("state") == STATE_DONE
        or column.get("type") == STATE_DONE
        or card.get("condition") == CONDITION_ARCHIVED
        or bool(card.get("archived"))
    )


def card_status(card: Mapping[str, Any]) -> str:
    """A human status: the column's title (``archived`` when archived)."""
    if card.get("condition") == CONDITION_ARCHIVED or card.get("archived"):
        return "archived"
    column = card.get("column") or (card.get("path_data") or {}).get("column") or {}
    return str(column.get("title") or STATE_NAMES.get(int(card.get("state") or 0), ""))


def tag_names(card: Mapping[str, Any]) -> set[str]:
    """The card's tags, lower-cased (Kaiten's tag names are case-insensitive)."""
    return {str(t.get("name", "")).lower() for t in card.get("tags") or []}


def responsible_id(card: Mapping[str, Any]) -> int | None:
    """The user id of the card's responsible member, if it has one."""
    for member in card.get("members") or []:
        if member.get("type") == MEMBER_RESPONSIBLE:
            return member_id(member)
    return None


def member_id(member: Mapping[str, Any]) -> int | None:
    """A card member's user id (members are users plus ``user_id``/``card_id``/``type``)."""
    return to_int(member.get("user_id", member.get("id")))


def has_properties(card: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether the card's custom properties hold ``wanted`` (a value, or one of a multi-value's)."""
    values = card.get("properties") or {}
    for name, value in wanted.items():
        have = values.get(property_key(name))
        if isinstance(have, list) and not isinstance(value, list):
            if value not in have:
                return False
        elif have != value:
            return False
    return True
