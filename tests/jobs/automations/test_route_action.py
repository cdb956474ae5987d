"""The ``route`` action: a rule routes the issue through the routing service and job (issue 13), once per
firing, on Jira (the copy method of Data Center: a new issue in the target project, the source closed)
and on Kaiten (a move to another board, the same card)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from jobs.automations.actions import ActionRun, perform
from jobs.automations.events import fire_for_event
from jobs.automations.rules import rules_of
from jobs.automations.run import LEASE, run_firing_with
from jobs.clock import utcnow
from jobs.context import Context, build_context
from jobs.routing.job import run_route_with
from mappers.tracker_events import TrackerEvent
from sandbox.server import RunningSandbox
from store import automations as firings
from store import routing
from store.db import route_requests
from tests.conftest import REPO_ROOT
from tests.jobs.routing.conftest import create_source, issue_json
from tests.jobs.routing.test_kaiten import KAITEN_ROUTES, card, create_card
from tests.jobs.routing.test_kaiten import kaiten as kaiten  # noqa: PLC0414 - the fixture

AUTOMATIONS = """
- name: to-database
  trigger: {event: commented, text_contains: "for the DBAs"}
  actions:
    - {route: database}
- name: to-hardware
  trigger: {event: commented, text_contains: "for hardware"}
  actions:
    - {route: hardware}
- name: to-development
  target: {tracker: kaiten, board: 10}
  trigger: {event: commented, text_contains: "for the developers"}
  actions:
    - {route: to-development}
"""


def hub_with(ctx: Context, kaiten: RunningSandbox, folder: Path, automations: str) -> Context:
    """Jira and Kaiten look-alikes; the shipped rule file with the Kaiten routes and ``automations``."""
    shutil.copytree(REPO_ROOT / "config" / "catalogues", folder / "catalogues")
    shutil.copytree(REPO_ROOT / "config" / "canned", folder / "canned")
    rules = yaml.safe_load((REPO_ROOT / "config" / "hub.yaml").read_text())
    rules["routes"].update(yaml.safe_load(KAITEN_ROUTES))
    rules["automations"] = yaml.safe_load(automations)
    (folder / "hub.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True, sort_keys=False))
    update = {"KAITEN_URL": kaiten.url, "KAITEN_TOKEN": "t", "HUB_CONFIG": folder / "hub.yaml"}
    return build_context(ctx.settings.model_copy(update=update))


@pytest.fixture
def rctx(ctx: Context, kaiten: RunningSandbox, tmp_path: Path) -> Context:
    return hub_with(ctx, kaiten, tmp_path / "config", AUTOMATIONS)


def commented(ctx: Context, tracker: str, key: str, text: str) -> firings.Firing:
    """A comment event on the issue, fired; the one firing it stored."""
    event = TrackerEvent(
        tracker=tracker,  # type: ignore[arg-type]
        kind="comment_created",
        event_id=f"{key}-comment",
        issue_key=key,
        comment_body=text,
        comment_public=True,
    )
    fire_for_event(ctx, ctx.tracker(tracker), event, own=False)
    [firing] = firings.history(ctx.engine, key)
    return firing


def requests_of(ctx: Context, key: str) -> list[routing.RouteRequest]:
    with ctx.engine.connect() as conn:
        ids = [
            r.id
            for r in conn.execute(sa.select(route_requests.c.id).where(route_requests.c.source_key == key))
        ]
    return routing.requests_for(ctx.engine, ids)


def test_a_rule_routes_a_jira_issue_to_another_project_once(
    rctx: Context, jira_sandbox: RunningSandbox
) -> None:
    source = create_source(rctx, "Replication lag", priority="High")
    firing = commented(rctx, "jira", source.key, "this one is for the DBAs")
    now = utcnow()
    claimed = firings.claim(rctx.engine, firing.id, now, LEASE)
    assert claimed is not None
    [action] = rules_of(rctx)["to-database"].actions
    # the worker submitted the route, then died before saving that it had
    submitted = perform(ActionRun(rctx, rctx.tracker("jira"), claimed, 0, lambda _d: None), action)
    [request] = requests_of(rctx, source.key)
    assert submitted == {"route_request": request.id, "status": "queued"}
    assert (request.via, request.requested_by) == ("automation", f"automation to-database firing {firing.id}")
    done = run_route_with(rctx, request.id)
    assert done is not None and (done.status, done.target_key) == ("done", "DB-1"), done and done.reason
    # an hour later (past the routing service's own dedup window) the firing runs again: no second route
    with rctx.engine.begin() as conn:
        conn.execute(route_requests.update().values(updated_at=now - dt.timedelta(hours=1)))
    assert run_firing_with(rctx, firing.id, now + LEASE + dt.timedelta(seconds=1)) == "done"
    assert [r.id for r in requests_of(rctx, source.key)] == [request.id]
    stored = firings.get(rctx.engine, firing.id)
    assert stored is not None and stored.actions_done["0"]["route_request"] == request.id
    db = issue_json(jira_sandbox, "DB-1", "summary,components")["fields"]
    assert db["summary"] == "Replication lag" and [c["name"] for c in db["components"]] == ["PostgreSQL"]
    assert issue_json(jira_sandbox, source.key, "status")["fields"]["status"]["name"] == "Done"


def test_a_rule_moves_a_kaiten_card_to_another_board_once(rctx: Context, kaiten: RunningSandbox) -> None:
    source = create_card(rctx)
    firing = commented(rctx, "kaiten", source.key, "this is for the developers")
    assert run_firing_with(rctx, firing.id) == "done"
    [request] = requests_of(rctx, source.key)
    done = run_route_with(rctx, request.id)
    assert done is not None and done.status == "done", done and done.reason
    moved = card(kaiten, source.key)
    assert (moved["board_id"], moved["column_id"]) == (20, 202)
    assert commented(rctx, "kaiten", source.key, "this is for the developers").id == firing.id  # a replay
    assert run_firing_with(rctx, firing.id) == "busy"  # done: not run again
    assert len(requests_of(rctx, source.key)) == 1


def test_a_route_the_issue_cannot_take_fails_the_firing_with_the_reason(
    rctx: Context, jira_sandbox: RunningSandbox
) -> None:
    source = create_source(rctx, "Toner everywhere")
    firing = commented(rctx, "jira", source.key, "for hardware")  # HW requires "Spare parts": nobody fills it
    assert run_firing_with(rctx, firing.id) == "failed"
    failed = firings.get(rctx.engine, firing.id)
    assert (
        failed is not None
        and "MissingFields" in (failed.error or "")
        and "Spare parts" in (failed.error or "")
    )
    assert requests_of(rctx, source.key) == []
