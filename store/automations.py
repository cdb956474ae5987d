"""Automation firings: one row per (rule, issue, occurrence), committed before any of its actions runs.

The key is unique, so two scans, two schedulers, a webhook delivered three times or ``automations run``
during a scan all come to one row; the row's id is derived from the key, so each of them knows the id
(and the RQ job ``auto-<id>``) without reading the row back. A firing is ``pending`` until a worker
claims it (``running``, with a lease), then ``done`` or ``failed``; ``actions_done`` records each action
as it completes, so a retry resumes after the last one saved. A scheduled rule's last fired due time is
kept beside (``automation_schedules``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.types import ASSIGNEE_FIELDS
from store.db import automation_firings as firings
from store.db import automation_schedules as schedules
from store.db import aware, messages, outbound, upsert_insert

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
RULE_WIDE = "*"
# the changed fields (``TrackerEvent.fields_changed``) that mean an assignment: Jira's assignee, Kaiten's
# responsible
ASSIGNMENT_FIELDS = frozenset(
    {"assignee", "responsible", "responsible_id"}
)  # the issue key of a firing that is about many issues (a digest)


def firing_id(rule: str, issue_key: str, occurrence: str) -> str:
    """The id of the firing with this key (the same wherever it is computed)."""
    text = "\x1f".join((rule, issue_key, occurrence))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class NewFiring:
    """A firing a scan or an event found due; ``payload`` is what the actions need of that moment."""

    rule: str
    tracker: str
    issue_key: str
    occurrence: str
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return firing_id(self.rule, self.issue_key, self.occurrence)


@dataclass(frozen=True)
class Firing:
    """A firing as stored."""

    id: str
    rule: str
    tracker: str
    issue_key: str
    occurrence: str
    status: str
    actions_done: dict[str, Any]
    payload: dict[str, Any]
    error: str | None
    attempts: int
    lease_until: dt.datetime | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


def insert(engine: Engine, found: Sequence[NewFiring], now: dt.datetime, grace: dt.timedelta) -> list[str]:
    """Store the firings not stored yet, in one transaction; return the ids of those that are new.

    ``grace`` is how long a new firing may wait for its job before the sweep enqueues it again.
    """
    if not found:
        return []
    rows = [
        {
            "id": item.id,
            "rule": item.rule,
            "tracker": item.tracker,
            "issue_key": item.issue_key,
            "occurrence": item.occurrence,
            "status": PENDING,
            "actions_done": "{}",
            "payload": json.dumps(item.payload, default=str),
            "attempts": 0,
            "next_attempt_at": now + grace,
            "created_at": now,
            "updated_at": now,
        }
        for item in found
    ]
    with engine.begin() as conn:
        result = conn.execute(_insert_new(conn.dialect.name), rows)
        return [row[0] for row in result]


@functools.cache
def _insert_new(dialect: str) -> sa.Insert:
    statement = upsert_insert(dialect, firings)
    return statement.on_conflict_do_nothing().returning(firings.c.id)


def existing(engine: Engine, ids: Iterable[str]) -> set[str]:
    """Those of these firing ids that are stored."""
    wanted = list(ids)
    found: set[str] = set()
    with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found.update(conn.execute(sa.select(firings.c.id).where(firings.c.id.in_(chunk))).scalars())
    return found


def get(engine: Engine, fid: str) -> Firing | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(firings).where(firings.c.id == fid)).first()
    return _firing(row) if row is not None else None


def claim(engine: Engine, fid: str, now: dt.datetime, lease: dt.timedelta) -> Firing | None:
    """Take the firing to run it now: a pending one, or a running one whose lease ran out (its worker
    died); None when it is done, failed, or another worker holds it."""
    query = (
        sa.update(firings)
        .where(
            firings.c.id == fid,
            sa.or_(
                firings.c.status == PENDING,
                sa.and_(firings.c.status == RUNNING, firings.c.lease_until <= now),
            ),
        )
        .values(status=RUNNING, lease_until=now + lease, attempts=firings.c.attempts + 1, updated_at=now)
    )
    with engine.begin() as conn:
        if conn.execute(query).rowcount != 1:
            return None
    return get(engine, fid)


def save_progress(engine: Engine, fid: str, done: dict[str, Any], now: dt.datetime) -> None:
    """Record what the firing's actions did so far (one entry per completed action)."""
    _update(engine, fid, actions_done=json.dumps(done, default=str), updated_at=now)


def finish(engine: Engine, fid: str, now: dt.datetime) -> None:
    _update(engine, fid, status=DONE, lease_until=None, next_attempt_at=None, error=None, updated_at=now)


def fail(engine: Engine, fid: str, error: str, now: dt.datetime) -> None:
    _update(engine, fid, status=FAILED, lease_until=None, next_attempt_at=None, error=error, updated_at=now)


def retry_at(engine: Engine, fid: str, when: dt.datetime, error: str, now: dt.datetime) -> None:
    """Give the firing back to wait until ``when`` (the sweep enqueues it then)."""
    _update(engine, fid, status=PENDING, lease_until=None, next_attempt_at=when, error=error, updated_at=now)


def release(engine: Engine, ids: Sequence[str], now: dt.datetime) -> set[str]:
    """Give up the leases of these firings (their worker is gone), so a new job claims them at once;
    those of them that are not finished yet (pending or running)."""
    wanted = list(ids)
    with engine.begin() as conn:
        conn.execute(
            sa.update(firings)
            .where(firings.c.id.in_(wanted), firings.c.status == RUNNING)
            .values(lease_until=now, updated_at=now)
        )
        unfinished = sa.select(firings.c.id).where(
            firings.c.id.in_(wanted), firings.c.status.in_((PENDING, RUNNING))
        )
        return set(conn.execute(unfinished).scalars())


def _update(engine: Engine, fid: str, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(firings).where(firings.c.id == fid).values(**values))


def abandoned(engine: Engine, now: dt.datetime, limit: int = 500) -> list[str]:
    """Firings whose job should run now and may not: pending past their next attempt, or running past
    their lease (a killed worker)."""
    query = (
        sa.select(firings.c.id)
        .where(
            sa.or_(
                sa.and_(firings.c.status == PENDING, firings.c.next_attempt_at <= now),
                sa.and_(firings.c.status == RUNNING, firings.c.lease_until <= now),
            )
        )
        .order_by(firings.c.next_attempt_at)
        .limit(limit)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def history(engine: Engine, issue_key: str) -> list[Firing]:
    """An issue's firings, oldest first (rule-wide ones that listed it included)."""
    query = sa.select(firings).where(firings.c.issue_key == issue_key).order_by(firings.c.created_at)
    with engine.connect() as conn:
        return [_firing(row) for row in conn.execute(query)]


def of_rule(engine: Engine, rule: str) -> list[Firing]:
    query = sa.select(firings).where(firings.c.rule == rule).order_by(firings.c.created_at)
    with engine.connect() as conn:
        return [_firing(row) for row in conn.execute(query)]


def counts_since(engine: Engine, since: dt.datetime) -> dict[str, int]:
    """How many firings each rule has made since ``since``."""
    query = (
        sa.select(firings.c.rule, sa.func.count())
        .where(firings.c.created_at >= since)
        .group_by(firings.c.rule)
    )
    with engine.connect() as conn:
        return {str(rule): int(count) for rule, count in conn.execute(query)}


SKIPPED = "skipped"  # not a status: a done firing whose actions had nothing to do (each says why)
OUTCOMES = (DONE, SKIPPED, FAILED, PENDING, RUNNING)


@dataclass(frozen=True)
class FiringQuery:
    """A search of the firings (the console's automations page): each given field narrows it."""

    rule: str = ""
    issue: str = ""
    outcome: str = ""  # a status, or SKIPPED: done with at least one action skipped
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def search(engine: Engine, query: FiringQuery, limit: int = 100, offset: int = 0) -> list[Firing]:
    """The firings ``query`` asks for, newest first (by ``ix_automation_firings_created``, or the rule's
    and the issue's indexes when those are asked)."""
    c = firings.c
    select = sa.select(firings).order_by(c.created_at.desc(), c.id.desc()).limit(limit).offset(offset)
    if query.rule:
        select = select.where(c.rule == query.rule)
    if query.issue:
        select = select.where(c.issue_key.in_(sorted({query.issue.strip(), query.issue.strip().upper()})))
    if query.outcome == SKIPPED:
        select = select.where(c.status == DONE, c.actions_done.like('%"skipped":%'))
    elif query.outcome:
        select = select.where(c.status == query.outcome)
    if query.since:
        select = select.where(c.created_at >= query.since)
    if query.until:
        select = select.where(c.created_at < query.until)
    with engine.connect() as conn:
        return [_firing(row) for row in conn.execute(select)]


def skipped_reasons(firing: Firing) -> list[str]:
    """Why the firing's skipped actions did nothing (each action's own words)."""
    return [
        str(done[SKIPPED])
        for done in firing.actions_done.values()
        if isinstance(done, dict) and SKIPPED in done
    ]


def last_due(engine: Engine, rule: str) -> dt.datetime | None:
    """The due time a scheduled rule last fired for."""
    with engine.connect() as conn:
        value = conn.execute(sa.select(schedules.c.last_due).where(schedules.c.rule == rule)).scalar()
    return aware(value)


def set_last_due(engine: Engine, rule: str, due: dt.datetime, now: dt.datetime) -> None:
    """Remember that the rule fired for ``due`` (never moved back: two schedulers may both write)."""
    with engine.begin() as conn:
        statement = upsert_insert(conn.dialect.name, schedules).values(
            rule=rule, last_due=due, updated_at=now
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["rule"],
                set_={"last_due": due, "updated_at": now},
                where=schedules.c.last_due < due,
            )
        )


def _firing(row: sa.Row[Any]) -> Firing:
    return Firing(
        id=row.id,
        rule=row.rule,
        tracker=row.tracker,
        issue_key=row.issue_key,
        occurrence=row.occurrence,
        status=row.status,
        actions_done=json.loads(row.actions_done),
        payload=json.loads(row.payload),
        error=row.error,
        attempts=row.attempts,
        lease_until=aware(row.lease_until),
        next_attempt_at=aware(row.next_attempt_at),
        created_at=aware(row.created_at) or row.created_at,
        updated_at=aware(row.updated_at) or row.updated_at,
    )


CUSTOMER_CHANNELS = ("telegram", "email", "form")


def last_customer_messages(engine: Engine, issue_keys: Sequence[str]) -> dict[str, dt.datetime]:
    """For each of these issues, when the hub last journaled a customer's message on it."""
    query = (
        sa.select(messages.c.issue_key, sa.func.max(messages.c.created_at))
        .where(messages.c.issue_key.in_(list(issue_keys)), messages.c.channel.in_(CUSTOMER_CHANNELS))
        .group_by(messages.c.issue_key)
    )
    with engine.connect() as conn:
        return {str(key): aware(when) or when for key, when in conn.execute(query)}


def last_transitions(engine: Engine, tracker: str, issue_keys: Sequence[str]) -> dict[str, dt.datetime]:
    """For each of these issues, when the hub last journaled a status change of it (a tracker webhook)."""
    conversations = {f"{tracker}:issue:{key}": key for key in issue_keys}
    query = (
        sa.select(messages.c.conversation_key, sa.func.max(messages.c.created_at))
        .where(
            messages.c.conversation_key.in_(list(conversations)),
            messages.c.kind == "issue_transitioned",
        )
        .group_by(messages.c.conversation_key)
    )
    with engine.connect() as conn:
        return {conversations[str(conv)]: aware(when) or when for conv, when in conn.execute(query)}


@dataclass(frozen=True)
class JournaledHistory:
    """What the hub's journal knows of an issue's life: the status changes its webhooks told (moment,
    status, whether it is a done status), the first reply a customer got from the team, and when the
    issue was first given an assignee."""

    statuses: tuple[tuple[dt.datetime, str, bool], ...] = ()
    first_reply: dt.datetime | None = None
    first_assigned: dt.datetime | None = None  # the first change of its assignee (responsible) a webhook told


def journaled_history(engine: Engine, tracker: str, issue_keys: Sequence[str]) -> dict[str, JournaledHistory]:
    """For each of these issues, its :class:`JournaledHistory` (two queries)."""
    conversations = {f"{tracker}:issue:{key}": key for key in issue_keys}
    changes: dict[str, list[tuple[dt.datetime, str, bool]]] = {key: [] for key in issue_keys}
    assigned: dict[str, dt.datetime] = {}
    moves = sa.select(
        messages.c.conversation_key, messages.c.body, messages.c.created_at, messages.c.kind
    ).where(
        messages.c.conversation_key.in_(list(conversations)),
        messages.c.kind.in_(("issue_transitioned", "issue_updated")),
    )
    replies = (
        sa.select(messages.c.issue_key, sa.func.min(outbound.c.created_at))
        .join(messages, messages.c.id == outbound.c.message_id)
        .where(
            messages.c.issue_key.in_(list(issue_keys)),
            outbound.c.kind.like("reply:%"),
            outbound.c.status == "sent",
        )
        .group_by(messages.c.issue_key)
    )
    with engine.connect() as conn:
        for conversation, body, created, kind in conn.execute(moves):
            event = json.loads(body)
            at = dt.datetime.fromisoformat(event["occurred_at"]) if event.get("occurred_at") else created
            at, key = aware(at) or at, conversations[conversation]
            if ASSIGNEE_FIELDS & {str(name).casefold() for name in event.get("fields_changed") or ()}:
                assigned[key] = min(at, assigned.get(key, at))
            if kind == "issue_transitioned":
                status = str(event.get("status_to") or "")
                changes[key].append((at, status, event.get("status_category_to") == "done"))
        first = {str(key): aware(when) or when for key, when in conn.execute(replies)}
    return {
        key: JournaledHistory(tuple(sorted(changes[key])), first.get(key), assigned.get(key))
        for key in issue_keys
    }
