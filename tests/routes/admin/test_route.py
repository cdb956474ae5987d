"""Routing an issue from the console (``/admin/route``): coordinators and admins only, the service's
preview before the POST, the POST through the routing service as the console user, in the audit."""

from __future__ import annotations

import re
from collections.abc import Callable

import requests
import sqlalchemy as sa
from flask.testing import FlaskClient

from connector.types import IssueRef
from jobs.context import Context
from jobs.routing.job import run_route_with
from sandbox.server import RunningSandbox
from store import audit, routing
from store.db import route_requests
from tests.jobs.routing.conftest import create_source
from tests.routes.admin.conftest import csrf_of

SPARE_PARTS = "customfield_10040"


def test_a_coordinator_routes_an_issue_from_its_message_s_page_and_the_audit_names_them(
    ctx: Context, jira: RunningSandbox, as_user: Callable[[str], FlaskClient]
) -> None:
    source = create_source(ctx, summary="Printer <script>alert(1)</script> on fire")
    cory = as_user("cory")

    offered = cory.get(f"/admin/route?issue={source.key.lower()}")
    assert offered.status_code == 200
    assert "Hardware team" in offered.text and "<script>alert(1)" not in offered.text
    assert f"/admin/route?issue={source.key}&amp;route=hardware" in offered.text

    plan = cory.get(f"/admin/route?issue={source.key}&route=hardware")
    assert plan.status_code == 200 and "LaserJet 4250" in plan.text
    assert re.findall(r'name="(field:[^"]+)"', plan.text) == [f"field:{SPARE_PARTS}"]
    assert routing_requests(ctx, source) == []  # a GET only reads

    form = {"csrf_token": csrf_of(plan.text), "issue": source.key, "route": "hardware"}
    missing = cory.post("/admin/route", data=form)
    assert missing.status_code == 422 and "Required." in missing.text
    answer = cory.post("/admin/route", data={**form, f"field:{SPARE_PARTS}": "fuser kit"})
    assert answer.status_code == 303 and answer.headers["Location"] == f"/admin/routing?issue={source.key}"

    [made] = routing_requests(ctx, source)
    assert (made.route, made.via, made.requested_by) == ("hardware", "console", "console:cory")
    done = run_route_with(ctx, made.id)
    assert done is not None and done.status == "done"
    assert done.target_key is not None and done.target_key.startswith("HW-")
    auth = {"Authorization": "Bearer t"}
    moved = requests.get(f"{jira.url}/rest/api/2/issue/{done.target_key}", headers=auth, timeout=10).json()
    assert moved["fields"]["project"]["key"] == "HW"
    [line] = audit.search(ctx.engine, audit.AuditQuery(action="route"))
    assert (line.actor, line.target) == ("cory", source.key) and made.id in line.outcome


def test_a_viewer_cannot_route_and_a_post_without_its_token_routes_nothing(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    source = create_source(ctx)
    vic = as_user("vic")
    assert vic.get(f"/admin/route?issue={source.key}").status_code == 403
    assert vic.post("/admin/route", data={"issue": source.key, "route": "hardware"}).status_code == 403
    cory = as_user("cory")
    refused = cory.post("/admin/route", data={"issue": source.key, "route": "hardware"})
    assert refused.status_code == 403
    assert routing_requests(ctx, source) == []


def test_an_unknown_issue_or_route_is_said_on_the_page(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    cory = as_user("cory")
    unknown = cory.get("/admin/route?issue=SUP-99999")
    assert unknown.status_code == 404 and 'id="refused"' in unknown.text
    source = create_source(ctx)
    no_route = cory.get(f"/admin/route?issue={source.key}&route=nowhere")
    assert no_route.status_code == 404 and "nowhere" in no_route.text


def routing_requests(ctx: Context, source: IssueRef) -> list[routing.RouteRequest]:
    with ctx.engine.connect() as conn:
        ids = conn.execute(sa.select(route_requests.c.id).where(route_requests.c.source_key == source.key))
        return routing.requests_for(ctx.engine, [row.id for row in ids])
