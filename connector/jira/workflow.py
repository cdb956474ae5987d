"""Workflow transitions: Jira's list as ``Transition`` values, the one a request means, and the body of
the ``POST /issue/{key}/transitions`` that takes it.

``GET /issue/{key}/transitions?expand=transitions.fields`` answers ``{"transitions": [{"id", "name",
"to": {status, "statusCategory": {"key"}}, "fields": {fieldId: FieldMetadata}}]}`` on both deployments
(Cloud OpenAPI spec, ``getTransitions``; research/jira.md §1.7); only the transitions the issue can take
from its current status are listed. The POST takes the resolution among ``fields`` and a comment as an
``update`` operation, so one request moves, resolves and explains:
``{"transition": {"id"}, "fields": {"resolution": {...}}, "update": {"comment": [{"add": {"body"}}]}}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connector.errors import TrackerRejected
from connector.jira.fields import field_spec
from connector.jira.values import jira_value
from connector.types import STATUS_CATEGORIES, FieldSpec, Transition


def transitions_from(data: Mapping[str, Any]) -> list[Transition]:
    """The ``transitions`` of Jira's answer as ``Transition`` values (fields keyed by their id)."""
    return [_transition(t) for t in data.get("transitions") or [] if isinstance(t, Mapping)]


def _transition(data: Mapping[str, Any]) -> Transition:
    to = data.get("to") or {}
    category = str((to.get("statusCategory") or {}).get("key") or "")
    screen = data.get("fields") or {}
    return Transition(
        id=str(data.get("id") or ""),
        name=str(data.get("name") or ""),
        to_status=str(to.get("name") or ""),
        to_category=category if category in STATUS_CATEGORIES else "",
        fields=tuple(
            field_spec({**meta, "fieldId": meta.get("fieldId") or field_id})
            for field_id, meta in screen.items()
            if isinstance(meta, Mapping)
        ),
    )


def pick(transitions: Sequence[Transition], to: str, current_status: str) -> Transition | None:
    """The transition ``to`` means: its id, else (case-insensitive) its name, else its target status's
    name. None when the issue is in that status already. ``TrackerRejected`` naming what the issue can
    do when nothing matches."""
    wanted = to.strip()
    found = next((t for t in transitions if t.id == wanted), None)
    if found is not None:
        return found
    folded = wanted.casefold()
    if current_status.casefold() == folded:
        return None
    found = next((t for t in transitions if t.name.casefold() == folded), None)
    found = found or next((t for t in transitions if t.to_status.casefold() == folded), None)
    if found is None:
        offered = [f"{t.name} (→ {t.to_status})" for t in transitions]
        raise TrackerRejected(
            f"no transition {to!r} from status {current_status!r}; the issue can take {offered}", 400
        )
    return found


def transition_body(
    transition: Transition,
    fields: Mapping[str, Any],
    resolution: str | None,
    comment: str | None,
    *,
    cloud: bool,
) -> dict[str, Any]:
    """The POST body: the transition, its screen's fields (by id or name, values mapped as for an edit),
    the resolution (checked against the allowed ones when the screen lists them) and a comment."""
    values: dict[str, Any] = {}
    for id_or_name, value in fields.items():
        spec = _screen_field(transition, id_or_name)
        values[spec.id] = jira_value(spec, value, cloud=cloud)
    if resolution:
        values["resolution"] = _resolution(transition, resolution)
    body: dict[str, Any] = {"transition": {"id": transition.id}}
    if values:
        body["fields"] = values
    if comment:
        body["update"] = {"comment": [{"add": {"body": comment}}]}
    return body


def _screen_field(transition: Transition, id_or_name: str) -> FieldSpec:
    spec = next((f for f in transition.fields if f.id == id_or_name), None)
    spec = spec or next((f for f in transition.fields if f.name.casefold() == id_or_name.casefold()), None)
    if spec is None:
        names = [f.name for f in transition.fields]
        raise TrackerRejected(
            f"{id_or_name!r} is not on the screen of transition {transition.name!r}; it has {names}", 400
        )
    return spec


def _resolution(transition: Transition, resolution: str) -> dict[str, str]:
    """``{"id"}`` of an allowed resolution, or ``{"name"}`` when the screen does not list them (a
    transition without a screen: Jira decides)."""
    spec = next((f for f in transition.fields if f.id == "resolution"), None)
    if spec is None or not spec.allowed:
        return {"name": resolution}
    choice = spec.choice(resolution)
    if choice is None:
        names = [c.name for c in spec.allowed]
        raise TrackerRejected(f"resolution {resolution!r} is not offered; Jira has {names}", 400)
    return {"id": choice.id}
