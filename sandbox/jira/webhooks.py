"""Webhooks as Data Center sends them: registration (``/rest/webhooks/1.0/webhook``, the admin REST
API), payloads (``jira:issue_created``; ``comment_created``/``_updated``/``_deleted``, each followed by
``jira:issue_updated`` with the comment, Data Center's double report; ``jira:issue_updated`` with a
``changelog``; ``jira:issue_deleted``), signed with ``X-Hub-Signature`` when the webhook has a secret.

Shapes: https://developer.atlassian.com/server/jira/platform/webhooks/ (registration under
/rest/webhooks/1.0/webhook, payload envelope) and the real payloads in tests/fixtures/jira/.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import Blueprint, Response, jsonify

from sandbox.jira.catalogue import SERVER_VERSION
from sandbox.jira.changelog import Change
from sandbox.jira.context import catalogue, current_user, db, jira_state, request_json, site_url
from sandbox.jira.errors import JiraError, field_errors
from sandbox.jira.render import comment_json, issue_json, user_json, wanted_fields
from sandbox.jira.store import find_issue, millis_now
from sandbox.store import transaction
from sandbox.webhooks import http_url, hub_signature

log = logging.getLogger(__name__)

bp = Blueprint("jira_webhooks", __name__)

WEBHOOK_API = "/rest/webhooks/1.0/webhook"

WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_BACKOFF_S = (0.5, 1.0)  # pauses before the 2nd and 3rd try
Payload = dict[str, Any]


def webhook_json(row: sqlite3.Row) -> dict[str, Any]:
    """A registered webhook as Jira lists it (the secret is never shown)."""
    user = catalogue().user(row["updated_by"])
    return {
        "self": f"{site_url()}{WEBHOOK_API}/{row['id']}",
        "name": row["name"],
        "url": row["url"],
        "events": json.loads(row["events"]),
        "filters": {},
        "excludeBody": False,
        "enabled": bool(row["enabled"]),
        "lastUpdatedUser": row["updated_by"],
        "lastUpdatedDisplayName": user.display_name if user else row["updated_by"],
        "lastUpdated": row["updated_at"],
    }


@dataclass(frozen=True)
class WebhookSpec:
    name: str
    url: str
    events: list[str]
    secret: str | None
    enabled: bool


def _webhook_spec(body: Any) -> WebhookSpec:
    if not isinstance(body, dict):
        raise JiraError(400, ["The request body must be a JSON object."])
    errors: dict[str, str] = {}
    name, url, events = body.get("name"), body.get("url"), body.get("events", [])
    secret, enabled = body.get("secret"), body.get("enabled", True)
    if not isinstance(name, str) or not name.strip():
        errors["name"] = "The webhook needs a name."
    if not http_url(url):
        errors["url"] = "The URL must be an absolute http or https URL."
    if not isinstance(events, list) or not all(isinstance(e, str) and e for e in events):
        errors["events"] = "Events must be a list of event names."
    if secret is not None and not isinstance(secret, str):
        errors["secret"] = "The secret must be a string."  # noqa: S105 - a message, not a password
    if not isinstance(enabled, bool):
        errors["enabled"] = "'enabled' must be true or false."
    if errors:
        raise field_errors(errors)
    return WebhookSpec(str(name).strip(), str(url), list(dict.fromkeys(events)), secret or None, enabled)


def _webhook_or_404(webhook_id: int) -> sqlite3.Row:
    row = db().execute("SELECT * FROM webhook WHERE id = ?", (webhook_id,)).fetchone()
    if row is None:
        raise JiraError(404, [f"Webhook with id {webhook_id} does not exist."])
    return row


@bp.route(WEBHOOK_API, methods=["POST"])
def register_webhook() -> tuple[Response, int]:
    spec = _webhook_spec(request_json())
    conn = db()
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO webhook (name, url, events, secret, enabled, updated_by, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                spec.name,
                spec.url,
                json.dumps(spec.events),
                spec.secret,
                spec.enabled,
                current_user(),
                millis_now(),
            ),
        )
    row = _webhook_or_404(int(cur.lastrowid or 0))
    log.info("sandbox jira: webhook %s registered for %s -> %s", row["id"], spec.events, spec.url)
    resp = jsonify(webhook_json(row))
    resp.headers["Location"] = f"{site_url()}{WEBHOOK_API}/{row['id']}"
    return resp, 201


@bp.route(WEBHOOK_API)
def list_webhooks() -> Response:
    rows = db().execute("SELECT * FROM webhook ORDER BY id").fetchall()
    return jsonify([webhook_json(r) for r in rows])


@bp.route(WEBHOOK_API + "/<int:webhook_id>")
def get_webhook(webhook_id: int) -> Response:
    return jsonify(webhook_json(_webhook_or_404(webhook_id)))


@bp.route(WEBHOOK_API + "/<int:webhook_id>", methods=["PUT"])
def update_webhook(webhook_id: int) -> Response:
    row = _webhook_or_404(webhook_id)
    body = request_json()
    spec = _webhook_spec(body)
    # no "secret": keep the one set before
    events, secret = json.dumps(spec.events), spec.secret if "secret" in body else row["secret"]
    conn = db()
    with transaction(conn):
        conn.execute(
            "UPDATE webhook SET name = ?, url = ?, events = ?, secret = ?, enabled = ?, updated_by = ?, "
            "updated_at = ? WHERE id = ?",
            (spec.name, spec.url, events, secret, spec.enabled, current_user(), millis_now(), webhook_id),
        )
    return jsonify(webhook_json(_webhook_or_404(webhook_id)))


@bp.route(WEBHOOK_API + "/<int:webhook_id>", methods=["DELETE"])
def delete_webhook(webhook_id: int) -> tuple[str, int]:
    _webhook_or_404(webhook_id)
    conn = db()
    with transaction(conn):
        conn.execute("DELETE FROM webhook WHERE id = ?", (webhook_id,))
    return "", 204


def _subscribed(event: str) -> list[sqlite3.Row]:
    rows = db().execute("SELECT * FROM webhook WHERE enabled = 1 ORDER BY id").fetchall()
    return [r for r in rows if event in json.loads(r["events"])]


def _event_fields(
    type_name: str | None,
    issue: sqlite3.Row | None,
    *,
    changelog: dict[str, Any] | None = None,
    comment: sqlite3.Row | None = None,
) -> Payload:
    """The payload after ``timestamp`` and ``webhookEvent``, in the order Jira writes it."""
    out: Payload = {}
    if type_name is not None:
        out["issue_event_type_name"] = type_name
    out["user"] = user_json(current_user())
    if issue is not None:
        out["issue"] = issue_json(issue, db(), wanted_fields(None))
    if changelog is not None:
        out["changelog"] = changelog
    if comment is not None:
        out["comment"] = comment_json(comment)
    return out


def emit(event: str, fields: Callable[[], Payload] | Payload | None) -> None:
    """Queue ``event`` to every enabled webhook subscribed to it (call after the change is committed).

    ``fields`` is built only when someone listens; each delivery gets its own identifier.
    """
    if fields is None:
        return
    hooks = _subscribed(event)
    if not hooks:
        return
    payload = {"timestamp": millis_now(), "webhookEvent": event, **(fields() if callable(fields) else fields)}
    body = json.dumps(payload, ensure_ascii=False).encode()
    for hook in hooks:
        identifier = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"Atlassian HttpClient (sandbox Jira {'.'.join(map(str, SERVER_VERSION))})",
            "X-Atlassian-Webhook-Identifier": identifier,
        }
        if hook["secret"]:
            headers["X-Hub-Signature"] = hub_signature(hook["secret"], body)
        jira_state().webhooks.send(event, hook["url"], body, headers, identifier)


def snapshot_payload(event: str, type_name: str, issue: sqlite3.Row) -> Payload | None:
    """The payload of an event about something about to disappear, taken while it is there."""
    return _event_fields(type_name, issue) if _subscribed(event) else None


def emit_issue_created(row: sqlite3.Row) -> None:
    emit("jira:issue_created", partial(_event_fields, "issue_created", row))


def emit_comment(event: str, type_name: str, issue_id: int, comment: sqlite3.Row) -> None:
    """``comment_*`` and, as Data Center does, the same comment again as ``jira:issue_updated``."""
    issue = find_issue(db(), str(issue_id))
    if issue is None:
        return
    emit(event, partial(_event_fields, None, issue, comment=comment))
    emit("jira:issue_updated", partial(_event_fields, type_name, issue, comment=comment))


def emit_changes(row: sqlite3.Row, change: Change, type_name: str) -> None:
    """``comment_created`` per new comment; one ``jira:issue_updated`` with the changelog (and the
    comment a transition added), or, with no field changed, one ``issue_commented`` per comment."""
    conn = db()
    issue = find_issue(conn, str(row["id"]))
    if issue is None:
        return
    comments = [
        c
        for cid in change.comment_ids
        if (c := conn.execute("SELECT * FROM comment WHERE id = ?", (cid,)).fetchone()) is not None
    ]
    for comment in comments:
        emit("comment_created", partial(_event_fields, None, issue, comment=comment))
    if change.changelog is not None:
        last = comments[-1] if comments else None
        emit(
            "jira:issue_updated",
            partial(_event_fields, type_name, issue, changelog=change.changelog, comment=last),
        )
        return
    for comment in comments:
        emit("jira:issue_updated", partial(_event_fields, "issue_commented", issue, comment=comment))
