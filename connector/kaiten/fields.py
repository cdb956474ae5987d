"""Kaiten's field schema: a card's own fields, the company's custom properties with their select values,
and which of them a card type requires.

- ``GET /card-types`` (paged): ``{id, name, card_properties: [{property_uid | regular_property,
  required, sort_order}], properties: {"id_<n>" | "<card field>": required}}``; ``properties`` is
  deprecated "after 31.01.2026" in favour of ``card_properties`` (developers.kaiten.ru
  update-card-type; live sample ``shared/fixtures/kaiten/card_type.sanitized-live.json``).
- ``GET /company/custom-properties`` (paged): ``{id, uid, name, type, multi_select, multiline,
  condition}``; types ``string, number, date, email, phone, checkbox, select, formula, url,
  collective_score, vote, collective_vote, catalog, user, attachment`` (developers.kaiten.ru
  create-new-property; sample ``custom_property_select.sanitized-live.json``).
- ``GET /company/custom-properties/{id}/select-values``: ``[{id, value, condition, ...}]``.

Custom properties are company-wide: any card may carry any of them, so every one is in the schema, and
the card type says which are required. A card's value goes under ``properties["id_<n>"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from connector.errors import TrackerRejected, UnknownTarget
from connector.kaiten.cards import utc_text
from connector.kaiten.client import KaitenClient, as_int
from connector.types import Choice, FieldSchema, FieldSpec, Target

# A card's own fields, as ``POST /cards`` takes them (developers.kaiten.ru/cards/create-new-card).
CARD_FIELD_SPECS = (
    FieldSpec("title", "Title", "string", required=True, system=True),
    FieldSpec("description", "Description", "text", system=True),
    FieldSpec("due_date", "Due date", "date", system=True),
    FieldSpec("asap", "ASAP", "any", system=True),
    FieldSpec("size_text", "Size", "string", system=True),
    FieldSpec("responsible_id", "Responsible", "user", system=True),
    FieldSpec("tags", "Tags", "labels", system=True),
)
PROPERTY_TYPES = {
    "string": "string",
    "email": "string",
    "phone": "string",
    "url": "string",
    "number": "number",
    "date": "date",
    "user": "user",
}


@dataclass(frozen=True)
class Catalogue:
    """The company's card types and custom properties (with select values), read together and cached:
    every target's schema is built from it without another request."""

    card_types: tuple[Mapping[str, Any], ...]
    properties: tuple[FieldSpec, ...]
    keys_by_uid: Mapping[str, str]  # property uid → ``id_<n>``, as card types name them


def read_catalogue(client: KaitenClient) -> Catalogue:
    """Card types, then properties, then each select property's values (one request each)."""
    types = tuple(client.list_card_types())
    properties = client.list_properties()
    return Catalogue(
        card_types=types,
        properties=tuple(property_spec(client, prop) for prop in properties),
        keys_by_uid={str(p.get("uid")): f"id_{p.get('id')}" for p in properties},
    )


def schema_for(catalogue: Catalogue, target: Target) -> FieldSchema:
    """The fields a card of ``target``'s type can have and must have (every type's, when none is named).

    A card type that does not exist raises ``UnknownTarget`` listing those that do.
    """
    choices = tuple(Choice(str(t.get("id")), str(t.get("name") or "")) for t in catalogue.card_types)
    card_type: Mapping[str, Any] = {}
    if target.issue_type is not None:
        wanted = str(target.issue_type).strip()
        card_type = next((t for t in catalogue.card_types if str(t.get("id")) == wanted), {})
        if not card_type:
            names = tuple(f"{c.id} {c.name}".strip() for c in choices)
            raise UnknownTarget(
                f"card type {target.issue_type} does not exist; there are {list(names)}", "card type", names
            )
    required = required_fields(card_type, catalogue.keys_by_uid)
    fields = tuple(_required(spec, required) for spec in (*CARD_FIELD_SPECS, *catalogue.properties))
    return FieldSchema(target, fields, choices)


def required_fields(card_type: Mapping[str, Any], keys_by_uid: Mapping[str, str]) -> set[str]:
    """The card fields and ``id_<n>`` properties the card type requires."""
    listed = card_type.get("card_properties")
    if isinstance(listed, list) and listed:
        return {
            str(entry.get("regular_property") or keys_by_uid.get(str(entry.get("property_uid")), ""))
            for entry in listed
            if isinstance(entry, dict) and entry.get("required")
        } - {""}
    legacy = card_type.get("properties")
    return (
        {str(key) for key, needed in legacy.items() if needed is True} if isinstance(legacy, dict) else set()
    )


def property_spec(client: KaitenClient, prop: Mapping[str, Any]) -> FieldSpec:
    """One custom property as a ``FieldSpec``; a select's values are read with it."""
    kind = str(prop.get("type") or "")
    allowed: tuple[Choice, ...] = ()
    if kind == "select":
        values = client.list_select_values(str(prop.get("id")))
        allowed = tuple(Choice(str(v.get("id")), str(v.get("value") or "")) for v in values)
        field_type = "options" if prop.get("multi_select") else "option"
    elif kind == "string" and prop.get("multiline"):
        field_type = "text"
    else:
        field_type = PROPERTY_TYPES.get(kind, "any")
    return FieldSpec(
        id=f"id_{prop.get('id')}",
        name=str(prop.get("name") or ""),
        type=field_type,
        allowed=allowed,
    )


def _required(spec: FieldSpec, required: set[str]) -> FieldSpec:
    return replace(spec, required=True) if spec.id in required else spec


# -- writing fields: PATCH /cards/{id} (developers.kaiten.ru/cards/update-card) ----------------------------

# What ``PATCH /cards/{id}`` takes besides ``properties`` (S2 ``UpdateCardRequest``; ``condition`` 2
# archives a card, 1 brings it back); placement (``board_id``, ``column_id``, ``lane_id``) is
# ``transition``'s and ``move``'s.
PATCH_FIELDS = frozenset(
    {
        "title",
        "description",
        "asap",
        "due_date",
        "due_date_time_present",
        "expires_later",
        "size_text",
        "sort_order",
        "condition",
        "owner_id",
        "type_id",
        "service_id",
        "external_id",
        "text_format_type_id",
        "estimate_workload",
        "planned_start",
        "planned_end",
    }
)
PLACEMENT = frozenset({"board_id", "column_id", "lane_id"})
RESPONSIBLE, TAGS = "responsible_id", "tags"  # schema fields that are not card columns


@dataclass(frozen=True)
class CardUpdate:
    """What setting some fields takes: a ``PATCH /cards/{id}`` body, the responsible member to set
    (``responsible`` is given when ``assign`` must run; None there unassigns) and tags to add."""

    body: dict[str, Any]
    responsible: tuple[str | None, ...] = ()
    tags: tuple[str, ...] = ()


def card_update(fields: Mapping[str, Any], catalogue: Callable[[], Catalogue]) -> CardUpdate:
    """``fields`` (card fields by id; custom properties by ``id_<n>``, ``<n>`` or name) as a card update.

    Select values may be given by id or by name, one or a list, and are sent as lists of select-value
    ids (research/kaiten.md §9); a user property's users likewise as a list of ids; dates as ISO 8601.
    ``catalogue`` is read only when a custom property is given.
    """
    body: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    responsible: tuple[str | None, ...] = ()
    tags: tuple[str, ...] = ()
    for name, value in fields.items():
        if name in PLACEMENT:
            raise TrackerRejected(f"{name} is set by a transition or a move, not as a field", 400)
        if name == RESPONSIBLE:
            responsible = (None if value in (None, "") else str(value),)
        elif name == TAGS:
            tags = tuple(str(t) for t in ([value] if isinstance(value, str) else value or ()))
        elif name in PATCH_FIELDS:
            body[name] = _card_value(name, value)
        else:
            spec = _property(catalogue(), name)
            properties[spec.id] = property_value(spec, value)
    if properties:
        body["properties"] = properties
    return CardUpdate(body, responsible, tags)


def property_value(spec: FieldSpec, value: Any) -> Any:
    """A custom property's value as a card carries it; ``TrackerRejected`` naming the allowed values."""
    if value is None:
        return None
    values = list(value) if isinstance(value, list | tuple) else [value]
    if spec.type in ("option", "options"):
        chosen = [_choice(spec, v) for v in values]
        if spec.type == "option" and len(chosen) > 1:
            raise TrackerRejected(f"{spec.name} ({spec.id}) takes one value, not {len(chosen)}", 400)
        return chosen
    if spec.type in ("user", "users"):
        return [
            as_int(v, f"{spec.name} user id") for v in (value if isinstance(value, list | tuple) else [value])
        ]
    if spec.type == "number" and isinstance(value, str):
        try:
            return int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            raise TrackerRejected(f"{spec.name} ({spec.id}) takes a number, not {value!r}", 400) from None
    return _iso(value)


def _property(catalogue: Catalogue, name: str) -> FieldSpec:
    text = str(name).strip()
    key = f"id_{text}" if text.isdigit() else text
    spec = next((p for p in catalogue.properties if p.id == key), None)
    spec = spec or next((p for p in catalogue.properties if p.name.casefold() == text.casefold()), None)
    if spec is None:
        known = [
            *sorted(PATCH_FIELDS),
            RESPONSIBLE,
            TAGS,
            *(f"{p.id} {p.name}" for p in catalogue.properties),
        ]
        raise TrackerRejected(f"kaiten has no card field or custom property {name!r}; there are {known}", 400)
    return spec


def _choice(spec: FieldSpec, value: Any) -> int:
    choice = spec.choice(str(value))
    if choice is None:
        allowed = [f"{c.id} {c.name}" for c in spec.allowed]
        raise TrackerRejected(f"{value!r} is not a value of {spec.name} ({spec.id}); it takes {allowed}", 400)
    return int(choice.id)


def _card_value(name: str, value: Any) -> Any:
    if name in ("asap", "due_date_time_present", "expires_later") and isinstance(value, str):
        if value.strip().lower() not in ("true", "false"):
            raise TrackerRejected(f"{name} is true or false, not {value!r}", 400)
        return value.strip().lower() == "true"
    if name in ("owner_id", "type_id", "service_id", "condition") and value is not None:
        return as_int(value, name)
    return _iso(value)


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
