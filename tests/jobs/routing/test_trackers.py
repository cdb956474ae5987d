"""Every method and tracker pair: Jira Cloud's native bulk move (and its fallback to the copy method
when Cloud refuses), and Jira → Kaiten across trackers, each side linking to the other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from config.settings import Settings
from jobs.context import Context, build_context
from sandbox.server import RunningSandbox
from tests.jobs.conftest import add_fault
from tests.jobs.routing.conftest import create_source, issue_json, remote_links, route_now
from tests.sandboxes import run_jira, run_kaiten


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[RunningSandbox]:
    with run_jira(tmp_path / "cloud.sqlite3", cloud=True, faults=True) as running:
        yield running


@pytest.fixture
def cloud_ctx(settings: Settings, cloud: RunningSandbox) -> Context:
    return build_context(settings.model_copy(update={"JIRA_URL": cloud.url}))


@pytest.fixture
def kaiten(tmp_path: Path) -> Iterator[RunningSandbox]:
    with run_kaiten(tmp_path / "kaiten.sqlite3") as running:
        yield running


@pytest.fixture
def both_ctx(ctx: Context, kaiten: RunningSandbox) -> Context:
    """Jira (the look-alike of tests/jobs) and Kaiten at once, as ``HUB_SANDBOX=jira,kaiten`` runs them."""
    update = {"KAITEN_URL": kaiten.url, "KAITEN_TOKEN": "t"}
    return build_context(ctx.settings.model_copy(update=update))


def test_jira_cloud_moves_the_issue_natively_keeping_its_comments(
    cloud_ctx: Context, cloud: RunningSandbox
) -> None:
    source = create_source(cloud_ctx)
    cloud_ctx.tracker("jira").add_comment(source.key, "Smells of toner.", "hub-c1")

    done = route_now(cloud_ctx, "hardware", source.key, {"Spare parts": "Fuser kit"})

    assert (done.status, done.target_key) == ("done", "HW-1")
    assert "moved" in done.steps and "link" not in done.steps  # one issue: nothing to copy or link
    moved = issue_json(cloud, "HW-1", "*all")
    assert moved["id"] == source.id
    fields = moved["fields"]
    assert fields["customfield_10040"] == "Fuser kit"
    assert [c["name"] for c in fields["components"]] == ["Printers"]
    assert [c["body"] for c in fields["comment"]["comments"]] == ["Smells of toner."]
    assert issue_json(cloud, source.key, "project")["key"] == "HW-1"  # the old key finds the moved issue


def test_a_move_cloud_refuses_falls_back_to_the_copy_method(
    cloud_ctx: Context, cloud: RunningSandbox
) -> None:
    source = create_source(cloud_ctx)
    add_fault(cloud, status=403, methods=["POST"], paths=["/rest/api/3/bulk/issues/move"])

    done = route_now(cloud_ctx, "hardware", source.key, {"Spare parts": "Fuser kit"})

    assert (done.status, done.target_key) == ("done", "HW-1") and "moved" not in done.steps
    assert issue_json(cloud, "HW-1", "project")["id"] != source.id
    gone = requests.get(
        f"{cloud.url}/rest/api/2/issue/HW-2", headers={"Authorization": "Bearer t"}, timeout=10
    )
    assert gone.status_code == 404
    closed = issue_json(cloud, source.key, "status")["fields"]
    assert closed["status"]["statusCategory"]["key"] == "done"


def test_jira_to_kaiten_creates_a_card_links_both_ways_and_closes_the_source(
    both_ctx: Context, jira_sandbox: RunningSandbox, kaiten: RunningSandbox
) -> None:
    source = create_source(both_ctx, priority="Highest")
    both_ctx.tracker("jira").add_comment(source.key, "Urgent: the *whole* floor.", "hub-c1")

    done = route_now(both_ctx, "to-kaiten-queue", source.key)

    assert done.status == "done" and done.target_tracker == "kaiten", done.reason
    card = requests.get(
        f"{kaiten.url}/api/latest/cards/{done.target_key}", headers={"Authorization": "Bearer t"}, timeout=10
    ).json()
    assert (card["title"], card["board_id"], card["column_id"], card["asap"]) == (
        "Printer on fire",
        10,
        101,
        True,
    )
    assert card["external_id"] == f"hub-route-{done.id}"
    comments = requests.get(
        f"{kaiten.url}/api/latest/cards/{done.target_key}/comments",
        headers={"Authorization": "Bearer t"},
        timeout=10,
    ).json()
    [digest] = comments
    assert "whole" in digest["text"] and "*whole*" not in digest["text"]  # Jira markup made plain, escaped
    external = requests.get(
        f"{kaiten.url}/api/latest/cards/{done.target_key}/external-links",
        headers={"Authorization": "Bearer t"},
        timeout=10,
    ).json()
    assert [link["url"] for link in external] == [source.url]
    assert [link["object"]["url"] for link in remote_links(jira_sandbox, source.key)] == [done.target_url]
    closed = issue_json(jira_sandbox, source.key, "status")["fields"]
    assert closed["status"]["statusCategory"]["key"] == "done"
