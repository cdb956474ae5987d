"""Sub-tasks on the Jira look-alike, in Jira REST v2's shape: a sub-task type, ``fields.parent`` on
create, the parent's ``fields.subtasks`` and the sub-task's ``fields.parent``; the refusals a
company-managed project answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.server import RunningSandbox
from tests.sandbox.jira.test_api import api, task
from tests.sandboxes import run_jira

SUBTASK = {"id": "10003"}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    with run_jira(tmp_path / "sandbox-jira.sqlite3") as running:
        yield running


def create(sandbox: RunningSandbox, fields: dict[str, Any]) -> dict[str, Any]:
    resp = api(sandbox, "POST", "/rest/api/2/issue", json={"fields": fields})
    return {"status": resp.status_code, **resp.json()}


def test_a_sub_task_is_created_under_its_parent_and_each_shows_the_other(sandbox: RunningSandbox) -> None:
    parent = create(sandbox, task("The printer jams"))
    first = create(sandbox, task("Reproduce", issuetype=SUBTASK, parent={"key": parent["key"]}))
    second = create(sandbox, task("Plan", issuetype=SUBTASK, parent={"id": parent["id"]}))
    assert (first["status"], second["status"]) == (201, 201)

    shown = api(sandbox, "GET", f"/rest/api/2/issue/{parent['key']}").json()["fields"]
    assert [(s["key"], s["fields"]["summary"]) for s in shown["subtasks"]] == [
        (first["key"], "Reproduce"),
        (second["key"], "Plan"),
    ]
    assert shown["subtasks"][0]["fields"]["issuetype"]["subtask"] is True
    assert shown["subtasks"][0]["fields"]["status"]["name"] == "To Do"
    assert "parent" not in shown  # a standard issue has none

    sub = api(
        sandbox, "GET", f"/rest/api/2/issue/{first['key']}", params={"fields": "parent,issuetype"}
    ).json()
    assert sub["fields"]["parent"]["key"] == parent["key"]
    assert sub["fields"]["parent"]["fields"]["summary"] == "The printer jams"
    assert sub["fields"]["issuetype"]["name"] == "Sub-task"


def test_a_sub_task_needs_a_parent_and_a_standard_issue_takes_none(sandbox: RunningSandbox) -> None:
    orphan = create(sandbox, task("Orphan", issuetype=SUBTASK))
    assert orphan["status"] == 400
    assert orphan["errors"] == {
        "issuetype": "Issue type is a sub-task but parent issue key or id not specified."
    }

    parent = create(sandbox, task("Parent"))
    adopted = create(sandbox, task("Task with a parent", parent={"key": parent["key"]}))
    assert adopted["status"] == 400 and "parent" in adopted["errors"]

    unknown = create(sandbox, task("Lost", issuetype=SUBTASK, parent={"key": "SUP-999"}))
    assert (unknown["status"], unknown["errors"]) == (400, {"parent": "Could not find issue by id or key."})

    sub = create(sandbox, task("Sub", issuetype=SUBTASK, parent={"key": parent["key"]}))
    nested = create(sandbox, task("Sub of a sub", issuetype=SUBTASK, parent={"key": sub["key"]}))
    assert nested["status"] == 400 and "parent" in nested["errors"]

    elsewhere = create(
        sandbox,
        {
            "project": {"key": "DB"},
            "issuetype": SUBTASK,
            "summary": "Elsewhere",
            "parent": {"key": parent["key"]},
        },
    )
    assert elsewhere["status"] == 400 and "project" in elsewhere["errors"]
    assert [
        s["key"]
        for s in api(sandbox, "GET", f"/rest/api/2/issue/{parent['key']}").json()["fields"]["subtasks"]
    ] == [sub["key"]]
