"""Sub-tasks: an issue of a sub-task type (``"subtask": true``) names its parent on create, in
``fields.parent`` (``{"key"}`` or ``{"id"}``); the parent lists its sub-tasks in ``fields.subtasks`` and
the sub-task shows its parent in ``fields.parent``, each as ``{id, key, self, fields: {summary, status,
priority, issuetype}}``.

Jira REST v2 (developer.atlassian.com, "JIRA REST API Example - Create Issue", "Example of creating a
sub-task"; Cloud's ``POST /rest/api/2/issue``: "issueType must be set to a subtask issue type ...
parent must contain the ID or key of the parent issue"). A sub-task type without a parent is refused
with ``errors.issuetype`` "Issue type is a sub-task but parent issue key or id not specified." (the
answer quoted in gioboa/jira-plugin#35); a parent on a standard type, an unknown parent, a parent that
is itself a sub-task or sits in another project are refused too, as a company-managed project does.
The parent's id is kept in the issue's ``doc`` (``parent``), so older sandbox files need no new column;
render.py shows ``subtasks`` and ``parent``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sandbox.jira.catalogue import IssueType, Project
from sandbox.jira.context import catalogue
from sandbox.jira.errors import field_errors
from sandbox.jira.store import Draft, find_issue

NO_PARENT = "Issue type is a sub-task but parent issue key or id not specified."


def set_parent(
    draft: Draft, fields: dict[str, Any], project: Project, issue_type: IssueType, conn: sqlite3.Connection
) -> None:
    """Keep the parent a create names, checked, in the new issue's ``doc``."""
    found = _parent_id(fields, project, issue_type, conn)
    if found is not None:
        draft.doc["parent"] = found


def _parent_id(
    fields: dict[str, Any], project: Project, issue_type: IssueType, conn: sqlite3.Connection
) -> int | None:
    """The id of the parent a create names, checked; None for a standard issue without one."""
    ref = fields.get("parent")
    if ref in (None, {}):
        if issue_type.subtask:
            raise field_errors({"issuetype": NO_PARENT})
        return None
    if not issue_type.subtask:
        raise field_errors(
            {"parent": f"Issue type '{issue_type.name}' is not a sub-task type: it takes no parent."}
        )
    text = ref.get("key", ref.get("id")) if isinstance(ref, dict) else None
    parent = find_issue(conn, str(text)) if isinstance(text, str | int) and str(text).strip() else None
    if parent is None:
        raise field_errors({"parent": "Could not find issue by id or key."})
    parent_type = catalogue().issue_type(parent["issuetype_id"])
    if parent_type is not None and parent_type.subtask:
        raise field_errors({"parent": "A sub-task cannot be the parent of another sub-task."})
    if parent["project_id"] != project.id:
        raise field_errors({"project": "A sub-task must be in its parent's project."})
    return int(parent["id"])
