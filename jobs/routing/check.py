"""``trackerhub check`` for the ``routes:`` section: each route against its live target.

For every route this deployment offers: the target's project/board and issue/card type exist (the
tracker's create screen can be read); every field an entry names is on that screen; every constant,
``map`` value and ``default`` is a value the field takes (a select's option, a number…); and which
required fields nothing fills, so the coordinator will be asked for them. Errors name the route and the
field, and say what exists instead. (The source's transition is checked when a route runs: it depends
on the issue's workflow and status.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from config.routes import Route, available_trackers, unavailable_routes
from config.rules import HubConfig
from config.settings import Settings
from connector.errors import TrackerError, UnknownTarget
from connector.instances import connect
from connector.types import FieldSchema, FieldSpec
from mappers.field_values import ValueProblem, convert
from mappers.issue import target_of

CARRIED = frozenset({"summary", "title", "description", "labels", "tags", "reporter", "project", "issuetype"})
MAX_NAMES = 30


class Report(Protocol):
    errors: list[str]
    notes: list[str]


def check_routes(
    settings: Settings, config: HubConfig, problems: Report, connect_to: Callable[..., Any] = connect
) -> None:
    """Add each route's errors and notes to ``problems`` (``connect_to`` reaches an instance, as
    ``connector.instances.connect`` does)."""
    trackers = available_trackers(settings, config.trackers)
    for rid, tracker in unavailable_routes(config.routes, trackers).items():
        problems.notes.append(f"routes.{rid}: not offered: its target tracker {tracker!r} is not configured")
    schemas: dict[Any, FieldSchema | None] = {}
    for rid, route in config.routes.items():
        if route.target.tracker not in trackers:
            continue
        target = target_of(route.target)
        if target not in schemas:
            schemas[target] = _schema(settings, config, rid, route, problems, connect_to)
        schema = schemas[target]
        if schema is not None:
            _check_fields(f"routes.{rid}", route, schema, problems)


def _schema(
    settings: Settings,
    config: HubConfig,
    rid: str,
    route: Route,
    problems: Report,
    connect_to: Callable[..., Any],
) -> FieldSchema | None:
    target = target_of(route.target)
    try:
        schema: FieldSchema = connect_to(settings, config, target.tracker, None).field_schema(target)
        return schema
    except UnknownTarget as exc:
        problems.errors.append(f"routes.{rid}: target: {exc}")
    except TrackerError as exc:
        problems.errors.append(f"routes.{rid}: cannot read the target's fields: {exc}")
    return None


def _check_fields(where: str, route: Route, schema: FieldSchema, problems: Report) -> None:
    kind = route.target.kind
    named: set[str] = set()
    for name, rule in route.fields.items():
        spec = schema.field(name)
        if spec is None:
            names = [f.name for f in schema.fields][:MAX_NAMES]
            problems.errors.append(f"{where}: fields.{name}: the target has no such field; it has {names}")
            continue
        named.add(spec.id)
        values = [("value", rule.value)] if rule.source == "value" else []
        values += [(f"map[{key}]", item) for key, item in rule.map.items()]
        if rule.has_default and rule.default is not None:
            values.append(("default", rule.default))
        for what, value in values:
            problem = _misfit(spec, value, kind)
            if problem:
                problems.errors.append(f"{where}: fields.{name}: {what}: {problem}")
    asked = [spec.name for spec in schema.required if spec.id not in named and spec.id not in CARRIED]
    if asked:
        problems.notes.append(f"{where}: the coordinator is asked for {', '.join(asked)} (nothing fills it)")


def _misfit(spec: FieldSpec, value: Any, kind: str) -> str | None:
    try:
        convert(spec, value, target_kind=kind)
    except ValueProblem as exc:
        return str(exc)
    return None
