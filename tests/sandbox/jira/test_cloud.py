"""The Jira look-alike as Jira Cloud: ``deploymentType`` Cloud, users by account id only, ``/search`` gone
for ``/search/jql`` (token paging, bounded queries), Cloud's createmeta pages, and the bulk move task.
Data Center mode has none of the Cloud-only resources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from jira import JIRA

from sandbox.jira.catalogue import USERS
from sandbox.server import RunningSandbox
from tests.sandboxes import Receiver, flush, run_jira

HUB = {"Authorization": "Bearer t"}
JSMITH = next(u for u in USERS if u.name == "jsmith")
HUB_USER = next(u for u in USERS if u.name == "hub")


@pytest.fixture
def cloud(tmp_path: Path, receiver: Receiver) -> Iterator[RunningSandbox]:
    with run_jira(tmp_path / "cloud.sqlite3", cloud=True, webhook_url=receiver.url) as running:
        yield running


@pytest.fixture
def datacenter(tmp_path: Path) -> Iterator[RunningSandbox]:
    with run_jira(tmp_path / "dc.sqlite3") as running:
        yield running


def call(sandbox: RunningSandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, sandbox.url + path, headers=HUB, timeout=10, **kwargs)


def create(sandbox: RunningSandbox, project: str = "SUP", **fields: Any) -> dict[str, Any]:
    body = {"fields": {"project": {"key": project}, "issuetype": {"id": "10002"}, "summary": "s", **fields}}
    resp = call(sandbox, "POST", "/rest/api/2/issue", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_the_library_sees_jira_cloud(cloud: RunningSandbox) -> None:
    client = JIRA(server=cloud.url, token_auth="t", max_retries=0, timeout=10)
    assert client._is_cloud
    me = client.myself()
    assert me["accountId"] == HUB_USER.account_id and "name" not in me and "key" not in me


def test_users_are_named_by_account_id_only(cloud: RunningSandbox) -> None:
    by_name = call(cloud, "POST", "/rest/api/2/issue", json={"fields": {
        "project": {"key": "SUP"}, "issuetype": {"id": "10002"}, "summary": "s", "assignee": {"name": "jsmith"}}})  # fmt: skip
    assert by_name.status_code == 400
    assert "accountId" in by_name.json()["errors"]["assignee"]
    key = create(cloud, assignee={"accountId": JSMITH.account_id})["key"]
    issue = call(cloud, "GET", f"/rest/api/2/issue/{key}").json()
    assert issue["fields"]["assignee"]["accountId"] == JSMITH.account_id
    assert "name" not in issue["fields"]["reporter"]
    found = call(cloud, "GET", "/rest/api/2/search/jql", params={"jql": f"assignee = {JSMITH.account_id}"})
    assert [i["id"] for i in found.json()["issues"]] == [issue["id"]]
    by_user_name = call(cloud, "GET", "/rest/api/2/search/jql", params={"jql": "assignee = jsmith"})
    assert by_user_name.status_code == 400
    user = call(cloud, "GET", "/rest/api/2/user", params={"accountId": JSMITH.account_id}).json()
    assert user["displayName"] == "John Smith"


def test_search_is_gone_and_search_jql_pages_by_token(cloud: RunningSandbox) -> None:
    for _ in range(3):
        create(cloud)
    gone = call(cloud, "GET", "/rest/api/2/search", params={"jql": "project = SUP"})
    assert gone.status_code == 410 and "/rest/api/3/search/jql" in gone.json()["errorMessages"][0]

    ids_only = call(cloud, "GET", "/rest/api/3/search/jql", params={"jql": "project = SUP"}).json()
    assert ids_only == {"issues": [{"id": "10002"}, {"id": "10001"}, {"id": "10000"}], "isLast": True}

    body = {"jql": "project = SUP ORDER BY key ASC", "maxResults": 2, "fields": ["summary"]}
    first = call(cloud, "POST", "/rest/api/2/search/jql", json=body).json()
    assert [i["key"] for i in first["issues"]] == ["SUP-1", "SUP-2"] and first["isLast"] is False
    assert "total" not in first and set(first["issues"][0]["fields"]) == {"summary"}
    second = call(
        cloud, "POST", "/rest/api/2/search/jql", json={**body, "nextPageToken": first["nextPageToken"]}
    )
    assert [i["key"] for i in second.json()["issues"]] == ["SUP-3"] and second.json()["isLast"] is True
    assert "nextPageToken" not in second.json()

    other_query = {**body, "jql": "project = DB", "nextPageToken": first["nextPageToken"]}
    assert call(cloud, "POST", "/rest/api/2/search/jql", json=other_query).status_code == 400
    unbounded = call(cloud, "GET", "/rest/api/2/search/jql", params={"jql": "ORDER BY created DESC"})
    assert unbounded.status_code == 400 and "Unbounded JQL" in unbounded.json()["errorMessages"][0]


def test_createmeta_and_comments_have_cloud_s_shapes(cloud: RunningSandbox) -> None:
    types = call(cloud, "GET", "/rest/api/2/issue/createmeta/HW/issuetypes").json()
    assert set(types) == {"issueTypes", "startAt", "maxResults", "total"}
    fields = call(cloud, "GET", "/rest/api/2/issue/createmeta/HW/issuetypes/10002").json()
    assert {f["name"] for f in fields["fields"] if f["required"]} >= {"Summary", "Spare parts"}
    key = create(cloud)["key"]
    internal = {"body": "note", "properties": [{"key": "sd.public.comment", "value": {"internal": True}}]}
    call(cloud, "POST", f"/rest/api/2/issue/{key}/comment", json={"body": "hello"})
    call(cloud, "POST", f"/rest/api/2/issue/{key}/comment", json=internal)
    comments = call(cloud, "GET", f"/rest/api/2/issue/{key}/comment").json()["comments"]
    assert [c["jsdPublic"] for c in comments] == [True, False]


def test_data_center_has_no_cloud_only_resources(datacenter: RunningSandbox) -> None:
    assert (
        call(datacenter, "GET", "/rest/api/2/search/jql", params={"jql": "project = SUP"}).status_code == 404
    )
    move = {"targetToSourcesMapping": {"HW,10002": {"issueIdsOrKeys": ["SUP-1"]}}}
    assert call(datacenter, "POST", "/rest/api/3/bulk/issues/move", json=move).status_code == 404
    assert call(datacenter, "GET", "/rest/api/3/bulk/queue/10000").status_code == 404
    assert "name" in call(datacenter, "GET", "/rest/api/2/myself").json()


# -- the bulk move ----------------------------------------------------------------------------------------


def move(sandbox: RunningSandbox, target: str, keys: list[str], **mapping: Any) -> requests.Response:
    body = {
        "sendBulkNotification": False,
        "targetToSourcesMapping": {target: {"issueIdsOrKeys": keys, **mapping}},
    }
    return call(sandbox, "POST", "/rest/api/3/bulk/issues/move", json=body)


@pytest.mark.parametrize(
    ("target", "keys", "message"),
    [
        ("HW,10002", ["SUP-99"], "Some of the issues in the issueIdsOrKeys are not valid"),
        ("HW,10001", ["SUP-1"], "not valid in project HW"),
        ("NOPE,10002", ["SUP-1"], "existing project"),
        ("HW", ["SUP-1"], "existing project"),
    ],
)
def test_a_bad_move_is_refused_when_submitted(
    cloud: RunningSandbox, target: str, keys: list[str], message: str
) -> None:
    create(cloud)
    refused = move(cloud, target, keys)
    assert refused.status_code == 400
    assert message in refused.json()["errors"][0]["message"]


def test_a_move_task_runs_then_completes_and_the_old_key_finds_the_moved_issue(
    cloud: RunningSandbox, receiver: Receiver
) -> None:
    source = create(cloud, labels=["hub-x"])
    call(cloud, "POST", f"/rest/api/2/issue/{source['key']}/comment", json={"body": "the log"})
    create(cloud, project="HW", customfield_10040="fan")  # HW-1 exists: the moved issue gets HW-2
    mandatory = [{"fields": {"customfield_10040": {"retain": False, "type": "raw", "value": ["PSU"]},
                             "customfield_10050": {"retain": False, "type": "raw", "value": ["10201"]}}}]  # fmt: skip
    submitted = move(
        cloud, "HW,10002", [source["key"]], inferFieldDefaults=False, targetMandatoryFields=mandatory
    )
    assert submitted.status_code == 201
    task = submitted.json()["taskId"]

    running = call(cloud, "GET", f"/rest/api/3/bulk/queue/{task}").json()
    assert running["status"] == "RUNNING" and "processedAccessibleIssues" not in running
    assert call(cloud, "GET", f"/rest/api/2/issue/{source['key']}").json()["key"] == "SUP-1"
    done = call(cloud, "GET", f"/rest/api/3/bulk/queue/{task}").json()
    assert (done["status"], done["progressPercent"], done["processedAccessibleIssues"]) == (
        "COMPLETE",
        100,
        [10000],
    )
    assert done["failedAccessibleIssues"] == {} and done["totalIssueCount"] == 1
    assert call(cloud, "GET", f"/rest/api/3/bulk/queue/{task}").json()["processedAccessibleIssues"] == [10000]

    moved = call(cloud, "GET", "/rest/api/2/issue/SUP-1").json()
    assert (moved["id"], moved["key"], moved["fields"]["project"]["key"]) == (source["id"], "HW-2", "HW")
    assert moved["fields"]["customfield_10040"] == "PSU"
    assert moved["fields"]["customfield_10050"]["value"] == "PowerEdge R740"
    assert [c["body"] for c in moved["fields"]["comment"]["comments"]] == ["the log"]
    found = call(cloud, "GET", "/rest/api/2/search/jql", params={"jql": "key = SUP-1", "fields": "summary"})
    assert [i["key"] for i in found.json()["issues"]] == ["HW-2"]

    flush(cloud)
    moved_events = [
        r.payload for r in receiver.received if r.payload.get("issue_event_type_name") == "issue_moved"
    ]
    items = {i["field"]: (i["fromString"], i["toString"]) for i in moved_events[0]["changelog"]["items"]}
    assert items == {"Key": ("SUP-1", "HW-2"), "project": ("Support", "Hardware")}


def test_an_issue_missing_a_required_field_fails_in_the_task(cloud: RunningSandbox) -> None:
    create(cloud)
    task = move(cloud, "HW,10002", ["SUP-1"], inferFieldDefaults=True).json()["taskId"]
    call(cloud, "GET", f"/rest/api/3/bulk/queue/{task}")
    done = call(cloud, "GET", f"/rest/api/3/bulk/queue/{task}").json()
    assert done["processedAccessibleIssues"] == []
    assert done["failedAccessibleIssues"] == {"10000": ["Spare parts is required."]}
    assert call(cloud, "GET", "/rest/api/2/issue/SUP-1").json()["key"] == "SUP-1"
    assert call(cloud, "GET", "/rest/api/3/bulk/queue/99999").status_code == 404
