"""Reading what a route needs from the trackers and planning it: the source issue with its fields,
comments and files, and the target's create screen (cached by the connectors), turned into a
``RoutePlan`` by the pure ``mappers.autofill``. The API's preview and the job both plan this way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from config.routes import Route, offered_routes
from connector.errors import TrackerRejected, TrackerUnavailable, UnknownTarget
from connector.types import FieldSchema, FieldSpec, IssueState, Target
from jobs.context import Context
from jobs.routing.errors import RouteBroken, TrackerDown, TrackerRefused, UnknownIssue, UnknownRoute
from mappers.autofill import RoutePlan, SourceIssue, plan_route
from mappers.issue import target_of

JIRA_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*-\d+$")
KAITEN_CARD = re.compile(r"^\d+$")


def source_tracker(ctx: Context, issue_key: str, tracker: str | None = None) -> str:
    """The tracker instance an issue is in: ``tracker`` when given (a signed link names it), else the
    environment's Jira for a Jira key (``SUP-12``) and its Kaiten for a card id (``1001``).
    ``UnknownIssue`` when this deployment has no such tracker."""
    names = ctx.config.tracker_names()
    configured = {"jira": ctx.settings.JIRA_URL, "kaiten": ctx.settings.KAITEN_URL}
    if tracker is None:
        if JIRA_KEY.match(issue_key):
            tracker = "jira"
        elif KAITEN_CARD.match(issue_key):
            tracker = "kaiten"
        else:
            raise UnknownIssue(f"{issue_key!r} is neither a Jira issue key nor a Kaiten card id")
    if tracker not in names or (tracker in configured and not configured[tracker]):
        raise UnknownIssue(f"no tracker {tracker!r} is configured for {issue_key}")
    return tracker


def find_route(ctx: Context, route_id: str) -> Route:
    """The route by id; ``UnknownRoute`` naming the routes there are."""
    route = ctx.config.routes.get(route_id)
    if route is None:
        known = ", ".join(ctx.config.routes) or "(none)"
        raise UnknownRoute(f"no route {route_id!r}; the routes are {known}")
    return route


def offered_for(ctx: Context, source: SourceIssue) -> dict[str, Route]:
    """The routes offered for a source issue, in file order."""
    state = source.state
    return offered_routes(
        ctx.config,
        ctx.settings,
        tracker=state.ref.tracker,
        container=state.container,
        issue_type=state.issue_type,
    )


def read_source(ctx: Context, tracker_name: str, issue_key: str, route: Route | None = None) -> SourceIssue:
    """The source issue with every field; with its public comments and files when ``route`` carries
    them. ``UnknownIssue`` when the tracker has no such issue, ``TrackerDown`` when it does not answer."""
    tracker = ctx.tracker(tracker_name)
    kind = ctx.config.tracker_kind(tracker_name) or tracker.kind
    with tracker_errors(issue_key):
        state = tracker.get_state(issue_key, all_fields=True, fields=("description",))
        specs = _source_fields(ctx, tracker_name, state.container, state.issue_type)
        carry = route.carry if route is not None else None
        comments = (
            tuple(tracker.comments(issue_key))
            if carry and carry.comments and _may_have(state, "comment")
            else ()
        )
        files = (
            tuple(tracker.list_files(issue_key))
            if carry and carry.attachments and _may_have(state, "attachment")
            else ()
        )
    description = state.fields.get("description")
    return SourceIssue(
        state=state,
        kind=kind,
        description=description if isinstance(description, str) else "",
        fields=specs,
        comments=comments,
        files=files,
    )


def target_schema(ctx: Context, route: Route) -> FieldSchema:
    """The create screen of the route's target (cached per tracker instance by the connector)."""
    target = target_of(route.target)
    with tracker_errors(target.container):
        return ctx.tracker(target.tracker).field_schema(target)


def make_plan(
    ctx: Context, route_id: str, route: Route, source: SourceIssue, supplied: Mapping[str, Any]
) -> RoutePlan:
    """The route's plan for ``source`` with the requester's values."""
    schema = target_schema(ctx, route)
    return plan_route(route_id, route, source, schema, supplied, ctx.config.catalogues)


@contextmanager
def tracker_errors(what: str) -> Iterator[None]:
    """Translate a tracker's answers about ``what`` into the routing service's errors."""
    try:
        yield
    except UnknownTarget as exc:
        raise RouteBroken(f"the route's target is wrong: {exc}") from exc
    except TrackerRejected as exc:
        if exc.status == 404:
            raise UnknownIssue(f"{what} does not exist or the hub cannot see it") from exc
        raise TrackerRefused(f"the tracker refused: {exc}") from exc
    except TrackerUnavailable as exc:  # CircuitOpen included
        raise TrackerDown(f"the tracker does not answer now ({exc}); try again in a minute") from exc


def _may_have(state: IssueState, jira_field: str) -> bool:
    """Whether the issue may have comments (``comment``) or files (``attachment``): a Jira issue read with
    every field says when it has none (``{"total": 0}``, ``[]``), which saves the call; Kaiten does not."""
    value = state.fields.get(jira_field)
    if isinstance(value, dict):
        return value.get("total") != 0
    return value != []


def _source_fields(ctx: Context, tracker_name: str, container: str, issue_type: str) -> tuple[FieldSpec, ...]:
    """The source's field specs (so a route can name a field as the source shows it); none when the
    source's own create screen cannot be read (a project the hub may not create in)."""
    try:
        schema = ctx.tracker(tracker_name).field_schema(Target(tracker_name, container, issue_type or None))
    except TrackerRejected:
        return ()
    return schema.fields
