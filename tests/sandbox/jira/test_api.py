"""The sandbox Jira, driven by the real ``jira`` library (3.10) and by plain HTTP where the library can't."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from jira import JIRA, JIRAError

from sandbox.jira.app import create_app as create_sandbox_app
from sandbox.jira.jql import JqlError, parse_jql, tokenize
from sandbox.server import RunningSandbox
from tests.sandboxes import CONTROL
from tests.sandboxes import run_jira as run_in_thread

BEARER = {"Authorization": "Bearer test-token"}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sandbox-jira.sqlite3"


@pytest.fixture
def sandbox(db_path: Path) -> Iterator[RunningSandbox]:
    with run_in_thread(db_path, faults=True) as running:
        yield running


@pytest.fixture
def jira(sandbox: RunningSandbox) -> JIRA:
    return JIRA(server=sandbox.url, token_auth="x", max_retries=0, timeout=10)


def api(sandbox: RunningSandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {**BEARER, **kwargs.pop("headers", {})}
    return requests.request(method, sandbox.url + path, headers=headers, timeout=10, **kwargs)


def stats(sandbox: RunningSandbox) -> dict[str, Any]:
    return requests.get(sandbox.url + "/_sandbox/stats", headers=CONTROL, timeout=10).json()


def add_fault(sandbox: RunningSandbox, **spec: Any) -> dict[str, Any]:
    resp = requests.post(sandbox.url + "/_sandbox/faults", json=spec, headers=CONTROL, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()


def task(summary: str = "Cannot log in", **fields: Any) -> dict[str, Any]:
    return {"project": {"id": "10000"}, "issuetype": {"id": "10002"}, "summary": summary, **fields}


def jira_error(exc: pytest.ExceptionInfo[JIRAError]) -> dict[str, Any]:
    assert exc.value.response is not None
    return exc.value.response.json()


# --- server info, auth ----------------------------------------------------------------------------------


def test_the_library_sees_a_data_center_server(jira: JIRA) -> None:
    info = jira.server_info()
    assert info["deploymentType"] == "Server"
    assert jira._version == (9, 12, 0)
    assert not jira._is_cloud
    assert jira.myself()["name"] == "hub"


def test_basic_auth_records_the_basic_user(sandbox: RunningSandbox) -> None:
    client = JIRA(server=sandbox.url, basic_auth=("alice", "secret"), max_retries=0, timeout=10)
    issue = client.create_issue(fields=task())
    assert issue.fields.reporter.name == "alice"
    assert issue.fields.creator.name == "alice"
    assert client.myself()["name"] == "alice"


def test_requests_without_credentials_are_401(sandbox: RunningSandbox) -> None:
    anonymous = JIRA(server=sandbox.url, max_retries=0, timeout=10)  # serverInfo is anonymous, as on Jira
    with pytest.raises(JIRAError) as exc:
        anonymous.issue("SUP-1")
    assert exc.value.status_code == 401
    assert "not authenticated" in jira_error(exc)["errorMessages"][0]


def test_a_configured_token_is_the_only_one_accepted(db_path: Path) -> None:
    client = create_sandbox_app(db_path, token="s3cret").test_client()
    assert client.get("/rest/api/2/myself", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/rest/api/2/myself", headers={"Authorization": "Bearer s3cret"}).status_code == 200


# --- create ---------------------------------------------------------------------------------------------


def test_create_issue_by_names_then_prefetch(jira: JIRA) -> None:
    issue = jira.create_issue(
        project="SUP",
        issuetype="Task",
        summary="Cannot log in",
        description="Line one\nline two",
        labels=["hub-abc", "email"],
        priority={"name": "High"},
        components=[{"name": "Email"}],
        customfield_10010="ACME Corp",
    )
    assert issue.key == "SUP-1"
    assert issue.id == "10000"
    fields = issue.fields
    assert fields.summary == "Cannot log in"
    assert fields.description == "Line one\nline two"
    assert fields.labels == ["email", "hub-abc"]
    assert fields.status.name == "To Do"
    assert fields.status.statusCategory.key == "new"
    assert fields.priority.name == "High"
    assert fields.issuetype.name == "Task"
    assert fields.project.key == "SUP"
    assert [c.name for c in fields.components] == ["Email"]
    assert fields.customfield_10010 == "ACME Corp"
    assert fields.reporter.name == "hub"
    assert fields.assignee is None
    assert fields.resolution is None
    assert fields.comment.total == 0
    assert fields.created.endswith("+0000")


def test_create_issue_by_ids_without_prefetch_is_one_request(jira: JIRA, sandbox: RunningSandbox) -> None:
    first = jira.create_issue(fields=task("one"), prefetch=False)
    second = jira.create_issue(fields=task("two"), prefetch=False)
    dev = jira.create_issue(fields={**task("dev"), "project": {"key": "DEV"}}, prefetch=False)
    assert (first.key, second.key, dev.key) == ("SUP-1", "SUP-2", "DEV-1")
    assert first.raw["self"].endswith("/rest/api/2/issue/10000")
    counts = stats(sandbox)["requests"]
    assert counts["POST /rest/api/2/issue"] == 3
    assert not any(name.startswith("GET /rest/api/2/project") for name in counts)


def test_select_and_date_custom_fields(jira: JIRA) -> None:
    issue = jira.create_issue(
        fields={
            "project": {"key": "DEV"},
            "issuetype": {"name": "Bug"},
            "summary": "Crash",
            "customfield_10020": {"value": "Critical"},
            "customfield_10030": "2030-01-31",
            "assignee": {"name": "jsmith"},
        }
    )
    assert issue.fields.customfield_10020.value == "Critical"
    assert issue.fields.customfield_10020.id == "10100"
    assert issue.fields.customfield_10030 == "2030-01-31"
    assert issue.fields.assignee.displayName == "John Smith"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (task("two\nlines"), "summary", "The summary is invalid because it contains newline characters."),
        (task("x" * 256), "summary", "Summary must be less than 255 characters."),
        (task("   "), "summary", "You must specify a summary of the issue."),
        ({"project": {"key": "SUP"}, "issuetype": {"id": "10002"}}, "summary", "You must specify a summary"),
        (task(labels=["two words"]), "labels", "The label 'two words' contains spaces which is invalid."),
        ({**task(), "project": {"key": "NOPE"}}, "project", "valid project is required"),
        ({**task(), "issuetype": {"name": "Epic"}}, "issuetype", "valid issue type is required"),
        ({**task(), "issuetype": {"id": "10001"}}, "issuetype", "The issue type selected is invalid."),
        (
            task(customfield_99999="x"),
            "customfield_99999",
            "Field 'customfield_99999' cannot be set. It is not on the appropriate screen, or unknown.",
        ),
        (task(priority={"name": "Urgent"}), "priority", "The priority selected is invalid."),
        (task(assignee={"name": "ghost"}), "assignee", "User 'ghost' does not exist."),
        (task(components=[{"name": "Fax"}]), "components", "Component name 'Fax' is not valid"),
        (
            task(customfield_10020={"value": "Blocker"}),
            "customfield_10020",
            "Option value 'Blocker' is not valid",
        ),
        (task(duedate="31/01/2030"), "duedate", "Error parsing date string: 31/01/2030"),
        (task(description="x" * 32768), "description", "It exceeds the allowed limit of 32,767 characters."),
        (
            {"project": {"key": "DEV"}, "issuetype": {"name": "Bug"}, "summary": "Crash"},
            "customfield_10020",
            "Severity is required.",
        ),
    ],
)
def test_create_is_validated_like_jira(jira: JIRA, fields: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(JIRAError) as exc:
        jira.create_issue(fields=fields, prefetch=False)
    assert exc.value.status_code == 400
    body = jira_error(exc)
    assert body["errorMessages"] == []
    assert message in body["errors"][field]


def test_unknown_issue_is_404(jira: JIRA) -> None:
    with pytest.raises(JIRAError) as exc:
        jira.issue("SUP-404")
    assert exc.value.status_code == 404
    assert jira_error(exc) == {"errorMessages": ["Issue Does Not Exist"], "errors": {}}


def test_bulk_create_reports_each_element(jira: JIRA, sandbox: RunningSandbox) -> None:
    results = jira.create_issues([task("good"), task("bad\nsummary"), task("also good")], prefetch=False)
    assert [r["status"] for r in results] == ["Success", "Error", "Success"]
    assert [r["issue"].key for r in results if r["issue"]] == ["SUP-1", "SUP-2"]
    assert "newline" in results[1]["error"]["summary"]

    all_bad = api(
        sandbox, "POST", "/rest/api/2/issue/bulk", json={"issueUpdates": [{"fields": task("a\nb")}]}
    )
    assert all_bad.status_code == 400
    assert all_bad.json()["errors"][0]["failedElementNumber"] == 0
    assert all_bad.json()["issues"] == []

    too_many = api(
        sandbox, "POST", "/rest/api/2/issue/bulk", json={"issueUpdates": [{"fields": task()}] * 51}
    )
    assert too_many.status_code == 400


def test_concurrent_creates_get_distinct_keys(jira: JIRA, sandbox: RunningSandbox) -> None:
    keys: list[str] = []
    errors: list[Exception] = []

    def worker() -> None:
        client = JIRA(server=sandbox.url, token_auth="x", max_retries=0, timeout=10, get_server_info=False)
        for n in range(5):
            try:
                keys.append(client.create_issue(fields=task(f"issue {n}"), prefetch=False).key)
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(keys, key=lambda k: int(k.split("-")[1])) == [f"SUP-{n}" for n in range(1, 41)]


# --- edit, comments, transitions, assignee ----------------------------------------------------------------


def test_edit_issue_fields_and_label_operations(jira: JIRA) -> None:
    issue = jira.create_issue(fields=task(labels=["a"]))
    issue.update(summary="New summary", description="new text")
    issue.update(update={"labels": [{"add": "b"}, {"remove": "a"}]})
    fresh = jira.issue(issue.key)
    assert fresh.fields.summary == "New summary"
    assert fresh.fields.description == "new text"
    assert fresh.fields.labels == ["b"]
    with pytest.raises(JIRAError) as exc:
        issue.update(summary="two\nlines")
    assert exc.value.status_code == 400


def test_comments_round_trip(jira: JIRA, sandbox: RunningSandbox) -> None:
    issue = jira.create_issue(fields=task())
    first = jira.add_comment(issue.key, "Hello, we are on it.")
    internal = jira.add_comment(issue, "Internal note", is_internal=True)
    restricted = jira.add_comment(
        issue.key, "Admins only", visibility={"type": "role", "value": "Administrators"}
    )
    assert first.id == "10000"
    assert first.author.name == "hub"
    assert restricted.visibility.value == "Administrators"
    assert [c.body for c in jira.comments(issue.key)] == [
        "Hello, we are on it.",
        "Internal note",
        "Admins only",
    ]
    properties = jira.comment(issue.key, internal.id, expand="properties").raw["properties"]
    assert properties == [{"key": "sd.public.comment", "value": {"internal": True}}]

    first.update(body="Edited")
    assert jira.comment(issue.key, first.id).body == "Edited"
    assert jira.issue(issue.key).fields.comment.total == 3

    empty = api(sandbox, "POST", f"/rest/api/2/issue/{issue.key}/comment", json={"body": "  "})
    assert empty.status_code == 400
    assert empty.json()["errors"] == {"comment": "Comment body can not be empty!"}
    missing = api(sandbox, "GET", f"/rest/api/2/issue/{issue.key}/comment/99999")
    assert missing.status_code == 404


def test_transitions_follow_the_workflow(jira: JIRA, sandbox: RunningSandbox) -> None:
    issue = jira.create_issue(fields=task())
    assert [(t["id"], t["name"]) for t in jira.transitions(issue)] == [
        ("21", "In Progress"),
        ("31", "Waiting for customer"),
        ("41", "Done"),
    ]
    jira.transition_issue(issue, "21")
    jira.transition_issue(issue, "Waiting for customer", comment="Asked the customer for logs")
    waiting = jira.issue(issue.key)
    assert waiting.fields.status.name == "Waiting for customer"
    assert waiting.fields.status.statusCategory.key == "indeterminate"
    assert waiting.fields.comment.comments[-1].body == "Asked the customer for logs"

    jira.transition_issue(issue, "41", fields={"resolution": {"name": "Fixed"}})
    done = jira.issue(issue.key)
    assert done.fields.status.statusCategory.key == "done"
    assert done.fields.resolution.name == "Fixed"
    assert done.fields.resolutiondate

    wrong = api(
        sandbox, "POST", f"/rest/api/2/issue/{issue.key}/transitions", json={"transition": {"id": "31"}}
    )
    assert wrong.status_code == 400
    assert wrong.json()["errorMessages"] == ["Transition id '31' is not valid for this issue."]

    jira.transition_issue(issue, "11")
    reopened = jira.issue(issue.key)
    assert reopened.fields.status.name == "To Do"
    assert reopened.fields.resolution is None


def test_default_resolution_and_transition_fields(jira: JIRA) -> None:
    issue = jira.create_issue(fields=task())
    done = jira.transitions(issue, id="41", expand="transitions.fields")
    assert done[0]["fields"]["resolution"]["required"] is True
    jira.transition_issue(issue, "Done")
    assert jira.issue(issue.key).fields.resolution.name == "Done"


def test_assign_issue(jira: JIRA, sandbox: RunningSandbox) -> None:
    issue = jira.create_issue(fields=task())
    assert jira.assign_issue(issue.key, "jsmith")
    assert jira.issue(issue.key).fields.assignee.name == "jsmith"
    assert jira.assign_issue(issue.key, None)
    assert jira.issue(issue.key).fields.assignee is None
    with pytest.raises(JIRAError):
        jira.assign_issue(issue.key, "nobody-here")  # the library's user search finds no one
    direct = api(sandbox, "PUT", f"/rest/api/2/issue/{issue.key}/assignee", json={"name": "ghost"})
    assert direct.status_code == 400
    assert direct.json()["errors"] == {"assignee": "User 'ghost' does not exist."}


# --- attachments, links -----------------------------------------------------------------------------------


def test_attachments_upload_and_download(jira: JIRA, sandbox: RunningSandbox) -> None:
    issue = jira.create_issue(fields=task())
    attachment = jira.add_attachment(issue.key, io.BytesIO(b"log line\n"), filename="журнал ошибок.txt")
    assert attachment.filename == "журнал ошибок.txt"
    assert attachment.size == 9
    assert attachment.mimeType == "text/plain"
    assert attachment.get() == b"log line\n"
    assert [a.filename for a in jira.issue(issue.key).fields.attachment] == ["журнал ошибок.txt"]
    assert jira.attachment(attachment.id).size == 9

    download = requests.get(attachment.content, timeout=10)
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"

    no_token = requests.post(
        f"{sandbox.url}/rest/api/2/issue/{issue.key}/attachments",
        headers=BEARER,
        files={"file": ("x.txt", b"x")},
        timeout=10,
    )
    assert no_token.status_code == 403
    assert no_token.text == "XSRF check failed"


def test_issue_links(jira: JIRA, sandbox: RunningSandbox) -> None:
    support = jira.create_issue(fields=task("customer report"))
    dev = jira.create_issue(fields={**task("fix it"), "project": {"key": "DEV"}})
    response = jira.create_issue_link("Relates", support.key, dev.key, comment={"body": "Routed from SUP-1"})
    assert response.status_code == 201
    assert response.text == ""
    jira.create_issue_link("Relates", support.key, dev.key)  # a repeat is reported as created, not doubled

    support_links = jira.issue(support.key).fields.issuelinks
    dev_links = jira.issue(dev.key).fields.issuelinks
    assert len(support_links) == len(dev_links) == 1
    assert support_links[0].inwardIssue.key == dev.key
    assert dev_links[0].outwardIssue.key == support.key
    assert dev_links[0].type.name == "Relates"
    assert [c.body for c in jira.comments(dev.key)] == ["Routed from SUP-1"]

    unknown = api(
        sandbox,
        "POST",
        "/rest/api/2/issueLink",
        json={
            "type": {"name": "Fixes"},
            "inwardIssue": {"key": support.key},
            "outwardIssue": {"key": dev.key},
        },
    )
    assert unknown.status_code == 404


def test_remote_links_upsert_by_global_id(jira: JIRA, sandbox: RunningSandbox) -> None:
    issue = jira.create_issue(fields=task())
    body = {"globalId": "hub=1", "object": {"url": "https://hub.example/m/1", "title": "Message 1"}}
    created = api(sandbox, "POST", f"/rest/api/2/issue/{issue.key}/remotelink", json=body)
    body["object"]["title"] = "Message 1 (edited)"
    updated = api(sandbox, "POST", f"/rest/api/2/issue/{issue.key}/remotelink", json=body)
    assert (created.status_code, updated.status_code) == (201, 200)
    assert created.json()["id"] == updated.json()["id"]

    link = jira.add_remote_link(
        issue.key, {"url": "https://hub.example/m/2", "title": "Two"}, globalId="hub=2"
    )
    assert isinstance(link.id, int)
    titles = [r.object.title for r in jira.remote_links(issue.key)]
    assert titles == ["Message 1 (edited)", "Two"]
    missing_title = api(
        sandbox, "POST", f"/rest/api/2/issue/{issue.key}/remotelink", json={"object": {"url": "https://x"}}
    )
    assert missing_title.status_code == 400


# --- search -----------------------------------------------------------------------------------------------


@pytest.fixture
def three_issues(jira: JIRA) -> list[str]:
    keys = [
        jira.create_issue(fields=task("first", labels=["hub-abc"]), prefetch=False).key,
        jira.create_issue(fields=task("second", labels=["hub-def", "vip"]), prefetch=False).key,
        jira.create_issue(fields={**task("third", labels=["hub-abc"]), "project": {"key": "DEV"}}).key,
    ]
    return keys


def test_search_by_label_project_and_key(jira: JIRA, three_issues: list[str]) -> None:
    assert [i.key for i in jira.search_issues("labels = hub-abc")] == ["DEV-1", "SUP-1"]
    assert [i.key for i in jira.search_issues('labels = "hub-abc" AND project = SUP')] == ["SUP-1"]
    assert [i.key for i in jira.search_issues("project = sup ORDER BY created ASC")] == ["SUP-1", "SUP-2"]
    assert [i.key for i in jira.search_issues("key in (SUP-1, DEV-1) ORDER BY key ASC")] == ["SUP-1", "DEV-1"]
    assert [i.key for i in jira.search_issues("key = SUP-2")] == ["SUP-2"]
    assert [i.key for i in jira.search_issues("labels in (vip, nope) OR (project = DEV)")] == [
        "DEV-1",
        "SUP-2",
    ]
    assert [i.key for i in jira.search_issues("labels != hub-abc")] == ["SUP-2"]
    assert [i.key for i in jira.search_issues("statusCategory != Done AND assignee is EMPTY")] == [
        "DEV-1",
        "SUP-2",
        "SUP-1",
    ]
    assert [i.key for i in jira.search_issues("created >= -1d AND resolution = Unresolved")][-1] == "SUP-1"
    assert [i.key for i in jira.search_issues("labels = hub-zzz")] == []


def test_search_paging_and_fields(jira: JIRA, three_issues: list[str]) -> None:
    page = jira.search_issues("ORDER BY created DESC", startAt=1, maxResults=1, fields="summary,labels")
    assert page.total == 3
    assert [i.key for i in page] == ["SUP-2"]
    assert set(page[0].raw["fields"]) == {"summary", "labels"}
    raw = jira.search_issues("labels = hub-abc", json_result=True, fields="key", use_post=True)
    assert raw["total"] == 2
    assert raw["startAt"] == 0
    assert raw["maxResults"] == 50
    assert {i["key"] for i in raw["issues"]} == {"SUP-1", "DEV-1"}


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ('summary ~ "login"', "does not support searching on the field 'summary'"),
        ("foo = bar", "Field 'foo' does not exist"),
        ("labels = ", "Expecting a value"),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("key = SUP-999", "An issue with key 'SUP-999' does not exist for field 'key'."),
        ("labels > a", "The operator '>' is not supported by the 'labels' field."),
        ("project = SUP labels = x", "Expecting either 'OR' or 'AND'"),
        ('labels = "unterminated', "Missing closing quote"),
        ("ORDER BY rank", "Not able to sort using field 'rank'."),
    ],
)
def test_search_rejects_jql_it_cannot_answer(jira: JIRA, jql: str, message: str) -> None:
    with pytest.raises(JIRAError) as exc:
        jira.search_issues(jql)
    assert exc.value.status_code == 400
    assert message in jira_error(exc)["errorMessages"][0]


def test_missing_keys_are_warnings_without_validation(jira: JIRA, three_issues: list[str]) -> None:
    raw = jira.search_issues("key in (SUP-1, SUP-999)", validate_query=False, json_result=True)
    assert [i["key"] for i in raw["issues"]] == ["SUP-1"]
    assert raw["warningMessages"] == ["An issue with key 'SUP-999' does not exist for field 'key'."]


def test_jql_tokenizer_and_parser() -> None:
    tokens = tokenize('labels = "hub \\"x\\"" AND key in (SUP-1,SUP-2)')
    assert [(t.kind, t.text) for t in tokens][:3] == [("word", "labels"), ("op", "="), ("string", 'hub "x"')]
    query = parse_jql("project = SUP AND NOT (labels = a OR labels is EMPTY) order by created desc, key")
    assert query.order == (("created", True), ("key", False))
    assert query.where is not None
    with pytest.raises(JqlError):
        parse_jql("labels = a AND")
    with pytest.raises(JqlError):
        tokenize("labels = a ! b")


# --- metadata ----------------------------------------------------------------------------------------------


def test_createmeta_has_the_data_center_shape(jira: JIRA, sandbox: RunningSandbox) -> None:
    types = api(sandbox, "GET", "/rest/api/2/issue/createmeta/SUP/issuetypes").json()
    assert set(types) == {"values", "startAt", "maxResults", "total", "isLast"}
    assert [t["name"] for t in types["values"]] == ["Task", "Bug", "Sub-task"]
    assert [t["subtask"] for t in types["values"]] == [False, False, True]

    fields = api(sandbox, "GET", "/rest/api/2/issue/createmeta/DEV/issuetypes/10004").json()
    by_id = {f["fieldId"]: f for f in fields["values"]}
    assert {"fieldId", "name", "required", "schema", "hasDefaultValue", "operations"} <= set(by_id["summary"])
    assert by_id["summary"]["required"] is True
    assert by_id["customfield_10020"]["required"] is True
    assert [v["value"] for v in by_id["customfield_10020"]["allowedValues"]] == ["Critical", "Major", "Minor"]
    assert by_id["priority"]["defaultValue"]["name"] == "Medium"

    assert [t.name for t in jira.project_issue_types("DEV")] == ["Task", "Bug", "Story", "Sub-task"]
    library_fields = jira.project_issue_fields("SUP", "10002")
    assert library_fields.total == len(library_fields)
    assert {f.fieldId for f in library_fields} >= {"summary", "labels", "customfield_10010"}
    assert api(sandbox, "GET", "/rest/api/2/issue/createmeta/SUP/issuetypes/10001").status_code == 404


def test_metadata_endpoints(jira: JIRA) -> None:
    assert [p.key for p in jira.projects()] == ["SUP", "DEV", "HW", "DB"]
    project = jira.project("SUP")
    assert project.id == "10000"
    assert project.name == "Support"
    assert [t.name for t in project.issueTypes] == ["Task", "Bug", "Sub-task"]
    assert [p.name for p in jira.priorities()] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert {t.name: t.id for t in jira.issue_types()} == {
        "Story": "10001",
        "Task": "10002",
        "Bug": "10004",
        "Sub-task": "10003",
    }
    fields = {f["id"]: f for f in jira.fields()}
    assert fields["customfield_10010"]["name"] == "Customer"
    assert fields["customfield_10020"]["schema"]["type"] == "option"
    assert {t.name for t in jira.issue_link_types()} >= {"Relates", "Blocks", "Duplicate", "Cloners"}
    with pytest.raises(JIRAError) as exc:
        jira.project("NOPE")
    assert exc.value.status_code == 404


def test_extra_projects_can_be_seeded(db_path: Path) -> None:
    client = create_sandbox_app(db_path, extra_projects=["OPS:Operations", "SUP"]).test_client()
    projects = client.get("/rest/api/2/project", headers=BEARER).get_json()
    assert [(p["key"], p["name"], p["id"]) for p in projects][-1] == ("OPS", "Operations", "10004")
    assert len(projects) == 5


# --- fault injection ---------------------------------------------------------------------------------


def test_a_503_with_retry_after_for_two_requests_then_recovery(jira: JIRA, sandbox: RunningSandbox) -> None:
    add_fault(sandbox, status=503, retry_after=7, count=2, methods=["POST"], paths=["/rest/api/2/issue"])
    for _ in range(2):
        with pytest.raises(JIRAError) as exc:
            jira.create_issue(fields=task(), prefetch=False)
        assert exc.value.status_code == 503
        assert exc.value.response is not None
        assert exc.value.response.headers["Retry-After"] == "7"
    assert jira.create_issue(fields=task(), prefetch=False).key == "SUP-1"
    numbers = stats(sandbox)
    assert numbers["faults_injected"] == 2
    assert numbers["issues"] == 1
    assert numbers["requests"]["POST /rest/api/2/issue"] == 3


def test_faults_only_hit_matching_requests(jira: JIRA, sandbox: RunningSandbox) -> None:
    add_fault(sandbox, status=429, retry_after=1, methods=["POST"], paths=["/rest/api/2/issue/bulk"])
    assert jira.create_issue(fields=task(), prefetch=False).key == "SUP-1"
    assert jira.issue("SUP-1").key == "SUP-1"
    bulk = api(sandbox, "POST", "/rest/api/2/issue/bulk", json={"issueUpdates": [{"fields": task()}]})
    assert bulk.status_code == 429
    listed = requests.get(sandbox.url + "/_sandbox/faults", headers=CONTROL, timeout=10).json()["faults"]
    assert listed[0]["hits"] == 1
    assert requests.delete(sandbox.url + "/_sandbox/faults", headers=CONTROL, timeout=10).status_code == 204
    assert api(sandbox, "POST", "/rest/api/2/issue/bulk", json={"issueUpdates": [{"fields": task()}]}).ok


def test_latency_is_added_then_ends(sandbox: RunningSandbox) -> None:
    # A client whose timeout is shorter than the injected latency times out; once the rule is used up
    # the same call answers (this is what the benchmarks and fault tests rely on).
    add_fault(sandbox, latency_ms=2000, count=1, paths=["/rest/api/2/serverInfo"])
    with pytest.raises(requests.Timeout):
        requests.get(sandbox.url + "/rest/api/2/serverInfo", timeout=0.2)
    assert requests.get(sandbox.url + "/rest/api/2/serverInfo", timeout=10).ok
    assert requests.get(sandbox.url + "/_sandbox/faults", headers=CONTROL, timeout=10).json()["faults"] == []


def test_constructor_latency_applies_to_every_tracker_request(db_path: Path) -> None:
    with run_in_thread(db_path, latency_ms=2000) as slow, pytest.raises(requests.Timeout):
        requests.get(slow.url + "/rest/api/2/serverInfo", timeout=0.2)


def test_a_fault_for_a_duration(jira: JIRA, sandbox: RunningSandbox) -> None:
    add_fault(sandbox, status=502, duration_s=0.3)
    with pytest.raises(JIRAError):
        jira.server_info()
    time.sleep(0.35)
    assert jira.server_info()["deploymentType"] == "Server"


def test_after_commit_creates_the_issue_but_loses_the_answer(jira: JIRA, sandbox: RunningSandbox) -> None:
    add_fault(sandbox, status=503, count=1, after_commit=True, methods=["POST"], paths=["/rest/api/2/issue"])
    with pytest.raises(JIRAError) as exc:
        jira.create_issue(fields=task(labels=["hub-m1"]), prefetch=False)
    assert exc.value.status_code == 503
    assert [i.key for i in jira.search_issues("labels = hub-m1")] == ["SUP-1"]
    assert stats(sandbox)["issues"] == 1


def test_after_commit_latency_lets_a_client_time_out_after_the_write(sandbox: RunningSandbox) -> None:
    add_fault(sandbox, latency_ms=600, count=1, after_commit=True, methods=["POST"])
    client = JIRA(server=sandbox.url, token_auth="x", max_retries=0, timeout=0.2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.create_issue(fields=task(), prefetch=False)
    time.sleep(0.5)
    assert stats(sandbox)["issues"] == 1


@pytest.mark.parametrize(
    "spec",
    [
        {"status": 42},
        {"count": 0},
        {"duration_s": -1},
        {"methods": "POST"},
        {"latency": 5},
        {"after_commit": 1},
    ],
)
def test_bad_fault_specs_are_rejected(sandbox: RunningSandbox, spec: dict[str, Any]) -> None:
    assert (
        requests.post(sandbox.url + "/_sandbox/faults", json=spec, headers=CONTROL, timeout=10).status_code
        == 400
    )


# --- persistence, reset, HTML --------------------------------------------------------------------------


def test_data_survives_a_restart_and_reset_wipes_it(db_path: Path) -> None:
    with run_in_thread(db_path) as first:
        client = JIRA(server=first.url, token_auth="x", max_retries=0, timeout=10)
        client.create_issue(fields=task("kept"), prefetch=False)
    with run_in_thread(db_path) as second:
        client = JIRA(server=second.url, token_auth="x", max_retries=0, timeout=10)
        assert client.issue("SUP-1").fields.summary == "kept"
        assert client.create_issue(fields=task(), prefetch=False).key == "SUP-2"
        assert requests.post(second.url + "/_sandbox/reset", headers=CONTROL, timeout=10).status_code == 204
        assert stats(second)["issues"] == 0
        assert client.create_issue(fields=task(), prefetch=False).key == "SUP-1"
        assert client.project("SUP").name == "Support"


def test_issue_page_escapes_customer_text(jira: JIRA, sandbox: RunningSandbox) -> None:
    issue = jira.create_issue(
        fields=task("<b>bold</b> summary", description="<script>alert('x')</script>\nsecond line")
    )
    jira.add_comment(issue.key, "<img src=x onerror=alert(1)>")
    api(
        sandbox,
        "POST",
        f"/rest/api/2/issue/{issue.key}/remotelink",
        json={"object": {"url": "javascript:alert(1)", "title": "bad link"}},
    )
    page = requests.get(f"{sandbox.url}/browse/{issue.key}", timeout=10)
    assert page.status_code == 200
    html = page.text
    assert '<html lang="en">' in html
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt; summary" in html
    assert 'href="javascript:' not in html
    assert "<h1>" in html
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_index_lists_issues_newest_first(jira: JIRA, sandbox: RunningSandbox) -> None:
    for summary in ("older", "newer"):
        jira.create_issue(fields=task(summary), prefetch=False)
    html = requests.get(sandbox.url + "/", timeout=10).text
    assert html.index("SUP-2") < html.index("SUP-1")
    assert 'name="viewport"' in html
    filtered = requests.get(sandbox.url + "/?project=DEV", timeout=10).text
    assert "SUP-1" not in filtered
    assert requests.get(sandbox.url + "/browse/SUP-99", timeout=10).status_code == 404
