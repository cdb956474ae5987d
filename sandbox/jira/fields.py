"""Field values: the checks Jira makes on create, bulk create, edit (``fields`` and ``update``
operations) and transitions, with Jira's per-field messages, and the ``Draft`` they produce."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandbox.jira.catalogue import (
    CUSTOM_FIELDS,
    DEFAULT_PRIORITY,
    Catalogue,
    Component,
    FieldDef,
    IssueType,
    Named,
    Project,
)
from sandbox.jira.errors import FieldInvalid, JiraError, field_errors
from sandbox.jira.store import Draft, issue_labels


@dataclass(frozen=True)
class FieldContext:
    cat: Catalogue
    project: Project
    text_limit: int
    cloud: bool = False  # users are named by accountId, as on Jira Cloud


def _text_too_long(limit: int) -> str:
    return f"The entered text is too long. It exceeds the allowed limit of {limit:,} characters."


def _set_summary(value: Any, draft: Draft, ctx: FieldContext) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise FieldInvalid("You must specify a summary of the issue.")
    if not isinstance(value, str):
        raise FieldInvalid("Operation value must be a string")
    if "\n" in value or "\r" in value:
        raise FieldInvalid("The summary is invalid because it contains newline characters.")
    if len(value) > 255:
        raise FieldInvalid("Summary must be less than 255 characters.")
    draft.columns["summary"] = value


def _set_description(value: Any, draft: Draft, ctx: FieldContext) -> None:
    if value is not None and not isinstance(value, str):
        raise FieldInvalid("Operation value must be a string")
    if value is not None and len(value) > ctx.text_limit:
        raise FieldInvalid(_text_too_long(ctx.text_limit))
    draft.doc["description"] = value or None


def _check_label(label: Any) -> str:
    if not isinstance(label, str) or not label:
        raise FieldInvalid("Labels must be non-empty strings.")
    if any(ch.isspace() for ch in label):
        raise FieldInvalid(f"The label '{label}' contains spaces which is invalid.")
    if len(label) > 255:
        raise FieldInvalid(
            f"The label '{label}' exceeds the maximum length for a single label of 255 characters."
        )
    return label


def _set_labels_field(value: Any, draft: Draft, ctx: FieldContext) -> None:
    if value is None:
        value = []
    if not isinstance(value, list):
        raise FieldInvalid("Operation value must be an array of strings")
    draft.labels = sorted({_check_label(x) for x in value})


def _set_priority(value: Any, draft: Draft, ctx: FieldContext) -> None:
    ref = value.get("id", value.get("name")) if isinstance(value, dict) else None
    priority = ctx.cat.priority(ref)
    if priority is None:
        raise FieldInvalid("The priority selected is invalid.")
    draft.columns["priority_id"] = priority.id


def _user_ref(value: Any, ctx: FieldContext) -> str | None:
    """The user a reference names (Data Center: ``name`` or ``key``; Cloud: ``accountId`` only, since
    user names are gone there); None for none. Unknown users raise."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FieldInvalid(f"expected Object containing a '{'accountId' if ctx.cloud else 'name'}' property")
    if ctx.cloud:
        if "accountId" not in value:
            raise FieldInvalid("Specify the user by accountId: user names are not supported.")
        account = value["accountId"]
        if account in (None, "", "-1"):
            return None
        user = ctx.cat.user_by_account_id(account)
        if user is None:
            raise FieldInvalid(f"User with accountId '{account}' does not exist.")
        return user.name
    ref = value.get("name", value.get("key"))
    if ref in (None, "", "-1"):
        return None
    if ctx.cat.user(ref) is None:
        raise FieldInvalid(f"User '{ref}' does not exist.")
    return str(ref)


def set_assignee(value: Any, draft: Draft, ctx: FieldContext) -> None:
    draft.columns["assignee"] = _user_ref(value, ctx)


def _set_reporter(value: Any, draft: Draft, ctx: FieldContext) -> None:
    try:
        name = _user_ref(value, ctx)
    except FieldInvalid as exc:
        raise FieldInvalid(f"The reporter specified is not a user. {exc}") from None
    if name is None:
        raise FieldInvalid("Reporter is required.")
    draft.columns["reporter"] = name


def _component(ref: Any, project: Project) -> Component:
    if not isinstance(ref, dict):
        raise FieldInvalid("expected Object containing a 'name' or 'id' property")
    if "id" in ref:
        found = next((c for c in project.components if c.id == str(ref["id"])), None)
        if found is None:
            raise FieldInvalid(f"Component with id '{ref['id']}' does not exist.")
        return found
    found = next((c for c in project.components if c.name == ref.get("name")), None)
    if found is None:
        raise FieldInvalid(f"Component name '{ref.get('name')}' is not valid")
    return found


def _set_components(value: Any, draft: Draft, ctx: FieldContext) -> None:
    if value is None:
        value = []
    if not isinstance(value, list):
        raise FieldInvalid("Operation value must be an array")
    ids = {_component(ref, ctx.project).id for ref in value}
    draft.doc["components"] = sorted(ids)


def _check_date(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise FieldInvalid(f"Error parsing date string: {value}")


def _set_duedate(value: Any, draft: Draft, ctx: FieldContext) -> None:
    draft.doc["duedate"] = _check_date(value)


def _custom_setter(fdef: FieldDef) -> Callable[[Any, Draft, FieldContext], None]:
    kind = fdef.schema["type"]

    def setter(value: Any, draft: Draft, ctx: FieldContext) -> None:
        if value is None:
            draft.doc[fdef.id] = None
        elif kind == "option":
            draft.doc[fdef.id] = _option(fdef, value).id
        elif kind == "date":
            draft.doc[fdef.id] = _check_date(value)
        elif not isinstance(value, str):
            raise FieldInvalid("Operation value must be a string")
        elif len(value) > 255:
            raise FieldInvalid(_text_too_long(255))
        else:
            draft.doc[fdef.id] = value

    return setter


def _option(fdef: FieldDef, value: Any) -> Named:
    if not isinstance(value, dict):
        raise FieldInvalid("Could not find valid 'id' or 'value' in the Parent Option object.")
    if "id" in value:
        found = next((o for o in fdef.options if o.id == str(value["id"])), None)
        if found is None:
            raise FieldInvalid(f"Option id '{value['id']}' is not valid")
        return found
    found = next((o for o in fdef.options if o.name == value.get("value")), None)
    if found is None:
        raise FieldInvalid(f"Option value '{value.get('value')}' is not valid")
    return found


SETTERS: dict[str, Callable[[Any, Draft, FieldContext], None]] = {
    "summary": _set_summary,
    "description": _set_description,
    "labels": _set_labels_field,
    "priority": _set_priority,
    "assignee": set_assignee,
    "reporter": _set_reporter,
    "components": _set_components,
    "duedate": _set_duedate,
    **{f.id: _custom_setter(f) for f in CUSTOM_FIELDS},
}


def cannot_set(fid: str) -> str:
    return f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."


def apply_fields(fields: dict[str, Any], draft: Draft, ctx: FieldContext, skip: Iterable[str] = ()) -> dict:
    """Run each field's setter; collect Jira's per-field messages."""
    errors: dict[str, str] = {}
    for fid, value in fields.items():
        if fid in skip:
            continue
        setter = SETTERS.get(fid)
        if setter is None:
            errors[fid] = cannot_set(fid)
            continue
        try:
            setter(value, draft, ctx)
        except FieldInvalid as exc:
            errors[fid] = str(exc)
    return errors


def _resolve_project_and_type(fields: dict[str, Any], cat: Catalogue) -> tuple[Project, IssueType]:
    project_ref = fields.get("project")
    if not project_ref:
        raise field_errors({"project": "project is required"})
    ref = project_ref.get("id", project_ref.get("key")) if isinstance(project_ref, dict) else project_ref
    project = cat.project(ref) if ref is not None else None
    if project is None:
        raise field_errors({"project": "valid project is required"})
    type_ref = fields.get("issuetype")
    if not type_ref:
        raise field_errors({"issuetype": "issue type is required"})
    ref = type_ref.get("id", type_ref.get("name")) if isinstance(type_ref, dict) else type_ref
    issue_type = cat.issue_type(ref)
    if issue_type is None:
        raise field_errors({"issuetype": "valid issue type is required"})
    if issue_type.id not in project.issue_type_ids:
        raise field_errors({"issuetype": "The issue type selected is invalid."})
    return project, issue_type


def validate_create(
    body: Any, cat: Catalogue, user: str, text_limit: int, *, cloud: bool = False
) -> tuple[Project, IssueType, Draft]:
    """Check a create request the way Jira does; raise ``JiraError`` 400 with per-field messages."""
    if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
        raise JiraError(400, ["Issue must have 'fields' set."])
    fields: dict[str, Any] = body["fields"]
    project, issue_type = _resolve_project_and_type(fields, cat)
    draft = Draft(columns={"priority_id": DEFAULT_PRIORITY, "reporter": user, "assignee": None})
    ctx = FieldContext(cat, project, text_limit, cloud)
    errors = apply_fields(fields, draft, ctx, skip=("project", "issuetype", "parent"))  # parent: subtasks.py
    if "summary" not in fields:
        errors.setdefault("summary", "You must specify a summary of the issue.")
    for fdef in cat.screen(project, issue_type):
        if fdef.custom and cat.required(fdef, project, issue_type) and draft.doc.get(fdef.id) is None:
            errors.setdefault(fdef.id, f"{fdef.name} is required.")
    if errors:
        raise field_errors(errors)
    return project, issue_type, draft


def apply_update_ops(
    update: dict[str, Any], row: sqlite3.Row, draft: Draft, ctx: FieldContext, conn: sqlite3.Connection
) -> dict[str, str]:
    errors: dict[str, str] = {}
    for fid, ops in update.items():
        try:
            _apply_ops(fid, ops, row, draft, ctx, conn)
        except FieldInvalid as exc:
            errors[fid] = str(exc)
    return errors


def _apply_ops(
    fid: str, ops: Any, row: sqlite3.Row, draft: Draft, ctx: FieldContext, conn: sqlite3.Connection
) -> None:
    if fid not in SETTERS and fid != "comment":
        raise FieldInvalid(cannot_set(fid))
    if not isinstance(ops, list) or not all(isinstance(op, dict) and len(op) == 1 for op in ops):
        raise FieldInvalid('Field operations must be a list of single-key objects such as {"add": value}.')
    for op in ops:
        ((verb, value),) = op.items()
        _apply_op(fid, verb, value, row, draft, ctx, conn)


def _apply_op(
    fid: str,
    verb: str,
    value: Any,
    row: sqlite3.Row,
    draft: Draft,
    ctx: FieldContext,
    conn: sqlite3.Connection,
) -> None:
    if fid == "comment":
        if verb != "add":
            raise FieldInvalid(f"Operation '{verb}' is not supported for field 'comment'.")
        draft.comments.append(
            comment_body(value.get("body") if isinstance(value, dict) else None, ctx.text_limit)
        )
    elif verb == "set":
        SETTERS[fid](value, draft, ctx)
    elif fid == "labels" and verb in ("add", "remove"):
        current = set(draft.labels if draft.labels is not None else issue_labels(conn, row["id"]))
        label = _check_label(value)
        draft.labels = sorted(current | {label} if verb == "add" else current - {label})
    elif fid == "components" and verb in ("add", "remove"):
        current = set(draft.doc.get("components", json.loads(row["doc"]).get("components", [])))
        comp = _component(value, ctx.project).id
        draft.doc["components"] = sorted(current | {comp} if verb == "add" else current - {comp})
    else:
        raise FieldInvalid(f"Operation '{verb}' is not supported for field '{fid}'.")


def comment_body(body: Any, limit: int) -> str:
    if not isinstance(body, str) or not body.strip():
        raise FieldInvalid("Comment body can not be empty!")
    if len(body) > limit:
        raise FieldInvalid(_text_too_long(limit))
    return body
