"""The routing service's interface (jobs/routing/api.py) against the Jira look-alike: the routes offered,
the autofill preview, a request journaled before it is acknowledged, a repeat that is the same request."""

from __future__ import annotations

import pytest
from rq.job import Job

from connector.types import IssueRef
from jobs.context import Context
from jobs.routing import api
from jobs.routing.errors import MissingFields, RouteBusy, UnknownIssue, UnknownRoute
from jobs.routing.queue import route_job_id
from store import routing as store


def test_a_sup_issue_is_offered_the_shipped_jira_routes(ctx: Context, source: IssueRef) -> None:
    offered = api.offered(ctx, source.key)

    assert offered.tracker == "jira" and offered.source.summary == "Printer on fire"
    ids = [route.id for route in offered.routes]
    assert ids == ["hardware", "database", "parts-order"]  # to-kaiten-queue: no Kaiten configured
    hardware = offered.routes[0]
    assert (hardware.label("ru"), hardware.label("de"), hardware.mode) == (
        "Отдел оборудования",
        "Hardware team",
        "move",
    )


def test_the_preview_shows_each_value_with_its_origin_and_asks_for_spare_parts(
    ctx: Context, source: IssueRef
) -> None:
    plan = api.preview(ctx, "hardware", source.key, {})

    origins = {p.field.name: (p.text, str(p.origin)) for p in plan.values}
    assert origins["Priority"] == ("High", "copied from priority")
    assert origins["Component/s"] == ("Printers", "mapped LaserJet 4250→Printers")
    assert origins["Summary"] == ("Printer on fire", "copied from summary")
    assert [spec.name for spec in plan.missing] == ["Spare parts"]

    filled = api.preview(ctx, "hardware", source.key, {"Spare parts": "Fuser kit"})
    assert filled.ready and str(filled.value("Spare parts").origin) == "asked"  # type: ignore[union-attr]
    assert store.read_audit(ctx.engine) == []  # a preview writes nothing


def test_the_catalogue_fills_spare_parts_for_a_parts_order(ctx: Context, source: IssueRef) -> None:
    plan = api.preview(ctx, "parts-order", source.key, {})

    assert plan.ready
    parts = plan.value("Spare parts")
    assert parts is not None and parts.text == "Fuser kit RM1-1082, Transfer roller RM1-1100"
    assert str(parts.origin) == "catalogue parts.csv row LaserJet 4250"


def test_a_request_missing_a_required_field_is_refused_naming_it_and_not_journaled(
    ctx: Context, source: IssueRef
) -> None:
    with pytest.raises(MissingFields) as refused:
        api.submit(ctx, "hardware", source.key, {}, actor="ann", via="api")

    assert "Spare parts" in str(refused.value)
    assert refused.value.details()["missing"] == [
        {"id": "customfield_10040", "name": "Spare parts", "allowed": []}
    ]
    assert store.read_audit(ctx.engine) == []


def test_a_request_is_journaled_and_enqueued_and_a_repeat_is_the_same_request(
    ctx: Context, source: IssueRef
) -> None:
    request = api.submit(ctx, "hardware", source.key, {"Spare parts": "Fuser kit"}, actor="ann", via="api")

    assert request.status == "queued" and request.supplied == {"Spare parts": "Fuser kit"}
    assert api.status(ctx, request.id) == request
    assert Job.fetch(route_job_id(request.id), connection=ctx.redis).args == (request.id,)
    again = api.submit(ctx, "hardware", source.key, {"Spare parts": "Other"}, actor="bob", via="page")
    assert again.id == request.id
    with pytest.raises(RouteBusy):
        api.submit(ctx, "database", source.key, {}, actor="bob", via="api")
    [audit] = store.read_audit(ctx.engine)
    assert (audit.actor, audit.result, audit.field_values["Spare parts"]) == ("ann", "requested", "Fuser kit")


def test_unknown_routes_and_issues_are_named(ctx: Context, source: IssueRef) -> None:
    with pytest.raises(UnknownRoute, match="hardware, database, parts-order"):
        api.submit(ctx, "nowhere", source.key, {}, actor="ann", via="api")
    with pytest.raises(UnknownIssue):
        api.preview(ctx, "hardware", "SUP-999", {})
    with pytest.raises(UnknownIssue):
        api.offered(ctx, "not a key")
    assert api.status(ctx, "0" * 24) is None
