"""Jira Cloud's bulk move (Cloud mode only; Data Center has none, JRASERVER-71343): ``POST
/rest/api/3/bulk/issues/move`` makes a task, ``GET /rest/api/3/bulk/queue/{taskId}`` reports it.

Shapes from the Cloud OpenAPI spec (``submitBulkMove``: ``IssueBulkMovePayload`` → 201 ``{"taskId"}``,
400 ``BulkOperationErrorResponse {"errors": [{"message"}]}``; ``getBulkOperationProgress``:
``BulkOperationProgress``). Where the spec is silent, the look-alike chose:

- the payload is checked when it is submitted (mapping keys, projects, issue types, issues, field ids):
  a 400 in the bulk operations' error shape;
- the task answers RUNNING the first time it is asked about, then does the move and answers COMPLETE
  with ``processedAccessibleIssues`` (ids) and ``failedAccessibleIssues`` (id → reasons); an issue
  whose target requires a field it has no value for (neither its own, with ``inferFieldDefaults``, nor
  one given in ``targetMandatoryFields``) fails there with "<Field> is required.";
- a moved issue keeps its id, comments, files and links and gets the target project's next key; its old
  key keeps finding it (``GET /issue/OLD-1`` answers it under its new key), as Jira keeps moved keys.
  The projects share one workflow, so the status stays. A ``jira:issue_updated`` webhook
  (``issue_moved``) carries the Key and project changes.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, jsonify

from sandbox.jira.catalogue import FieldDef, IssueType, Project
from sandbox.jira.changelog import Change, history_item
from sandbox.jira.context import catalogue, cloud_only, current_user, db, request_json
from sandbox.jira.errors import JiraError
from sandbox.jira.store import find_issue, millis_now, next_number, stamp_now
from sandbox.jira.webhooks import emit_changes
from sandbox.store import transaction

bp = Blueprint("jira_move", __name__)

BULK = "/rest/api/3/bulk"
RUNNING_POLLS = 1  # how many polls see the task running before it completes
INVALID_ISSUES = "Some of the issues in the issueIdsOrKeys are not valid"


class BulkError(JiraError):
    """A refusal in the bulk operations' shape: ``{"errors": [{"message": ...}]}``."""

    def body(self) -> dict[str, Any]:
        return {"errors": [{"message": m} for m in self.messages]}


@dataclass
class MoveTarget:
    """One target of a move: the project and issue type, the issues, the mandatory values given."""

    project: str  # project id
    issue_type: str  # issue type id
    issues: list[int]
    fields: dict[str, list[str]] = field(default_factory=dict)
    infer_fields: bool = True


@bp.route(BULK + "/issues/move", methods=["POST"])
def submit_move() -> tuple[Response, int]:
    cloud_only()
    mappings = [_mapping(key, spec) for key, spec in _targets(request_json()).items()]
    payload = json.dumps([m.__dict__ for m in mappings])
    conn, now = db(), millis_now()
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO bulk_task (status, submitted_by, created, updated, payload) VALUES (?, ?, ?, ?, ?)",
            ("ENQUEUED", current_user(), now, now, payload),
        )
    return jsonify(taskId=str(cur.lastrowid)), 201


@bp.route(BULK + "/queue/<task_id>")
def task_progress(task_id: str) -> Response:
    cloud_only()
    conn = db()
    task = (
        conn.execute("SELECT * FROM bulk_task WHERE id = ?", (task_id,)).fetchone()
        if task_id.isdigit()
        else None
    )
    if task is None:
        raise JiraError(404, [f"Task with id {task_id} does not exist."])
    changes: list[tuple[int, Change]] = []
    with transaction(conn):
        polls = int(task["polls"]) + 1
        status, result = task["status"], json.loads(task["result"])
        if status != "COMPLETE" and polls > RUNNING_POLLS:
            mappings = [MoveTarget(**m) for m in json.loads(task["payload"])]
            result, changes = _run(conn, mappings)
            status = "COMPLETE"
        elif status == "ENQUEUED":
            status = "RUNNING"
        conn.execute(
            "UPDATE bulk_task SET polls = ?, status = ?, result = ?, updated = ? WHERE id = ?",
            (polls, status, json.dumps(result), millis_now(), task["id"]),
        )
    for issue_id, change in changes:
        row = find_issue(conn, str(issue_id))
        if row is not None:
            emit_changes(row, change, "issue_moved")
    return jsonify(_progress(task, status, result))


def _progress(task: sqlite3.Row, status: str, result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "taskId": str(task["id"]),
        "status": status,
        "progressPercent": 100 if status == "COMPLETE" else 50 if status == "RUNNING" else 0,
        "submittedBy": {"accountId": catalogue().ensure_user(task["submitted_by"]).account_id},
        "created": task["created"],
        "started": task["created"],
        "updated": millis_now(),
    }
    if status == "COMPLETE":
        out.update(result)
    return out


# -- the payload ------------------------------------------------------------------------------------------


def _targets(body: Any) -> dict[str, Any]:
    targets = body.get("targetToSourcesMapping") if isinstance(body, dict) else None
    if not isinstance(targets, dict) or not targets:
        raise BulkError(400, ["'targetToSourcesMapping' must map at least one target to its issues."])
    return targets


def _mapping(key: str, spec: Any) -> MoveTarget:
    """One ``"<project>,<issueTypeId>[,<parent>]"`` target, checked."""
    project, issue_type = _target(key)
    if not isinstance(spec, dict):
        raise BulkError(400, [f"The mapping for '{key}' must be an object."])
    refs = spec.get("issueIdsOrKeys")
    rows = [find_issue(db(), str(r)) for r in refs] if isinstance(refs, list) and refs else [None]
    if any(r is None for r in rows):
        raise BulkError(400, [INVALID_ISSUES])
    infer = spec.get("inferFieldDefaults", True) is not False
    given = {} if infer else _mandatory_values(spec.get("targetMandatoryFields"))
    return MoveTarget(project.id, issue_type.id, [int(r["id"]) for r in rows if r], given, infer)


def _target(key: str) -> tuple[Project, IssueType]:
    parts = [p.strip() for p in key.split(",")]
    project = catalogue().project(parts[0]) if len(parts) in (2, 3) else None
    if project is None:
        raise BulkError(400, [f"The target '{key}' must name an existing project and issue type."])
    issue_type = catalogue().issue_type(parts[1])
    if issue_type is None or issue_type.id != parts[1] or issue_type.id not in project.issue_type_ids:
        raise BulkError(400, [f"The issue type '{parts[1]}' is not valid in project {project.key}."])
    return project, issue_type


def _mandatory_values(raw: Any) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for entry in raw if isinstance(raw, list) else []:
        fields = entry.get("fields") if isinstance(entry, dict) else None
        for fid, spec in (fields or {}).items():
            value = spec.get("value") if isinstance(spec, dict) else None
            if catalogue().fields.get(fid) is None or not isinstance(value, list):
                raise BulkError(400, [f"The field '{fid}' or its value (a list of strings) is not valid."])
            values[fid] = [str(v) for v in value]
    return values


# -- the move ---------------------------------------------------------------------------------------------


def _run(
    conn: sqlite3.Connection, mappings: list[MoveTarget]
) -> tuple[dict[str, Any], list[tuple[int, Change]]]:
    """Move every issue that can be; the task's result and each moved issue's change."""
    moved: list[int] = []
    failed: dict[str, list[str]] = {}
    changes: list[tuple[int, Change]] = []
    for mapping in mappings:
        project = catalogue().project(mapping.project)
        issue_type = catalogue().issue_type(mapping.issue_type)
        assert project is not None and issue_type is not None
        for issue_id in mapping.issues:
            row = find_issue(conn, str(issue_id))
            if row is None:
                failed[str(issue_id)] = ["The issue does not exist."]
                continue
            values, missing = _field_values(row, project, issue_type, mapping)
            if missing:
                failed[str(issue_id)] = [f"{f.name} is required." for f in missing]
                continue
            changes.append((issue_id, _move(conn, row, project, issue_type, values)))
            moved.append(issue_id)
    total = sum(len(m.issues) for m in mappings)
    result = {
        "processedAccessibleIssues": moved,
        "failedAccessibleIssues": failed,
        "invalidOrInaccessibleIssueCount": 0,
        "totalIssueCount": total,
    }
    return result, changes


def _field_values(
    row: sqlite3.Row, project: Project, issue_type: IssueType, mapping: MoveTarget
) -> tuple[dict[str, Any], list[FieldDef]]:
    """The target's required custom fields' values (given, else the issue's own), and those missing."""
    doc = json.loads(row["doc"])
    values: dict[str, Any] = {}
    missing: list[FieldDef] = []
    for fdef in catalogue().screen(project, issue_type):
        if not fdef.custom:
            continue
        given = mapping.fields.get(fdef.id)
        value = _stored(fdef, given) if given else doc.get(fdef.id)
        if given:
            values[fdef.id] = value
        if value is None and catalogue().required(fdef, project, issue_type):
            missing.append(fdef)
    return values, missing


def _stored(fdef: FieldDef, given: list[str]) -> Any:
    """A raw move value as the look-alike stores it: an option by id (given by id or value), else text."""
    first = given[0]
    if fdef.options:
        found = next((o for o in fdef.options if first in (o.id, o.name)), None)
        return found.id if found else None
    return ", ".join(given)


def _move(
    conn: sqlite3.Connection,
    row: sqlite3.Row,
    project: Project,
    issue_type: IssueType,
    values: dict[str, Any],
) -> Change:
    old_project = catalogue().project(row["project_id"])
    num = next_number(conn, project.id)
    key = f"{project.key}-{num}"
    doc = {**json.loads(row["doc"]), **values}
    conn.execute(
        "UPDATE issue SET project_id = ?, issuetype_id = ?, num = ?, key = ?, doc = ?, updated = ?"
        " WHERE id = ?",
        (project.id, issue_type.id, num, key, json.dumps(doc), stamp_now(), row["id"]),
    )
    conn.execute(
        "INSERT OR REPLACE INTO moved_key (old_key, issue_id) VALUES (?, ?)", (row["key"], row["id"])
    )
    items = [
        history_item("Key", None, row["key"], None, key),
        history_item(
            "project", row["project_id"], old_project.name if old_project else None, project.id, project.name
        ),
    ]
    if row["issuetype_id"] != issue_type.id:
        old_type = catalogue().issue_type(row["issuetype_id"])
        items.append(
            history_item(
                "issuetype",
                row["issuetype_id"],
                old_type.name if old_type else None,
                issue_type.id,
                issue_type.name,
            )
        )
    cur = conn.execute(
        "INSERT INTO changelog (issue_id, author, created, items) VALUES (?, ?, ?, ?)",
        (row["id"], current_user(), stamp_now(), json.dumps(items)),
    )
    return Change({"id": str(cur.lastrowid), "items": items}, [])
