"""The Jira look-alike's app: authentication, fault answers, error pages, and ``main``.

Auth: ``Authorization: Bearer <token>`` (user "hub") or Basic (that user, made known at its first
sign-in, as on a directory-backed Jira); missing → 401, as Data Center answers. ``serverInfo`` is
anonymous.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from sandbox.app import sandbox_app
from sandbox.controls import Stats
from sandbox.faults import FaultBook, FaultRule
from sandbox.jira import attachments, comments, issues, links, meta, move, search, views, watchers, webhooks
from sandbox.jira.catalogue import Catalogue
from sandbox.jira.context import JiraState, jira_state
from sandbox.jira.errors import JiraError
from sandbox.jira.store import Store, register_startup_webhook
from sandbox.server import arg_parser, configure_logging, is_control_request, serve
from sandbox.webhooks import WebhookSender, add_url_option, checked_url

log = logging.getLogger(__name__)

TEXT_LIMIT = 32767  # jira.text.field.character.limit, the Data Center default
ATTACHMENT_LIMIT = 10 * 1024 * 1024  # "Attachment size", the Data Center default (10 MB)
DEFAULT_DB = Path("var") / "sandbox-jira.sqlite3"
DEFAULT_PORT = 2990  # the port of the Atlassian SDK's local Jira
BLUEPRINTS = (
    meta.bp,
    issues.bp,
    search.bp,
    move.bp,
    comments.bp,
    links.bp,
    watchers.bp,
    attachments.bp,
    webhooks.bp,
    views.bp,
)


def _fault_answer(status: int, rule: FaultRule) -> Response:
    """Jira's error shape, with ``Retry-After`` when the rule has ``retry_after``."""
    headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
    return JiraError(status, [f"Injected by the sandbox (fault rule {rule.id})."], headers=headers).response()


def _before_request() -> Response | None:
    if is_control_request():
        return None
    state = jira_state()
    state.stats.record_request()
    injected = state.faults.before_request()
    if injected is not None:
        return injected
    if request.path.startswith("/rest/") and not request.path.endswith("/serverInfo"):
        g.sandbox_jira_user = _authenticate(state)
    return None


def _after_request(response: Response) -> Response:
    if is_control_request():
        return response
    return jira_state().faults.after_request(response)


def _authenticate(state: JiraState) -> str:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    failed = JiraError(
        401,
        ["You are not authenticated. Authentication required to perform this operation."],
        headers={
            "WWW-Authenticate": 'Basic realm="protected-area"',
            "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
        },
    )
    if scheme.lower() == "bearer" and credentials.strip():
        if state.token is not None and credentials.strip() != state.token:
            raise failed
        return "hub"
    if scheme.lower() == "basic":
        try:
            name, sep, password = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise failed
        if not sep or not name or (state.token is not None and password != state.token):
            raise failed
        return state.cat.ensure_user(name).name
    raise JiraError(
        401,
        ["You are not authenticated. Authentication required to perform this operation."],
        headers={"WWW-Authenticate": 'Basic realm="protected-area"'},
    )


def _handle_http_error(exc: HTTPException) -> Response:
    if isinstance(exc, RequestEntityTooLarge):
        return JiraError(413, ["The request is larger than the sandbox accepts."]).response()
    if request.path.startswith("/rest/"):
        resp = jsonify({"message": f"null for uri: {request.url}", "status-code": exc.code})
        resp.status_code = exc.code or 500
        return resp
    resp = Response(f"{exc.code} {exc.name}", status=exc.code or 500, mimetype="text/plain")
    return resp


def _handle_unexpected(exc: Exception) -> Response:
    log.exception("sandbox jira: unexpected error on %s %s", request.method, request.path)
    return JiraError(500, ["Internal server error"]).response()


def create_app(
    db_path: str | Path,
    *,
    base_url: str | None = None,
    latency_ms: int = 0,
    token: str | None = None,
    extra_projects: Iterable[str] = (),
    extra_users: Iterable[str] = (),
    text_limit: int = TEXT_LIMIT,
    attachment_limit: int = ATTACHMENT_LIMIT,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    control_token: str | None = None,
    faults: bool = False,
    cloud: bool = False,
) -> Flask:
    """The sandbox as a Flask app on the SQLite file ``db_path`` (created if missing, kept across restarts).

    ``base_url`` fixes the URLs in answers (default: the request's own root); ``latency_ms`` delays
    every tracker request; ``token``, when set, is the only Bearer token (or Basic password) accepted;
    ``extra_projects`` adds projects given as ``"KEY"`` or ``"KEY:Name"``; ``extra_users`` adds users.
    ``webhook_url`` registers a webhook for ``STARTUP_WEBHOOK_EVENTS`` (signed with ``webhook_secret``
    when given), replacing the start-up webhook of an earlier run on the same file. ``control_token``
    opens the ``/_sandbox`` controls; ``faults`` allows fault rules among them. ``cloud`` answers as Jira
    Cloud does (see ``sandbox.jira``) instead of Data Center.
    """
    checked_url(webhook_url)
    store = Store(db_path)
    startup_webhook = (webhook_url, webhook_secret or None) if webhook_url else None
    register_startup_webhook(store, startup_webhook)
    state = JiraState(
        store=store,
        cat=Catalogue(extra_projects, extra_users),
        faults=FaultBook("jira", _fault_answer, log=log, enabled=faults, latency_ms=latency_ms),
        stats=Stats(),
        base_url=base_url.rstrip("/") if base_url else None,
        token=token,
        text_limit=text_limit,
        attachment_limit=attachment_limit,
        webhooks=WebhookSender(
            "jira", log=log, timeout=webhooks.WEBHOOK_TIMEOUT_S, backoff=webhooks.WEBHOOK_BACKOFF_S
        ),
        startup_webhook=startup_webhook,
        cloud=cloud,
    )
    return sandbox_app(
        __name__,
        state=state,
        blueprints=BLUEPRINTS,
        control_token=control_token,
        max_content_length=attachment_limit * 4 + 1024 * 1024,
        before=_before_request,
        after=_after_request,
        http_error=_handle_http_error,
        unexpected=_handle_unexpected,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sandbox.jira [--host H] [--port P] [--db FILE] ...``."""
    parser = arg_parser("Run the trackerhub sandbox Jira.", port=DEFAULT_PORT, db=DEFAULT_DB)
    parser.add_argument("--base-url", default=None, help="public URL to put in answers")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay every tracker request")
    parser.add_argument(
        "--projects",
        default=os.environ.get("SANDBOX_JIRA_PROJECTS", ""),
        help="extra projects, e.g. 'OPS:Operations,HR' (env SANDBOX_JIRA_PROJECTS)",
    )
    add_url_option(
        parser, "SANDBOX_JIRA_WEBHOOK_URL", "comment and issue webhooks", "http://127.0.0.1:8000/hooks/jira"
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("SANDBOX_JIRA_WEBHOOK_SECRET") or None,
        help="sign them with X-Hub-Signature (env SANDBOX_JIRA_WEBHOOK_SECRET, which keeps it out of ps)",
    )
    parser.add_argument(
        "--cloud",
        action="store_true",
        default=os.environ.get("SANDBOX_JIRA_CLOUD", "") not in ("", "0"),
        help="answer as Jira Cloud: account ids, /search/jql, the bulk move (env SANDBOX_JIRA_CLOUD=1)",
    )
    args = parser.parse_args(argv)
    configure_logging()
    projects = [p for p in args.projects.split(",") if p.strip()]
    app = create_app(
        args.db,
        base_url=args.base_url,
        latency_ms=args.latency_ms,
        extra_projects=projects,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        control_token=args.control_token,
        faults=args.faults,
        cloud=args.cloud,
    )
    serve(app, args.host, args.port, log=log, name="jira", data=args.db)
    return 0
