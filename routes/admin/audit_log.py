"""The console's audit: ``/admin/audit`` (searchable by text, action and date) and the same search as
CSV (``/admin/audit.csv``). Admins only: it holds the addresses people log in from, and the names
strangers tried.
"""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, request, url_for
from flask.typing import ResponseReturnValue

from routes.admin.access import requires
from routes.admin.console import page, query_args
from routes.admin.filters import audit_query
from routes.state import hub
from store import audit

bp = Blueprint("audit", __name__)

CSV_LIMIT = 100_000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula


@bp.get("/audit")
@requires("admin")
def index() -> ResponseReturnValue:
    """The audit lines the search asks for, newest first."""
    query = audit_query(request.args)
    records = audit.search(hub().engine, query)
    return page(
        "audit.html",
        records=records,
        actions=audit.ACTIONS,
        args=request.args,
        export_url=url_for(".export", **query_args()),
    )


@bp.get("/audit.csv")
@requires("admin")
def export() -> ResponseReturnValue:
    """The same search as a CSV file: when, who, action, target, outcome, address."""
    query = audit_query(request.args)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at", "actor", "action", "target", "outcome", "address"])
    for record in audit.search(hub().engine, query, limit=CSV_LIMIT):
        writer.writerow(
            [record.at.isoformat()]
            + [
                cell(value)
                for value in (record.actor, record.action, record.target, record.outcome, record.address)
            ]
        )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="trackerhub-audit.csv"'},
    )


def cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: a value a stranger chose (a user name tried at the login)
    that starts like a formula is prefixed with an apostrophe (OWASP, "CSV Injection")."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value
