"""Kaiten as the source: a move within the space is one PATCH (the card keeps its id), and Kaiten → Jira
is the copy method with links both ways and the card put in its board's done column, or archived."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from config.settings import Settings
from connector.types import IssueDraft, IssueRef, Target
from jobs.context import Context, build_context
from sandbox.server import RunningSandbox
from store.routing import RouteRequest
from tests.conftest import REPO_ROOT
from tests.jobs.routing.conftest import issue_json, remote_links, route_now
from tests.sandboxes import run_kaiten

KAITEN_ROUTES = """
to-development:
  label: {en: "Development board"}
  offered: {trackers: [kaiten], boards: [10]}
  target: {tracker: kaiten, board: 20, column: 202}
  mode: move
  fields:
    asap: {value: true}
  notify: {watchers: [2]}
kaiten-to-hardware:
  label: {en: "Hardware team (Jira)"}
  offered: {trackers: [kaiten]}
  target: {tracker: jira, project: HW, issue_type: Task}
  mode: move
  fields:
    "Spare parts": {template: "for card {{ source.key }}"}
  source_fate: {column: 103}
kaiten-to-hardware-archived:
  label: {en: "Hardware team (Jira), card archived"}
  offered: {trackers: [kaiten]}
  target: {tracker: jira, project: HW, issue_type: Task}
  mode: move
  fields:
    "Spare parts": {template: "for card {{ source.key }}"}
  source_fate: {archive: true, comment: "Handed to the hardware team"}
  notify: {watchers: [jsmith, nobody]}
"""
AUTH = {"Authorization": "Bearer t"}


@pytest.fixture
def kaiten(tmp_path: Path) -> Iterator[RunningSandbox]:
    with run_kaiten(tmp_path / "kaiten.sqlite3") as running:
        yield running


@pytest.fixture
def kctx(ctx: Context, kaiten: RunningSandbox, tmp_path: Path) -> Context:
    """Jira and Kaiten look-alikes, with the shipped rule file plus three routes from Kaiten."""
    folder = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config" / "catalogues", folder / "catalogues")
    shutil.copytree(REPO_ROOT / "config" / "canned", folder / "canned")
    rule_file = folder / "hub.yaml"
    rules = yaml.safe_load((REPO_ROOT / "config" / "hub.yaml").read_text())
    rules["routes"].update(yaml.safe_load(KAITEN_ROUTES))
    rule_file.write_text(yaml.safe_dump(rules, allow_unicode=True, sort_keys=False))
    update = {"KAITEN_URL": kaiten.url, "KAITEN_TOKEN": "t", "HUB_CONFIG": rule_file}
    settings: Settings = ctx.settings.model_copy(update=update)
    return build_context(settings)


def card(kaiten: RunningSandbox, card_id: str) -> dict:  # type: ignore[type-arg]
    response = requests.get(f"{kaiten.url}/api/latest/cards/{card_id}", headers=AUTH, timeout=10)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def create_card(kctx: Context) -> IssueRef:
    marker = f"hub-{uuid.uuid4().hex[:12]}"
    draft = IssueDraft(Target("kaiten", "10", column="101"), "Scanner jams", "Jams on *every* page.", marker)
    return kctx.tracker("kaiten").create_issue(draft)


def test_a_move_within_the_space_is_one_patch_and_keeps_the_card(
    kctx: Context, kaiten: RunningSandbox
) -> None:
    source = create_card(kctx)

    done = route_now(kctx, "to-development", source.key)

    assert (done.status, done.target_tracker, done.target_key) == ("done", "kaiten", source.key), done.reason
    assert "moved" in done.steps
    moved = card(kaiten, source.key)
    assert (moved["board_id"], moved["column_id"], moved["asap"]) == (20, 202, True)
    assert [m["user_id"] for m in moved["members"]] == [2]  # the route's watcher, as a card member
    kctx.tracker("kaiten").add_watchers(source.key, ["2"])  # a retry after a lost answer
    assert [m["user_id"] for m in card(kaiten, source.key)["members"]] == [2]  # the watcher, a member once


def route_to_hardware(kctx: Context, route: str) -> tuple[IssueRef, RouteRequest]:
    """A new card routed to the Jira project HW, which becomes HW-1."""
    source = create_card(kctx)
    done = route_now(kctx, route, source.key)
    assert (done.status, done.target_key) == ("done", "HW-1"), done.reason
    return source, done


def test_kaiten_to_jira_copies_links_both_ways_and_puts_the_card_in_done(
    kctx: Context, kaiten: RunningSandbox, jira_sandbox: RunningSandbox
) -> None:
    source, done = route_to_hardware(kctx, "kaiten-to-hardware")

    hw = issue_json(jira_sandbox, "HW-1")["fields"]
    assert hw["summary"] == "Scanner jams" and hw["customfield_10040"] == f"for card {source.key}"
    assert "every" in hw["description"] and "*every*" not in hw["description"]  # markdown made plain, escaped
    assert [link["object"]["url"] for link in remote_links(jira_sandbox, "HW-1")] == [source.url]
    external = requests.get(
        f"{kaiten.url}/api/latest/cards/{source.key}/external-links", headers=AUTH, timeout=10
    )
    assert [link["url"] for link in external.json()] == [done.target_url]
    assert card(kaiten, source.key)["column_id"] == 103


def test_kaiten_to_jira_with_archive_archives_the_card_once_and_adds_the_known_watchers(
    kctx: Context, kaiten: RunningSandbox, jira_sandbox: RunningSandbox
) -> None:
    source, done = route_to_hardware(kctx, "kaiten-to-hardware-archived")

    archived = card(kaiten, source.key)
    assert (archived["condition"], archived["column_id"]) == (2, 101)  # archived where it was, not moved

    def handed() -> list[str]:
        url = f"{kaiten.url}/api/latest/cards/{source.key}/comments"
        texts = [c["text"] for c in requests.get(url, headers=AUTH, timeout=10).json()]
        return [text for text in texts if text.startswith("Handed to the hardware team")]

    assert handed() == [f"Handed to the hardware team HW-1 {done.target_url}"]
    kctx.tracker("kaiten").archive(source.key, comment=handed()[0])  # a retry after a lost answer
    assert handed() == [f"Handed to the hardware team HW-1 {done.target_url}"]
    assert card(kaiten, source.key)["condition"] == 2

    def watchers() -> list[str]:
        url = f"{jira_sandbox.url}/rest/api/2/issue/HW-1/watchers"
        return [w["name"] for w in requests.get(url, headers=AUTH, timeout=10).json()["watchers"]]

    assert watchers() == ["jsmith"]  # "nobody", a user Jira does not know, logged: the card has moved
    kctx.tracker("jira").add_watchers("HW-1", ["jsmith"])  # a retry after a lost answer
    assert watchers() == ["jsmith"]
