"""What automation scans ask of Jira, against the look-alike (Data Center and Cloud): "in its status
since X or earlier" (``NOT status CHANGED AFTER``), a date field within days (by id or by name), and
``statuscategorychangedate``, the status entry time a stuck-issue rule keys its firing by."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

from connector.jira import JiraTracker
from connector.types import DateRange, SearchQuery
from sandbox.server import RunningSandbox
from tests.connector.jira.test_sandbox_operations import cloud, create, jira, sandbox, user

__all__ = ["cloud", "jira", "sandbox"]  # fixtures


def backdate(db: Path, key: str, created: str, moved: str | None = None) -> None:
    """Set when ``key`` was created and (``moved``) when its changelog entries were written."""
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE issue SET created = ? WHERE key = ?", (created, key))
        if moved is not None:
            conn.execute(
                "UPDATE changelog SET created = ? WHERE issue_id = (SELECT id FROM issue WHERE key = ?)",
                (moved, key),
            )


def test_in_status_since_and_date_windows(jira: JiraTracker, sandbox: RunningSandbox, tmp_path: Path) -> None:
    stuck, fresh, untouched = (
        create(jira, name, labels=("scan",)) for name in ("stuck", "fresh", "untouched")
    )
    for ref in (stuck, fresh):
        jira.transition(ref.key, "In Progress")
    jira.update_fields(stuck.key, {"Contract end": "2030-01-10"})
    jira.update_fields(fresh.key, {"customfield_10030": "2030-02-10"})
    db = tmp_path / "jira.sqlite3"
    backdate(db, stuck.key, "2026-01-05T10:00:00.000+0000", moved="2026-01-06T10:00:00.000+0000")
    backdate(db, fresh.key, "2026-01-05T10:00:00.000+0000")
    backdate(db, untouched.key, "2026-01-05T10:00:00.000+0000")

    def keys(**query: object) -> list[str]:
        return [s.ref.key for s in jira.search(SearchQuery(labels=("scan",), **query))]  # type: ignore[arg-type]

    since = datetime(2026, 2, 1, tzinfo=UTC)
    assert keys(status_since_before=since) == [stuck.key, untouched.key]
    assert keys(status_since_before=since, statuses=("In Progress",)) == [stuck.key]
    assert keys(status_since_before=datetime(2026, 1, 5, 12, tzinfo=UTC)) == [untouched.key]
    january = DateRange("customfield_10030", date(2030, 1, 1), date(2030, 1, 31))
    assert keys(field_dates=(january,)) == [stuck.key]
    assert keys(field_dates=(DateRange("Contract end", on_or_before=date(2030, 2, 10)),)) == [
        stuck.key,
        fresh.key,
    ]
    assert keys(field_dates=(DateRange("Contract end"),)) == [stuck.key, fresh.key]  # has a value

    found = {
        s.ref.key: s for s in jira.search(SearchQuery(labels=("scan",)), fields=["statuscategorychangedate"])
    }
    assert found[stuck.key].fields["statuscategorychangedate"].startswith("2026-01-06T10:00")
    assert found[untouched.key].fields["statuscategorychangedate"].startswith("2026-01-05T10:00")


def test_open_issues_of_some_assignees_for_load_aware_assignment(jira: JiraTracker, cloud: bool) -> None:
    mine, done, other = (create(jira, name, labels=("load",)) for name in ("mine", "done", "other"))
    for ref in (mine, done):
        jira.assign(ref.key, user(cloud))
    jira.transition(done.key, "Done")
    query = SearchQuery(labels=("load",), assignees=(user(cloud),), not_done=True)
    assert [(s.ref.key, s.assignee) for s in jira.search(query)] == [(mine.key, user(cloud))]
    assert other.key not in [s.ref.key for s in jira.search(query)]
