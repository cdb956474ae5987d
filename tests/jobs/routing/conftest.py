"""Routing fixtures: the worker context of tests/jobs on the Jira look-alike, and issues to route."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from connector.types import IssueDraft, IssueRef, Target
from jobs.context import Context
from jobs.routing import api
from jobs.routing.job import run_route_with
from sandbox.server import RunningSandbox
from store.routing import RouteRequest

LASERJET = {"id": "10200"}  # the look-alike's "Equipment model" option


def create_source(
    ctx: Context, summary: str = "Printer on fire", priority: str | None = "High", **custom: object
) -> IssueRef:
    """A SUP issue as the hub would have opened it (with its own idempotency label)."""
    marker = f"hub-{uuid.uuid4().hex[:12]}"
    draft = IssueDraft(
        Target("jira", "SUP", issue_type="Task"),
        summary,
        "The printer in room 4 is *smoking*.",
        marker,
        labels=(marker,),
        priority=priority,
        custom_fields={"customfield_10050": LASERJET, **custom},
    )
    return ctx.tracker("jira").create_issue(draft)


@pytest.fixture
def source(ctx: Context) -> IssueRef:
    return create_source(ctx)


def route_now(ctx: Context, route: str, key: str, fields: dict[str, str] | None = None) -> RouteRequest:
    """Submit a request as the API does, then run its job in this process as a worker would."""
    request = api.submit(ctx, route, key, fields or {}, actor="coordinator", via="api")
    ended = run_route_with(ctx, request.id)
    assert ended is not None
    return ended


def issue_json(sandbox: RunningSandbox, key: str, fields: str = "*all") -> dict[str, Any]:
    response = requests.get(
        f"{sandbox.url}/rest/api/2/issue/{key}",
        params={"fields": fields},
        headers={"Authorization": "Bearer t"},
        timeout=10,
    )
    response.raise_for_status()
    return dict(response.json())


def remote_links(sandbox: RunningSandbox, key: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{sandbox.url}/rest/api/2/issue/{key}/remotelink", headers={"Authorization": "Bearer t"}, timeout=10
    )
    response.raise_for_status()
    return list(response.json())
