"""``POST /hooks/jira`` and ``POST /hooks/kaiten``: tracker webhooks, journaled and handled in a job.

Jira: verified by ``X-Hub-Signature: sha256=<HMAC of the raw body>`` with ``JIRA_WEBHOOK_SECRET`` (Jira
Cloud admin webhooks, recent Data Center). The same secret as ``?token=`` in the URL is accepted only
when ``JIRA_WEBHOOK_URL_TOKEN`` opts in, for Jira versions that cannot sign: a URL is copied into
proxies' and servers' logs, a signature is not. A Jira webhook whose ``timestamp`` is more than
``JIRA_WEBHOOK_MAX_AGE_MINUTES`` from now is refused (403), so a captured body cannot be replayed later.
Kaiten's outgoing webhooks are unsigned, so its URL carries ``?token=$KAITEN_WEBHOOK_SECRET``. Retries
and Data Center's double report of a comment are deduped on the event's id (``mappers.tracker_events``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from config.settings import Settings
from jobs.intake import accept_event, received_now
from mappers.errors import AnomalousPayload
from mappers.kaiten_events import parse_kaiten_webhook
from mappers.tracker_events import (
    parse_jira_webhook,
    staleness,
    verify_hub_signature,
)
from routes.answers import answer, read_body, require_secret
from routes.errors import AuthError
from routes.state import hub

bp = Blueprint("trackers", __name__)

MAX_WEBHOOK_BYTES = 5 * 1024 * 1024


@bp.post("/hooks/jira")
def receive_jira() -> ResponseReturnValue:
    """Verify, normalise, journal and enqueue one Jira webhook."""
    state = hub()
    raw = read_body(MAX_WEBHOOK_BYTES)
    _verify_jira(state.settings, raw)
    event = parse_jira_webhook(_json(raw), delivery_id=request.headers.get("X-Atlassian-Webhook-Identifier"))
    max_age = dt.timedelta(minutes=state.settings.JIRA_WEBHOOK_MAX_AGE_MINUTES)
    stale = staleness(event, received_now(), max_age)
    if stale is not None:
        raise AuthError(f"stale Jira webhook: {stale}", 403)
    return answer(accept_event(state.engine, state.redis, event, raw))


def _verify_jira(settings: Settings, raw: bytes) -> None:
    """The signature, or (opted in with ``JIRA_WEBHOOK_URL_TOKEN``) the URL token; else 401/403."""
    secret = settings.secret("JIRA_WEBHOOK_SECRET")
    signature = request.headers.get("X-Hub-Signature")
    if signature is not None:
        if not secret:
            raise AuthError("Jira webhook secret is not configured on this hub", 403)
        if not verify_hub_signature(secret, raw, signature):
            raise AuthError("wrong X-Hub-Signature", 403)
    elif settings.JIRA_WEBHOOK_URL_TOKEN:
        require_secret(request.args.get("token"), secret, "Jira webhook secret")
    elif "token" in request.args:
        raise AuthError("?token= is not accepted for Jira unless JIRA_WEBHOOK_URL_TOKEN=1; sign instead", 403)
    else:
        raise AuthError("missing X-Hub-Signature", 401)


@bp.post("/hooks/kaiten")
def receive_kaiten() -> ResponseReturnValue:
    """Verify (URL token), normalise, journal and enqueue one Kaiten webhook."""
    state = hub()
    require_secret(
        request.args.get("token"), state.settings.secret("KAITEN_WEBHOOK_SECRET"), "Kaiten webhook token"
    )
    raw = read_body(MAX_WEBHOOK_BYTES)
    event = parse_kaiten_webhook(_json(raw))
    return answer(accept_event(state.engine, state.redis, event, raw))


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the decoder's stack
        raise AnomalousPayload("body is not JSON", {"sha256": hashlib.sha256(raw).hexdigest()[:16]}) from None
