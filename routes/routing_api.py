"""The routing API for tracker automations (Jira Automation's "Send web request", Kaiten's automations)
and scripts: ``POST /api/routes/<route>/<issue>``, ``GET /api/routes/<id>``, ``GET /api/routes/audit``.

A request goes through the routing service (``jobs.routing.api``), which journals it before the 202
and enqueues its job; its refusals are answered by routes/errors.py (404 unknown route or issue, 422 the
fields missing or invalid, 409 busy, 503 tracker down). ``Authorization: Bearer $HUB_API_TOKEN``,
compared in constant time, is required to route and to read the audit; without ``HUB_API_TOKEN`` the
API is closed (403).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from mappers.errors import InvalidFields
from routes.answers import bearer_token, read_body, require_secret
from routes.errors import error_response
from routes.state import hub, job_context
from store import routing as store

bp = Blueprint("routing_api", __name__)

MAX_BODY = 64 * 1024
MAX_FIELDS = 100
MAX_VALUE_CHARS = 10_000
MAX_AUDIT = 1000


def require_api_token() -> None:
    """``Authorization: Bearer $HUB_API_TOKEN``: 401 without, 403 wrong or when the API is closed."""
    require_secret(bearer_token(), hub().settings.secret("HUB_API_TOKEN"), "API token")


@bp.post("/api/routes/<route>/<issue>")
def route_issue(route: str, issue: str) -> ResponseReturnValue:
    """Route ``issue`` by ``route``: 202 ``{"id", "status", "status_url"}`` once the request is journaled."""
    require_api_token()
    body = _json_body()
    fields = _fields(body.get("fields", {}))
    actor = body.get("actor", "api")
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 255:
        raise InvalidFields({"actor": "a name of at most 255 characters"})
    from jobs.routing import api  # lazy: the tracker clients load on the first route (web RSS budget)

    routed = api.submit(job_context(), route, issue, fields, actor=actor.strip(), via="api")
    answer = {"id": routed.id, "status": routed.status, "status_url": f"/api/routes/{routed.id}"}
    return jsonify(answer), 202, {"Location": answer["status_url"], "Cache-Control": "no-store"}


@bp.get("/api/routes/audit")
def audit() -> ResponseReturnValue:
    """The routing audit, newest first: ``?issue=`` (source or target key), ``?route=``, ``?since=``
    (ISO 8601), ``?limit=`` (at most 1000)."""
    require_api_token()
    args = request.args
    try:
        since = dt.datetime.fromisoformat(args["since"]) if args.get("since") else None
        limit = int(args.get("limit", 200))
    except ValueError:
        raise InvalidFields({"since": "an ISO 8601 date or time", "limit": "a number"}) from None
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    entries = store.read_audit(
        hub().engine,
        issue=args.get("issue") or None,
        route=args.get("route") or None,
        since=since,
        limit=max(1, min(limit, MAX_AUDIT)),
    )
    return jsonify({"entries": [entry.as_json() for entry in entries]}), 200, {"Cache-Control": "no-store"}


@bp.get("/api/routes/<request_id>")
def route_status(request_id: str) -> ResponseReturnValue:
    """Where a routing request is: queued / running / done / failed, the target's key and URL, or the
    reason (the id is random and unguessable, like a message id)."""
    found = store.get_request(hub().engine, request_id) if len(request_id) <= 64 else None
    if found is None:
        return error_response(404, "no such routing request")
    return jsonify(found.as_json()), 200, {"Cache-Control": "no-store"}


def _json_body() -> dict[str, Any]:
    raw = read_body(MAX_BODY)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise InvalidFields({"body": 'JSON: {"fields": {"Field name": "value"}}'}) from None
    if not isinstance(body, dict):
        raise InvalidFields({"body": 'a JSON object: {"fields": {...}}'})
    return body


def _fields(value: Any) -> dict[str, Any]:
    """The supplied fields: names to texts, numbers or lists of texts."""
    if not isinstance(value, dict) or len(value) > MAX_FIELDS:
        raise InvalidFields({"fields": f"an object of at most {MAX_FIELDS} field names to values"})
    bad = [
        str(name)[:100]
        for name, item in value.items()
        if not _plain(item) and not (isinstance(item, list) and all(_plain(part) for part in item))
    ]
    if bad:
        raise InvalidFields({name: "a text, a number or a list of texts" for name in bad})
    return value


def _plain(item: Any) -> bool:
    return (isinstance(item, str) and len(item) <= MAX_VALUE_CHARS) or (
        isinstance(item, int | float) and not isinstance(item, bool)
    )
