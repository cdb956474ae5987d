"""The routing log in the console: ``/admin/routing`` lists each routing action from the routing audit
(``store.route_audit``): who asked, when, which issue, from where to where, with which field values,
how it ended and where it was asked (the console, the team's Telegram chat, the routing page, the API,
an automation). Filterable by date, actor, issue key and outcome; newest first; read-only."""

from __future__ import annotations

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from routes.admin.access import requires
from routes.admin.console import page, paged
from routes.admin.filters import route_log_query
from routes.state import hub
from store import route_audit

bp = Blueprint("routing_log", __name__)


@bp.get("/routing")
@requires("viewer")
def index() -> ResponseReturnValue:
    """The routing audit the filter asks for, newest first."""
    query = route_log_query(request.args)
    entries, older_url = paged(lambda limit, offset: route_audit.search(hub().engine, query, limit, offset))
    return page(
        "routing.html",
        entries=entries,
        older_url=older_url,
        outcomes=route_audit.RESULTS,
        args=request.args,
    )
