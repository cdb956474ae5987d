"""The Kaiten look-alike's app: the Bearer token, Kaiten's rate limit, fault answers, error shapes,
its ``/_sandbox/settings`` switch, and ``main``."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from flask import Blueprint, Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from sandbox.app import sandbox_app
from sandbox.controls import Stats
from sandbox.faults import FaultBook, FaultRule
from sandbox.kaiten import cards, checklists, comments, files, links, members, meta, tags, views, webhooks
from sandbox.kaiten.context import KaitenError, KaitenState, is_api, kaiten_state
from sandbox.kaiten.ratelimit import RateWindow, rate_headers
from sandbox.kaiten.store import Store
from sandbox.server import CONTROL_PREFIX, arg_parser, configure_logging, is_control_request, serve
from sandbox.webhooks import WebhookSender, add_url_option, checked_url

log = logging.getLogger(__name__)

DEFAULT_DB = Path("var") / "sandbox-kaiten.sqlite3"
DEFAULT_PORT = 2991
FILE_LIMIT = 10 * 1024 * 1024
BLUEPRINTS = (
    cards.bp,
    tags.bp,
    members.bp,
    comments.bp,
    files.bp,
    checklists.bp,
    links.bp,
    meta.bp,
    views.bp,
)


def _fault_answer(status: int, rule: FaultRule) -> Response:
    """Kaiten's error shape; a 429 carries ``X-RateLimit-Remaining: 0`` and ``X-RateLimit-Reset`` = now +
    ``retry_after`` (default 1 s), as Kaiten does; another status carries ``Retry-After`` only when
    ``retry_after`` is given."""
    headers: dict[str, str] = {}
    if status == 429:
        headers = rate_headers(0, time.time() + (rule.retry_after if rule.retry_after is not None else 1))
    elif rule.retry_after is not None:
        headers["Retry-After"] = str(rule.retry_after)
    return KaitenError(status, f"Injected by the sandbox (fault rule {rule.id})", headers).response()


def _before_request() -> Response | None:
    if is_control_request():
        return None
    state = kaiten_state()
    state.stats.record_request()
    if not is_api(request.path):
        return None
    injected = state.faults.before_request()
    if injected is not None:
        return injected
    token = _authenticate(state)
    if state.rate_limit:
        allowed, remaining, reset = state.window.check(token)
        g.sandbox_kaiten_rate = rate_headers(remaining, reset)
        if not allowed:
            raise KaitenError(429, "Too many requests", g.sandbox_kaiten_rate)
    return None


def _after_request(response: Response) -> Response:
    if is_control_request() or not is_api(request.path):
        return response
    rate = g.get("sandbox_kaiten_rate")
    if rate:
        response.headers.update(rate)
    return kaiten_state().faults.after_request(response)


def _authenticate(state: KaitenState) -> str:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    token = credentials.strip()
    if scheme.lower() != "bearer" or not token or (state.token is not None and token != state.token):
        raise KaitenError(401, "Invalid token")
    return token


def _handle_http_error(exc: HTTPException) -> Response:
    if isinstance(exc, RequestEntityTooLarge):
        return KaitenError(413, "Request entity too large").response()
    if is_api(request.path):
        return KaitenError(exc.code or 500, exc.name).response()
    return Response(f"{exc.code} {exc.name}", status=exc.code or 500, mimetype="text/plain")


def _handle_unexpected(exc: Exception) -> Response:
    log.exception("sandbox kaiten: unexpected error on %s %s", request.method, request.path)
    return KaitenError(500, "Internal server error").response()


settings_bp = Blueprint("kaiten_settings", __name__)


@settings_bp.route(CONTROL_PREFIX + "/settings", methods=("GET", "POST"))
def sandbox_settings() -> Response | tuple[Response, int]:
    """The look-alike's switchable behaviour: ``{"author_only_comment_edits": bool}``."""
    state = kaiten_state()
    if request.method == "POST":
        body = request.get_json(silent=True, force=True)
        value = body.get("author_only_comment_edits") if isinstance(body, dict) else None
        if not isinstance(value, bool):
            return jsonify(error="author_only_comment_edits must be true or false"), 400
        state.author_only_comment_edits = value
        log.info("sandbox kaiten: author_only_comment_edits=%s", value)
    return jsonify(author_only_comment_edits=state.author_only_comment_edits)


def create_app(
    db_path: str | Path | None = None,
    *,
    token: str | None = None,
    latency_ms: int = 0,
    rate_limit: bool = False,
    file_limit: int = FILE_LIMIT,
    author_only_comment_edits: bool = False,
    webhook_url: str | None = None,
    control_token: str | None = None,
    faults: bool = False,
) -> Flask:
    """The stand-in as a Flask app on the SQLite file ``db_path`` (a temporary file when None).

    ``token``, when set, is the only Bearer token accepted (any non-empty one otherwise);
    ``latency_ms`` delays every API request; ``rate_limit`` enforces Kaiten's 5 requests/s per token;
    ``author_only_comment_edits`` refuses (403) an edit of a comment by anyone but its author;
    ``webhook_url`` receives Kaiten's webhooks (``sandbox.kaiten.webhooks``); ``control_token`` opens
    the ``/_sandbox`` controls; ``faults`` allows fault rules among them.
    """
    checked_url(webhook_url)
    temp_dir = None
    if db_path is None:
        temp_dir = tempfile.TemporaryDirectory(prefix="kaiten-sandbox-")
        db_path = Path(temp_dir.name) / "kaiten.sqlite3"
    state = KaitenState(
        store=Store(db_path),
        faults=FaultBook("kaiten", _fault_answer, log=log, enabled=faults, latency_ms=latency_ms),
        stats=Stats(),
        window=RateWindow(),
        token=token,
        rate_limit=rate_limit,
        file_limit=file_limit,
        author_only_comment_edits=author_only_comment_edits,
        webhooks=WebhookSender(
            "kaiten", log=log, timeout=webhooks.WEBHOOK_TIMEOUT_S, backoff=webhooks.WEBHOOK_BACKOFF_S
        ),
        webhook_url=webhook_url,
        temp_dir=temp_dir,
    )
    return sandbox_app(
        __name__,
        state=state,
        blueprints=(*BLUEPRINTS, settings_bp),
        control_token=control_token,
        max_content_length=file_limit + 1024 * 1024,
        before=_before_request,
        after=_after_request,
        http_error=_handle_http_error,
        unexpected=_handle_unexpected,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sandbox.kaiten [--host H] [--port P] [--db FILE] ...``."""
    parser = arg_parser("Run the trackerhub Kaiten stand-in.", port=DEFAULT_PORT, db=DEFAULT_DB)
    parser.add_argument("--token", default=None, help="the only Bearer token accepted (default: any)")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay every API request")
    parser.add_argument("--rate-limit", action="store_true", help="enforce 5 requests/s per token")
    parser.add_argument(
        "--author-only-comment-edits", action="store_true", help="only a comment's author may edit it (403)"
    )
    add_url_option(
        parser,
        "SANDBOX_KAITEN_WEBHOOK_URL",
        "Kaiten's webhooks",
        "http://127.0.0.1:8080/hooks/kaiten?token=...",
    )
    args = parser.parse_args(argv)
    configure_logging()
    app = create_app(
        args.db,
        token=args.token,
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
        author_only_comment_edits=args.author_only_comment_edits,
        webhook_url=args.webhook_url,
        control_token=args.control_token,
        faults=args.faults,
    )
    serve(app, args.host, args.port, log=log, name="kaiten", data=args.db)
    return 0
