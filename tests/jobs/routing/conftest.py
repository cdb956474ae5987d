"""Routing fixtures: the worker context of tests/jobs on the Jira look-alike, and issues to route."""

from __future__ import annotations

import uuid

import pytest

from connector.types import IssueDraft, IssueRef, Target
from jobs.context import Context

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
