"""Routing requests: the journal of issue 13's routes (their audit: ``store.route_audit``).

A request row is committed before any answer acknowledges it (journal before ack); the job
``route-<id>`` carries it out step by step, recording each step's result in ``steps`` so a retry after a
crash resumes where the last attempt stopped. While a request is live (queued, running, needs_input)
its ``active_key`` (``<tracker>:<key>`` of the source issue) is set, and that column is unique: one
source issue has at most one live request, so a double click or two concurrent API calls end in one row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.db import aware, route_audit, route_requests
from store.journal import new_message_id, utcnow
from store.route_audit import AuditEntry as AuditEntry  # the audit's reader, for this module's callers
from store.route_audit import audit_row
from store.route_audit import read_audit as read_audit

QUEUED, RUNNING, DONE, FAILED, NEEDS_INPUT = "queued", "running", "done", "failed", "needs_input"
LIVE = (QUEUED, RUNNING, NEEDS_INPUT)
REASON_LIMIT = 4000
ACTOR_LIMIT = 255


@dataclass(frozen=True)
class RouteRequest:
    """One routing request as journaled: who asked to route which issue by which route, and how far it got.

    ``steps`` maps each finished step of the job to what it produced (the target's key, a comment id…);
    ``supplied`` holds the fields the requester gave (field id or name → value).
    """

    id: str
    route: str
    source_tracker: str
    source_key: str
    status: str
    target_tracker: str | None
    target_key: str | None
    target_url: str | None
    reason: str | None
    requested_by: str
    via: str
    created_at: dt.datetime
    updated_at: dt.datetime
    supplied: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    lease_until: dt.datetime | None = None

    @property
    def finished(self) -> bool:
        """Whether the request ended (done or failed)."""
        return self.status in (DONE, FAILED)

    def as_json(self) -> dict[str, Any]:
        """The request as the API shows it."""
        return {
            "id": self.id,
            "route": self.route,
            "source": {"tracker": self.source_tracker, "key": self.source_key},
            "status": self.status,
            "target": (
                {"tracker": self.target_tracker, "key": self.target_key, "url": self.target_url}
                if self.target_key
                else None
            ),
            "reason": self.reason,
            "requested_by": self.requested_by,
            "via": self.via,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def active_key(tracker: str, key: str) -> str:
    """The value that makes one live request per source issue."""
    return f"{tracker}:{key}"


def get_request(engine: Engine, request_id: str) -> RouteRequest | None:
    """A request by id."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(route_requests).where(route_requests.c.id == request_id)).first()
    return _request(row) if row else None


def live_request(engine: Engine, tracker: str, key: str) -> RouteRequest | None:
    """The source issue's live request (queued, running or waiting for input), if any."""
    query = sa.select(route_requests).where(route_requests.c.active_key == active_key(tracker, key))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _request(row) if row else None


def recent_request(
    engine: Engine, route: str, tracker: str, key: str, window: dt.timedelta
) -> RouteRequest | None:
    """The newest request by ``route`` for the source issue that is live, or done within ``window``
    (a retried call after success gets the same request, not a second route)."""
    live = live_request(engine, tracker, key)
    if live is not None:
        return live
    query = (
        sa.select(route_requests)
        .where(
            route_requests.c.route == route,
            route_requests.c.source_tracker == tracker,
            route_requests.c.source_key == key,
            route_requests.c.status == DONE,
            route_requests.c.updated_at >= utcnow() - window,
        )
        .order_by(route_requests.c.updated_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _request(row) if row else None


def request_by(engine: Engine, route: str, tracker: str, key: str, requested_by: str) -> RouteRequest | None:
    """The newest request by ``route`` for the source issue that ``requested_by`` made (an automation's
    firing looks up what it submitted before it submits)."""
    c = route_requests.c
    query = (
        sa.select(route_requests)
        .where(
            c.route == route, c.source_tracker == tracker, c.source_key == key, c.requested_by == requested_by
        )
        .order_by(c.created_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _request(row) if row else None


def add_request(
    engine: Engine,
    *,
    route: str,
    source_tracker: str,
    source_key: str,
    requested_by: str,
    via: str,
    supplied: Mapping[str, Any],
    field_values: Mapping[str, Any],
    lease_seconds: float,
) -> tuple[RouteRequest, bool]:
    """Journal a new request (and its "requested" audit line) in one transaction; when the source issue
    already has a live request (another click won the race), that one instead. The second item says
    whether this call made the row."""
    now = utcnow()
    row = {
        "id": new_message_id(),
        "route": route,
        "source_tracker": source_tracker,
        "source_key": source_key,
        "active_key": active_key(source_tracker, source_key),
        "status": QUEUED,
        "requested_by": requested_by[:ACTOR_LIMIT],
        "via": via,
        "supplied": json.dumps(dict(supplied), ensure_ascii=False, default=str),
        "steps": "{}",
        "attempts": 0,
        "lease_until": now + dt.timedelta(seconds=lease_seconds),
        "created_at": now,
        "updated_at": now,
    }
    try:
        with engine.begin() as conn:
            conn.execute(route_requests.insert().values(**row))
            conn.execute(route_audit.insert().values(**audit_row(row, "requested", field_values, None, now)))
    except sa.exc.IntegrityError:
        existing = live_request(engine, source_tracker, source_key)
        if existing is None:  # the winner finished in between: a new request is fine now
            return add_request(
                engine,
                route=route,
                source_tracker=source_tracker,
                source_key=source_key,
                requested_by=requested_by,
                via=via,
                supplied=supplied,
                field_values=field_values,
                lease_seconds=lease_seconds,
            )
        return existing, False
    made = get_request(engine, str(row["id"]))
    assert made is not None
    return made, True


def claim(
    engine: Engine, request_id: str, lease_seconds: float, now: dt.datetime | None = None
) -> RouteRequest | None:
    """A job takes a request: queued, or running with its lease run out (its last worker died). The row
    becomes running with a fresh lease and one more attempt; None when another job holds it or it ended."""
    now = now or utcnow()
    c = route_requests.c
    query = (
        route_requests.update()
        .where(
            c.id == request_id,
            sa.or_(c.status == QUEUED, sa.and_(c.status == RUNNING, c.lease_until < now)),
        )
        .values(
            status=RUNNING,
            attempts=c.attempts + 1,
            lease_until=now + dt.timedelta(seconds=lease_seconds),
            updated_at=now,
        )
    )
    with engine.begin() as conn:
        if conn.execute(query).rowcount != 1:
            return None
    return get_request(engine, request_id)


def extend_lease(engine: Engine, request_id: str, lease_seconds: float) -> None:
    """Keep a running request's lease alive (each step calls it)."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            route_requests.update()
            .where(route_requests.c.id == request_id, route_requests.c.status == RUNNING)
            .values(lease_until=now + dt.timedelta(seconds=lease_seconds), updated_at=now)
        )


def record_step(engine: Engine, request_id: str, step: str, result: Any = True) -> dict[str, Any]:
    """Journal that ``step`` is done (with what it produced); the steps done so far."""
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(route_requests.c.steps).where(route_requests.c.id == request_id).with_for_update()
        ).first()
        steps = json.loads(row[0]) if row else {}
        steps[step] = result
        conn.execute(
            route_requests.update()
            .where(route_requests.c.id == request_id)
            .values(steps=json.dumps(steps, ensure_ascii=False, default=str), updated_at=utcnow())
        )
    return dict(steps)


def set_target(engine: Engine, request_id: str, tracker: str, key: str, url: str) -> None:
    """The target issue is known (created, found by its marker, or moved)."""
    with engine.begin() as conn:
        conn.execute(
            route_requests.update()
            .where(route_requests.c.id == request_id)
            .values(target_tracker=tracker, target_key=key, target_url=url[:512], updated_at=utcnow())
        )


def finish(
    engine: Engine,
    request_id: str,
    status: str,
    *,
    reason: str | None = None,
    field_values: Mapping[str, Any] | None = None,
) -> RouteRequest | None:
    """End a request (done, failed or needs_input) and write its audit line, in one transaction; the
    source issue may then be routed again. A request already ended is left as it is (None)."""
    now = utcnow()
    ended = status in (DONE, FAILED)
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(route_requests).where(route_requests.c.id == request_id).with_for_update()
        ).first()
        if row is None or row.status in (DONE, FAILED):
            return None
        values: dict[str, Any] = {"status": status, "updated_at": now, "lease_until": None}
        values["reason"] = reason[:REASON_LIMIT] if reason else None
        if ended:
            values["active_key"] = None
        conn.execute(route_requests.update().where(route_requests.c.id == request_id).values(**values))
        audit = {**row._mapping, **values}
        conn.execute(
            route_audit.insert().values(**audit_row(audit, status, field_values or {}, values["reason"], now))
        )
    return get_request(engine, request_id)


def postpone(engine: Engine, request_id: str, delay_seconds: float, reason: str) -> RouteRequest | None:
    """A running request waits (a tracker is down): queued again, due after ``delay_seconds``, when
    the sweep gives it a new job."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            route_requests.update()
            .where(route_requests.c.id == request_id, route_requests.c.status == RUNNING)
            .values(
                status=QUEUED,
                reason=reason[:REASON_LIMIT],
                lease_until=now + dt.timedelta(seconds=delay_seconds),
                updated_at=now,
            )
        )
    return get_request(engine, request_id)


def due_requests(engine: Engine, now: dt.datetime | None = None, limit: int = 500) -> list[str]:
    """Queued or running requests whose lease ran out: their job was lost or their worker died."""
    now = now or utcnow()
    c = route_requests.c
    query = (
        sa.select(c.id)
        .where(c.status.in_((QUEUED, RUNNING)), c.lease_until < now)
        .order_by(c.lease_until)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [str(row[0]) for row in conn.execute(query)]


def requests_for(engine: Engine, ids: Sequence[str]) -> list[RouteRequest]:
    """Several requests by id (for tests and the sweep)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(route_requests).where(route_requests.c.id.in_(list(ids)))).all()
    return [_request(row) for row in rows]


def _request(row: sa.Row[Any]) -> RouteRequest:
    data = dict(row._mapping)
    data.pop("active_key", None)
    data["supplied"] = json.loads(data["supplied"] or "{}")
    data["steps"] = json.loads(data["steps"] or "{}")
    for name in ("created_at", "updated_at", "lease_until"):
        data[name] = aware(data[name])
    return RouteRequest(**data)
