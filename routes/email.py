"""``POST /hooks/email``: one raw RFC 5322 message, for a Postfix pipe or a provider's raw-MIME webhook.

Verified by ``Authorization: Bearer $HUB_INBOUND_TOKEN``.
"""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from jobs.intake import received_now
from mappers.email import parse_email
from mappers.errors import AnomalousPayload
from mappers.models import Channel
from routes.answers import accept_parsed, bearer_token, read_body, require_secret
from routes.state import hub
from store.journal import blob_id_for

bp = Blueprint("email", __name__)


@bp.post("/hooks/email")
def receive_email() -> ResponseReturnValue:
    """Verify, parse, journal and enqueue one mail."""
    settings = hub().settings
    require_secret(bearer_token(), settings.secret("HUB_INBOUND_TOKEN"), "inbound token")
    raw = read_body(settings.HUB_MAX_EMAIL_BYTES)
    if not raw.strip():
        raise AnomalousPayload("empty body: expected a raw RFC 5322 message")
    return accept_parsed(
        Channel.EMAIL,
        raw,
        lambda: parse_email(raw, received_at=received_now(), own_domain=settings.email_domain),
        "sha256:" + blob_id_for(raw),
    )
