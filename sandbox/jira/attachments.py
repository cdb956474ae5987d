"""Attachments: multipart ``file`` upload (``X-Atlassian-Token: no-check``), metadata, delete, and the
content under ``/secure/attachment/...`` (images inline, anything else as a download)."""

from __future__ import annotations

import mimetypes
import sqlite3
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request

from sandbox.app import ApiRoute
from sandbox.jira.context import API_PREFIXES, current_user, db, issue_or_404, jira_state
from sandbox.jira.errors import JiraError
from sandbox.jira.render import INLINE_TYPES, attachment_json
from sandbox.jira.store import stamp_now, touch_issue
from sandbox.store import transaction

bp = Blueprint("jira_attachments", __name__)
api_route = ApiRoute(bp, API_PREFIXES)  # the library uses both versions


@api_route("/issue/<ref>/attachments", methods=("POST",))
def add_attachments(ref: str) -> Response:
    if request.headers.get("X-Atlassian-Token", "").lower() not in ("no-check", "nocheck"):
        return Response("XSRF check failed", status=403, mimetype="text/plain")
    row = issue_or_404(ref)
    files = request.files.getlist("file")
    if not files:
        raise JiraError(400, ["No attachment was found in the 'file' part of the request."])
    limit = jira_state().attachment_limit
    uploads = []
    for upload in files:
        data = upload.read()
        name = _clean_filename(upload.filename or "attachment")
        if len(data) > limit:
            raise JiraError(413, [f"The file '{name}' is too big: the limit is {limit} bytes."])
        uploads.append((name, _mime_type(name, upload.mimetype), data))
    conn = db()
    ids = []
    with transaction(conn):
        for name, mime, data in uploads:
            cur = conn.execute(
                "INSERT INTO attachment (issue_id, filename, mime_type, size, author, created, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row["id"], name, mime, len(data), current_user(), stamp_now(), data),
            )
            ids.append(int(cur.lastrowid or 0))
        touch_issue(conn, row["id"])
    return jsonify([attachment_json(_attachment_meta(conn, i)) for i in ids])


def _clean_filename(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "".join(ch for ch in name if ch.isprintable()) or "attachment"


def _mime_type(filename: str, declared: str | None) -> str:
    if declared and declared != "application/octet-stream":
        return declared
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def _attachment_meta(conn: sqlite3.Connection, attachment_id: int | str) -> sqlite3.Row:
    row = conn.execute(
        "SELECT id, issue_id, filename, mime_type, size, author, created FROM attachment WHERE id = ?",
        (attachment_id,),
    ).fetchone()
    if row is None:
        raise JiraError(404, [f"The attachment with id '{attachment_id}' does not exist"])
    return row


@api_route("/attachment/meta")
def attachment_settings() -> Response:
    return jsonify(enabled=True, uploadLimit=jira_state().attachment_limit)


@api_route("/attachment/<int:attachment_id>")
def get_attachment(attachment_id: int) -> Response:
    return jsonify(attachment_json(_attachment_meta(db(), attachment_id)))


@api_route("/attachment/<int:attachment_id>", methods=("DELETE",))
def delete_attachment(attachment_id: int) -> tuple[str, int]:
    row = _attachment_meta(db(), attachment_id)
    conn = db()
    with transaction(conn):
        conn.execute("DELETE FROM attachment WHERE id = ?", (row["id"],))
    return "", 204


@bp.route("/secure/attachment/<int:attachment_id>/<path:filename>")
@bp.route("/secure/attachment/<int:attachment_id>")
def attachment_content(attachment_id: int, filename: str | None = None) -> Response:
    row = (
        db()
        .execute("SELECT filename, mime_type, data FROM attachment WHERE id = ?", (attachment_id,))
        .fetchone()
    )
    if row is None:
        return Response("Attachment not found", status=404, mimetype="text/plain")
    inline = row["mime_type"] in INLINE_TYPES
    disposition = "inline" if inline else "attachment"
    resp = Response(bytes(row["data"]), mimetype=row["mime_type"] if inline else "application/octet-stream")
    resp.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(row['filename'])}"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp
