"""Automation firings in the console: ``/admin/automations`` lists what the automation rules did
(``store.automations``): the rule, the issue, when, and the outcome: done, skipped (an action had
nothing to do, and says why), failed (with the reason), or still pending or running. Filterable by rule,
issue, outcome and date; newest first. Read-only: a failed firing is not re-run from here (no service
re-runs one; its rule fires again at its next occurrence)."""

from __future__ import annotations

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from routes.admin.access import requires
from routes.admin.console import page, paged
from routes.admin.filters import firing_query
from routes.state import hub
from store import automations

bp = Blueprint("firings", __name__)


@bp.get("/automations")
@requires("viewer")
def index() -> ResponseReturnValue:
    """The firings the filter asks for, newest first."""
    query = firing_query(request.args)
    found, older_url = paged(lambda limit, offset: automations.search(hub().engine, query, limit, offset))
    return page(
        "automations.html",
        firings=[(firing, automations.skipped_reasons(firing)) for firing in found],
        older_url=older_url,
        outcomes=automations.OUTCOMES,
        args=request.args,
    )
