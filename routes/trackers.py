"""``POST /hooks/jira`` and ``POST /hooks/kaiten``: tracker webhooks, journaled and handled in a job.

Jira: verified by ``X-Hub-Signature: sha256=<HMAC of the raw body>`` when the webhook has a secret (Jira
Cloud admin webhooks, recent Data Center), or by ``?token=`` in the URL for Jira versions that cannot
sign. Both use ``JIRA_WEBHOOK_SECRET``. Kaiten's outgoing webhooks are unsigned, so its URL carries
``?token=$KAITEN_WEBHOOK_SECRET``. Retries and Data Center's double report of a comment are deduped on
the event's id (``X-Atlassian-Webhook-Identifier``, or comment id + update time).
"""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from jobs.intake import accept_event
from mappers.errors import AnomalousPayload
from mappers.tracker_events import parse_jira_webhook, parse_kaiten_webhook, verify_hub_signature
from routes import hub
from routes.answers import answer, read_body, require_secret
from routes.errors import AuthError

bp = Blueprint("trackers", __name__)

MAX_WEBHOOK_BYTES = 5 * 1024 * 1024


@bp.post("/hooks/jira")
def receive_jira() -> ResponseReturnValue:
    """Verify, normalise, journal and enqueue one Jira webhook."""
    state = hub()
    raw = read_body(MAX_WEBHOOK_BYTES)
    secret = state.settings.secret("JIRA_WEBHOOK_SECRET")
    signature = request.headers.get("X-Hub-Signature")
    if signature is not None:
        if not secret:
            raise AuthError("Jira webhook secret is not configured on this hub", 403)
        if not verify_hub_signature(secret, raw, signature):
            raise AuthError("wrong X-Hub-Signature", 403)
    else:
        require_secret(request.args.get("token"), secret, "Jira webhook secret")
    event = parse_jira_webhook(_json(raw), delivery_id=request.headers.get("X-Atlassian-Webhook-Identifier"))
    return answer(accept_event(state.engine, state.redis, event, raw))


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
