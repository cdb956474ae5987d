"""Normalise Kaiten webhooks into a :class:`TrackerEvent` (mappers/tracker_events.py). Pure: no I/O.

**Kaiten** (``POST /hooks/kaiten``). Outgoing ("external") webhooks, per space; envelope documented at
https://developers.kaiten.ru/external-webhooks: ``{"event": "<model>:add|update|remove", "data":
{...}}``; ``:add``/``:remove`` carry the model plus ``author {id, full_name, username, email}``,
``:update`` carries ``data.old`` (the model before), ``data.changes`` (only the changed fields, always
with ``updated``) and ``author``. Field lists follow the documentation's examples as typed in
2chevskii/kaiten-client ``src/generated/webhook-events.ts`` @ 3c544411 (``CardUpdateWebhookEvent``,
``CommentAddWebhookEvent``, ``CommentUpdateWebhookEvent``) and the card schema in
AllDmeat/kaiten-sdk ``openapi/kaiten.yaml`` (``state`` 1 queued / 2 in progress / 3 done, ``condition``
1 live / 2 archived / 3 deleted). Handled: ``comment:add``, ``comment:update``, ``card:update`` (a
``column_id`` change is a transition, ``condition`` 3 a deletion), ``card:add`` (a creation: the
automations' ``created`` trigger). Kaiten does not sign its webhooks and documents no retry policy,
so the payload is only a hint: the job re-reads the card. Kaiten's ``event_id`` is
``<event>:<id>:<updated>`` (``card:add:<id>``: a card is added once).

``fields_changed`` of a ``card:update``: the card fields in ``changes`` (a custom property as its
``id_<n>``), and ``checklists`` when the card's checklist counters ``goals_total`` / ``goals_done``
changed. Kaiten's outgoing webhooks have no checklist events (the 22 events typed from the docs'
examples in 2chevskii/kaiten-client ``src/generated/webhook-events.ts`` @ 3c544411 name none); the card
model those examples show carries the counters, so an item added, checked or removed reaches the hub
as the card's update. The payload is a hint either way: the job reads the checklists themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from mappers.errors import AnomalousPayload, UnsupportedEvent
from mappers.tracker_events import EventKind, StatusCategory, TrackerEvent, scalar_text

KAITEN_HANDLED_EVENTS = frozenset({"comment:add", "comment:update", "card:update", "card:add"})
_KAITEN_STATE_CATEGORY: dict[int, StatusCategory] = {1: "new", 2: "indeterminate", 3: "done"}
_KAITEN_DELETED = 3  # card ``condition``: 1 live, 2 archived, 3 deleted
_KAITEN_BOOKKEEPING = frozenset({"updated", "version", "counters_recalculated_at"})
_KAITEN_CHECKLIST_COUNTERS = frozenset({"goals_total", "goals_done"})


def parse_kaiten_webhook(payload: object) -> TrackerEvent:
    """A Kaiten outgoing webhook body as a :class:`TrackerEvent` (a hint: the job re-reads the card).

    Raises :class:`AnomalousPayload` when it is not a Kaiten webhook, :class:`UnsupportedEvent` for
    the events the hub does not act on (``comment:remove``, tags, files, time logs...).
    """
    if not isinstance(payload, Mapping):
        raise AnomalousPayload("a Kaiten webhook is a JSON object")
    name = payload.get("event")
    if not isinstance(name, str) or ":" not in name:
        raise AnomalousPayload("not a Kaiten webhook: no event", {"event": "missing"})
    data = payload.get("data")
    if not isinstance(data, Mapping):
        raise AnomalousPayload(f"Kaiten {name} without data", {"data": "missing"})
    if name not in KAITEN_HANDLED_EVENTS:
        raise UnsupportedEvent(name)
    author = data.get("author")
    actor, actor_name = (None, None)
    if isinstance(author, Mapping):
        actor = scalar_text(author.get("id"))
        actor_name = scalar_text(author.get("full_name")) or scalar_text(author.get("username"))
    base: dict[str, Any] = {
        "tracker": "kaiten",
        "source_event": name,
        "actor": actor,
        "actor_name": actor_name,
    }

    if name == "comment:add":
        return _kaiten_comment("comment_created", name, data, {}, base)
    if name == "card:add":
        return _kaiten_card_added(name, data, base)
    old = data.get("old")
    changes = data.get("changes")
    if not isinstance(old, Mapping) or not isinstance(changes, Mapping):
        raise AnomalousPayload(f"Kaiten {name} without old/changes", {"data": "old and changes expected"})
    if name == "comment:update":
        return _kaiten_comment("comment_updated", name, old, changes, base)
    return _kaiten_card_update(name, old, changes, base)


def _kaiten_comment(
    kind: EventKind, name: str, comment: Mapping[str, Any], changes: Mapping[str, Any], base: dict[str, Any]
) -> TrackerEvent:
    merged = {**comment, **changes}
    comment_id = scalar_text(merged.get("id"))
    card_id = scalar_text(merged.get("card_id"))
    if comment_id is None or card_id is None:
        raise AnomalousPayload(f"Kaiten {name} without a comment or card id", {"data": "id, card_id"})
    updated = scalar_text(merged.get("updated")) or ""
    internal = merged.get("internal")
    text = merged.get("text")
    author_id = scalar_text(merged.get("author_id")) or base.get("actor")
    return TrackerEvent(
        kind=kind,
        event_id=f"{name}:{comment_id}:{updated}",
        issue_key=card_id,
        issue_id=card_id,
        comment_id=comment_id,
        comment_body=text if isinstance(text, str) else None,
        comment_author=author_id,
        comment_public=(not internal) if isinstance(internal, bool) else None,
        occurred_at=iso_time(merged.get("updated")),
        **base,
    )


def _kaiten_card_update(
    name: str, old: Mapping[str, Any], changes: Mapping[str, Any], base: dict[str, Any]
) -> TrackerEvent:
    card_id = scalar_text(old.get("id")) or scalar_text(changes.get("id"))
    if card_id is None:
        raise AnomalousPayload(f"Kaiten {name} without a card id", {"data.old.id": "missing"})
    updated = scalar_text(changes.get("updated")) or ""
    fields: dict[str, Any] = {
        **base,
        "event_id": f"{name}:{card_id}:{updated}",
        "issue_key": card_id,
        "issue_id": card_id,
        "occurred_at": iso_time(changes.get("updated")),
        "fields_changed": _changed_fields(old, changes),
    }
    if changes.get("condition") == _KAITEN_DELETED:
        return TrackerEvent(kind="issue_deleted", **fields)
    state = changes.get("state")
    category = _KAITEN_STATE_CATEGORY.get(state) if isinstance(state, int) else None
    moved = "column_id" in changes and changes.get("column_id") != old.get("column_id")
    if moved or category is not None:
        return TrackerEvent(
            kind="issue_transitioned",
            status_from=scalar_text(old.get("column_id")),
            status_to=scalar_text(changes.get("column_id", old.get("column_id"))),
            status_category_to=category,
            **fields,
        )
    return TrackerEvent(kind="issue_updated", **fields)


def _changed_fields(old: Mapping[str, Any], changes: Mapping[str, Any]) -> tuple[str, ...]:
    """The card fields ``changes`` holds whose value differs from ``old`` (``changes`` repeats some that
    did not change, and ``properties`` whole)."""
    names: list[str] = []
    properties = old.get("properties")
    before: Mapping[str, Any] = properties if isinstance(properties, Mapping) else {}
    for name, value in changes.items():
        if name in _KAITEN_BOOKKEEPING or (name in old and old[name] == value):
            continue
        if name in _KAITEN_CHECKLIST_COUNTERS:
            names.append("checklists")
        elif name == "properties" and isinstance(value, Mapping):
            names += [str(key) for key, now in value.items() if before.get(key) != now]
        else:
            names.append(str(name))
    return tuple(dict.fromkeys(names))


def _kaiten_card_added(name: str, card: Mapping[str, Any], base: dict[str, Any]) -> TrackerEvent:
    card_id = scalar_text(card.get("id"))
    if card_id is None:
        raise AnomalousPayload(f"Kaiten {name} without a card id", {"data.id": "missing"})
    return TrackerEvent(
        kind="issue_created",
        event_id=f"{name}:{card_id}",
        issue_key=card_id,
        issue_id=card_id,
        status_to=scalar_text(card.get("column_id")),
        occurred_at=iso_time(card.get("created")),
        **base,
    )


def iso_time(value: object) -> dt.datetime | None:
    """An ISO 8601 time (Kaiten's ``2026-12-07T05:47:12.123Z``) as an aware moment; None if not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
