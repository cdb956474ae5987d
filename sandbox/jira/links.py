"""Issue links (typed, idempotent) and remote links (upserted by ``globalId``)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from flask import Blueprint, Response, jsonify, request

from sandbox.app import ApiRoute
from sandbox.jira.catalogue import LinkType
from sandbox.jira.comments import checked_comment_body, comment_extra
from sandbox.jira.context import (
    API_PREFIXES,
    api_url,
    catalogue,
    current_user,
    db,
    issue_or_404,
    request_json,
)
from sandbox.jira.errors import JiraError, field_errors
from sandbox.jira.render import link_type_json, linked_issue_json, remote_link_json
from sandbox.jira.store import find_issue, insert_comment, touch_issue
from sandbox.store import transaction

bp = Blueprint("jira_links", __name__)
api_route = ApiRoute(bp, API_PREFIXES)  # the library uses both versions


@api_route("/issueLink", methods=("POST",))
def create_link() -> tuple[str, int]:
    body = request_json()
    if not isinstance(body, dict):
        raise JiraError(400, ["The request body must be a JSON object."])
    link_type = _link_type_from(body.get("type"))
    inward = _linked_issue_from(body.get("inwardIssue"), "inwardIssue")
    outward = _linked_issue_from(body.get("outwardIssue"), "outwardIssue")
    comment = body.get("comment")
    conn = db()
    with transaction(conn):
        conn.execute(
            "INSERT OR IGNORE INTO issue_link (type_id, inward_id, outward_id) VALUES (?, ?, ?)",
            (link_type.id, inward["id"], outward["id"]),
        )
        if isinstance(comment, dict) and comment.get("body"):
            insert_comment(
                conn, outward["id"], current_user(), checked_comment_body(comment), comment_extra(comment)
            )
        touch_issue(conn, inward["id"])
        touch_issue(conn, outward["id"])
    return "", 201


def _link_type_from(ref: Any) -> LinkType:
    if not isinstance(ref, dict) or not (ref.get("id") or ref.get("name")):
        raise JiraError(400, ["Issue link type must be specified by 'id' or 'name'."])
    key = "id" if ref.get("id") else "name"
    link_type = catalogue().link_type(ref[key])
    if link_type is None:
        raise JiraError(404, [f"No issue link type with {key} '{ref[key]}' found."])
    return link_type


def _linked_issue_from(ref: Any, role: str) -> sqlite3.Row:
    ident = (ref.get("key") or ref.get("id")) if isinstance(ref, dict) else None
    if not ident:
        raise JiraError(400, [f"'{role}' must be given by 'key' or 'id'."])
    row = find_issue(db(), str(ident))
    if row is None:
        raise JiraError(404, [f"Issue Does Not Exist: {ident}"])
    return row


@api_route("/issueLink/<link_id>")
def get_link(link_id: str) -> Response:
    conn = db()
    link = conn.execute("SELECT * FROM issue_link WHERE id = ?", (link_id,)).fetchone()
    link_type = catalogue().link_type(link["type_id"]) if link else None
    inward = find_issue(conn, str(link["inward_id"])) if link else None
    outward = find_issue(conn, str(link["outward_id"])) if link else None
    if link is None or link_type is None or inward is None or outward is None:
        raise JiraError(404, [f"No issue link with id '{link_id}' exists."])
    return jsonify(
        {
            "id": str(link["id"]),
            "self": f"{api_url()}/issueLink/{link['id']}",
            "type": link_type_json(link_type),
            "inwardIssue": linked_issue_json(inward),
            "outwardIssue": linked_issue_json(outward),
        }
    )


@api_route("/issueLink/<link_id>", methods=("DELETE",))
def delete_link(link_id: str) -> tuple[str, int]:
    conn = db()
    with transaction(conn):
        deleted = conn.execute("DELETE FROM issue_link WHERE id = ?", (link_id,)).rowcount
    if not deleted:
        raise JiraError(404, [f"No issue link with id '{link_id}' exists."])
    return "", 204


@api_route("/issue/<ref>/remotelink")
def list_remote_links(ref: str) -> Response:
    row = issue_or_404(ref)
    global_id = request.args.get("globalId")
    sql, params = "SELECT * FROM remote_link WHERE issue_id = ?", [row["id"]]
    if global_id:
        sql, params = sql + " AND global_id = ?", [*params, global_id]
    rows = db().execute(sql + " ORDER BY id", params).fetchall()
    if global_id:
        if not rows:
            raise JiraError(404, [f"No remote link with global id '{global_id}' exists on this issue."])
        return jsonify(remote_link_json(rows[0], row["key"]))
    return jsonify([remote_link_json(r, row["key"]) for r in rows])


@api_route("/issue/<ref>/remotelink", methods=("POST",))
def upsert_remote_link(ref: str) -> tuple[Response, int]:
    row = issue_or_404(ref)
    body = request_json()
    obj = body.get("object") if isinstance(body, dict) else None
    errors = {}
    if not isinstance(obj, dict) or not obj.get("url"):
        errors["url"] = "'url' is a required field"
    if not isinstance(obj, dict) or not obj.get("title"):
        errors["title"] = "'title' is a required field"
    if errors:
        raise field_errors(errors)
    assert isinstance(body, dict)
    global_id = body.get("globalId") or None
    doc = json.dumps({k: body[k] for k in ("application", "relationship", "object") if k in body})
    conn = db()
    with transaction(conn):
        existing = None
        if global_id is not None:
            existing = conn.execute(
                "SELECT id FROM remote_link WHERE issue_id = ? AND global_id = ?", (row["id"], str(global_id))
            ).fetchone()
        if existing is not None:
            conn.execute("UPDATE remote_link SET doc = ? WHERE id = ?", (doc, existing["id"]))
            link_id, status = existing["id"], 200
        else:
            cur = conn.execute(
                "INSERT INTO remote_link (issue_id, global_id, doc) VALUES (?, ?, ?)",
                (row["id"], None if global_id is None else str(global_id), doc),
            )
            link_id, status = int(cur.lastrowid or 0), 201
        touch_issue(conn, row["id"])
    return jsonify({"id": link_id, "self": f"{api_url()}/issue/{row['key']}/remotelink/{link_id}"}), status


@api_route("/issue/<ref>/remotelink/<int:link_id>")
def get_remote_link(ref: str, link_id: int) -> Response:
    row = issue_or_404(ref)
    link = (
        db()
        .execute("SELECT * FROM remote_link WHERE id = ? AND issue_id = ?", (link_id, row["id"]))
        .fetchone()
    )
    if link is None:
        raise JiraError(404, [f"No remote link with id '{link_id}' exists on this issue."])
    return jsonify(remote_link_json(link, row["key"]))


@api_route("/issue/<ref>/remotelink/<int:link_id>", methods=("DELETE",))
def delete_remote_link(ref: str, link_id: int) -> tuple[str, int]:
    row = issue_or_404(ref)
    conn = db()
    with transaction(conn):
        deleted = conn.execute(
            "DELETE FROM remote_link WHERE id = ? AND issue_id = ?", (link_id, row["id"])
        ).rowcount
    if not deleted:
        raise JiraError(404, [f"No remote link with id '{link_id}' exists on this issue."])
    return "", 204


# the library's add_remote_link() first lists application links; an empty list is an unlinked Jira


@bp.route("/rest/applinks/latest/listApplicationlinks")
def application_links() -> Response:
    return jsonify(list=[])
