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

from store.db import aware, route_audit


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


def read_audit(
    engine: Engine,
    *,
    issue: str | None = None,
    route: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """The audit, newest first; ``issue`` matches the source or the target key."""
    c = route_audit.c
    query = sa.select(route_audit).order_by(c.at.desc(), c.id.desc()).limit(limit)
    if issue:
        query = query.where(sa.or_(c.source_key == issue, c.target_key == issue))
    if route:
        query = query.where(c.route == route)
    if since:
        query = query.where(c.at >= since)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
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
