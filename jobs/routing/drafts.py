"""The target issue a routing plan creates: its draft (title, body, marker, fields) and the field values in
the shapes the target tracker writes."""

from __future__ import annotations

from typing import Any

from connector.base import CAN_MOVE
from connector.jira.values import jira_value
from connector.types import IssueDraft
from mappers.autofill import PlannedValue, RoutePlan
from mappers.field_values import wire_value


def draft_of(plan: RoutePlan, marker: str, tracker: Any) -> tuple[IssueDraft, dict[str, Any]]:
    """The create of the plan's target, carrying ``marker``, and the fields set after it (Kaiten's
    properties and tags go through its field update, which knows their shapes)."""
    values = {p.field.id: p for p in plan.values}
    kind = tracker.kind
    title_id = "summary" if kind == "jira" else "title"
    title = values.pop(title_id, None)
    body = values.pop("description", None)
    labels_id = "labels" if kind == "jira" else "tags"
    labels = values.pop(labels_id, None) if kind == "jira" else None
    carried = tuple(str(x) for x in wire_value(labels.value)) if labels is not None else ()
    shaped = tracker_values(list(values.values()), tracker)
    draft_fields, later = (shaped, {}) if kind == "jira" else ({}, shaped)
    draft = IssueDraft(
        target=plan.target,
        title=str(title.value) if title is not None else "",
        body=str(body.value) if body is not None else "",
        idempotency_key=marker,
        labels=(marker, *carried) if kind == "jira" else (),
        custom_fields=draft_fields,
    )
    return draft, later


def tracker_values(values: list[PlannedValue], tracker: Any) -> dict[str, Any]:
    """Planned values by field id as ``tracker`` writes them: Jira's JSON shapes made with the target's
    create screen (a select's id as ``{"id"}``, users by name or account id), Kaiten's as its field
    update takes them (it shapes them itself)."""
    if tracker.kind != "jira":
        return {p.field.id: wire_value(p.value) for p in values}
    cloud = CAN_MOVE in tracker.capabilities()
    return {p.field.id: jira_value(p.field, wire_value(p.value), cloud=cloud) for p in values}
