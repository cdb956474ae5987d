"""The routing page: ``GET /route/<signed>``, what a coordinator opens from an issue's "Route" link.

The signed link (``mappers.route_links``) names the tracker and the issue. Its page lists the routes
offered for the issue; choosing one (``?route=NAME``, a plain link) shows the autofill preview (each
target field, its value, where it came from) with inputs for the fields the target requires and
autofill cannot fill, and nothing else. A GET only reads: mail scanners and link prefetchers open these
links, so routing takes the page's ``POST``, whose CSRF token is bound to the link (``routes.csrf``).
A routed request redirects (303) to ``/route/<signed>/requests/<id>``, which polls the request's status
and shows the new issue's key.

Everything goes through the routing service ``jobs.routing.api`` (the API and the CLI use the same).
Every answer is an HTML page, in English or Russian, errors included: a tampered link 403, an expired
one 410, a form with missing or invalid values is shown again with them marked (422).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from jobs.routing.errors import PlanRefused, RouteBusy, RoutingError
from mappers.route_links import BadRouteLink, ExpiredRouteLink, NoSecretKey, read_route_link
from routes.client_ip import client_address
from routes.csrf import CsrfRefused, check_csrf, csrf_token
from routes.errors import routing_status
from routes.i18n import localize, request_language
from routes.page_headers import lock_down
from routes.state import hub, job_context
from store.routing import RouteRequest

if TYPE_CHECKING:
    from mappers.autofill import RoutePlan

log = logging.getLogger(__name__)

bp = Blueprint("routing_page", __name__, template_folder="templates")

CSRF_SALT = "route-csrf"
FIELD_PREFIX = "field:"  # the asked fields' inputs are named field:<target field id>


class PageRefused(Exception):
    """An answer other than the page: ``status`` and the UI text key saying why."""

    def __init__(self, status: int, reason: str, detail: str = "", request_id: str | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.detail, self.request_id = status, reason, detail, request_id


# --- the link ------------------------------------------------------------------------------------


def _open_link(token: str) -> tuple[str, str]:
    """The (tracker, issue key) the signed link names, else the page saying why it is refused."""
    try:
        return read_route_link(hub().settings, token)
    except ExpiredRouteLink:
        raise PageRefused(410, "link_expired") from None
    except BadRouteLink:
        raise PageRefused(403, "link_invalid") from None
    except NoSecretKey:
        raise PageRefused(404, "links_off") from None


def _secret() -> str:
    secret = hub().settings.secret("HUB_SECRET_KEY")
    if not secret:
        raise PageRefused(404, "links_off")
    return secret


# --- the pages -----------------------------------------------------------------------------------


@bp.get("/route/<token>")
def show(token: str) -> ResponseReturnValue:
    """The offered routes, or with ``?route=`` that route's preview. Reads only, never routes."""
    from jobs.routing import api  # lazy: a web process that never routes loads no tracker client

    tracker, key = _open_link(token)
    ctx = job_context()
    route = request.args.get("route")
    if not route:
        offer = api.offered(ctx, key, tracker=tracker)
        return _page("route_list.html", token=token, offer=offer)
    plan = api.preview(ctx, route, key, {}, tracker=tracker)
    return _preview(token, key, route, plan, supplied={}, submitted=False)


@bp.post("/route/<token>")
def submit(token: str) -> ResponseReturnValue:
    """Route the issue by the chosen route with the values the coordinator filled in."""
    from jobs.routing import api  # lazy, as in show()

    tracker, key = _open_link(token)
    try:
        check_csrf(_secret(), CSRF_SALT, request.form.get("csrf_token"), token)
    except CsrfRefused as exc:
        log.warning("route-page.csrf-refused reason=%s", exc)
        raise PageRefused(403, "csrf") from None
    route = request.form.get("route", "")
    supplied = supplied_fields(request.form)
    state = hub()
    address = client_address(
        request.remote_addr, request.headers.getlist("X-Forwarded-For"), state.settings.HUB_TRUSTED_PROXIES
    )
    try:
        made = api.submit(
            job_context(), route, key, supplied, actor=f"link holder {address}", via="page", tracker=tracker
        )
    except PlanRefused as exc:
        return _preview(token, key, route, exc.plan, supplied=supplied, submitted=True, status=422)
    return redirect(url_for(".result", token=token, request_id=made.id), code=303)


@bp.get("/route/<token>/requests/<request_id>")
def result(token: str, request_id: str) -> ResponseReturnValue:
    """The request's status; while it runs, the page polls :func:`result_status` and shows the new key."""
    made = _request(_open_link(token), request_id)
    target_url = web_url(made.target_url)
    return _page("route_result.html", token=token, made=made, target_url=target_url, key=made.source_key)


@bp.get("/route/<token>/requests/<request_id>/status")
def result_status(token: str, request_id: str) -> ResponseReturnValue:
    """The request as JSON, for the result page's poll."""
    return jsonify(_request(_open_link(token), request_id).as_json())


def _request(issue: tuple[str, str], request_id: str) -> RouteRequest:
    """The request by id when it routes the link's issue (a link shows its own issue's requests only)."""
    from jobs.routing import api  # lazy, as in show()

    made = api.status(job_context(), request_id)
    if made is None or (made.source_tracker, made.source_key) != issue:
        raise PageRefused(404, "no_request")
    return made


def supplied_fields(form: Mapping[str, str]) -> dict[str, str]:
    """The asked fields' values by target field id; blank inputs are left out (the plan says missing)."""
    return {
        name[len(FIELD_PREFIX) :]: value.strip()
        for name, value in form.items()
        if name.startswith(FIELD_PREFIX) and value.strip()
    }


def _preview(
    token: str,
    key: str,
    route: str,
    plan: RoutePlan,
    *,
    supplied: Mapping[str, str],
    submitted: bool,
    status: int = 200,
) -> ResponseReturnValue:
    """The preview of ``plan`` with the asked fields as inputs; after a refused POST, its problems
    marked on the inputs they concern."""
    return _page(
        "route_preview.html",
        status=status,
        token=token,
        key=key,
        csrf=csrf_token(_secret(), CSRF_SALT, token),
        **plan_view(route, plan, supplied, submitted=submitted),
    )


def plan_view(route: str, plan: RoutePlan, supplied: Mapping[str, str], *, submitted: bool) -> dict[str, Any]:
    """What a preview page shows of ``plan`` (this page's and the console's): the values autofill
    filled, the asked fields' inputs with the problems of each, the problems of no one field, and
    (after a refused POST) the asked fields still missing."""
    asked_ids = {spec.id for spec in plan.asked}
    field_errors: dict[str, list[str]] = {spec.id: [] for spec in plan.asked}
    other_errors: list[str] = []
    for error in plan.errors:
        spec = next((s for s in plan.asked if error.field in (s.id, s.name)), None)
        if spec is None:
            other_errors.append(str(error))
        else:
            field_errors[spec.id].append(error.message)
    rule = job_context().config.routes.get(route)
    return {
        "route": route,
        "label": localize(rule.label, g.lang) if rule and rule.label else route,
        "plan": plan,
        "shown": [planned for planned in plan.values if planned.field.id not in asked_ids],
        "supplied": supplied,
        "field_errors": field_errors,
        "other_errors": other_errors,
        "missing": {spec.id for spec in plan.missing} if submitted else set(),
        "prefix": FIELD_PREFIX,
    }


def _page(template: str, status: int = 200, **values: Any) -> Response:
    lang = g.lang
    html = render_template(template, lang=lang, ui=UI[lang], nonce=g.nonce, **values)
    return Response(html, status=status, mimetype="text/html")


def web_url(url: str | None) -> str | None:
    """A tracker's URL fit for a link: http(s) only."""
    return url if url and url.startswith(("https://", "http://")) else None


# --- every answer of the blueprint ---------------------------------------------------------------


@bp.before_request
def _start() -> None:
    g.lang = request_language()
    g.nonce = secrets.token_urlsafe(16)


@bp.after_request
def _headers(response: Response) -> Response:
    """The link in the address bar is a credential: the page is locked down (routes/page_headers.py);
    its result page polls the request's status."""
    return lock_down(response, g.get("nonce", ""), allow="connect-src 'self'")


@bp.errorhandler(PageRefused)
def _refused(exc: PageRefused) -> ResponseReturnValue:
    return _error_page(exc.status, exc.reason, exc.detail, exc.request_id)


@bp.errorhandler(RoutingError)
def _routing_refused(exc: RoutingError) -> ResponseReturnValue:
    request_id = exc.request_id if isinstance(exc, RouteBusy) else None
    status = routing_status(exc)
    return _error_page(status, "unavailable" if status == 503 else "refused", str(exc), request_id)


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> ResponseReturnValue:
    status = exc.code or 500
    return _error_page(status, "unavailable" if status == 503 else "refused", exc.description or "")


def _error_page(status: int, reason: str, detail: str, request_id: str | None = None) -> ResponseReturnValue:
    if "lang" not in g:
        _start()
    token = request.view_args.get("token") if request.view_args else None
    busy_url = url_for(".result", token=token, request_id=request_id) if token and request_id else None
    page = _page("route_error.html", status=status, reason=reason, detail=detail, busy_url=busy_url)
    if status == 503:
        page.headers["Retry-After"] = "60"
    return page


UI: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Route an issue",
        "choose": "Where should {key} go?",
        "none": "No route is offered for this issue.",
        "status": "Status",
        "mode": {"move": "moves the issue", "spawn": "creates a linked issue"},
        "preview": "{key} → {label}",
        "field": "Field",
        "value": "Value",
        "origin": "Where it comes from",
        "origins": {
            "copied": "copied from",
            "mapped": "mapped",
            "constant": "constant",
            "template": "template",
            "catalogue": "catalogue",
            "asked": "filled in",
            "default": "default",
        },
        "asked": "The target needs these; fill them in:",
        "required": "required",
        "missing": "Fill this in.",
        "choose_value": "Choose…",
        "problems": "Please fix these first:",
        "route": "Route",
        "back": "Other routes",
        "result": "Routing {key}",
        "states": {
            "queued": "Waiting to start…",
            "running": "Routing…",
            "needs_input": "The target needs more values.",
            "done": "Done. The issue is now",
            "failed": "Routing failed:",
        },
        "open": "Open",
        "reload": "This page updates itself.",
        "errors": {
            "link_expired": "This routing link has expired. Open the issue's Route link again.",
            "link_invalid": "This routing link is not valid. Open the issue's Route link again.",
            "links_off": "This hub makes no routing links.",
            "csrf": "The form has expired or did not come from this page. Open the link again.",
            "no_request": "There is no such routing request for this issue.",
            "refused": "The issue cannot be routed:",
            "unavailable": "The tracker does not answer right now. Try again in a minute.",
            "busy": "See the routing in progress",
        },
    },
    "ru": {
        "title": "Перенаправить задачу",
        "choose": "Куда направить {key}?",
        "none": "Для этой задачи нет доступных маршрутов.",
        "status": "Статус",
        "mode": {"move": "задача переносится", "spawn": "создаётся связанная задача"},
        "preview": "{key} → {label}",
        "field": "Поле",
        "value": "Значение",
        "origin": "Откуда",
        "origins": {
            "copied": "скопировано из",
            "mapped": "по таблице",
            "constant": "константа",
            "template": "шаблон",
            "catalogue": "каталог",
            "asked": "указано вами",
            "default": "по умолчанию",
        },
        "asked": "Эти поля нужны в целевом проекте, заполните их:",
        "required": "обязательно",
        "missing": "Заполните это поле.",
        "choose_value": "Выберите…",
        "problems": "Сначала исправьте:",
        "route": "Направить",
        "back": "Другие маршруты",
        "result": "Перенаправление {key}",
        "states": {
            "queued": "Ожидает запуска…",
            "running": "Перенаправляем…",
            "needs_input": "Целевому проекту нужны ещё значения.",
            "done": "Готово. Теперь задача —",
            "failed": "Не удалось перенаправить:",
        },
        "open": "Открыть",
        "reload": "Страница обновляется сама.",
        "errors": {
            "link_expired": "Срок действия ссылки истёк. Откройте ссылку «Route» в задаче ещё раз.",
            "link_invalid": "Ссылка недействительна. Откройте ссылку «Route» в задаче ещё раз.",
            "links_off": "Этот хаб не выдаёт ссылок для перенаправления.",
            "csrf": "Форма устарела или отправлена не с этой страницы. Откройте ссылку ещё раз.",
            "no_request": "Такого запроса на перенаправление для этой задачи нет.",
            "refused": "Задачу нельзя перенаправить:",
            "unavailable": "Трекер сейчас не отвечает. Попробуйте через минуту.",
            "busy": "Открыть идущее перенаправление",
        },
    },
}
