"""Neutral field values as Jira writes take them: an edit's or a transition's ``fields`` (``PUT /issue``,
``POST /issue/{key}/transitions``), and the list of strings a Cloud bulk move takes for a mandatory field.

The conventions are the create path's (``fields.draft_fields``): a priority by name, a user by user name
on Data Center and by ``accountId`` on Cloud, a select option by its value, components and versions by
name, dates as ``yyyy-MM-dd``. A value already in Jira's shape (a mapping, or a list of mappings) is
sent as it is, for a caller who knows better. Which shape a field takes comes from its ``FieldSpec``
(createmeta, ``GET /field``, a transition's screen), or from :data:`SYSTEM_SPECS` for Jira's own fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from connector.errors import TrackerRejected
from connector.jira.fields import field_type, user_ref
from connector.types import FieldSpec

ARRAY_FIELDS = frozenset({"components", "fixVersions", "versions", "labels"})  # system fields holding lists
SYSTEM_SPECS = {
    spec.id: spec
    for spec in (
        FieldSpec("summary", "Summary", "string", system=True),
        FieldSpec("description", "Description", "text", system=True),
        FieldSpec("environment", "Environment", "text", system=True),
        FieldSpec("priority", "Priority", "priority", system=True),
        FieldSpec("assignee", "Assignee", "user", system=True),
        FieldSpec("reporter", "Reporter", "user", system=True),
        FieldSpec("duedate", "Due Date", "date", system=True),
        FieldSpec("labels", "Labels", "labels", system=True),
        FieldSpec("components", "Component/s", "component", system=True),
        FieldSpec("fixVersions", "Fix Version/s", "version", system=True),
        FieldSpec("versions", "Affects Version/s", "version", system=True),
    )
}


def jira_value(spec: FieldSpec, value: Any, *, cloud: bool) -> Any:
    """``value`` for field ``spec`` as the ``fields`` of an edit or a transition take it; None clears."""
    if value is None or _jira_shaped(value):
        return value
    many = isinstance(value, list | tuple | set | frozenset)
    items = list(value) if many else [value]
    kind = spec.type
    if kind in ("user", "users"):
        users = [user_ref(str(u), cloud=cloud) for u in items]
        return users if kind == "users" or many else users[0]
    if kind in ("option", "options", "priority", "component", "version"):
        named = [_named(spec, item) for item in items]
        return named if many or kind == "options" or spec.id in ARRAY_FIELDS else named[0]
    if kind == "labels":
        return [str(item) for item in items]
    if kind in ("date", "datetime"):
        return _moment(value, with_time=kind == "datetime")
    return value


def move_value(spec: FieldSpec, value: Any) -> list[str]:
    """A mandatory field's value as a Cloud bulk move takes it: a list of strings (``MandatoryFieldValue``;
    the spec's example names a version by id, ``"fixVersions": {"value": ["10009"]}``, so anything with
    allowed values goes by id, users by account id)."""
    items = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
    out = []
    for item in items:
        if isinstance(item, Mapping):
            item = item.get("id") or item.get("accountId") or item.get("value") or item.get("name")
        choice = spec.choice(str(item)) if spec.allowed else None
        if spec.allowed and choice is None:
            raise _not_allowed(spec, item)
        if choice is not None:
            out.append(choice.id)
        elif isinstance(item, date):
            out.append(_moment(item, with_time=spec.type == "datetime"))
        else:
            out.append(str(item))
    return out


def spec_from_field(meta: Mapping[str, Any]) -> FieldSpec:
    """One entry of ``GET /field`` (``id``, ``name``, ``custom``, ``schema``) as a ``FieldSpec``."""
    schema = meta.get("schema") or {}
    return FieldSpec(
        id=str(meta.get("id") or ""),
        name=str(meta.get("name") or meta.get("id") or ""),
        type=field_type(schema),
        system=not meta.get("custom"),
    )


def find_spec(specs: Mapping[str, FieldSpec], id_or_name: str) -> FieldSpec:
    """The field with this id, or else this name (case-insensitive, and only one with that name);
    ``TrackerRejected`` when there is none or the name is ambiguous."""
    if id_or_name in specs:
        return specs[id_or_name]
    named = [s for s in specs.values() if s.name.casefold() == id_or_name.casefold()]
    if len(named) == 1:
        return named[0]
    if named:
        ids = sorted(s.id for s in named)
        raise TrackerRejected(f"several Jira fields are named {id_or_name!r} ({ids}): give the id", 400)
    raise TrackerRejected(f"there is no Jira field {id_or_name!r}", 400)


def _jira_shaped(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _named(spec: FieldSpec, item: Any) -> dict[str, str]:
    """A priority, option, component or version: by id when it is one of the allowed values (checked),
    else by name (options by ``value``), for Jira to check."""
    if spec.allowed:
        choice = spec.choice(str(item))
        if choice is None:
            raise _not_allowed(spec, item)
        return {"id": choice.id}
    return {"value" if spec.type in ("option", "options") else "name": str(item)}


def _not_allowed(spec: FieldSpec, item: Any) -> TrackerRejected:
    names = [c.name for c in spec.allowed]
    return TrackerRejected(f"{item!r} is not an allowed value of {spec.name}; it takes {names}", 400)


def _moment(value: Any, *, with_time: bool) -> str:
    if isinstance(value, datetime):
        if with_time:
            return value.strftime("%Y-%m-%dT%H:%M:%S.000%z") if value.tzinfo else value.isoformat()
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
