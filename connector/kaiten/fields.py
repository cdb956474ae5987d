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

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from connector.errors import UnknownTarget
from connector.kaiten.client import KaitenClient
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
