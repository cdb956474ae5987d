"""Counting what happened: each accepted message against the journal and against the tracker's own store.

The tracker side is read straight from the Jira look-alike's database, not through the hub: an issue
carries its message's label ``hub-<id>`` and a comment its marker ``hub-<id>``, so every issue and
comment the hub made can be traced to the one message it came from. A message is *delivered* when the
journal says so and the tracker holds exactly one issue or comment for it; *duplicated* when it holds
more; *lost* when it holds none or the journal never finished it. An issue or marked comment whose
message the sender never had accepted is *unaccounted*.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from store.db import messages
from tests.reliability.harness import HubUnderTest
from tests.reliability.traffic import SendLog

MARKER = re.compile(r"hub-([0-9a-f]{24})")
RESULTS = Path(__file__).resolve().parents[2] / "var" / "reliability"


@dataclass
class Tally:
    """One scenario's outcome: the numbers RELIABILITY.md reports."""

    scenario: str
    sent: int
    accepted: int
    delivered: int = 0
    ignored: int = 0
    duplicates: int = 0
    lost: int = 0
    unaccounted: int = 0
    dead_letters: int = 0
    time_to_recover_s: float | None = None
    drain_s: float | None = None
    answers: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def save(self) -> None:
        """Write the tally to ``var/reliability/<scenario>.json`` for ``make reliability``'s report."""
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{self.scenario}.json").write_text(json.dumps(asdict(self), indent=2))


def wait_until_settled(hub: HubUnderTest, ids: list[str], timeout: float) -> float | None:
    """Wait until no accepted message is still queued; the monotonic time it happened, or None."""
    engine = sa.create_engine(hub.database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if "queued" not in _column_values(engine, ids, messages.c.status).values():
                return time.monotonic()
            time.sleep(0.5)
        return None
    finally:
        engine.dispose()


def tally(
    scenario: str, hub: HubUnderTest, log: SendLog, sent: int, *, expect_ignored: frozenset[str] = frozenset()
) -> Tally:
    """Compare the sender's accepted messages with the journal and the tracker."""
    accepted = set(log.accepted.values())
    result = Tally(scenario, sent=sent, accepted=len(log.accepted), answers=dict(log.answers))
    statuses = _journal_statuses(hub, sorted(accepted))
    effects = tracker_effects(hub.jira_db)
    for key, message_id in log.accepted.items():
        status = statuses.get(message_id)
        made = effects.get(message_id, 0)
        if key in expect_ignored:
            if status == "ignored" and made == 0:
                result.ignored += 1
            else:
                result.problems.append(f"{key} ({message_id}) should be ignored: {status}, {made} effects")
            continue
        if status == "delivered" and made == 1:
            result.delivered += 1
        elif made > 1:
            result.duplicates += made - 1
            result.problems.append(f"{key} ({message_id}) made {made} issues/comments")
        else:
            result.lost += 1
            result.problems.append(f"{key} ({message_id}) lost: journal {status}, {made} effects")
        if status == "failed":
            result.dead_letters += 1
    strangers = [m for m in effects if m not in accepted]
    result.unaccounted = sum(effects[m] for m in strangers) + _unlabelled_issues(hub.jira_db)
    if result.unaccounted:
        result.problems.append(f"{result.unaccounted} issues/comments no accepted message accounts for")
    if log.conflicts:
        result.problems.append(f"one message answered with two ids: {log.conflicts[:5]}")
    if log.rejected:
        result.problems.append(f"valid messages rejected: {log.rejected[:5]}")
    return result


def _journal_statuses(hub: HubUnderTest, ids: list[str]) -> dict[str, str]:
    return _journal_column(hub, ids, messages.c.status)


def journal_outcomes(hub: HubUnderTest, ids: list[str]) -> dict[str, str | None]:
    """What each message became: ``issue``, ``comment`` or None (not delivered)."""
    return _journal_column(hub, ids, messages.c.outcome)


def delivered_at(hub: HubUnderTest, ids: list[str]) -> dict[str, float]:
    """When each delivered message was recorded delivered (epoch seconds); the others are left out."""
    statuses = _journal_statuses(hub, ids)
    updated = _journal_column(hub, ids, messages.c.updated_at)
    return {
        message_id: (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp()
        for message_id, at in updated.items()
        if statuses.get(message_id) == "delivered"
    }


def _journal_column(hub: HubUnderTest, ids: list[str], column: sa.Column[Any]) -> dict[str, Any]:
    engine = sa.create_engine(hub.database_url)
    try:
        return _column_values(engine, ids, column)
    finally:
        engine.dispose()


def _column_values(engine: sa.Engine, ids: list[str], column: sa.Column[Any]) -> dict[str, Any]:
    """``column`` of each journal row in ``ids``, read in chunks the database's parameter limits allow."""
    found: dict[str, Any] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            query = sa.select(messages.c.id, column).where(messages.c.id.in_(chunk))
            found.update({row[0]: row[1] for row in conn.execute(query)})
    return found


def tracker_effects(jira_db: Path) -> Counter[str]:
    """How many issues (by label) and comments (by marker) the tracker holds for each message id."""
    made: Counter[str] = Counter()
    with sqlite3.connect(jira_db) as conn:
        for (label,) in conn.execute("SELECT label FROM label WHERE label LIKE 'hub-%'"):
            match = MARKER.fullmatch(label)
            if match:
                made[match.group(1)] += 1
        for (body,) in conn.execute("SELECT body FROM comment"):
            for message_id in set(MARKER.findall(body)):
                made[message_id] += 1
    return made


def _unlabelled_issues(jira_db: Path) -> int:
    with sqlite3.connect(jira_db) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM issue WHERE id NOT IN (SELECT issue_id FROM label WHERE label LIKE 'hub-%')"
        ).fetchone()
    return int(row[0])
