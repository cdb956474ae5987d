"""The JQL automations use, answered by the Jira look-alike: dates absolute and relative (``created``,
``updated``, ``duedate`` by calendar day), custom fields by ``cf[N]`` or name, ``status``/``statusCategory``,
``status CHANGED`` (``AFTER``, ``BEFORE``, ``FROM``, ``TO``),
``assignee is EMPTY``, ``issuetype``, ``priority``, ``key in``, ``ORDER BY``; and the shipped projects'
create screens (``HW`` asks for "Spare parts")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from sandbox.server import RunningSandbox
from tests.sandboxes import run_jira

HUB = {"Authorization": "Bearer t"}
TODAY = date.today()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """SUP-1 (due in 10 days, contract ends in 20, Major, High, assigned), SUP-2 (due in 40 days, Done),
    SUP-3 (no dates), DB-1 (a Bug)."""
    with run_jira(tmp_path_factory.mktemp("jql") / "jira.sqlite3") as running:
        create(running, duedate=str(TODAY + timedelta(days=10)), customfield_10030=str(TODAY + timedelta(days=20)),
               customfield_10020={"value": "Major"}, priority={"name": "High"}, assignee={"name": "jsmith"})  # fmt: skip
        create(running, duedate=str(TODAY + timedelta(days=40)))
        create(running)
        create(running, project={"key": "DB"}, issuetype={"name": "Bug"})
        done = {"transition": {"id": "41"}, "fields": {"resolution": {"name": "Won't Do"}}}
        assert call(running, "POST", "/rest/api/2/issue/SUP-2/transitions", json=done).status_code == 204
        yield running


def call(sandbox: RunningSandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, sandbox.url + path, headers=HUB, timeout=10, **kwargs)


def create(sandbox: RunningSandbox, **fields: Any) -> str:
    body = {"fields": {"project": {"key": "SUP"}, "issuetype": {"id": "10002"}, "summary": "s", **fields}}
    resp = call(sandbox, "POST", "/rest/api/2/issue", json=body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["key"])


def keys(sandbox: RunningSandbox, jql: str) -> list[str]:
    resp = call(sandbox, "POST", "/rest/api/2/search", json={"jql": jql, "fields": ["summary"]})
    assert resp.status_code == 200, resp.text
    return [i["key"] for i in resp.json()["issues"]]


@pytest.mark.parametrize(
    ("jql", "expected"),
    [
        ("duedate <= 30d ORDER BY key", ["SUP-1"]),
        (f'duedate >= "{TODAY + timedelta(days=10)}" ORDER BY duedate DESC', ["SUP-2", "SUP-1"]),
        (f'duedate = "{TODAY + timedelta(days=10)}"', ["SUP-1"]),
        ("duedate is EMPTY ORDER BY key", ["SUP-3", "DB-1"]),  # keys by project (id), then number
        ("cf[10030] <= 30d", ["SUP-1"]),
        ('"Contract end" > 25d', []),
        ("customfield_10030 is not EMPTY", ["SUP-1"]),
        ("Severity = Major", ["SUP-1"]),
        ('cf[10020] in (Critical, "major")', ["SUP-1"]),
        ("created <= -20d", []),
        (f'updated >= "{TODAY - timedelta(days=1)}" AND project = DB', ["DB-1"]),
        ('statusCategory = Done OR status in ("Waiting for customer")', ["SUP-2"]),
        ('statusCategory in ("To Do", "In Progress") AND assignee is EMPTY ORDER BY key', ["SUP-3", "DB-1"]),
        ("issuetype = Bug", ["DB-1"]),
        ("priority = High", ["SUP-1"]),
        ("key in (SUP-3, DB-1) ORDER BY created ASC, key ASC", ["SUP-3", "DB-1"]),
        ("project in (SUP, DB) AND labels is EMPTY ORDER BY priority DESC, key ASC", ["SUP-1", "SUP-2", "SUP-3", "DB-1"]),
        ("status CHANGED", ["SUP-2"]),
        ('status CHANGED TO Done FROM "To Do"', ["SUP-2"]),
        ('status CHANGED FROM "In Progress"', []),
        ("status CHANGED AFTER -1d", ["SUP-2"]),
        (f'status CHANGED BEFORE "{TODAY - timedelta(days=1)}"', []),
        ("NOT status CHANGED AFTER -1d AND project = SUP ORDER BY key", ["SUP-1", "SUP-3"]),
    ],
)  # fmt: skip
def test_the_jql_automations_use(sandbox: RunningSandbox, jql: str, expected: list[str]) -> None:
    assert keys(sandbox, jql) == expected


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ('"No such field" = x', "Field 'No such field' does not exist"),
        ("Severity = Blocker", "The value 'Blocker' does not exist for the field 'Severity'."),
        ("Customer > x", "The operator '>' is not supported"),
        ("duedate ~ 1d", "The operator '~' is not supported"),
        ('status CHANGED ON "2024-01-01"', "does not support the CHANGED predicate 'ON'"),
        ("assignee CHANGED", "supports CHANGED on the status field only"),
        ("status CHANGED TO Closed", "The value 'Closed' does not exist for the field 'status'."),
    ],
)
def test_jql_it_cannot_answer_is_a_400(sandbox: RunningSandbox, jql: str, message: str) -> None:
    resp = call(sandbox, "POST", "/rest/api/2/search", json={"jql": jql})
    assert resp.status_code == 400 and message in resp.json()["errorMessages"][0]


def test_the_shipped_projects_and_their_required_fields(sandbox: RunningSandbox) -> None:
    projects = {p["key"]: p["name"] for p in call(sandbox, "GET", "/rest/api/2/project").json()}
    assert projects == {"SUP": "Support", "DEV": "Development", "HW": "Hardware", "DB": "Database"}
    hw_task = {"project": {"key": "HW"}, "issuetype": {"name": "Task"}, "summary": "Replace the PSU"}
    refused = call(sandbox, "POST", "/rest/api/2/issue", json={"fields": hw_task})
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"customfield_10040": "Spare parts is required."}
    model = {"value": "LaserJet 4250"}
    made = call(sandbox, "POST", "/rest/api/2/issue", json={"fields": {**hw_task, "customfield_10040": "PSU",
                                                                        "customfield_10050": model}})  # fmt: skip
    assert made.status_code == 201
    screen = call(sandbox, "GET", "/rest/api/2/issue/createmeta/HW/issuetypes/10002").json()["values"]
    equipment = next(f for f in screen if f["name"] == "Equipment model")
    assert not equipment["required"] and [v["value"] for v in equipment["allowedValues"]] == [
        "LaserJet 4250",
        "PowerEdge R740",
        "Catalyst 2960",
    ]
    db_task = {"project": {"key": "DB"}, "issuetype": {"name": "Task"}, "summary": "Slow query"}
    assert call(sandbox, "POST", "/rest/api/2/issue", json={"fields": db_task}).status_code == 201
