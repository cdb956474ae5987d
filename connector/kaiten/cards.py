"""Kaiten cards in the hub's terms: a draft as a ``POST /cards`` body, a card's status and done-ness.

- ``POST /cards`` (developers.kaiten.ru/cards/create-new-card): ``title`` and ``board_id`` required;
  ``column_id``, ``lane_id``, ``type_id``, ``description`` (markdown by default,
  ``text_format_type_id`` 1), ``asap``, ``due_date``, ``size_text``, ``responsible_id``,
  ``external_id`` ("any external id you want to assign to card"), ``properties``
  (``{"id_<custom_property_id>": value}``).
- card ``state`` 1 queued / 2 in progress / 3 done follows the column's type; ``condition`` 1 live,
  2 archived (card response tables, developers.kaiten.ru/card-children/add-children).
- card members carry ``type`` 1 (member) or 2 (responsible); ``owner_id`` is the card's creator.
- a card read (``GET /cards/{id}``) carries ``created``, ``updated``, ``due_date`` (ISO 8601),
  ``board_id``, ``type_id``, ``asap``, ``properties`` ({"id_<n>": value}); live sample in
  ``shared/fixtures/kaiten/card_list_item.sanitized-live.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.dates import parse_date, parse_datetime
from connector.errors import TrackerRejected
from connector.kaiten.client import CONDITION_ARCHIVED, as_int, to_int
from connector.types import DONE, IN_PROGRESS, NEW, IssueDraft, IssueRef, IssueState

STATE_DONE = 3
MEMBER_RESPONSIBLE = 2
STATE_NAMES = {1: "queued", 2: "in progress", 3: "done"}
STATE_CATEGORIES = {1: NEW, 2: IN_PROGRESS, 3: DONE}
# IssueDraft.custom_fields keys that are card fields, not custom properties.
CARD_FIELDS = ("due_date", "due_date_time_present", "size_text", "expires_later", "sort_order", "position")


def card_body(draft: IssueDraft) -> dict[str, Any]:
    """The ``POST /cards`` body for a draft (developers.kaiten.ru/cards/create-new-card)."""
    target = draft.target
    body: dict[str, Any] = {
        "title": draft.title,
        "board_id": as_int(target.container, "board id"),
        "description": draft.body,
        "asap": (draft.priority or "").strip().lower() == "asap",
        "external_id": draft.idempotency_key,
    }
    if target.column:
        body["column_id"] = as_int(target.column, "column id")
    if target.lane:
        body["lane_id"] = as_int(target.lane, "lane id")
    if target.issue_type:
        body["type_id"] = as_int(target.issue_type, "card type id")
    if draft.assignee:
        body["responsible_id"] = as_int(draft.assignee, "responsible user id")
    if draft.due_date:
        body["due_date"] = draft.due_date.isoformat()
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


def card_state(
    card: Mapping[str, Any], ref: IssueRef, wanted: Sequence[str] = (), all_fields: bool = False
) -> IssueState:
    """A card as the hub's ``IssueState``; ``fields`` holds the asked-for card fields and ``id_<n>``
    properties (every property with ``all_fields``, and the card fields asked for besides)."""
    properties = card.get("properties") or {}
    return IssueState(
        ref=ref,
        done=card_done(card),
        status=card_status(card),
        summary=str(card.get("title") or ""),
        labels=tuple(str(t.get("name")) for t in card.get("tags") or []),
        fields={
            **(dict(properties) if all_fields else {}),
            **{n: properties.get(n, card.get(n)) for n in wanted},
        },
        status_category=card_category(card),
        assignee=_text(responsible_id(card)),
        reporter=_text(card.get("owner_id")),
        created=parse_datetime(card.get("created")),
        updated=parse_datetime(card.get("updated")),
        due_date=parse_date(card.get("due_date")),
        issue_type=_text(card.get("type_id")) or "",
        priority="asap" if card.get("asap") else None,
        container=_text(card.get("board_id")) or "",
    )


def card_done(card: Mapping[str, Any]) -> bool:
    """In a "done" column (``state`` 3, or the column's ``type`` 3) or archived (``condition`` 2)."""
    return card_category(card) == DONE


def card_category(card: Mapping[str, Any]) -> str:
    """``done`` in a done column or archived; else ``new`` or ``indeterminate`` by the card's state."""
    column = card.get("column") or {}
    if (
        card.get("state") == STATE_DONE
        or column.get("type") == STATE_DONE
        or card.get("condition") == CONDITION_ARCHIVED
        or bool(card.get("archived"))
    ):
        return DONE
    return STATE_CATEGORIES.get(to_int(card.get("state")) or to_int(column.get("type")) or 0, "")


def card_status(card: Mapping[str, Any]) -> str:
    """A human status: the column's title (``archived`` when archived)."""
    if card.get("condition") == CONDITION_ARCHIVED or card.get("archived"):
        return "archived"
    column = card.get("column") or (card.get("path_data") or {}).get("column") or {}
    return str(column.get("title") or STATE_NAMES.get(int(card.get("state") or 0), ""))


def responsible_id(card: Mapping[str, Any]) -> int | None:
    """The user id of the card's responsible member, if it has one."""
    for member in card.get("members") or []:
        if member.get("type") == MEMBER_RESPONSIBLE:
            return member_id(member)
    return None


def member_id(member: Mapping[str, Any]) -> int | None:
    """A card member's user id (members are users plus ``user_id``/``card_id``/``type``)."""
    return to_int(member.get("user_id", member.get("id")))


def utc_text(moment: datetime, *, round_up: bool = False) -> str:
    """``2024-10-14T10:48:16.594Z``, the way Kaiten writes times (a naive time is taken as UTC), to the
    millisecond: cut, or rounded up with ``round_up`` (so "before 10:00:00.0005" keeps 10:00:00.000)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if round_up and moment.microsecond % 1000:
        moment += timedelta(microseconds=1000 - moment.microsecond % 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
