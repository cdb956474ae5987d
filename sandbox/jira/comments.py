"""Comments: list (paged, oldest first unless ``orderBy=-created``), add, get, edit, delete; each change
is sent as Data Center's webhooks."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from flask import Blueprint, Response, jsonify, request

from sandbox.app import ApiRoute
from sandbox.jira.context import (
    API_PREFIXES,
    current_user,
    db,
    int_param,
    issue_or_404,
    jira_state,
    request_json,
)
from sandbox.jira.errors import FieldInvalid, JiraError, field_errors
from sandbox.jira.fields import comment_body
from sandbox.jira.render import comment_json
from sandbox.jira.store import insert_comment, stamp_now, touch_issue
from sandbox.jira.webhooks import emit_comment
from sandbox.store import transaction

bp = Blueprint("jira_comments", __name__)
api_route = ApiRoute(bp, API_PREFIXES)  # the library uses both versions


@api_route("/issue/<ref>/comment")
def list_comments(ref: str) -> Response:
    row = issue_or_404(ref)
    order = "DESC" if request.args.get("orderBy", "").startswith("-") else "ASC"
    sql = f"SELECT * FROM comment WHERE issue_id = ? ORDER BY id {order}"  # noqa: S608
    rows = db().execute(sql, (row["id"],)).fetchall()
    start = int_param("startAt", 0)
    limit = int_param("maxResults", 5000, 0, 5000)
    expand = request.args.get("expand") or ""
    page = [comment_json(c, expand=expand) for c in rows[start : start + limit]]
    return jsonify(startAt=start, maxResults=limit, total=len(rows), comments=page)


@api_route("/issue/<ref>/comment", methods=("POST",))
def add_comment(ref: str) -> tuple[Response, int]:
    row = issue_or_404(ref)
    body = request_json()
    extra = comment_extra(body)
    text = checked_comment_body(body)
    conn = db()
    with transaction(conn):
        comment_id = insert_comment(conn, row["id"], current_user(), text, extra)
    comment = conn.execute("SELECT * FROM comment WHERE id = ?", (comment_id,)).fetchone()
    emit_comment("comment_created", "issue_commented", row["id"], comment)
    return jsonify(comment_json(comment)), 201


def checked_comment_body(body: Any) -> str:
    try:
        return comment_body(body.get("body") if isinstance(body, dict) else None, jira_state().text_limit)
    except FieldInvalid as exc:
        raise field_errors({"comment": str(exc)})


def comment_extra(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    extra: dict[str, Any] = {}
    visibility = body.get("visibility")
    if visibility is not None:
        if (
            not isinstance(visibility, dict)
            or visibility.get("type") not in ("role", "group")
            or not visibility.get("value")
        ):
            raise field_errors(
                {"commentLevel": "You are currently not a member of the project role or group."}
            )
        extra["visibility"] = {"type": visibility["type"], "value": visibility["value"]}
    if isinstance(body.get("properties"), list):
        extra["properties"] = body["properties"]
    return extra


def _comment_or_404(ref: str, comment_id: str) -> tuple[sqlite3.Row, sqlite3.Row]:
    row = issue_or_404(ref)
    comment = None
    if comment_id.isdigit():
        comment = (
            db()
            .execute("SELECT * FROM comment WHERE id = ? AND issue_id = ?", (int(comment_id), row["id"]))
            .fetchone()
        )
    if comment is None:
        raise JiraError(404, [f"Can not find a comment for the id: {comment_id}."])
    return row, comment


@api_route("/issue/<ref>/comment/<comment_id>")
def get_comment(ref: str, comment_id: str) -> Response:
    _, comment = _comment_or_404(ref, comment_id)
    return jsonify(comment_json(comment, expand=request.args.get("expand") or ""))


@api_route("/issue/<ref>/comment/<comment_id>", methods=("PUT",))
def update_comment(ref: str, comment_id: str) -> Response:
    row, comment = _comment_or_404(ref, comment_id)
    body = request_json()
    text = checked_comment_body(body)
    extra = {**json.loads(comment["extra"]), **comment_extra(body)}
    conn = db()
    with transaction(conn):
        conn.execute(
            "UPDATE comment SET body = ?, update_author = ?, updated = ?, extra = ? WHERE id = ?",
            (text, current_user(), stamp_now(), json.dumps(extra), comment["id"]),
        )
        touch_issue(conn, row["id"])
    updated = conn.execute("SELECT * FROM comment WHERE id = ?", (comment["id"],)).fetchone()
    emit_comment("comment_updated", "issue_comment_edited", row["id"], updated)
    return jsonify(comment_json(updated))


@api_route("/issue/<ref>/comment/<comment_id>", methods=("DELETE",))
def delete_comment(ref: str, comment_id: str) -> tuple[str, int]:
    row, comment = _comment_or_404(ref, comment_id)
    conn = db()
    with transaction(conn):
        conn.execute("DELETE FROM comment WHERE id = ?", (comment["id"],))
    emit_comment("comment_deleted", "issue_comment_deleted", row["id"], comment)
    return "", 204
