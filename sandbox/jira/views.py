"""HTML: ``GET /`` lists issues newest first, ``GET /browse/{key}`` shows one; Jinja's autoescape
escapes the customer's text, and a strict Content-Security-Policy allows no script."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, render_template, request

from sandbox.app import html_response
from sandbox.jira.catalogue import CUSTOM_FIELDS
from sandbox.jira.context import catalogue, db, int_param
from sandbox.jira.render import FIELD_RENDERERS, issue_json, remote_link_json
from sandbox.jira.store import find_issue, issue_labels

bp = Blueprint("jira_views", __name__)

PAGE_SIZE = 100
HTML_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'none'; base-uri 'none'"
)


def _html(template: str, status: int = 200, **context: Any) -> Response:
    return html_response(render_template(template, **context), status, HTML_CSP)


@dataclass(frozen=True)
class IssueSummary:
    key: str
    summary: str
    status: str
    category: str
    issue_type: str
    created: str
    labels: tuple[str, ...]


@bp.route("/")
def html_index() -> Response:
    conn = db()
    project = catalogue().project(request.args.get("project", "")) if request.args.get("project") else None
    start = int_param("startAt", 0)
    where, params = ("WHERE project_id = ?", [project.id]) if project else ("", [])
    total = conn.execute(f"SELECT COUNT(*) FROM issue {where}", params).fetchone()[0]  # noqa: S608
    rows = conn.execute(
        f"SELECT * FROM issue {where} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",  # noqa: S608
        [*params, PAGE_SIZE, start],
    ).fetchall()
    issues = [_summary(conn, r) for r in rows]
    return _html(
        "index.html",
        issues=issues,
        projects=catalogue().projects,
        project=project,
        total=total,
        start=start,
        page_size=PAGE_SIZE,
    )


def _summary(conn: sqlite3.Connection, row: sqlite3.Row) -> IssueSummary:
    status = catalogue().status(row["status_id"])
    issue_type = catalogue().issue_type(row["issuetype_id"])
    return IssueSummary(
        key=row["key"],
        summary=row["summary"],
        status=status.name if status else row["status_id"],
        category=status.category if status else "new",
        issue_type=issue_type.name if issue_type else "",
        created=_display_time(row["created"]),
        labels=tuple(issue_labels(conn, row["id"])),
    )


def _display_time(stamp: str | None) -> str:
    return "" if not stamp else stamp[:16].replace("T", " ") + " UTC"


@bp.route("/browse/<key>")
def html_issue(key: str) -> Response:
    conn = db()
    row = find_issue(conn, key)
    if row is None:
        return _html("missing.html", status=404, key=key)
    issue = issue_json(row, conn, list(FIELD_RENDERERS))
    remote = [remote_link_json(r, row["key"]) for r in conn.execute(
        "SELECT * FROM remote_link WHERE issue_id = ? ORDER BY id", (row["id"],))]  # fmt: skip
    return _html(
        "issue.html",
        issue=issue,
        f=issue["fields"],
        custom=[(fd.name, _custom_text(issue["fields"].get(fd.id))) for fd in CUSTOM_FIELDS],
        remote_links=[_remote_view(r) for r in remote],
        display_time=_display_time,
    )


def _custom_text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("value", ""))
    return "" if value is None else str(value)


def _remote_view(link: dict[str, Any]) -> dict[str, str | None]:
    obj = link.get("object") or {}
    url = str(obj.get("url") or "")
    safe = url if urlsplit(url).scheme in ("http", "https") else None
    return {"title": str(obj.get("title") or url), "url": safe, "text": url}
