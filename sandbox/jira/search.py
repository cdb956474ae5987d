"""Search by JQL: Data Center's ``/search`` (``startAt`` paging, ``total``), and as Jira Cloud answers it:
``/search`` is gone (410), ``/search/jql`` pages by ``nextPageToken`` with no ``total``, returns only ids
unless asked for fields, and refuses an unbounded query (one without a condition).

Cloud's shapes: the Cloud OpenAPI spec (``searchAndReconsileIssuesUsingJql[Post]``,
``SearchAndReconcileResults {issues, nextPageToken, isLast}``); the 410 and 400 texts as integrations
quote them (pycontribs/jira#2379, raycast/extensions#21425).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sqlite3
from typing import Any

from flask import Blueprint, Response, jsonify, request

from sandbox.app import ApiRoute
from sandbox.jira.context import (
    API_PREFIXES,
    CLOUD_API_PREFIXES,
    catalogue,
    cloud_only,
    current_user,
    db,
    is_cloud,
    issue_or_404,
    request_json,
)
from sandbox.jira.errors import JiraError
from sandbox.jira.jql import JqlError, JqlQuery, parse_jql
from sandbox.jira.jql_sql import JqlContext, compile_jql
from sandbox.jira.render import issue_json, wanted_fields

bp = Blueprint("jira_search", __name__)
api_route = ApiRoute(bp, API_PREFIXES)
cloud_route = ApiRoute(bp, CLOUD_API_PREFIXES)

SEARCH_MAX_RESULTS = 1000  # jira.search.views.default.max
CLOUD_MAX_RESULTS = 5000  # /search/jql: "It returns max 5000 issues"
GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."


@api_route("/search", methods=("GET", "POST"))
def search() -> Response:
    if is_cloud():
        raise JiraError(410, [GONE])
    params = _params(default_fields="*navigable")
    try:
        start = max(0, int(params.get("startAt", 0)))
        limit = min(SEARCH_MAX_RESULTS, max(0, int(params.get("maxResults", 50))))
    except (TypeError, ValueError):
        raise JiraError(400, ["'startAt' and 'maxResults' must be numbers."])
    validate = str(params.get("validateQuery", "true")).lower() not in ("false", "warn", "none")
    query, ctx = _parse(str(params.get("jql") or ""), validate)
    ids, total = _matching(query, ctx, start, limit)
    out: dict[str, Any] = {
        "expand": "names,schema",
        "startAt": start,
        "maxResults": limit,
        "total": total,
        "issues": _issues(ids, params["fields"], str(params.get("expand") or "")),
    }
    if ctx.warnings:
        out["warningMessages"] = ctx.warnings
    return jsonify(out)


@cloud_route("/search/jql", methods=("GET", "POST"))
def search_jql() -> Response:
    cloud_only()
    params = _params(default_fields="id")
    jql = str(params.get("jql") or "")
    try:
        limit = min(CLOUD_MAX_RESULTS, max(1, int(params.get("maxResults", 50))))
    except (TypeError, ValueError):
        raise JiraError(400, ["'maxResults' must be a number."])
    start = _token_offset(params.get("nextPageToken"), jql)
    query, ctx = _parse(jql, validate=True)
    if query.where is None:
        raise JiraError(400, [UNBOUNDED])
    ids, total = _matching(query, ctx, start, limit)
    fields = params["fields"]
    issues = (
        [{"id": str(i)} for i in ids]
        if fields == ["id"]
        else _issues(ids, fields, str(params.get("expand") or ""))
    )
    out: dict[str, Any] = {"issues": issues, "isLast": start + len(ids) >= total}
    if not out["isLast"]:
        out["nextPageToken"] = _token(start + len(ids), jql)
    return jsonify(out)


def _params(default_fields: str) -> dict[str, Any]:
    """The query string of a GET, the JSON body of a POST; ``fields`` as a list either way."""
    if request.method == "POST":
        body = request_json()
        if not isinstance(body, dict):
            raise JiraError(400, ["The request body must be a JSON object."])
        params = {k: v for k, v in body.items() if v is not None}
        if isinstance(params.get("expand"), list):  # Data Center's body names expands as a list
            params["expand"] = ",".join(str(e) for e in params["expand"])
        raw = params.get("fields")
        fields = raw if isinstance(raw, list) else ([raw] if raw else None)
    else:
        params = request.args.to_dict()
        fields = request.args.getlist("fields") or None
    names = [part.strip() for spec in fields or [default_fields] for part in str(spec).split(",")]
    params["fields"] = [n for n in names if n] or [default_fields]
    return params


def _parse(jql: str, validate: bool) -> tuple[JqlQuery, JqlContext]:
    ctx = JqlContext(catalogue(), db(), current_user(), validate=validate, cloud=is_cloud())
    try:
        return parse_jql(jql), ctx
    except JqlError as exc:
        raise JiraError(400, [str(exc)])


def _matching(query: JqlQuery, ctx: JqlContext, start: int, limit: int) -> tuple[list[int], int]:
    """A page of the ids ``query`` finds, and how many it finds in all."""
    try:
        where, params, order = compile_jql(query, ctx)
    except JqlError as exc:
        raise JiraError(400, [str(exc)])
    conn: sqlite3.Connection = ctx.conn
    total = conn.execute(f"SELECT COUNT(*) FROM issue i WHERE {where}", params).fetchone()[0]  # noqa: S608
    rows = conn.execute(
        f"SELECT i.id FROM issue i WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",  # noqa: S608
        [*params, limit, start],
    ).fetchall()
    return [int(r[0]) for r in rows], int(total)


def _issues(ids: list[int], fields: list[str], expand: str) -> list[dict[str, Any]]:
    wanted = wanted_fields(fields, default="*navigable")
    return [issue_json(issue_or_404(str(i)), db(), wanted, expand) for i in ids]


def _token(offset: int, jql: str) -> str:
    """An opaque page token: where the next page starts, for this query only."""
    raw = json.dumps({"at": offset, "q": _fingerprint(jql)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _token_offset(token: Any, jql: str) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4)))
        if data["q"] == _fingerprint(jql) and isinstance(data["at"], int) and data["at"] >= 0:
            return int(data["at"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        pass
    raise JiraError(400, ["The provided next page token is invalid or expired."])


def _fingerprint(jql: str) -> str:
    return hashlib.sha256(jql.encode()).hexdigest()[:16]
