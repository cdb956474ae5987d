"""JiraTracker against mocked Jira HTTP (`responses`): one POST per create, no hidden retries, clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
import requests
import responses

from connector.errors import TrackerRejected, TrackerUnavailable
from connector.jira import JiraTracker
from connector.types import FileUpload, IssueDraft, IssueRef, Target, TrackerFile
from tests.conftest import REPO_ROOT

URL = "https://jira.example.com"
API = f"{URL}/rest/api/2"


def server_info(deployment: str = "Server") -> dict:
    return {"baseUrl": URL, "version": "9.12.0", "versionNumbers": [9, 12, 0], "deploymentType": deployment}


def draft(**overrides: object) -> IssueDraft:
    values: dict[str, object] = {
        "target": Target("jira", "SUP", issue_type="Task"),
        "title": "Printer on fire",
        "body": "text",
        "idempotency_key": "hub-abc",
        "labels": ("telegram", "hub-abc"),
    }
    values.update(overrides)
    return IssueDraft(**values)  # type: ignore[arg-type]


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    """Jira's ``serverInfo``, which every client asks first; each test mocks what else it calls, and
    every mock must be called."""
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/serverInfo", json=server_info())
        yield rsps


@pytest.fixture
def mocked(api: responses.RequestsMock) -> responses.RequestsMock:
    """The same, with the project a create reads its ids from."""
    api.get(
        f"{API}/project/SUP",
        json={
            "id": "10000",
            "key": "SUP",
            "issueTypes": [{"id": "10002", "name": "Task"}, {"id": "10004", "name": "Bug"}],
        },
    )
    return api


def tracker() -> JiraTracker:
    return JiraTracker(URL, token="pat", timeout=5)


def test_create_sends_ids_and_costs_one_post_after_the_first(mocked: responses.RequestsMock) -> None:
    mocked.post(f"{API}/issue", json={"id": "1", "key": "SUP-1", "self": f"{API}/issue/1"}, status=201)
    jira = tracker()
    ref = jira.create_issue(
        draft(
            priority="High", components=("Web",), assignee="jsmith", custom_fields={"customfield_10010": "x"}
        )
    )
    jira.create_issue(draft())
    assert (ref.key, ref.url) == ("SUP-1", f"{URL}/browse/SUP-1")
    posts = [c for c in mocked.calls if c.request.method == "POST"]
    projects = [c for c in mocked.calls if c.request.url.endswith("/project/SUP")]
    assert len(posts) == 2 and len(projects) == 1
    fields = json.loads(posts[0].request.body)["fields"]
    assert fields["project"] == {"id": "10000"} and fields["issuetype"] == {"id": "10002"}
    assert fields["labels"] == ["telegram", "hub-abc"] and fields["priority"] == {"name": "High"}
    assert fields["assignee"] == {"name": "jsmith"} and fields["customfield_10010"] == "x"
    assert posts[0].request.headers["Authorization"] == "Bearer pat"


def test_503_with_retry_after_is_unavailable_and_not_retried(mocked: responses.RequestsMock) -> None:
    mocked.post(f"{API}/issue", json={"errorMessages": ["down"]}, status=503, headers={"Retry-After": "7"})
    with pytest.raises(TrackerUnavailable) as caught:
        tracker().create_issue(draft())
    assert caught.value.retry_after == 7.0
    assert len([c for c in mocked.calls if c.request.method == "POST"]) == 1


def test_429_is_unavailable(mocked: responses.RequestsMock) -> None:
    mocked.post(f"{API}/issue", status=429, headers={"Retry-After": "2"})
    with pytest.raises(TrackerUnavailable):
        tracker().create_issue(draft())


def test_400_is_rejected_with_jira_s_reasons(mocked: responses.RequestsMock) -> None:
    mocked.post(
        f"{API}/issue",
        status=400,
        json={"errorMessages": [], "errors": {"summary": "You must specify a summary"}},
    )
    with pytest.raises(TrackerRejected, match="summary: You must specify a summary"):
        tracker().create_issue(draft())


def test_unknown_issue_type_is_rejected_before_any_post(mocked: responses.RequestsMock) -> None:
    with pytest.raises(TrackerRejected, match="Epic"):
        tracker().create_issue(draft(target=Target("jira", "SUP", issue_type="Epic")))


def test_connection_error_is_unavailable(mocked: responses.RequestsMock) -> None:
    mocked.post(f"{API}/issue", body=requests.ConnectionError("reset"))
    with pytest.raises(TrackerUnavailable, match="unreachable"):
        tracker().create_issue(draft())


def test_find_issue_uses_search_on_data_center(api: responses.RequestsMock) -> None:
    api.get(f"{API}/search", json={"issues": [{"id": "1", "key": "SUP-1"}], "total": 1})
    assert tracker().find_issue("hub-abc").key == "SUP-1"  # type: ignore[union-attr]
    search = next(c for c in api.calls if "/search" in c.request.url)
    assert (
        "labels+%3D+%22hub-abc%22" in search.request.url
        or "labels%20%3D%20%22hub-abc%22" in search.request.url
    )


def test_find_issue_uses_search_jql_on_cloud() -> None:
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/serverInfo", json=server_info("Cloud"))
        rsps.get(f"{API}/search/jql", json={"issues": [], "isLast": True})
        jira = JiraTracker(URL, user="me@example.com", password="api-token")
        assert jira.find_issue("hub-x") is None
        assert any(c.request.url.startswith(f"{API}/search/jql") for c in rsps.calls)


def test_state_done_by_status_category(api: responses.RequestsMock) -> None:
    api.get(
        f"{API}/issue/SUP-1",
        json={"key": "SUP-1", "fields": {"status": {"name": "Closed", "statusCategory": {"key": "done"}}}},
    )
    state = tracker().get_state("SUP-1")
    assert state.done and state.status == "Closed"


def test_find_comment_pages_through_comments(api: responses.RequestsMock) -> None:
    api.get(f"{API}/issue/SUP-1/comment", json={"comments": [{"id": "5", "body": "x hub-m1"}], "total": 1})
    jira = tracker()
    assert jira.find_comment("SUP-1", "hub-m1") == "5"
    assert jira.find_comment("SUP-1", "hub-m2") is None


def test_attach_skips_files_already_there(api: responses.RequestsMock) -> None:
    api.get(f"{API}/issue/SUP-1", json={"fields": {"attachment": [{"filename": "a.txt", "size": 3}]}})
    api.post(
        f"{API}/issue/SUP-1/attachments",
        json=[
            {
                "id": "9",
                "filename": "b.txt",
                "size": 4,
                "mimeType": "text/plain",
                "content": f"{URL}/secure/attachment/9/b.txt",
            }
        ],
    )
    tracker().attach_files("SUP-1", [FileUpload("a.txt", b"abc"), FileUpload("b.txt", b"defg")])
    uploads = [c for c in api.calls if c.request.url.endswith("/attachments")]
    assert len(uploads) == 1
    body = uploads[0].request.body
    body = (
        body if isinstance(body, bytes) else body.to_string() if hasattr(body, "to_string") else body.read()
    )
    assert b'filename="b.txt"' in body and b"defg" in body
    assert uploads[0].request.headers["X-Atlassian-Token"] == "no-check"


def attachment(id: str, filename: str, content: str) -> dict[str, object]:
    return {"id": id, "filename": filename, "size": 5, "mimeType": "application/pdf", "content": content}


def test_credentials_go_only_to_attachments_on_jira_url(api: responses.RequestsMock) -> None:
    """Jira writes ``content`` with its base URL; one naming another host is not fetched with our token."""
    api.get(
        f"{API}/issue/SUP-1",
        json={
            "fields": {
                "attachment": [
                    attachment("9", "driver.pdf", f"{URL}/secure/attachment/9/driver.pdf"),
                    attachment("10", "old.pdf", "https://jira-old.example.com/secure/attachment/10/old.pdf"),
                ]
            }
        },
    )
    api.get(f"{URL}/secure/attachment/9/driver.pdf", body=b"%PDF-1")
    # nothing answers for jira-old.example.com: a request there would fail the test
    jira = tracker()
    [driver] = jira.list_files("SUP-1")
    assert jira.download_file(driver, 1024) == b"%PDF-1"
    with pytest.raises(TrackerRejected, match="not fetched"):
        jira.download_file(TrackerFile("10", "old.pdf", 5, "https://jira-old.example.com/x/old.pdf"), 1024)
    fetched = [c.request for c in api.calls if "/secure/attachment/" in c.request.url]
    assert [(r.url, r.headers["Authorization"]) for r in fetched] == [
        (f"{URL}/secure/attachment/9/driver.pdf", "Bearer pat")
    ]


# -- bulk create: POST /issue/bulk, shapes from the REST v2 reference (CreatedIssues,
# BulkOperationErrorResult): 201 when any element was created, 400 when none was.


def created(*keys: str) -> list[dict[str, str]]:
    return [{"id": key.split("-")[1], "key": key, "self": f"{API}/issue/{key}"} for key in keys]


def element_error(number: int, status: int = 400, **errors: str) -> dict[str, object]:
    return {
        "status": status,
        "failedElementNumber": number,
        "elementErrors": {"errorMessages": [], "errors": errors},
    }


def test_bulk_create_maps_each_draft_to_its_issue_or_its_refusal(mocked: responses.RequestsMock) -> None:
    answer = {
        "issues": created("SUP-1", "SUP-3"),
        "errors": [element_error(1, assignee="User 'x' does not exist.")],
    }
    post = mocked.post(f"{API}/issue/bulk", json=answer, status=201)
    sent: list[int] = []
    drafts = [draft(title=f"issue {n}", idempotency_key=f"hub-{n}", labels=(f"hub-{n}",)) for n in range(3)]

    results = tracker().create_issues(drafts, on_send=lambda: sent.append(len(post.calls)))

    assert sent == [0] and post.call_count == 1
    body = json.loads(post.calls[0].request.body)
    assert [u["fields"]["labels"] for u in body["issueUpdates"]] == [["hub-0"], ["hub-1"], ["hub-2"]]
    assert body["issueUpdates"][0]["fields"]["project"] == {"id": "10000"}
    first, refused, third = results
    assert (getattr(first, "key", None), getattr(third, "key", None)) == ("SUP-1", "SUP-3")
    assert isinstance(refused, TrackerRejected) and refused.status == 400
    assert "assignee: User 'x' does not exist." in str(refused)


def test_bulk_create_with_every_element_refused_is_a_refusal_each(mocked: responses.RequestsMock) -> None:
    answer = {"issues": [], "errors": [element_error(0, summary="too long"), element_error(1, status=503)]}
    mocked.post(f"{API}/issue/bulk", json=answer, status=400)
    refused, unavailable = tracker().create_issues([draft(), draft(idempotency_key="hub-2")])
    assert isinstance(refused, TrackerRejected) and "summary: too long" in str(refused)
    assert isinstance(unavailable, TrackerUnavailable) and unavailable.status == 503


def test_bulk_create_refused_as_a_whole_raises(mocked: responses.RequestsMock) -> None:
    mocked.post(f"{API}/issue/bulk", json={"errorMessages": ["Too many issues"], "errors": {}}, status=400)
    with pytest.raises(TrackerRejected, match="Too many issues"):
        tracker().create_issues([draft()])


@pytest.mark.parametrize(
    "answer",
    [
        {"issues": created("SUP-1")},  # one of two missing
        {"issues": created("SUP-1"), "errors": [element_error(7)]},  # an element number out of range
        {"issues": created("SUP-1", "SUP-2", "SUP-3")},  # more issues than drafts
    ],
)
def test_a_bulk_answer_that_does_not_add_up_counts_as_lost(
    mocked: responses.RequestsMock, answer: dict[str, object]
) -> None:
    mocked.post(f"{API}/issue/bulk", json=answer, status=201)
    with pytest.raises(TrackerUnavailable, match="does not match"):
        tracker().create_issues([draft(), draft(idempotency_key="hub-2")])


def test_bulk_create_outage_is_unavailable_after_on_send(mocked: responses.RequestsMock) -> None:
    mocked.post(f"{API}/issue/bulk", status=503, headers={"Retry-After": "7"}, json={})
    sent: list[bool] = []
    with pytest.raises(TrackerUnavailable) as caught:
        tracker().create_issues([draft()], on_send=lambda: sent.append(True))
    assert sent == [True] and caught.value.retry_after == 7


# -- state: people, dates, type and container, in each deployment's user shape ----------------------------
# The issues are the ``issue`` objects of real webhooks (tests/fixtures/jira/SOURCES.md), which have the
# shape of ``GET /issue/{key}``: Data Center users carry ``name``/``key``, Cloud users ``accountId``.


def webhook_issue(name: str) -> dict[str, Any]:
    return json.loads((REPO_ROOT / "tests" / "fixtures" / "jira" / name).read_text())["issue"]


@pytest.mark.parametrize(
    ("deployment", "fixture", "user", "category"),
    [
        (
            "Server",
            "mattermost-plugin-jira__webhook-server-issue-updated-in-progress.json",
            "admin",
            "indeterminate",
        ),
        (
            "Cloud",
            "mattermost-plugin-jira__webhook-cloud-issue-created-many-fields.json",
            "5cedcb4355a88a0fc86388ba",
            "new",
        ),
    ],
)
def test_state_reads_people_dates_type_and_container(
    deployment: str, fixture: str, user: str, category: str
) -> None:
    issue = webhook_issue(fixture)
    fields = issue["fields"]
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/serverInfo", json=server_info(deployment))
        read = rsps.get(f"{API}/issue/{issue['key']}", json=issue)
        state = tracker().get_state(issue["key"], fields=("environment",))
    assert (state.assignee, state.reporter) == (user, user)
    assert state.created == datetime.fromisoformat(fields["created"])
    assert state.updated is not None and state.updated.utcoffset() is not None
    assert (state.status_category, state.done) == (category, False)
    assert (state.issue_type, state.priority) == (fields["issuetype"]["name"], "Medium")
    assert state.container == fields["project"]["key"] and state.due_date is None
    assert state.fields == {"environment": fields.get("environment")}  # only what was asked for
    asked = read.calls[0].request.params["fields"].split(",")
    assert {"assignee", "reporter", "created", "duedate", "project", "environment"} <= set(asked)


def test_state_without_people_or_dates_is_empty_not_an_error(api: responses.RequestsMock) -> None:
    api.get(
        f"{API}/issue/SUP-1",
        json={"key": "SUP-1", "fields": {"assignee": None, "duedate": "2026-03-31", "created": "soon"}},
    )
    state = tracker().get_state("SUP-1")
    assert (state.assignee, state.created, state.due_date) == (None, None, date(2026, 3, 31))
    assert (state.status_category, state.fields) == ("", {})


def test_draft_due_date_and_parent_become_jira_fields(mocked: responses.RequestsMock) -> None:
    post = mocked.post(f"{API}/issue", json={"id": "2", "key": "SUP-2"}, status=201)
    tracker().create_issue(draft(due_date=date(2026, 1, 31), parent="SUP-1"))
    fields = json.loads(post.calls[0].request.body)["fields"]
    assert (fields["duedate"], fields["parent"]) == ("2026-01-31", {"key": "SUP-1"})


# -- links: "source <outward> target", POST /issueLink with the source as inwardIssue ----------------------

LINK_TYPES = {
    "issueLinkTypes": [
        {"id": "10000", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
        {"id": "10001", "name": "Cloners", "inward": "is cloned by", "outward": "clones"},
        {"id": "10003", "name": "Relates", "inward": "relates to", "outward": "relates to"},
    ]
}


def test_link_names_the_source_inward_with_the_given_or_default_type(api: responses.RequestsMock) -> None:
    api.get(f"{API}/issueLinkType", json=LINK_TYPES)
    post = api.post(f"{API}/issueLink", status=201)
    jira = tracker()
    jira.link("SUP-1", "DEV-2", "Blocks")
    jira.link_issues("SUP-1", "SUP-9")
    JiraTracker(URL, token="pat", link_type="Cloners").link("SUP-3", "DEV-4")
    sent = [json.loads(c.request.body) for c in post.calls]
    assert [(b["type"]["name"], b["inwardIssue"]["key"], b["outwardIssue"]["key"]) for b in sent] == [
        ("Blocks", "SUP-1", "DEV-2"),
        ("Relates", "SUP-9", "SUP-1"),
        ("Cloners", "SUP-3", "DEV-4"),
    ]


def test_an_instance_has_its_own_name_and_the_jira_kind() -> None:
    dev = JiraTracker(URL, token="pat", name="jira-dev")
    assert (dev.name, dev.kind, JiraTracker(URL).name) == ("jira-dev", "jira", "jira")
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/serverInfo", json=server_info())
        rsps.get(f"{API}/search", json={"issues": [{"id": "1", "key": "SUP-1"}], "total": 1})
        assert dev.find_issue("hub-abc") == IssueRef("jira-dev", "SUP-1", f"{URL}/browse/SUP-1", "1")
