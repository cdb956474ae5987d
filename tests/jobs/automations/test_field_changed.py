"""``field_changed`` and ``when.fields`` from the trackers' own webhooks, and the shipped
``checklist-children`` recipe on Kaiten: each item of the card's "Подзадачи" checklist becomes one child
card carrying the card's tags and links, however often the checklist changes or the webhook comes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from connector.types import IssueDraft, Target
from jobs.automations.events import fire_for_event
from jobs.automations.rules import rules_of
from jobs.automations.scan import dry_run
from jobs.context import Context
from mappers.tracker_events import parse_jira_webhook
from sandbox.server import RunningSandbox
from store import automations as firings
from tests.jobs.automations.conftest import with_automations
from tests.jobs.automations.hooked import Hub, replay, settle
from tests.jobs.automations.test_linked import jira, jira_issue, kaiten

SEVERITY_RULES = """
  - name: severity-critical
    trigger: {event: field_changed, field: Severity}
    when: {fields: {Severity: Critical}}
    actions: [{set: {labels: [critical-now]}}]
  - name: customer-changed
    trigger: {event: field_changed, field: customfield_10010}
    actions: [{set: {labels: [customer-changed]}}]
"""


def labels(sandbox: RunningSandbox, key: str) -> list[str]:
    return sorted(jira(sandbox, "GET", f"/issue/{key}")["fields"]["labels"])


def edit(sandbox: RunningSandbox, key: str, **fields: Any) -> None:
    jira(sandbox, "PUT", f"/issue/{key}", json={"fields": fields})


def test_jira_a_field_change_fires_the_rules_about_that_field_when_its_value_holds(
    jira_hub: Context, hooked_jira: RunningSandbox, hub: Hub, tmp_path: Path
) -> None:
    ctx = with_automations(jira_hub, tmp_path / "rules", SEVERITY_RULES)
    key = jira_issue(hooked_jira, "SUP", "The printer is on fire")
    edit(hooked_jira, key, customfield_10020={"value": "Minor"})  # the field, not the value
    assert settle(ctx, hooked_jira) == []
    edit(hooked_jira, key, customfield_10020={"value": "Critical"})  # by name: "Severity"
    assert settle(ctx, hooked_jira) == ["done"]
    assert labels(hooked_jira, key) == ["critical-now"]
    edit(hooked_jira, key, customfield_10010="ACME")  # by id: customfield_10010 ("Customer")
    assert settle(ctx, hooked_jira) == ["done"]
    assert labels(hooked_jira, key) == ["critical-now", "customer-changed"]
    # the Critical change again: Jira's retry, then its event job run three times
    critical = next(d for d in hub.received if d.changelog().get("Severity") == "Critical")
    assert replay(hub, critical).json()["duplicate"] is True
    event = parse_jira_webhook(critical.payload)
    for _ in range(3):
        assert fire_for_event(ctx, ctx.tracker("jira"), event, own=False) == []
    assert sorted(f.rule for f in firings.history(ctx.engine, key)) == [
        "customer-changed",
        "severity-critical",
    ]


CRITICAL_SCAN = """
  - name: critical-scan
    trigger: {every: 1h}
    when: {fields: {Severity: [Critical, Major]}}
    actions: [{set: {labels: [seen]}}]
"""


def test_jira_when_fields_by_name_filters_a_scan(
    jira_hub: Context, hooked_jira: RunningSandbox, tmp_path: Path
) -> None:
    ctx = with_automations(jira_hub, tmp_path / "rules", CRITICAL_SCAN)
    critical, minor, unset = (jira_issue(hooked_jira, "SUP", f"Issue {n}") for n in range(3))
    edit(hooked_jira, critical, customfield_10020={"value": "Critical"})
    edit(hooked_jira, minor, customfield_10020={"value": "Minor"})
    rule = rules_of(ctx)["critical-scan"]
    found = dry_run(ctx, rule, dt.datetime.now(dt.UTC))
    assert [f.issue_key for f in found] == [critical]
    assert unset not in [f.issue_key for f in found]


# -- Kaiten ----------------------------------------------------------------------------------------------


def card_with_tag_and_link(ctx: Context, title: str) -> str:
    tracker = ctx.tracker("kaiten")
    draft = IssueDraft(Target("kaiten", "10", None, "101"), title, "b", f"deal-{title}", labels=("vip",))
    key = tracker.create_issue(draft).key
    tracker.add_remote_link(key, "https://crm.example/deals/7", "The deal in the CRM", global_id="crm-7")
    return key


def checklist(sandbox: RunningSandbox, card: str, name: str, *items: str) -> int:
    created = kaiten(sandbox, "POST", f"/cards/{card}/checklists", json={"name": name})
    for text in items:
        add_item(sandbox, card, created["id"], text)
    return int(created["id"])


def add_item(sandbox: RunningSandbox, card: str, checklist_id: int, text: str) -> None:
    kaiten(sandbox, "POST", f"/cards/{card}/checklists/{checklist_id}/items", json={"text": text})


def children(sandbox: RunningSandbox, card: str) -> list[dict[str, Any]]:
    found = kaiten(sandbox, "GET", f"/cards/{card}/children")
    return [kaiten(sandbox, "GET", f"/cards/{child['id']}") for child in found]


def items(sandbox: RunningSandbox, card: str) -> dict[str, bool]:
    lists = kaiten(sandbox, "GET", f"/cards/{card}")["checklists"]
    return {i["text"]: i["checked"] for c in lists for i in c["items"]}


def test_kaiten_shipped_checklist_children_makes_one_child_card_per_item_with_tags_and_links(
    kaiten_hub: Context, hooked_kaiten: RunningSandbox, hub: Hub
) -> None:
    card = card_with_tag_and_link(kaiten_hub, "Deal with ACME")
    checklist(hooked_kaiten, card, "Другое", "Не трогать")  # another checklist: no children
    subtasks = checklist(hooked_kaiten, card, "Подзадачи", "Договор", "Счёт")
    assert "failed" not in settle(kaiten_hub, hooked_kaiten)
    made = children(hooked_kaiten, card)
    assert sorted(child["title"] for child in made) == ["Договор", "Счёт"]
    for child in made:
        assert [tag["name"] for tag in child["tags"]] == ["vip"]
        assert [link["url"] for link in child["external_links"]] == ["https://crm.example/deals/7"]
        assert child["parents_ids"] == [int(card)] and child["board_id"] == 10
    assert items(hooked_kaiten, card) == {"Не трогать": False, "Договор": True, "Счёт": True}
    # Kaiten's retry of a checklist change, and the same change reported again later
    change = next(d for d in hub.received if "goals_total" in d.payload["data"].get("changes", {}))
    assert replay(hub, change).json()["duplicate"] is True
    payload = change.payload
    payload["data"]["changes"]["updated"] = "2099-01-01T00:00:00.000Z"
    assert replay(hub, change, json.dumps(payload).encode()).status_code == 202
    assert "failed" not in settle(kaiten_hub, hooked_kaiten)
    assert len(children(hooked_kaiten, card)) == 2
    add_item(hooked_kaiten, card, subtasks, "Акт")  # a new item later: one more child
    assert "failed" not in settle(kaiten_hub, hooked_kaiten)
    assert sorted(child["title"] for child in children(hooked_kaiten, card)) == ["Акт", "Договор", "Счёт"]


UNCHECKED = """
  - name: children-unchecked
    trigger: {event: field_changed, field: checklists}
    actions:
      - {checklist_children: {checklist: "подзадачи", carry: [tags], check_items: false}}
"""


def test_kaiten_an_item_left_unchecked_gets_its_child_once_over_many_changes(
    kaiten_hub: Context, hooked_kaiten: RunningSandbox, tmp_path: Path
) -> None:
    ctx = with_automations(kaiten_hub, tmp_path / "rules", UNCHECKED)
    card = card_with_tag_and_link(ctx, "Deal with Globex")
    subtasks = checklist(hooked_kaiten, card, "Подзадачи", "Договор")
    assert settle(ctx, hooked_kaiten) == ["done"]
    add_item(hooked_kaiten, card, subtasks, "Счёт")  # the second change: both items seen again
    assert settle(ctx, hooked_kaiten) == ["done"]
    made = children(hooked_kaiten, card)
    assert sorted(child["title"] for child in made) == ["Договор", "Счёт"]
    assert all(child["external_links"] == [] for child in made)  # links not carried by this rule
    assert items(hooked_kaiten, card) == {"Договор": False, "Счёт": False}


PROPERTY_RULES = """
  - name: customer-acme
    trigger: {event: field_changed, field: id_502}
    when: {fields: {Customer: ACME}}
    actions: [{set: {labels: [acme]}}]
"""


def test_kaiten_a_property_change_fires_by_its_id_and_the_condition_reads_it_by_name(
    kaiten_hub: Context, hooked_kaiten: RunningSandbox, tmp_path: Path
) -> None:
    ctx = with_automations(kaiten_hub, tmp_path / "rules", PROPERTY_RULES)
    card = card_with_tag_and_link(ctx, "Deal with Initech")
    kaiten(hooked_kaiten, "PATCH", f"/cards/{card}", json={"properties": {"id_502": "Initech"}})
    assert settle(ctx, hooked_kaiten) == []
    kaiten(hooked_kaiten, "PATCH", f"/cards/{card}", json={"properties": {"id_502": "ACME"}})
    assert settle(ctx, hooked_kaiten) == ["done"]
    tags = [tag["name"] for tag in kaiten(hooked_kaiten, "GET", f"/cards/{card}")["tags"]]
    assert sorted(tags) == ["acme", "vip"]


MISSPELT = """
  - name: misspelt
    trigger: {event: field_changed, field: Severity}
    when: {fields: {Sevrity: Critical}}
    actions: [{set: {labels: [never]}}]
"""


def test_a_condition_on_a_field_the_tracker_does_not_know_holds_for_no_issue_and_stops_no_event(
    jira_hub: Context, hooked_jira: RunningSandbox, hub: Hub, tmp_path: Path
) -> None:
    ctx = with_automations(jira_hub, tmp_path / "rules", MISSPELT)
    key = jira_issue(hooked_jira, "SUP", "The printer is on fire")
    edit(hooked_jira, key, customfield_10020={"value": "Critical"})
    assert settle(ctx, hooked_jira) == []
    critical = next(d for d in hub.received if d.changelog().get("Severity") == "Critical")
    assert fire_for_event(ctx, ctx.tracker("jira"), parse_jira_webhook(critical.payload), own=False) == []
    assert labels(hooked_jira, key) == []


ASSIGNED_RULES = """
  - name: on-assignment
    trigger: {event: assigned}
    actions: [{set: {labels: [assigned-once]}}]
"""


def test_jira_an_assignment_fires_the_assigned_rules_and_other_edits_do_not(
    jira_hub: Context, hooked_jira: RunningSandbox, hub: Hub, tmp_path: Path
) -> None:
    ctx = with_automations(jira_hub, tmp_path / "rules", ASSIGNED_RULES)
    key = jira_issue(hooked_jira, "SUP", "Nobody has this yet")
    edit(hooked_jira, key, customfield_10010="ACME")  # an edit, not an assignment
    assert settle(ctx, hooked_jira) == []
    jira(hooked_jira, "PUT", f"/issue/{key}/assignee", json={"name": "jsmith"})
    assert settle(ctx, hooked_jira) == ["done"]
    assert labels(hooked_jira, key) == ["assigned-once"]
    assignment = next(d for d in hub.received if "assignee" in d.changelog())
    assert replay(hub, assignment).json()["duplicate"] is True
    assert [f.rule for f in firings.history(ctx.engine, key)] == ["on-assignment"]
