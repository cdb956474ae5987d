"""An edit's changelog: the items Jira records (and sends in ``jira:issue_updated``) for what a field
edit, transition or assignment changed, written with the change in one transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.jira.catalogue import FieldDef, Project
from sandbox.jira.context import catalogue, current_user
from sandbox.jira.store import Draft, issue_labels, save_draft, stamp_now
from sandbox.store import transaction


@dataclass(frozen=True)
class Change:
    """What an edit, transition or assignment wrote: its changelog (if a field changed), new comments."""

    changelog: dict[str, Any] | None
    comment_ids: list[int]


def save_changes(conn: sqlite3.Connection, row: sqlite3.Row, draft: Draft) -> Change:
    """Write ``draft`` and its changelog in one transaction."""
    items = _history_items(conn, row, draft)
    changelog = None
    with transaction(conn):
        comment_ids = save_draft(conn, row, draft, current_user())
        if items:
            cur = conn.execute(
                "INSERT INTO changelog (issue_id, author, created, items) VALUES (?, ?, ?, ?)",
                (row["id"], current_user(), stamp_now(), json.dumps(items)),
            )
            changelog = {"id": str(cur.lastrowid), "items": items}
    return Change(changelog, comment_ids)


def history_item(
    name: str,
    old: Any,
    old_text: str | None,
    new: Any,
    new_text: str | None,
    *,
    custom: bool = False,
    field_id: str | None = None,
) -> dict[str, Any]:
    """One item; ``fieldId`` is the field's id (a system field's is its name), as Jira's webhooks carry
    it (tests/fixtures/jira/mattermost-plugin-jira__webhook-cloud-issue-updated-custom-field.json)."""
    return {
        "field": name,
        "fieldtype": "custom" if custom else "jira",
        "fieldId": field_id or name,
        "from": None if old is None else str(old),
        "fromString": old_text,
        "to": None if new is None else str(new),
        "toString": new_text,
    }


def _display_name(name: str | None) -> str | None:
    user = catalogue().user(name) if name is not None else None
    return user.display_name if user is not None else name


def _history_items(conn: sqlite3.Connection, row: sqlite3.Row, draft: Draft) -> list[dict[str, Any]]:
    """Jira's changelog items for what ``draft`` changes in ``row`` (nothing for unchanged values)."""
    cat, cols = catalogue(), draft.columns
    items: list[dict[str, Any]] = []

    def changed(column: str) -> bool:
        return column in cols and cols[column] != row[column]

    named: tuple[tuple[str, str, Callable[[object], Any]], ...] = (
        ("resolution", "resolution_id", cat.resolution),
        ("priority", "priority_id", cat.priority),
        ("status", "status_id", cat.status),
    )
    for name, column, find in named:
        if changed(column):
            old, new = find(row[column]), find(cols[column])
            old_text, new_text = (old.name if old else None), (new.name if new else None)
            items.append(history_item(name, row[column], old_text, cols[column], new_text))
    for column in ("assignee", "reporter"):
        if changed(column):
            old_name, new_name = row[column], cols[column]
            items.append(
                history_item(column, old_name, _display_name(old_name), new_name, _display_name(new_name))
            )
    if changed("summary"):
        items.append(history_item("summary", None, row["summary"], None, cols["summary"]))
    if draft.labels is not None:
        old_labels = issue_labels(conn, row["id"])
        if sorted(draft.labels) != old_labels:
            items.append(history_item("labels", None, " ".join(old_labels), None, " ".join(draft.labels)))
    doc = json.loads(row["doc"])
    project = cat.project(row["project_id"])
    for key, value in draft.doc.items():
        old = doc.get(key)
        if value == old:
            continue
        fdef = cat.fields.get(key)
        custom = bool(fdef and fdef.custom)
        name = fdef.name if fdef is not None and custom else ("Component" if key == "components" else key)
        if key in ("description", "summary"):
            items.append(history_item(name, None, old, None, value, field_id=key))
        else:
            old_text, new_text = _doc_text(fdef, old, project), _doc_text(fdef, value, project)
            old_raw = ",".join(old) if isinstance(old, list) else old
            new_raw = ",".join(value) if isinstance(value, list) else value
            items.append(
                history_item(name, old_raw, old_text, new_raw, new_text, custom=custom, field_id=key)
            )
    return items


def _doc_text(fdef: FieldDef | None, value: Any, project: Project | None) -> str | None:
    """How a changelog item shows a stored value: option and component names rather than ids."""
    if value is None:
        return None
    if isinstance(value, list):
        names = {c.id: c.name for c in project.components} if project else {}
        return ", ".join(names.get(str(v), str(v)) for v in value)
    if fdef is not None and fdef.options:
        return next((o.name for o in fdef.options if o.id == value), str(value))
    return str(value)
