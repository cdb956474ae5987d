"""``GET /api/messages/<id>``, ``GET /api/canned``, ``GET /healthz`` and ``GET /metrics``."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from jobs.automations.sla_gauges import read_gauges
from jobs.heartbeat import scheduler_seen
from jobs.queues import queue_lengths
from jobs.reports.gauges import read_report
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
    from mappers.canned_files import config_library  # lazy: the Jinja sandbox (web RSS budget)

    state = hub()
    library = config_library(state.config, state.settings.HUB_CONFIG)
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
    """Prometheus text format: journal rows by status, RQ queue lengths, SLA clocks by state.

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
    for name, length in queue_lengths(state.redis).items():
        lines.append(f'trackerhub_queue_length{{queue="{name}"}} {length}')
    lines += _sla_lines(state.redis)
    lines += _report_lines(state.redis)
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")


def _sla_lines(redis: Redis | None) -> list[str]:
    """The open issues' SLA clocks per tracker, metric, priority and state, as the last scan of the
    ``sla`` rule counted them, and when that scan ran (none before the first scan)."""
    if redis is None:
        return []
    try:
        gauges, scanned = read_gauges(redis)
    except RedisError:
        return []
    lines = [
        "# HELP trackerhub_sla_clocks Open issues' SLA clocks by state (last scan of the sla rule).",
        "# TYPE trackerhub_sla_clocks gauge",
    ]
    for g in gauges:
        where = f'tracker="{_label(g.tracker)}",metric="{g.metric}",priority="{_label(g.priority)}"'
        labels = f'{where},state="{g.state}"'
        lines.append(f"trackerhub_sla_clocks{{{labels}}} {g.clocks}")
    lines += [
        "# HELP trackerhub_sla_scan_timestamp_seconds When the last SLA scan of each tracker ran.",
        "# TYPE trackerhub_sla_scan_timestamp_seconds gauge",
    ]
    lines += [
        f'trackerhub_sla_scan_timestamp_seconds{{tracker="{_label(t)}"}} {at}' for t, at in scanned.items()
    ]
    return lines


def _report_lines(redis: Redis | None) -> list[str]:
    """The last weekly report's figures (jobs/reports/gauges.py), ``trackerhub_report_*``."""
    if redis is None:
        return []
    try:
        series = read_report(redis)
    except RedisError:
        return []
    lines = []
    for name, meaning, samples in series:
        lines += [f"# HELP trackerhub_report_{name} {meaning}", f"# TYPE trackerhub_report_{name} gauge"]
        for labels, value in samples:
            where = ",".join(f'{key}="{_label(label)}"' for key, label in labels.items())
            number = str(int(value)) if value.is_integer() else repr(value)
            lines.append(
                f"trackerhub_report_{name}{{{where}}} {number}"
                if where
                else f"trackerhub_report_{name} {number}"
            )
    return lines


def _label(value: str) -> str:
    """A Prometheus label value: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
