"""``GET /api/messages/<id>``, ``GET /api/canned``, ``GET /healthz`` and ``GET /metrics``."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from jobs.heartbeat import scheduler_seen
from jobs.queues import ALL_QUEUES
from routes.answers import bearer_token, require_secret
from routes.errors import error_response
from routes.state import hub
from store import journal, outbound

bp = Blueprint("status", __name__)


@bp.get("/api/messages/<message_id>")
def message_status(message_id: str) -> ResponseReturnValue:
    """Where a message is: queued / delivered / ignored / failed, with the issue key and URL."""
    if len(message_id) > 64:
        return error_response(404, "no such message")
    entry = journal.get(hub().engine, message_id)
    if entry is None:
        return error_response(404, "no such message")
    body = {
        "id": entry.id,
        "status": entry.status,
        "channel": entry.channel,
        "issue_key": entry.issue_key,
        "issue_url": entry.issue_url,
        "outcome": entry.outcome,
        "reason": entry.reason,
        "attempts": entry.attempts,
        "created_at": entry.created_at.isoformat(),
        "updated_at": entry.updated_at.isoformat(),
        "replies": [
            {"kind": o.kind, "channel": o.channel, "status": o.status, "reason": o.reason}
            for o in outbound.for_message(hub().engine, entry.id)
        ],
    }
    response = jsonify(body)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/canned")
def canned_list() -> ResponseReturnValue:
    """The canned-response library: key, title, languages and tags of each entry, and the files that
    cannot be used, by file name (parsed once, again when a file changes)."""
    from mappers.canned_files import (  # lazy: the Jinja sandbox (web RSS budget)
        cached_library,
        library_folder,
    )

    library = cached_library(library_folder(hub().settings.HUB_CONFIG))
    entries = [
        {"key": e.key, "title": e.title, "languages": e.languages, "tags": e.tags}
        for e in library.list_entries()
    ]
    return jsonify({"canned": entries, "errors": library.errors})


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the journal and Redis answer; 503 naming what does not.

    ``scheduler`` says whether a scheduler ticked within the last minute (``ok``, ``missing``, or
    ``unknown`` without Redis), with ``scheduler_last_seen``. A missing scheduler makes the status
    ``degraded`` but keeps the 200: this process still journals and delivers new messages, and a load
    balancer taking it out of service would only make things worse; retries wait for the scheduler.
    """
    state = hub()
    checks = {"database": "ok", "redis": "ok"}
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        checks["database"] = type(exc).__name__
    seen = None
    try:
        if state.redis is None:
            checks["redis"] = "not configured"
        else:
            state.redis.ping()
            seen = scheduler_seen(state.redis)
    except RedisError as exc:
        checks["redis"] = type(exc).__name__
    healthy = all(value == "ok" for value in checks.values())
    scheduler = {
        "scheduler": "unknown" if seen is None else "ok" if seen.ok else "missing",
        "scheduler_last_seen": _iso(seen.last_seen) if seen is not None else None,
    }
    status = "ok" if healthy and seen is not None and seen.ok else "degraded"
    return jsonify({"status": status, **checks, **scheduler}), 200 if healthy else 503


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus text format: journal rows by status and RQ queue lengths.

    Public unless ``HUB_METRICS_TOKEN`` is set; then only with ``Authorization: Bearer <token>``
    (Prometheus: ``authorization: {credentials: ...}`` in the scrape config).
    """
    state = hub()
    expected = state.settings.secret("HUB_METRICS_TOKEN")
    if expected:
        require_secret(bearer_token(), expected, "metrics token")
    lines = [
        "# HELP trackerhub_messages Journal rows by status.",
        "# TYPE trackerhub_messages gauge",
    ]
    for status, count in sorted(journal.count_by_status(state.engine).items()):
        lines.append(f'trackerhub_messages{{status="{status}"}} {count}')
    lines += [
        "# HELP trackerhub_queue_length Jobs waiting per RQ queue.",
        "# TYPE trackerhub_queue_length gauge",
    ]
    for name in ALL_QUEUES:
        try:
            length = Queue(name, connection=state.redis).count if state.redis is not None else -1
        except RedisError:
            length = -1
        lines.append(f'trackerhub_queue_length{{queue="{name}"}} {length}')
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
