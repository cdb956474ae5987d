"""The ``create`` action with ``fields`` (filled as a route fills its target's) and carried description,
priority and watchers (Kaiten: members), on Jira and on Kaiten; a re-run creates nothing twice, and
fields the target requires that nothing fills fail the firing before anything is created."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import requests

from connector.types import IssueDraft, Target
from jobs.automations.actions import ActionRun, perform
from jobs.automations.rules import rules_of
from jobs.automations.run import LEASE, run_firing_with
from jobs.clock import utcnow
from jobs.context import Context
from sandbox.server import RunningSandbox
from store import automations as firings
from tests.jobs.automations.test_route_action import commented, hub_with
from tests.jobs.conftest import add_fault, pause_elapsed, sandbox_issues
from tests.jobs.routing.conftest import create_source, issue_json
from tests.jobs.routing.test_kaiten import card
from tests.jobs.routing.test_kaiten import kaiten as kaiten  # noqa: PLC0414 - the fixture
from tests.sandboxes import CONTROL

AUTOMATIONS = """
- name: parts-task
  trigger: {event: commented, text_contains: "needs parts"}
  actions:
    - create:
        target: {tracker: jira, project: HW, issue_type: Task}
        title: "Parts for {{ issue.key }}"
        fields:
          "Spare parts": {template: "toner for {{ source.key }}"}
          "Equipment model": {from: "Equipment model"}
        carry: [description, priority, members, tags]
        link: true
- name: parts-task-unfilled
  trigger: {event: commented, text_contains: "some parts"}
  actions:
    - create:
        target: {tracker: jira, project: HW, issue_type: Task}
        title: "Parts for {{ issue.key }}"
        fields: {"Equipment model": {from: "Equipment model"}}
- name: dev-card
  target: {tracker: kaiten, board: 10}
  trigger: {event: commented, text_contains: "for development"}
  actions:
    - create:
        target: {tracker: kaiten, board: 20, column: 201}
        title: "Fix: {{ issue.summary }}"
        fields:
          Severity: {value: Major}
          Customer: {template: "card {{ source.key }}"}
        carry: [description, priority, members]
"""


@pytest.fixture
def cctx(ctx: Context, kaiten: RunningSandbox, tmp_path: Path) -> Context:
    return hub_with(ctx, kaiten, tmp_path / "config", AUTOMATIONS)


def watchers(sandbox: RunningSandbox, key: str) -> list[str]:
    found = requests.get(
        f"{sandbox.url}/rest/api/2/issue/{key}/watchers", headers={"Authorization": "Bearer t"}, timeout=10
    ).json()
    return [w["name"] for w in found["watchers"]]


def test_a_jira_issue_is_created_with_its_fields_filled_and_the_description_priority_watchers_carried_once(
    cctx: Context, jira_sandbox: RunningSandbox
) -> None:
    source = create_source(cctx, "Printer on fire", priority="High")
    cctx.tracker("jira").add_watchers(source.key, ["jsmith"])
    firing = commented(cctx, "jira", source.key, "this printer needs parts")
    now = utcnow()
    claimed = firings.claim(cctx.engine, firing.id, now, LEASE)
    assert claimed is not None
    [action] = rules_of(cctx)["parts-task"].actions
    # the worker created the issue, then died before saving that it had
    perform(ActionRun(cctx, cctx.tracker("jira"), claimed, 0, lambda _d: None), action)
    assert run_firing_with(cctx, firing.id, now + LEASE + dt.timedelta(seconds=1)) == "done"

    [made] = sandbox_issues(jira_sandbox, "project = HW")
    key = made["key"]
    stored = firings.get(cctx.engine, firing.id)
    assert stored is not None and stored.actions_done["0"]["created"] == key
    fields = issue_json(jira_sandbox, key)["fields"]
    assert fields["summary"] == f"Parts for {source.key}"
    assert fields["customfield_10040"] == f"toner for {source.key}"  # a template over the source
    assert fields["customfield_10050"]["value"] == "LaserJet 4250"  # copied by name
    assert fields["priority"]["name"] == "High"
    assert fields["description"] == "The printer in room 4 is *smoking*."  # Jira to Jira: markup kept
    source_labels = issue_json(jira_sandbox, source.key, "labels")["fields"]["labels"]
    assert set(source_labels) <= set(fields["labels"])
    assert watchers(jira_sandbox, key) == ["jsmith"]
    linked = [
        link.get("outwardIssue", link.get("inwardIssue", {})).get("key") for link in fields["issuelinks"]
    ]
    assert linked == [source.key]


def test_fields_the_target_requires_that_nothing_fills_fail_the_firing_before_any_create(
    cctx: Context, jira_sandbox: RunningSandbox
) -> None:
    source = create_source(cctx, "Toner everywhere")
    firing = commented(cctx, "jira", source.key, "it needs some parts")
    assert run_firing_with(cctx, firing.id) == "failed"
    failed = firings.get(cctx.engine, firing.id)
    assert failed is not None and "Spare parts" in (failed.error or "")
    assert sandbox_issues(jira_sandbox, "project = HW") == []


def test_a_kaiten_card_is_created_with_its_properties_and_the_description_asap_members_carried_once(
    cctx: Context, kaiten: RunningSandbox
) -> None:
    tracker = cctx.tracker("kaiten")
    source = tracker.create_issue(
        IssueDraft(
            Target("kaiten", "10", column="101"),
            "Export fails",
            "Fails on **every** export.",
            "k-1",
            priority="asap",
        )
    )
    tracker.add_watchers(source.key, ["3"])
    firing = commented(cctx, "kaiten", source.key, "this is for development")
    assert run_firing_with(cctx, firing.id) == "done"
    stored = firings.get(cctx.engine, firing.id)
    assert stored is not None
    key = stored.actions_done["0"]["created"]
    made = card(kaiten, key)
    assert (made["title"], made["board_id"], made["column_id"]) == ("Fix: Export fails", 20, 201)
    assert made["description"] == "Fails on **every** export."  # Kaiten to Kaiten: markdown kept
    assert made["asap"] is True
    assert made["properties"]["id_501"] == [602]  # Severity: Major
    assert made["properties"]["id_502"] == f"card {source.key}"
    assert [m["user_id"] for m in made["members"]] == [3]
    # the action run again (its progress lost) finds the card by its external id: no second card
    [action] = rules_of(cctx)["dev-card"].actions
    again = perform(ActionRun(cctx, tracker, stored, 0, lambda _d: None), action)
    assert again == {"created": key}
    assert [m["user_id"] for m in card(kaiten, key)["members"]] == [3]
    cards = requests.get(
        f"{kaiten.url}/api/latest/cards",
        params={"board_id": 20},
        headers={"Authorization": "Bearer t"},
        timeout=10,
    ).json()
    assert [c["id"] for c in cards if c["title"] == "Fix: Export fails"] == [int(key)]


def test_a_tracker_outage_while_the_source_is_read_is_retried_and_creates_once(
    cctx: Context, jira_sandbox: RunningSandbox
) -> None:
    source = create_source(cctx, "Paper jam")
    firing = commented(cctx, "jira", source.key, "this printer needs parts")
    add_fault(jira_sandbox, status=503, methods=["GET"], paths=[f"/rest/api/2/issue/{source.key}"])
    assert run_firing_with(cctx, firing.id) == "pending"  # waits for the tracker, under its breaker
    assert sandbox_issues(jira_sandbox, "project = HW") == []
    requests.delete(f"{jira_sandbox.url}/_sandbox/faults", headers=CONTROL, timeout=5)
    pause_elapsed(cctx)
    waiting = firings.get(cctx.engine, firing.id)
    assert waiting is not None and waiting.next_attempt_at is not None
    assert run_firing_with(cctx, firing.id, waiting.next_attempt_at) == "done"
    assert len(sandbox_issues(jira_sandbox, "project = HW")) == 1
