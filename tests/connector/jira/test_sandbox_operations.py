"""JiraTracker's operations for routing, automations and the console, against the Jira look-alike as Data
Center and as Cloud (users by account id, ``/search/jql``, the bulk move)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.base import CAN_MOVE
from connector.errors import MoveUnsupported, TrackerRejected
from connector.jira import JiraTracker
from connector.types import IssueDraft, IssueRef, SearchQuery, Target
from sandbox.jira.catalogue import USERS
from sandbox.server import RunningSandbox
from tests.sandboxes import CONTROL, run_jira

JSMITH = next(u for u in USERS if u.name == "jsmith")


@pytest.fixture(params=["datacenter", "cloud"])
def cloud(request: pytest.FixtureRequest) -> bool:
    return request.param == "cloud"


@pytest.fixture
def sandbox(tmp_path: Path, cloud: bool) -> Iterator[RunningSandbox]:
    with run_jira(tmp_path / "jira.sqlite3", cloud=cloud) as running:
        yield running


@pytest.fixture
def jira(sandbox: RunningSandbox) -> JiraTracker:
    return JiraTracker(sandbox.url, token="t", timeout=10, sleep=lambda _: None)


def create(
    jira: JiraTracker, summary: str = "Printer on fire", project: str = "SUP", **draft: Any
) -> IssueRef:
    marker = f"hub-{uuid.uuid4().hex[:8]}"
    labels = (marker, *draft.pop("labels", ()))
    target = Target("jira", project, issue_type="Task")
    return jira.create_issue(IssueDraft(target, summary, "text", marker, labels=labels, **draft))


def user(cloud: bool) -> str:
    return JSMITH.account_id if cloud else JSMITH.name


def requests_made(sandbox: RunningSandbox) -> dict[str, int]:
    answer: dict[str, int] = requests.get(
        sandbox.url + "/_sandbox/stats", headers=CONTROL, timeout=10
    ).json()["requests"]
    return answer


# -- capabilities, transitions --------------------------------------------------------------------------


def test_only_the_cloud_look_alike_can_move(jira: JiraTracker, cloud: bool) -> None:
    assert (CAN_MOVE in jira.capabilities()) is cloud


def test_a_transition_resolves_and_comments_in_one_go_and_repeating_it_is_harmless(jira: JiraTracker) -> None:
    ref = create(jira)
    offered = {t.name: t for t in jira.transitions(ref.key)}
    assert {n: t.to_category for n, t in offered.items()} == {
        "In Progress": "indeterminate",
        "Waiting for customer": "indeterminate",
        "Done": "done",
    }
    resolution = next(f for f in offered["Done"].fields if f.id == "resolution")
    assert "Won't Do" in {c.name for c in resolution.allowed}

    jira.transition(ref.key, "done", resolution="won't do", comment="Moved to the hardware team")
    jira.transition(ref.key, "Done", resolution="Fixed", comment="again")  # already there: nothing sent

    state = jira.get_state(ref.key, fields=["resolution"])
    assert (state.status, state.status_category, state.done) == ("Done", "done", True)
    assert state.fields["resolution"]["name"] == "Won't Do"
    assert [c.body for c in jira.comments(ref.key)] == ["Moved to the hardware team"]
    with pytest.raises(TrackerRejected, match=r"no transition 'Waiting for customer' from status 'Done'"):
        jira.transition(ref.key, "Waiting for customer")


# -- edits, assignment, comments --------------------------------------------------------------------------


def test_fields_and_labels_are_updated_in_one_edit(jira: JiraTracker) -> None:
    ref = create(jira, labels=("waiting",))
    jira.update_fields(
        ref.key,
        {
            "priority": "High",
            "Severity": "Major",
            "Contract end": date(2027, 1, 31),
            "duedate": date(2026, 6, 1),
        },
        add_labels=["vip"],
        remove_labels=["waiting"],
    )
    state = jira.get_state(ref.key, fields=["customfield_10020", "customfield_10030"])
    assert (state.priority, state.due_date) == ("High", date(2026, 6, 1))
    assert state.fields["customfield_10020"]["value"] == "Major"
    assert state.fields["customfield_10030"] == "2027-01-31"
    assert "vip" in state.labels and "waiting" not in state.labels
    with pytest.raises(TrackerRejected, match="priority"):
        jira.update_fields(ref.key, {"priority": "Urgent"})


def test_assign_and_unassign_by_the_deployment_s_user_id(jira: JiraTracker, cloud: bool) -> None:
    ref = create(jira)
    jira.assign(ref.key, user(cloud))
    assert jira.get_state(ref.key).assignee == user(cloud)
    jira.assign(ref.key, None)
    assert jira.get_state(ref.key).assignee is None
    with pytest.raises(TrackerRejected, match="does not exist"):
        jira.assign(ref.key, "5b10ac8d82e05b22cc7d4ef5" if cloud else "ghost")


def test_comments_come_oldest_first_with_author_date_and_visibility(jira: JiraTracker, cloud: bool) -> None:
    ref = create(jira)
    jira.add_comment(ref.key, "first hub-c1", "hub-c1")
    jira.add_internal_comment(ref.key, "team only", "hub-c2")
    first, internal = jira.comments(ref.key)
    assert (first.body, internal.body) == ("first hub-c1", "team only")
    assert first.author == internal.author == jira.own_user()
    assert first.created is not None and first.created <= internal.created  # type: ignore[operator]
    assert internal.public is False
    assert first.public is (True if cloud else None)  # Cloud says jsdPublic on every comment


# -- search ---------------------------------------------------------------------------------------------


def test_search_pages_through_what_a_query_finds_with_only_the_fields_asked(
    jira: JiraTracker, sandbox: RunningSandbox, cloud: bool
) -> None:
    batch = [create(jira, f"issue {n}", labels=("batch",)) for n in range(5)]
    create(jira, "elsewhere", project="DB", labels=("batch",))
    jira.assign(batch[0].key, user(cloud))
    jira.transition(batch[1].key, "Done")
    jira.update_fields(
        batch[2].key, {"duedate": date.today() + timedelta(days=10), "Contract end": "2030-01-01"}
    )
    before = requests_made(sandbox)

    found = list(
        jira.search(
            SearchQuery(containers=("SUP",), labels=("batch",)), page_size=2, fields=["customfield_10030"]
        )
    )

    assert [s.ref.key for s in found] == [r.key for r in batch]
    assert found[2].fields == {"customfield_10030": "2030-01-01"} and found[0].fields == {
        "customfield_10030": None
    }
    assert found[0].assignee == user(cloud) and found[1].done and found[3].container == "SUP"
    searches = {k: v - before.get(k, 0) for k, v in requests_made(sandbox).items() if "search" in k}
    assert sum(searches.values()) == 3  # 5 issues, 2 a page
    assert all("/search/jql" in k for k in searches) is cloud

    def keys(**query: Any) -> list[str]:
        return [s.ref.key for s in jira.search(SearchQuery(labels=("batch",), **query))]

    assert keys(assignee_empty=True, not_done=True, containers=("SUP",)) == [r.key for r in batch[2:]]
    assert keys(status_category=("done",)) == [batch[1].key]
    assert keys(due_before=date.today() + timedelta(days=30)) == [batch[2].key]
    assert keys(created_after=datetime.now(UTC) - timedelta(hours=1), issue_types=("Task",))[-1].startswith(
        "DB-"
    )
    assert keys(created_before=datetime.now(UTC) - timedelta(days=1)) == []
    assert keys(keys=(batch[4].key, "DB-1"), raw='project = DB OR status = "To Do"') == [batch[4].key, "DB-1"]
    everything = [s.ref.key for s in jira.search(SearchQuery())]  # unbounded on Cloud: bounded for it
    assert len(everything) == 6


# -- links ----------------------------------------------------------------------------------------------


def test_typed_links_and_upserted_remote_links(jira: JiraTracker, sandbox: RunningSandbox) -> None:
    source, copy = create(jira), create(jira, project="HW", custom_fields={"customfield_10040": "PSU"})
    assert {t.name for t in jira.link_types()} >= {"Blocks", "Cloners", "Relates"}
    jira.link(copy.key, source.key, "clones")
    links = jira.get_state(source.key, fields=["issuelinks"]).fields["issuelinks"]
    other = [(x["type"]["name"], (x.get("inwardIssue") or x.get("outwardIssue"))["key"]) for x in links]
    assert other == [("Cloners", copy.key)]  # which side is which: test_operations, on Jira's shapes
    with pytest.raises(TrackerRejected, match="no link type 'Moves'; it has"):
        jira.link(copy.key, source.key, "Moves")

    jira.add_remote_link(source.key, "https://hub.example/r/1", "Route", global_id="hub-route-1")
    jira.add_remote_link(source.key, "https://hub.example/r/1", "Route (done)", global_id="hub-route-1")
    remote = requests.get(
        f"{sandbox.url}/rest/api/2/issue/{source.key}/remotelink",
        headers={"Authorization": "Bearer t"},
        timeout=10,
    ).json()
    assert [(r["globalId"], r["object"]["title"]) for r in remote] == [("hub-route-1", "Route (done)")]


# -- move -----------------------------------------------------------------------------------------------


def test_a_cloud_move_keeps_the_issue_and_its_old_key_finds_it(jira: JiraTracker, cloud: bool) -> None:
    ref = create(jira)
    jira.add_comment(ref.key, "printer model LaserJet 4250", "hub-m")
    hw_task = Target("jira", "HW", issue_type="Task")
    if not cloud:
        with pytest.raises(MoveUnsupported):
            jira.move(ref.key, hw_task)
        return
    schema = jira.field_schema(hw_task)  # Cloud's createmeta shape
    assert [f.name for f in schema.required] == ["Project", "Issue Type", "Summary", "Spare parts"]
    with pytest.raises(TrackerRejected, match="Spare parts is required"):
        jira.move(ref.key, hw_task)

    moved = jira.move(ref.key, hw_task, fields={"Spare parts": "PSU", "Equipment model": "LaserJet 4250"})

    assert (moved.key, moved.id) == ("HW-1", ref.id)
    state = jira.get_state(ref.key, fields=["customfield_10040", "customfield_10050"])
    assert (state.ref.key, state.container) == ("HW-1", "HW")
    assert (
        state.fields["customfield_10040"] == "PSU"
        and state.fields["customfield_10050"]["value"] == "LaserJet 4250"
    )
    assert [c.body for c in jira.comments("HW-1")] == ["printer model LaserJet 4250"]
    assert jira.move(ref.key, hw_task) == moved  # there already: nothing submitted
