"""The routing service: what the routing page, the HTTP API and the CLI call (and nothing else of
jobs/routing/). One service, one journal, one audit for all three entry points.

- :func:`offered`: the source issue and the routes offered for it;
- :func:`preview`: the autofill plan of one route (reads, writes nothing);
- :func:`submit`: journals a request (before anyone acknowledges it) and enqueues its job
  ``route-<id>``; a repeat for the same route and issue within :data:`DEDUP_WINDOW` is the same request;
- :func:`status`: a request as it stands.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from connector.types import IssueState
from jobs.context import Context
from jobs.routing.errors import InvalidValues, MissingFields, RouteBusy, RouteNotOffered
from jobs.routing.planning import find_route, make_plan, offered_for, read_source, source_tracker
from jobs.routing.queue import enqueue_route
from mappers.autofill import RoutePlan
from store import routing as store
from store.routing import RouteRequest

log = logging.getLogger(__name__)

DEDUP_WINDOW = dt.timedelta(minutes=10)  # a repeat within this of a done request gets that request
LEASE_SECONDS = 300  # a request's hold while its job runs; past it the sweep gives it a new job
VIAS = ("page", "api", "cli", "bot", "automation", "console")

__all__ = ["OfferedRoute", "OfferedRoutes", "RouteRequest", "offered", "preview", "status", "submit"]


@dataclass(frozen=True)
class OfferedRoute:
    """One route offered for an issue: its id, its label by language, its mode and target."""

    id: str
    labels: dict[str, str]
    mode: str
    target_tracker: str
    target_container: str

    def label(self, language: str) -> str:
        """The label in ``language`` (else English, else the id)."""
        return self.labels.get(language) or self.labels.get("en") or self.id


@dataclass(frozen=True)
class OfferedRoutes:
    """The source issue (summary, status, project…) and the routes it can take, in file order."""

    tracker: str
    source: IssueState
    routes: tuple[OfferedRoute, ...]


def offered(ctx: Context, issue_key: str, *, tracker: str | None = None) -> OfferedRoutes:
    """The routes offered for the issue; ``UnknownIssue`` when there is no such issue."""
    name = source_tracker(ctx, issue_key, tracker)
    source = read_source(ctx, name, issue_key)
    routes = []
    for rid, route in offered_for(ctx, source).items():
        label = route.label
        labels = {"en": label} if isinstance(label, str) else dict(label)
        labels = {lang: text for lang, text in labels.items() if text} or {"en": rid}
        target = route.target
        routes.append(
            OfferedRoute(
                id=rid,
                labels=labels,
                mode=route.mode,
                target_tracker=target.tracker,
                target_container=str(getattr(target, "project", None) or getattr(target, "board", "")),
            )
        )
    return OfferedRoutes(tracker=name, source=source.state, routes=tuple(routes))


def preview(
    ctx: Context, route: str, issue_key: str, supplied: Mapping[str, str], *, tracker: str | None = None
) -> RoutePlan:
    """The autofill plan of ``route`` for the issue with the requester's values: each target field, its
    value and origin, the fields still missing, the errors. Reads the trackers, writes nothing.
    ``UnknownRoute``, ``UnknownIssue``, ``RouteNotOffered`` as :func:`submit`."""
    rule = find_route(ctx, route)
    name = source_tracker(ctx, issue_key, tracker)
    source = read_source(ctx, name, issue_key, rule)
    if route not in offered_for(ctx, source):
        raise RouteNotOffered(f"route {route!r} is not offered for {issue_key}")
    return make_plan(ctx, route, rule, source, supplied)


def submit(
    ctx: Context,
    route: str,
    issue_key: str,
    supplied: Mapping[str, str],
    *,
    actor: str,
    via: str,
    tracker: str | None = None,
) -> RouteRequest:
    """Journal a routing request and enqueue its job; the request (the same one for a repeat within
    the dedup window, or while the first is still running).

    Raises ``UnknownRoute``, ``UnknownIssue``, ``RouteNotOffered``, ``MissingFields`` (the plan names
    them), ``InvalidValues``, ``RouteBusy`` (another route of the issue is running), ``TrackerDown``.
    """
    find_route(ctx, route)  # an unknown route is refused before anything is read
    name = source_tracker(ctx, issue_key, tracker)
    earlier = store.recent_request(ctx.engine, route, name, issue_key, DEDUP_WINDOW)
    if earlier is not None:
        return _same_or_busy(ctx, earlier, route)
    rule = find_route(ctx, route)
    source = read_source(ctx, name, issue_key)  # fields only: the job reads the comments and files
    if route not in offered_for(ctx, source):
        raise RouteNotOffered(f"route {route!r} is not offered for {issue_key}")
    plan = make_plan(ctx, route, rule, source, supplied)
    if plan.missing:
        raise MissingFields(plan)
    if plan.errors:
        raise InvalidValues(plan)
    request, made = store.add_request(
        ctx.engine,
        route=route,
        source_tracker=name,
        source_key=issue_key,
        requested_by=actor,
        via=via if via in VIAS else "api",
        supplied={str(k): v for k, v in supplied.items()},
        field_values={p.field.name: p.text for p in plan.values},
        lease_seconds=LEASE_SECONDS,
    )
    if not made:
        return _same_or_busy(ctx, request, route)
    enqueue_route(ctx.redis, request.id)
    log.info(
        "route.requested request=%s route=%s source=%s:%s via=%s", request.id, route, name, issue_key, via
    )
    return request


def status(ctx: Context, request_id: str) -> RouteRequest | None:
    """The request as it stands, or None when there is none by that id."""
    return store.get_request(ctx.engine, request_id)


def _same_or_busy(ctx: Context, request: RouteRequest, route: str) -> RouteRequest:
    """An earlier request of the issue: the answer to a repeat of it, a conflict for another route."""
    if request.route != route:
        raise RouteBusy(
            f"{request.source_key} is being routed by {request.route!r} (request {request.id})", request.id
        )
    if not request.finished:
        enqueue_route(ctx.redis, request.id)  # harmless when its job exists; revives a lost one
    return request
