"""The journal in the console: ``/admin/messages`` (filterable by channel, status, sender, date and
issue key) and one message (``/admin/messages/<id>``): the parsed view, the raw source (escaped in the
page, downloadable as bytes), its attempts and the last reason, its issue, and what was sent back."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound

from routes.admin.access import requires
from routes.admin.console import page, paged
from routes.admin.filters import message_query
from routes.routing_page import web_url
from routes.state import hub
from store import journal, message_search, outbound

bp = Blueprint("messages", __name__)

CHANNELS = ("email", "telegram", "form", "jira", "kaiten")  # customers' channels, then trackers' events
STATUSES = (journal.QUEUED, journal.DELIVERED, journal.IGNORED, journal.FAILED)
RAW_SHOWN = 256 * 1024  # bytes of raw source shown in the page; the download has all
RAW_SUFFIX = {"email": "eml", "telegram": "json", "form": "json", "jira": "json", "kaiten": "json"}


@bp.get("/messages")
@requires("viewer")
def index() -> ResponseReturnValue:
    """The journal, newest first, as the filter asks."""
    query = message_query(request.args)
    entries, older_url = paged(
        lambda limit, offset: message_search.search(hub().engine, query, limit, offset)
    )
    return page(
        "messages.html",
        entries=[(entry, summary(entry)) for entry in entries],
        older_url=older_url,
        **_choices(),
    )


@bp.get("/messages/<message_id>")
@requires("viewer")
def show(message_id: str) -> ResponseReturnValue:
    """One message as the hub read it, its raw source, attempts, issue and replies."""
    state = hub()
    entry = _entry(message_id)
    head = journal.blob_head(state.engine, entry.raw_blob_id, RAW_SHOWN) if entry.raw_blob_id else None
    sent = outbound.for_message(state.engine, entry.id)
    if entry.tracker and entry.issue_key:
        sent += outbound.for_issue(state.engine, entry.tracker, entry.issue_key)
    return page(
        "message.html",
        entry=entry,
        parsed=parsed_rows(entry.body),
        raw_text=head[0].decode("utf-8", "replace") if head is not None else None,
        raw_truncated=head is not None and head[1] > RAW_SHOWN,
        raw_shown_kib=RAW_SHOWN // 1024,
        issue_url=web_url(entry.issue_url),
        sent=sent,
    )


@bp.get("/messages/<message_id>/raw")
@requires("viewer")
def raw(message_id: str) -> ResponseReturnValue:
    """The raw source as it arrived, as a download (never rendered by the browser)."""
    entry = _entry(message_id)
    engine = hub().engine
    head = journal.blob_head(engine, entry.raw_blob_id, 0) if entry.raw_blob_id else None
    if head is None or entry.raw_blob_id is None:
        raise NotFound()
    name = f"{entry.id}.{RAW_SUFFIX.get(entry.channel, 'bin')}"
    return Response(
        journal.blob_chunks(engine, entry.raw_blob_id),  # a 25 MB source is sent 1 MiB at a time
        mimetype="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Content-Length": str(head[1])},
    )


def _entry(message_id: str) -> journal.Entry:
    entry = journal.get(hub().engine, message_id[:32])
    if entry is None:
        raise NotFound()
    return entry


def _choices() -> dict[str, Any]:
    return {"channels": CHANNELS, "statuses": STATUSES, "args": request.args}


def summary(entry: journal.Entry) -> dict[str, str]:
    """The sender and subject of a journal row for a list ("" when the body has none)."""
    try:
        body = json.loads(entry.body)
    except ValueError:
        return {"sender": "", "subject": ""}
    sender = body.get("sender") or {} if isinstance(body, dict) else {}
    contact = ""
    if isinstance(sender, dict):
        contact = " ".join(
            str(sender.get(key)) for key in ("name", "email", "telegram_username") if sender.get(key)
        )
    subject = str(body.get("subject") or body.get("text") or "")[:200] if isinstance(body, dict) else ""
    return {"sender": contact, "subject": subject}


def parsed_rows(body: str) -> list[tuple[str, str]]:
    """The parsed message's fields that have a value, as (name, text) rows; nested values as JSON."""
    try:
        data = json.loads(body)
    except ValueError:
        return [("body", body)]
    if not isinstance(data, dict):
        return [("body", body)]
    rows = []
    for name, value in data.items():
        if value in (None, "", [], {}):
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)
        rows.append((name, text))
    return rows
