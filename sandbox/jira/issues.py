"""Issues: create (single and bulk), get, edit, delete, transitions, assignee."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import Blueprint, Response, jsonify, request

from sandbox.app import ApiRoute
from sandbox.jira.catalogue import DEFAULT_RESOLUTION, Named, Status, Transition
from sandbox.jira.changelog import save_changes
from sandbox.jira.context import (
    API_PREFIXES,
    api_url,
    catalogue,
    current_user,
    db,
    issue_or_404,
    jira_state,
    request_json,
)
from sandbox.jira.errors import FieldInvalid, JiraError, field_errors
from sandbox.jira.fields import (
    FieldContext,
    apply_fields,
    apply_update_ops,
    cannot_set,
    set_assignee,
    validate_create,
)
from sandbox.jira.render import available_transitions, issue_json, transition_json, wanted_fields
from sandbox.jira.store import Draft, insert_issue, stamp_now
from sandbox.jira.subtasks import set_parent
from sandbox.jira.webhooks import emit, emit_changes, emit_issue_created, snapshot_payload
from sandbox.store import transaction

log = logging.getLogger(__name__)

bp = Blueprint("jira_issues", __name__)
api_route = ApiRoute(bp, API_PREFIXES)  # the library uses both versions

BULK_LIMIT = 50


@api_route("/issue", methods=("POST",))
def create_issue() -> tuple[Response, int]:
    state = jira_state()
    body = request_json()
    project, issue_type, draft = validate_create(
        body, state.cat, current_user(), state.text_limit, cloud=state.cloud
    )
    set_parent(draft, body["fields"], project, issue_type, db())
    row = insert_issue(db(), project, issue_type, draft, current_user())
    emit_issue_created(row)
    return jsonify({"id": str(row["id"]), "key": row["key"], "self": f"{api_url()}/issue/{row['id']}"}), 201


@api_route("/issue/bulk", methods=("POST",))
def create_issues_bulk() -> tuple[Response, int]:
    body = request_json()
    updates = body.get("issueUpdates") if isinstance(body, dict) else None
    if not isinstance(updates, list) or not updates:
        raise JiraError(400, ["Request must contain a non-empty 'issueUpdates' list."])
    if len(updates) > BULK_LIMIT:
        raise JiraError(400, [f"Bulk create accepts up to {BULK_LIMIT} issues per request."])
    created, errors = [], []
    for index, update in enumerate(updates):
        try:
            project, issue_type, draft = validate_create(
                update, catalogue(), current_user(), jira_state().text_limit, cloud=jira_state().cloud
            )
            set_parent(draft, update["fields"], project, issue_type, db())
        except JiraError as exc:
            element = {"errorMessages": exc.messages, "errors": exc.errors}
            errors.append({"status": exc.status, "failedElementNumber": index, "elementErrors": element})
            continue
        row = insert_issue(db(), project, issue_type, draft, current_user())
        emit_issue_created(row)
        created.append({"id": str(row["id"]), "key": row["key"], "self": f"{api_url()}/issue/{row['id']}"})
    return jsonify(issues=created, errors=errors), (201 if created else 400)


@api_route("/issue/<ref>")
def get_issue(ref: str) -> Response:
    row = issue_or_404(ref)
    fields = wanted_fields(request.args.getlist("fields") or None)
    return jsonify(issue_json(row, db(), fields, request.args.get("expand") or ""))


@api_route("/issue/<ref>", methods=("PUT",))
def edit_issue(ref: str) -> tuple[str, int]:
    row = issue_or_404(ref)
    body = request_json()
    if not isinstance(body, dict):
        raise JiraError(400, ["The request body must be a JSON object."])
    fields, update = body.get("fields") or {}, body.get("update") or {}
    if not isinstance(fields, dict) or not isinstance(update, dict):
        raise JiraError(400, ["'fields' and 'update' must be JSON objects."])
    ctx = field_context(row)
    draft = Draft()
    conn = db()
    errors = apply_fields(fields, draft, ctx)
    errors.update(apply_update_ops(update, row, draft, ctx, conn))
    if errors:
        raise field_errors(errors)
    emit_changes(row, save_changes(conn, row, draft), "issue_updated")
    return "", 204


@api_route("/issue/<ref>", methods=("DELETE",))
def delete_issue(ref: str) -> tuple[str, int]:
    row = issue_or_404(ref)
    conn = db()
    last_state = snapshot_payload("jira:issue_deleted", "issue_deleted", row)
    with transaction(conn):
        for table, column in (("label", "issue_id"), ("comment", "issue_id"), ("attachment", "issue_id"),
                              ("remote_link", "issue_id"), ("issue_link", "inward_id"),
                              ("issue_link", "outward_id"), ("moved_key", "issue_id"),
                              ("issue", "id")):  # fmt: skip
            conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (row["id"],))  # noqa: S608
    emit("jira:issue_deleted", last_state)
    return "", 204


@api_route("/issue/<ref>/transitions")
def list_transitions(ref: str) -> Response:
    row = issue_or_404(ref)
    with_fields = "transitions.fields" in (request.args.get("expand") or "")
    wanted = request.args.get("transitionId")
    found = [t for t in available_transitions(row) if wanted in (None, "", t.id)]
    return jsonify(expand="transitions", transitions=[transition_json(t, with_fields) for t in found])


@api_route("/issue/<ref>/transitions", methods=("POST",))
def do_transition(ref: str) -> tuple[str, int]:
    row = issue_or_404(ref)
    body = request_json()
    ident = body.get("transition") if isinstance(body, dict) else None
    if not isinstance(ident, dict) or ident.get("id") in (None, ""):
        raise JiraError(400, ["Missing 'transition' identifier"])
    transition = _pick_transition(row, ident)
    status = catalogue().status(transition.to)
    assert status is not None
    draft = _transition_draft(row, body, transition, status)
    emit_changes(row, save_changes(db(), row, draft), "issue_generic")
    log.info("sandbox jira: %s moved to %s", row["key"], status.name)
    return "", 204


def field_context(row: sqlite3.Row) -> FieldContext:
    """What an edit of the issue ``row`` checks values against."""
    project = catalogue().project(row["project_id"])
    assert project is not None
    state = jira_state()
    return FieldContext(state.cat, project, state.text_limit, state.cloud)


def _pick_transition(row: sqlite3.Row, ident: dict[str, Any]) -> Transition:
    """By id only: Jira ignores a transition's name here (the library looks names up first)."""
    found = next((t for t in available_transitions(row) if t.id == str(ident["id"])), None)
    if found is None:
        raise JiraError(400, [f"Transition id '{ident['id']}' is not valid for this issue."])
    return found


def _transition_draft(
    row: sqlite3.Row, body: dict[str, Any], transition: Transition, status: Status
) -> Draft:
    """Status, resolution (Done only; "Done" unless given) and comments added by the transition."""
    fields = body.get("fields") or {}
    update = body.get("update") or {}
    if not isinstance(fields, dict) or not isinstance(update, dict):
        raise JiraError(400, ["'fields' and 'update' must be JSON objects."])
    done = status.category == "done"
    draft = Draft(columns={"status_id": status.id, "resolution_id": None, "resolutiondate": None})
    if done:
        draft.columns.update(resolution_id=DEFAULT_RESOLUTION, resolutiondate=stamp_now())
    errors = {fid: cannot_set(fid) for fid in [*fields, *update] if fid not in ("resolution", "comment")}
    if "resolution" in fields:
        resolution = _transition_resolution(fields["resolution"]) if done else None
        if resolution is None:
            errors["resolution"] = "The resolution selected is invalid." if done else cannot_set("resolution")
        else:
            draft.columns["resolution_id"] = resolution.id
    if "comment" in fields:
        errors["comment"] = cannot_set("comment")
    ctx = field_context(row)
    comment_ops = {k: v for k, v in update.items() if k == "comment"}
    errors.update(apply_update_ops(comment_ops, row, draft, ctx, db()))
    if errors:
        raise field_errors(errors)
    return draft


def _transition_resolution(value: Any) -> Named | None:
    ref = value.get("id", value.get("name")) if isinstance(value, dict) else None
    return catalogue().resolution(ref)


@api_route("/issue/<ref>/assignee", methods=("PUT",))
def assign(ref: str) -> tuple[str, int]:
    row = issue_or_404(ref)
    body = request_json()
    if not isinstance(body, dict):
        raise JiraError(400, ["The request body must be a JSON object."])
    draft = Draft()
    try:
        set_assignee(body, draft, field_context(row))
    except FieldInvalid as exc:
        raise field_errors({"assignee": str(exc)})
    emit_changes(row, save_changes(db(), row, draft), "issue_assigned")
    return "", 204
