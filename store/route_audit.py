"""The routing audit (``route_audit``): who routed what, when, from where to where, with which values,
and how it ended; written by ``store.routing`` in the same transactions as the requests it records."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.db import aware, contains_pattern, route_audit


@dataclass(frozen=True)
class AuditEntry:
    """One line of the routing audit: who, what, when, from, to, with which values, and the result."""

    request_id: str
    at: dt.datetime
    actor: str
    via: str
    route: str
    source_tracker: str
    source_key: str
    target_tracker: str | None
    target_key: str | None
    field_values: dict[str, Any]
    result: str
    reason: str | None

    def as_json(self) -> dict[str, Any]:
        """The entry as the API shows it."""
        return {**self.__dict__, "at": self.at.isoformat()}


RESULTS = ("requested", "done", "failed")  # a routing request's audit lines, in the order they come


@dataclass(frozen=True)
class RouteLogQuery:
    """A search of the routing audit (the console's routing log): each given field narrows it."""

    actor: str = ""  # a part of the actor's name, any case
    issue: str = ""  # the source or the target key
    route: str = ""
    result: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def read_audit(
    engine: Engine,
    *,
    issue: str | None = None,
    route: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """The audit, newest first; ``issue`` matches the source or the target key."""
    return search(engine, RouteLogQuery(issue=issue or "", route=route or "", since=since), limit=limit)


def search(engine: Engine, query: RouteLogQuery, limit: int = 200, offset: int = 0) -> list[AuditEntry]:
    """The audit lines ``query`` asks for, newest first (by ``ix_route_audit_at``)."""
    c = route_audit.c
    select = sa.select(route_audit).order_by(c.at.desc(), c.id.desc()).limit(limit).offset(offset)
    if query.issue:
        keys = sorted({query.issue.strip(), query.issue.strip().upper()})  # "sup-1" finds SUP-1, by index
        select = select.where(sa.or_(c.source_key.in_(keys), c.target_key.in_(keys)))
    if query.actor:
        select = select.where(c.actor.ilike(contains_pattern(query.actor), escape="\\"))
    if query.route:
        select = select.where(c.route == query.route)
    if query.result:
        select = select.where(c.result == query.result)
    if query.since:
        select = select.where(c.at >= query.since)
    if query.until:
        select = select.where(c.at < query.until)
    with engine.connect() as conn:
        rows = conn.execute(select).all()
    return [_audit_entry(row) for row in rows]


def audit_row(
    request: Mapping[str, Any],
    result: str,
    field_values: Mapping[str, Any],
    reason: str | None,
    at: dt.datetime,
) -> dict[str, Any]:
    return {
        "request_id": request["id"],
        "at": at,
        "actor": request["requested_by"],
        "via": request["via"],
        "route": request["route"],
        "source_tracker": request["source_tracker"],
        "source_key": request["source_key"],
        "target_tracker": request.get("target_tracker"),
        "target_key": request.get("target_key"),
        "field_values": json.dumps(dict(field_values), ensure_ascii=False, default=str),
        "result": result,
        "reason": reason,
    }


def _audit_entry(row: sa.Row[Any]) -> AuditEntry:
    data = dict(row._mapping)
    data.pop("id", None)
    data["field_values"] = json.loads(data["field_values"] or "{}")
    data["at"] = aware(data["at"])
    return AuditEntry(**data)
