"""The console's blueprint (``/admin``) and what every console request goes through, in order:

1. the console is **off** (the same 404 as any unknown path) until ``trackerhub admin add-user`` has
   made an account; it needs ``HUB_SECRET_KEY`` and Redis (503 saying which is missing);
2. the view's declared role (``routes.admin.access``): none declared is a 403, so a new page cannot
   forget its check;
3. the session (``routes.admin.sessions``): a GET without one goes to the login form, anything else
   is a 403; a role below the view's is a 403;
4. every POST carries the CSRF token of its form (403 without): a form's field ``csrf_token``, or the
   ``X-CSRF-Token`` header of a page's script (``fetch``), which another site cannot set.

The pages themselves are nested blueprints (``routes/admin/*.py``), rendered by :func:`page`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError
from werkzeug.exceptions import Forbidden, HTTPException, NotFound

from routes.admin.access import PUBLIC, allows, required_role
from routes.admin.filters import PAGE_SIZE, BadFilter, page_number
from routes.admin.sessions import (
    LANG_COOKIE,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    form_token,
    form_token_ok,
    session_user,
    set_cookie,
)
from routes.admin.texts import UI
from routes.client_ip import client_address
from routes.errors import error_response
from routes.i18n import LANGUAGES
from routes.page_headers import lock_down
from routes.state import Hub, hub
from store import accounts

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

CSRF_HEADER = "X-CSRF-Token"  # a page's script sends its form token so (the editor's validation)


class ConsoleOff(NotFound):
    """No account exists yet: the console answers as any unknown path does."""


class ConsoleUnavailable(HTTPException):
    """The console lacks something it needs (a secret, Redis); the description says what."""

    code = 503


class CsrfFailed(Forbidden):
    """A POST without the CSRF token of a form this console showed this session."""


# --- every request ------------------------------------------------------------------------------


@bp.before_request
def _guard() -> ResponseReturnValue | None:
    g.lang = _language()
    g.nonce = secrets.token_urlsafe(16)
    state = hub()
    if not _console_on(state):
        raise ConsoleOff()
    secret = state.settings.secret("HUB_SECRET_KEY")
    if not secret:
        raise ConsoleUnavailable("HUB_SECRET_KEY is not set")
    if state.redis is None:
        raise ConsoleUnavailable("REDIS_URL is not set")
    view = current_app.view_functions.get(request.endpoint or "")
    required = required_role(view)
    if required is None:
        log.error("admin.no-role endpoint=%s", request.endpoint)
        raise Forbidden()
    g.session_id = request.cookies.get(SESSION_COOKIE)
    user_id = session_user(state.redis, g.session_id)
    g.user = accounts.get_user(state.engine, user_id) if user_id is not None else None
    if required != PUBLIC:
        if g.user is None:
            if request.method == "GET":
                return redirect(url_for("admin.auth.login", next=request.full_path, lang=g.lang))
            raise Forbidden()
        if not allows(g.user.role, required):
            log.warning("admin.refused user=%s endpoint=%s", g.user.name, request.endpoint)
            raise Forbidden()
    if request.method == "POST":
        bound_to = g.session_id if required != PUBLIC else request.cookies.get(LOGIN_COOKIE)
        token = request.form.get("csrf_token") or request.headers.get(CSRF_HEADER)
        if not form_token_ok(secret, token, bound_to):
            log.warning("admin.csrf-refused endpoint=%s", request.endpoint)
            raise CsrfFailed()
    return None


def _console_on(state: Hub) -> bool:
    """Whether an account exists; once one does, the answer is kept (accounts are not deleted)."""
    if current_app.extensions.get("admin-on"):
        return True
    on = accounts.any_user(state.engine)
    if on:
        current_app.extensions["admin-on"] = True
    return on


def _language() -> str:
    """``?lang=`` (kept in a cookie by :func:`_headers`), else the cookie, else Accept-Language."""
    for asked in (request.args.get("lang"), request.cookies.get(LANG_COOKIE)):
        if asked in LANGUAGES:
            return asked
    return request.accept_languages.best_match(LANGUAGES) or "en"


@bp.after_request
def _headers(response: Response) -> Response:
    """The console's pages are locked down (routes/page_headers.py); a ``?lang=`` is kept in a cookie."""
    if request.args.get("lang") in LANGUAGES:
        set_cookie(response, hub().settings, LANG_COOKIE, request.args["lang"], max_age=365 * 86400)
    return lock_down(response, g.get("nonce", ""), allow="img-src 'self' data:; connect-src 'self'")


# --- what the pages share -------------------------------------------------------------------------


def page(template: str, status: int = 200, **values: Any) -> Response:
    """A console page in the request's language, with the form token of the current session."""
    lang = g.lang
    html = render_template(
        f"admin/{template}",
        lang=lang,
        ui=UI[lang],
        nonce=g.nonce,
        user=g.get("user"),
        csrf=_form_token(),
        **values,
    )
    return Response(html, status=status, mimetype="text/html")


def _form_token() -> str:
    secret = hub().settings.secret("HUB_SECRET_KEY") or ""
    session_id = g.get("session_id")
    return form_token(secret, session_id) if session_id and g.get("user") else ""


def query_args() -> dict[str, Any]:
    """The request's query parameters, for a link to the same filter elsewhere; never ``url_for``'s own
    keywords (``_method``, ``_external``, ``_scheme``, ``_anchor``), which a stranger could otherwise set."""
    return {key: value for key, value in request.args.items() if not key.startswith("_")}


Row = TypeVar("Row")


def paged(fetch: Callable[[int, int], list[Row]]) -> tuple[list[Row], str | None]:
    """One page of a list, newest first: ``fetch(limit, offset)`` reads one row more than a page, so
    the link to the older page (the same filter) is shown only when there is one."""
    number = page_number(request.args)
    found = fetch(PAGE_SIZE + 1, number * PAGE_SIZE)
    older = url_for(".index", **{**query_args(), "page": number + 1}) if len(found) > PAGE_SIZE else None
    return found[:PAGE_SIZE], older


def actor_address() -> str:
    """The client's address, as the audit records it (a trusted proxy's X-Forwarded-For believed)."""
    settings = hub().settings
    return client_address(
        request.remote_addr, request.headers.getlist("X-Forwarded-For"), settings.HUB_TRUSTED_PROXIES
    )


# --- errors ---------------------------------------------------------------------------------------


@bp.errorhandler(ConsoleOff)
def _off(exc: ConsoleOff) -> ResponseReturnValue:
    return error_response(404, (exc.name or "not found").lower(), exc.description or "")


@bp.errorhandler(BadFilter)
def _bad_filter(exc: BadFilter) -> ResponseReturnValue:
    return _error_page(400, UI[g.get("lang", "en")]["bad_date"])


@bp.errorhandler(RedisError)
def _redis_down(exc: RedisError) -> ResponseReturnValue:
    log.error("admin.redis-unavailable error=%s", type(exc).__name__)
    return _error_page(503, UI[g.get("lang", "en")]["errors"]["503"].format(detail="Redis"))


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> ResponseReturnValue:
    status = exc.code or 500
    texts = UI[g.get("lang", "en")]["errors"]
    if isinstance(exc, CsrfFailed):
        message = texts["csrf"]
    elif status == 503:
        message = texts["503"].format(detail=exc.description)
    else:
        message = texts.get(str(status), exc.description or "")
    return _error_page(status, message)


def _error_page(status: int, message: str) -> ResponseReturnValue:
    if "lang" not in g:
        g.lang, g.nonce = "en", secrets.token_urlsafe(16)
    response = page("error.html", status=status, message=message)
    if status == 503:
        response.headers["Retry-After"] = "60"
    return response
