"""Routing an issue from the console: ``/admin/route`` (coordinators and admins).

The same routing service the routing page, the API, the bot and the CLI use (``jobs.routing.api``):
the issue's offered routes, one route's autofill preview with inputs for the fields it asks, and the
POST that routes the issue as the logged-in user (``console:<name>`` in the routing log, ``route`` in
the audit). A GET only reads.
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from config.targets import ENV_TRACKERS
from jobs.routing.errors import PlanRefused, RoutingError
from routes.admin.access import requires
from routes.admin.console import actor_address, page
from routes.errors import routing_status
from routes.routing_page import plan_view, supplied_fields
from routes.state import hub, job_context
from store import audit

bp = Blueprint("route", __name__)

KEY_MAX = 64


@bp.get("/route")
@requires("coordinator")
def choose() -> ResponseReturnValue:
    """Without ``issue``: the form asking for one; with it: its offered routes; with ``route`` too:
    that route's preview and the form that routes it."""
    from jobs.routing import api  # lazy: a web process that never routes loads no tracker client

    key, tracker, route = _issue_key(request.args.get("issue")), _tracker(), request.args.get("route", "")
    if not key:
        return page("route.html", key="", tracker=tracker, offer=None)
    try:
        if not route:
            return page(
                "route.html", key=key, tracker=tracker, offer=api.offered(job_context(), key, tracker=tracker)
            )
        plan = api.preview(job_context(), route, key, {}, tracker=tracker)
    except RoutingError as exc:
        return _refused(key, tracker, exc)
    return page("route_plan.html", key=key, tracker=tracker, **plan_view(route, plan, {}, submitted=False))


@bp.post("/route")
@requires("coordinator")
def submit() -> ResponseReturnValue:
    """Route the issue by the chosen route with the values filled in; then the routing log shows it."""
    from jobs.routing import api  # lazy, as in choose()

    key, tracker, route = _issue_key(request.form.get("issue")), _tracker(), request.form.get("route", "")
    supplied = supplied_fields(request.form)
    try:
        made = api.submit(
            job_context(),
            route,
            key,
            supplied,
            actor=f"console:{g.user.name}",
            via="console",
            tracker=tracker,
        )
    except PlanRefused as exc:
        view = plan_view(route, exc.plan, supplied, submitted=True)
        return page("route_plan.html", status=422, key=key, tracker=tracker, **view)
    except RoutingError as exc:
        return _refused(key, tracker, exc)
    outcome = f"{route}: request {made.id} ({made.status})"
    audit.record(hub().engine, g.user.name, "route", target=key, outcome=outcome, address=actor_address())
    return redirect(url_for("admin.routing_log.index", issue=key), code=303)


def _refused(key: str, tracker: str | None, exc: RoutingError) -> ResponseReturnValue:
    """The issue form again, saying why the service refused (an unknown issue or route, a busy one…)."""
    return page(
        "route.html", status=routing_status(exc), key=key, tracker=tracker, offer=None, refused=str(exc)
    )


def _issue_key(value: str | None) -> str:
    return (value or "").strip().upper()[:KEY_MAX]


def _tracker() -> str | None:
    name = (request.values.get("tracker") or "").strip()
    return name if name in ENV_TRACKERS or name in hub().config.trackers else None
