"""Files: multipart upload (``PUT``), links to files elsewhere (``POST`` JSON ``{url, name, type}``),
list, delete, and the download under ``/files/{uid}``."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, jsonify, request

from sandbox.app import ApiRoute
from sandbox.kaiten.catalogue import HUB_USER, as_int
from sandbox.kaiten.context import (
    API_PREFIXES,
    KaitenError,
    acting_user,
    bad_request,
    card_row,
    db,
    json_object,
    kaiten_state,
    not_found,
    touch_card,
)
from sandbox.kaiten.fields import checked_text
from sandbox.kaiten.render import card_files, file_json, link_json
from sandbox.kaiten.store import stamp_now
from sandbox.store import transaction

bp = Blueprint("kaiten_files", __name__)
api_route = ApiRoute(bp, API_PREFIXES)

LINK_TYPES = range(1, 7)  # 1 attachment, 2 Google Drive, 3 Dropbox, 4 Box, 5 OneDrive, 6 Yandex Disk


@api_route("/cards/<int:card_id>/files")
def list_files(card_id: int) -> Response:
    conn = db()
    card_row(card_id, conn)
    return jsonify(card_files(conn, card_id))


@api_route("/cards/<int:card_id>/files", methods=("POST",))
def add_file_link(card_id: int) -> Response:
    body = json_object()
    url = checked_text(body.get("url"), "url", 4096, nullable=False)
    name = checked_text(body.get("name"), "name", 1024, nullable=False)
    kind = as_int(body.get("type", 1))
    if not url or not name:
        raise bad_request("url and name are required")
    if kind not in LINK_TYPES:
        raise bad_request("type must be one of 1-6")
    conn = db()
    with transaction(conn):
        card_row(card_id, conn)
        link_id = conn.execute(
            "INSERT INTO file_link (uid, card_id, name, url, type, author_id, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), card_id, name, url, kind, acting_user(), stamp_now()),
        ).lastrowid
        touch_card(conn, card_id)
    return jsonify(link_json(conn.execute("SELECT * FROM file_link WHERE id = ?", (link_id,)).fetchone()))


@api_route("/cards/<int:card_id>/files", methods=("PUT",))
def attach_file(card_id: int) -> Response:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise bad_request("Upload file error: multipart field 'file' is required")
    data = upload.read(kaiten_state().file_limit + 1)
    if len(data) > kaiten_state().file_limit:
        raise KaitenError(413, "File is too large")
    conn = db()
    with transaction(conn):
        card_row(card_id, conn)
        file_id = conn.execute(
            "INSERT INTO file (uid, card_id, name, size, mime_type, author_id, data, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), card_id, upload.filename, len(data),
             upload.mimetype or "application/octet-stream", HUB_USER, data, stamp_now()),
        ).lastrowid  # fmt: skip
        touch_card(conn, card_id)
    return jsonify(file_json(conn.execute("SELECT * FROM file WHERE id = ?", (file_id,)).fetchone()))


@api_route("/cards/<int:card_id>/files/<int:file_id>", methods=("DELETE",))
def detach_file(card_id: int, file_id: int) -> Response:
    conn = db()
    with transaction(conn):
        card_row(card_id, conn)
        if conn.execute("DELETE FROM file WHERE id = ? AND card_id = ?", (file_id, card_id)).rowcount == 0:
            raise not_found("File not found")
        touch_card(conn, card_id)
    return jsonify({"id": file_id})


@bp.route("/files/<uid>")
def download_file(uid: str) -> Response:
    row = db().execute("SELECT name, data FROM file WHERE uid = ?", (uid,)).fetchone()
    if row is None:
        return Response("File not found", status=404, mimetype="text/plain")
    resp = Response(bytes(row["data"]), mimetype="application/octet-stream")
    resp.headers["Content-Disposition"] = "attachment"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp
