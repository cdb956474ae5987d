"""JiraTracker.field_schema: createmeta read on Data Center and on Cloud, each in its own answer shape.

Shapes: Data Center 8.4+ answers ``{"startAt", "maxResults", "total", "isLast", "values": [...]}``
(research/jira.md §1.3; the sandbox serves the same); Cloud answers ``PageOfCreateMetaIssueTypes``
(``issueTypes``) and ``PageOfCreateMetaIssueTypeWithField`` (``fields``), per the Cloud OpenAPI spec in
``shared/fixtures/jira`` (its examples, extended with the ``schema`` each ``FieldCreateMetadata`` must carry).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from responses import matchers

from connector.errors import TrackerRejected, UnknownTarget
from connector.jira import JiraTracker
from connector.types import Choice, Target
from sandbox.server import RunningSandbox
from tests.sandboxes import run_jira as run_in_thread

URL = "https://jira.example.com"
API = f"{URL}/rest/api/2"
META = f"{API}/issue/createmeta"
CF = "com.atlassian.jira.plugin.system.customfieldtypes:"


def server_info(deployment: str) -> dict[str, object]:
    return {"baseUrl": URL, "version": "9.12.0", "versionNumbers": [9, 12, 0], "deploymentType": deployment}


def page(start: int, limit: int = 200) -> list[Any]:
    return [matchers.query_param_matcher({"startAt": str(start), "maxResults": str(limit)})]


ISSUE_TYPES = [
    {"id": "10002", "name": "Task", "subtask": False},
    {"id": "10004", "name": "Bug", "subtask": False},
]
FIELDS = [
    {
        "fieldId": "summary",
        "name": "Summary",
        "required": True,
        "hasDefaultValue": False,
        "schema": {"type": "string", "system": "summary"},
        "operations": ["set"],
    },
    {
        "fieldId": "description",
        "name": "Description",
        "required": False,
        "hasDefaultValue": False,
        "schema": {"type": "string", "system": "description"},
        "operations": ["set"],
    },
    {
        "fieldId": "priority",
        "name": "Priority",
        "required": True,
        "hasDefaultValue": True,
        "defaultValue": {"id": "3", "name": "Medium"},
        "schema": {"type": "priority", "system": "priority"},
        "allowedValues": [{"id": "1", "name": "Highest"}, {"id": "3", "name": "Medium"}],
        "operations": ["set"],
    },
    {
        "fieldId": "customfield_10020",
        "name": "Spare parts",
        "required": True,
        "hasDefaultValue": False,
        "schema": {"type": "array", "items": "option", "custom": CF + "multiselect", "customId": 10020},
        "allowedValues": [{"id": "10100", "value": "PSU"}, {"id": "10101", "value": "Fan"}],
        "operations": ["add", "set", "remove"],
    },
    {
        "fieldId": "labels",
        "name": "Labels",
        "required": False,
        "hasDefaultValue": False,
        "schema": {"type": "array", "items": "string", "system": "labels"},
        "operations": ["add", "set", "remove"],
    },
]


def jira_at(clock: list[float] | None = None) -> JiraTracker:
    now = clock or [0.0]
    return JiraTracker(URL, token="pat", timeout=5, schema_ttl=300, clock=lambda: now[0])


def check_schema(jira: JiraTracker) -> None:
    schema = jira.field_schema(Target("jira", "HW", issue_type="bug"))
    assert schema.issue_types == (Choice("10002", "Task"), Choice("10004", "Bug"))
    assert [f.id for f in schema.required] == ["summary", "customfield_10020"]  # priority has a default
    parts = schema.field("Spare parts")
    assert parts is not None and (parts.type, parts.system) == ("options", False)
    assert parts.choice("fan") == Choice("10101", "Fan") and parts.choice("10100") == Choice("10100", "PSU")
    priority = schema.field("priority")
    assert priority is not None and priority.type == "priority" and priority.system
    assert priority.default == {"id": "3", "name": "Medium"}
    types = [getattr(schema.field(f), "type", None) for f in ("summary", "description", "labels")]
    assert types == ["string", "text", "labels"]


# Each deployment's pages: Data Center ends one with ``isLast``, Cloud gives a ``total``.
DATA_CENTER = (
    {"isLast": True, "values": ISSUE_TYPES},
    {"startAt": 0, "maxResults": 200, "total": 5, "isLast": False, "values": FIELDS[:3]},
    {"startAt": 3, "maxResults": 200, "total": 5, "isLast": True, "values": FIELDS[3:]},
)
CLOUD = (
    {"issueTypes": ISSUE_TYPES, "maxResults": 200, "startAt": 0, "total": 2},
    {"fields": FIELDS[:4], "maxResults": 200, "startAt": 0, "total": 5},
    {"fields": FIELDS[4:], "maxResults": 200, "startAt": 4, "total": 5},
)


@pytest.mark.parametrize(("deployment", "pages"), [("Server", DATA_CENTER), ("Cloud", CLOUD)])
def test_createmeta_pages_in_each_deployments_shape(
    deployment: str, pages: tuple[dict[str, Any], ...]
) -> None:
    types, first, rest = pages
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/serverInfo", json=server_info(deployment))
        rsps.get(f"{META}/HW/issuetypes", match=page(0), json=types)
        rsps.get(f"{META}/HW/issuetypes/10004", match=page(0), json=first)
        rsps.get(
            f"{META}/HW/issuetypes/10004",
            match=page(len(first.get("values") or first.get("fields"))),
            json=rest,
        )
        check_schema(jira_at())


def test_an_unknown_issue_type_or_project_says_what_exists() -> None:
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/serverInfo", json=server_info("Server"))
        rsps.get(f"{META}/HW/issuetypes", json={"isLast": True, "values": ISSUE_TYPES})
        rsps.get(f"{META}/NOPE/issuetypes", status=404, json={"errorMessages": ["No project could be found"]})
        rsps.get(f"{API}/project", json=[{"id": "1", "key": "SUP"}, {"id": "2", "key": "HW"}])
        jira = jira_at()
        with pytest.raises(UnknownTarget) as wrong_type:
            jira.field_schema(Target("jira", "HW", issue_type="Epic"))
        assert (wrong_type.value.part, wrong_type.value.available) == ("issue type", ("Bug", "Task"))
        with pytest.raises(UnknownTarget) as wrong_project:
            jira.field_schema(Target("jira", "NOPE", issue_type="Task"))
        assert (wrong_project.value.part, wrong_project.value.available) == ("project", ("HW", "SUP"))
        assert "No project could be found" in str(wrong_project.value)
        assert isinstance(wrong_project.value, TrackerRejected)  # a refusal: retrying will not help


def test_a_schema_is_reused_until_its_ttl_runs_out() -> None:
    clock = [1000.0]
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/serverInfo", json=server_info("Server"))
        types = rsps.get(f"{META}/HW/issuetypes", json={"isLast": True, "values": ISSUE_TYPES})
        fields = rsps.get(f"{META}/HW/issuetypes/10004", json={"isLast": True, "values": FIELDS})
        jira = jira_at(clock)
        target = Target("jira", "HW", issue_type="Bug")
        first = jira.field_schema(target)
        clock[0] += 299
        assert jira.field_schema(target) == first
        assert (types.call_count, fields.call_count) == (1, 1)
        clock[0] += 2
        jira.field_schema(target)
        assert (types.call_count, fields.call_count) == (2, 2)


# -- against the Jira look-alike (Data Center shapes): each project's own required fields ------------------


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    with run_in_thread(tmp_path / "jira.sqlite3") as running:
        yield running


def test_each_target_has_its_own_required_fields_on_the_sandbox(sandbox: RunningSandbox) -> None:
    jira = JiraTracker(sandbox.url, token="t", timeout=5)
    dev_bug = jira.field_schema(Target("jira", "DEV", issue_type="Bug"))
    sup_task = jira.field_schema(Target("jira", "SUP", issue_type="Task"))
    severity = dev_bug.field("customfield_10020")
    assert severity is not None and severity.required and severity.type == "option"
    assert [c.name for c in severity.allowed] == ["Critical", "Major", "Minor"]
    assert "customfield_10020" not in {f.id for f in sup_task.required}
    assert {c.name for c in dev_bug.issue_types} == {"Task", "Bug", "Story", "Sub-task"}
    assert {c.name for c in sup_task.issue_types} == {"Task", "Bug", "Sub-task"}
