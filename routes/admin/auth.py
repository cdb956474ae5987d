"""Logging in and out of the console (``/admin/login``, ``/admin/logout``) and its home (``/admin/``,
the dashboard).

The login form's fields are ``username``, ``password`` and ``csrf_token`` (the README's contract).
Every login, failed or not, and every logout goes to the audit (a lockout's refusals: its first).
"""

from __future__ import annotations

import hmac
import logging
import secrets

from flask import Blueprint, Response, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from routes.admin.access import PUBLIC, requires
from routes.admin.console import actor_address, page
from routes.admin.dashboard import dashboard_page
from routes.admin.sessions import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    begin_login,
    clear_cookie,
    end_session,
    first_refusal,
    forgive_login,
    form_token,
    set_cookie,
    start_session,
)
from routes.state import Hub, hub
from store import accounts, audit

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

LOGIN_NONCE_SECONDS = 3600  # the pre-login cookie outlives any login form left open


@bp.get("/")
@requires("viewer")
def home() -> ResponseReturnValue:
    """The dashboard (routes/admin/dashboard.py)."""
    return dashboard_page()


@bp.get("/login")
@requires(PUBLIC)
def login() -> ResponseReturnValue:
    """The login form (with a fresh pre-login nonce its CSRF token is bound to)."""
    return _login_form()


@bp.post("/login")
@requires(PUBLIC)
def login_submit() -> ResponseReturnValue:
    """Check the name and password; a success starts a new session and goes where the user was going."""
    state = hub()
    assert state.redis is not None  # the console's guard refuses requests without Redis
    name = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")
    address = actor_address()
    locked = begin_login(state.redis, state.settings, name, address)
    if locked is not None:
        if first_refusal(state.redis, name, address, locked):  # once per lockout: a flood writes nothing
            shown = recorded_name(state, name)
            audit.record(state.engine, shown, "login-failed", outcome="locked out", address=address)
            log.warning("admin.login-locked user=%s address=%s", shown, address)
        minutes = (locked.retry_after + 59) // 60
        response = _login_form(status=429, locked_minutes=minutes)
        response.headers["Retry-After"] = str(locked.retry_after)
        return response
    try:
        user = accounts.authenticate(state.engine, name, password)
    except accounts.HashBusy:
        forgive_login(state.redis, name, address, succeeded=False)
        response = _login_form(status=503, busy=True)
        response.headers["Retry-After"] = "1"
        return response
    if user is None:
        shown = recorded_name(state, name)
        audit.record(state.engine, shown, "login-failed", outcome="wrong name or password", address=address)
        log.warning("admin.login-failed user=%s address=%s", shown, address)
        return _login_form(failed=True, status=401)
    forgive_login(state.redis, name, address, succeeded=True)
    end_session(state.redis, request.cookies.get(SESSION_COOKIE))  # a planted or old session dies here
    session_id = start_session(state.redis, state.settings, user.id)
    audit.record(state.engine, user.name, "login", outcome=user.role, address=address)
    log.info("admin.login user=%s role=%s address=%s", user.name, user.role, address)
    answer = redirect(_next_path(request.args.get("next")), code=303)
    set_cookie(answer, state.settings, SESSION_COOKIE, session_id)
    clear_cookie(answer, state.settings, LOGIN_COOKIE)
    return answer


def recorded_name(state: Hub, name: str) -> str:
    """The name a failed login is audited and logged under: as typed when an account has that name, else
    ``unknown:`` and a keyed fingerprint of it.

    People type their password into the name field; what they typed must reach neither the audit nor the
    log. The fingerprint is keyed by ``HUB_SECRET_KEY``, so it cannot be reversed by guessing, and the
    same unknown name still shows as the same fingerprint (one guesser's run reads as one).
    """
    if accounts.name_exists(state.engine, name):
        return name
    key = (state.settings.secret("HUB_SECRET_KEY") or "").encode()
    digest = hmac.new(key, name.encode("utf-8", "surrogatepass"), "sha256").hexdigest()
    return f"unknown:{digest[:12]}"


@bp.post("/logout")
@requires("viewer")
def logout() -> ResponseReturnValue:
    """End the session."""
    state = hub()
    assert state.redis is not None
    end_session(state.redis, g.session_id)
    audit.record(state.engine, g.user.name, "logout", address=actor_address())
    response = redirect(url_for(".login"), code=303)
    clear_cookie(response, state.settings, SESSION_COOKIE)
    return response


def _login_form(
    *, failed: bool = False, locked_minutes: int | None = None, busy: bool = False, status: int = 200
) -> Response:
    settings = hub().settings
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = page(
        "login.html",
        status=status,
        failed=failed,
        locked_minutes=locked_minutes,
        busy=busy,
        login_csrf=form_token(settings.secret("HUB_SECRET_KEY") or "", nonce),
        next_path=request.args.get("next", ""),
    )
    set_cookie(response, settings, LOGIN_COOKIE, nonce, max_age=LOGIN_NONCE_SECONDS)
    return response


def _next_path(asked: str | None) -> str:
    """Where to go after the login: a console path the form was opened for, else the home page (never
    another site: ``//evil.example`` and ``/admin/../`` are not console paths)."""
    if (
        asked
        and asked.startswith("/admin/")
        and not asked.startswith("//")
        and ".." not in asked
        and "\\" not in asked
    ):
        return asked
    return url_for(".home")
