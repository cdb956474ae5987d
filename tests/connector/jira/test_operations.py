"""JiraTracker's operations for routing, automations and the console, against Jira's documented shapes
(`responses`; every mock must be called).

Shapes: the Cloud OpenAPI spec in ``shared/fixtures/jira`` (``getTransitions``, ``doTransition``,
``editIssue``, ``assignIssue``, ``searchAndReconsileIssuesUsingJqlPost``, ``getIssueLinkTypes``,
``createOrUpdateRemoteIssueLink``, ``getComments``) and the Data Center REST v2 reference for ``/search``
(research/jira.md §1.6–1.9). The bulk move is in test_move.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from connector.base import CAN_BULK_CREATE, CAN_MOVE, CAN_REMOTE_LINKS
from connector.errors import TrackerRejected, TrackerUnavailable, Unsupported
from connector.jira import JiraTracker
from connector.types import Comment, LinkType, SearchQuery, Transition

URL = "https://jira.example.com"
API = f"{URL}/rest/api/2"


def server_info(deployment: str) -> dict[str, object]:
    return {"baseUrl": URL, "version": "9.12.0", "versionNumbers": [9, 12, 0], "deploymentType": deployment}


@pytest.fixture(params=["Server", "Cloud"])
def deployment(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def api(deployment: str) -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/serverInfo", json=server_info(deployment))
        yield rsps


@pytest.fixture
def dc() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/serverInfo", json=server_info("Server"))
        yield rsps


@pytest.fixture
def cloud() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/serverInfo", json=server_info("Cloud"))
        yield rsps


def jira(clock: list[float] | None = None) -> JiraTracker:
    now = clock or [0.0]
    return JiraTracker(URL, token="pat", timeout=5, clock=lambda: now[0])


def sent(call: Any) -> Any:
    return json.loads(call.request.body)


# -- capabilities, checklists -----------------------------------------------------------------------------


def test_only_cloud_can_move_and_neither_has_checklists(api: responses.RequestsMock, deployment: str) -> None:
    tracker = jira()
    expected = {CAN_BULK_CREATE, CAN_REMOTE_LINKS} | ({CAN_MOVE} if deployment == "Cloud" else set())
    assert tracker.capabilities() == expected
    with pytest.raises(Unsupported, match="sub-tasks"):
        tracker.checklists("SUP-1")
    with pytest.raises(Unsupported, match="sub-tasks"):
        tracker.add_checklist("SUP-1", "Onboarding", ["laptop"])


# -- comments -----------------------------------------------------------------------------------------------


def comment(cid: str, body: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "body": body,
        "author": {"name": "jsmith", "key": "jsmith", "displayName": "John Smith"},
        "created": "2026-01-15T10:00:00.000+0000",
        **extra,
    }


def test_comments_are_read_page_by_page_with_author_date_and_visibility(dc: responses.RequestsMock) -> None:
    internal = {"properties": [{"key": "sd.public.comment", "value": {"internal": True}}]}
    page = matchers.query_param_matcher
    first = {"startAt": "0", "maxResults": "100", "orderBy": "created", "expand": "properties"}
    dc.get(
        f"{API}/issue/SUP-1/comment",
        match=[page(first)],
        json={
            "startAt": 0,
            "maxResults": 100,
            "total": 3,
            "comments": [comment("1", "a"), comment("2", "b", **internal)],
        },
    )
    dc.get(
        f"{API}/issue/SUP-1/comment",
        match=[page({**first, "startAt": "2"})],
        json={"startAt": 2, "maxResults": 100, "total": 3, "comments": [comment("3", "c", jsdPublic=True)]},
    )
    first_comment, internal_note, public = jira().comments("SUP-1")
    assert first_comment == Comment(
        "1", "a", "jsmith", "John Smith", None, datetime(2026, 1, 15, 10, tzinfo=UTC)
    )
    assert (internal_note.public, public.public) == (False, True)


def test_cloud_comment_authors_are_account_ids(cloud: responses.RequestsMock) -> None:
    author = {"accountId": "5b10a2844c20165700ede21g", "displayName": "Mia"}
    cloud.get(
        f"{API}/issue/SUP-1/comment",
        json={"total": 1, "comments": [{"id": "9", "body": "x", "author": author, "jsdPublic": False}]},
    )
    [only] = jira().comments("SUP-1")
    assert (only.author, only.author_name, only.public, only.created) == (
        author["accountId"],
        "Mia",
        False,
        None,
    )


# -- transitions ------------------------------------------------------------------------------------------


def screen_field(
    key: str, name: str, schema: dict[str, Any], allowed: list[Any], required: bool
) -> dict[str, Any]:
    """A transition screen's ``FieldMetadata`` (spec ``getTransitions``: keyed by field id)."""
    return {"required": required, "hasDefaultValue": False, "name": name, "key": key,
            "operations": ["set"], "schema": schema, "allowedValues": allowed}  # fmt: skip


RESOLUTION = screen_field(
    "resolution",
    "Resolution",
    {"type": "resolution", "system": "resolution"},
    [{"id": "1", "name": "Fixed"}, {"id": "10001", "name": "Won't Do"}],
    required=True,
)
SEVERITY = screen_field(
    "customfield_10020",
    "Severity",
    {"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select"},
    [{"id": "10100", "value": "Critical"}, {"id": "10101", "value": "Major"}],
    required=False,
)


def status(name: str, category: str) -> dict[str, Any]:
    return {"id": "1", "name": name, "statusCategory": {"id": 2, "key": category, "name": name}}


TRANSITIONS = {
    "expand": "transitions",
    "transitions": [
        {"id": "11", "name": "Start Progress", "to": status("In Progress", "indeterminate"), "fields": {}},
        {
            "id": "31",
            "name": "Resolve Issue",
            "to": status("Resolved", "done"),
            "hasScreen": True,
            "fields": {"resolution": RESOLUTION, "customfield_10020": SEVERITY},
        },
    ],
}


def issue_in(rsps: responses.RequestsMock, status_name: str) -> None:
    rsps.get(
        f"{API}/issue/SUP-1",
        json={"id": "10000", "key": "SUP-1", "fields": {"status": status(status_name, "new")}},
    )


def offered(rsps: responses.RequestsMock) -> responses.BaseResponse:
    return rsps.get(
        f"{API}/issue/SUP-1/transitions",
        match=[matchers.query_param_matcher({"expand": "transitions.fields"})],
        json=TRANSITIONS,
    )


def test_transitions_carry_their_target_category_and_screen_fields(dc: responses.RequestsMock) -> None:
    offered(dc)
    start, resolve = jira().transitions("SUP-1")
    assert start == Transition("11", "Start Progress", "In Progress", "indeterminate")
    assert (resolve.to_status, resolve.to_category) == ("Resolved", "done")
    fields = {f.id: f for f in resolve.fields}
    assert fields["resolution"].required and [c.name for c in fields["resolution"].allowed] == [
        "Fixed",
        "Won't Do",
    ]
    assert (fields["customfield_10020"].type, fields["customfield_10020"].required) == ("option", False)


def test_a_transition_by_target_status_sends_fields_resolution_and_comment_in_one_post(
    api: responses.RequestsMock,
) -> None:
    issue_in(api, "Open")
    offered(api)
    post = api.post(f"{API}/issue/SUP-1/transitions", status=204)
    jira().transition(
        "SUP-1", "resolved", fields={"Severity": "major"}, resolution="won't do", comment="Moved to HW-1"
    )
    assert post.call_count == 1
    assert sent(post.calls[0]) == {
        "transition": {"id": "31"},
        "fields": {"customfield_10020": {"id": "10101"}, "resolution": {"id": "10001"}},
        "update": {"comment": [{"add": {"body": "Moved to HW-1"}}]},
    }


@pytest.mark.parametrize("to", ["11", "start progress", "In Progress"])
def test_a_transition_is_found_by_id_name_or_status(dc: responses.RequestsMock, to: str) -> None:
    issue_in(dc, "Open")
    offered(dc)
    post = dc.post(f"{API}/issue/SUP-1/transitions", status=204)
    jira().transition("SUP-1", to)
    assert sent(post.calls[0]) == {"transition": {"id": "11"}}


def test_an_issue_in_the_status_already_is_left_alone(dc: responses.RequestsMock) -> None:
    issue_in(dc, "Resolved")
    offered(dc)
    jira().transition("SUP-1", "RESOLVED", resolution="Fixed")  # no POST is mocked: none may be sent


def test_an_unknown_transition_names_what_the_issue_can_do(dc: responses.RequestsMock) -> None:
    issue_in(dc, "Open")
    offered(dc)
    with pytest.raises(TrackerRejected) as caught:
        jira().transition("SUP-1", "Closed")
    assert "Start Progress (→ In Progress)" in str(caught.value) and "Resolve Issue (→ Resolved)" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resolution": "Duplicate"}, "Fixed"),
        ({"fields": {"Priority": "High"}}, "not on the screen"),
        ({"fields": {"Severity": "Blocker"}}, "Critical"),
    ],
)
def test_values_the_screen_does_not_take_are_refused_before_any_post(
    dc: responses.RequestsMock, kwargs: dict[str, Any], message: str
) -> None:
    issue_in(dc, "Open")
    offered(dc)
    with pytest.raises(TrackerRejected, match=message):
        jira().transition("SUP-1", "Resolve Issue", **kwargs)


def test_a_conflicting_transition_is_transient_and_not_retried(dc: responses.RequestsMock) -> None:
    issue_in(dc, "Open")
    offered(dc)
    post = dc.post(
        f"{API}/issue/SUP-1/transitions", status=409, json={"errorMessages": ["Conflicting update"]}
    )
    with pytest.raises(TrackerUnavailable, match="Conflicting update"):
        jira().transition("SUP-1", "11")
    assert post.call_count == 1


# -- field updates, assignment --------------------------------------------------------------------------

FIELD_LIST = [
    {
        "id": "customfield_10020",
        "name": "Severity",
        "custom": True,
        "schema": {"type": "option", "custom": "x:select"},
    },
    {"id": "customfield_10030", "name": "Contract end", "custom": True, "schema": {"type": "date"}},
    {"id": "customfield_10060", "name": "Team", "custom": True, "schema": {"type": "string"}},
    {"id": "customfield_10061", "name": "Team", "custom": True, "schema": {"type": "string"}},
]


def test_update_fields_maps_values_as_a_create_does_in_one_put(
    api: responses.RequestsMock, deployment: str
) -> None:
    field_list = api.get(f"{API}/field", json=FIELD_LIST)
    put = api.put(f"{API}/issue/SUP-1", status=204)
    tracker = jira()
    tracker.update_fields(
        "SUP-1",
        {
            "priority": "High",
            "assignee": "u-1",
            "Severity": "Major",
            "customfield_10030": datetime(2026, 5, 1, 12, tzinfo=UTC).date(),
            "components": ["Web"],
            "duedate": None,
        },
        add_labels=["sla-breached"],
        remove_labels=["waiting"],
    )
    tracker.update_fields("SUP-1", {"Contract end": "2027-01-31"})
    user = {"accountId": "u-1"} if deployment == "Cloud" else {"name": "u-1"}
    assert sent(put.calls[0]) == {
        "fields": {
            "priority": {"name": "High"},
            "assignee": user,
            "customfield_10020": {"value": "Major"},
            "customfield_10030": "2026-05-01",
            "components": [{"name": "Web"}],
            "duedate": None,
        },
        "update": {"labels": [{"add": "sla-breached"}, {"remove": "waiting"}]},
    }
    assert sent(put.calls[1]) == {"fields": {"customfield_10030": "2027-01-31"}}
    assert field_list.call_count == 1  # the field list is cached


def test_only_labels_is_an_update_without_fields(dc: responses.RequestsMock) -> None:
    put = dc.put(f"{API}/issue/SUP-1", status=204)
    jira().update_fields("SUP-1", {}, add_labels=["x"])
    jira().update_fields("SUP-1", {})  # nothing to do: no request
    assert [sent(c) for c in put.calls] == [{"update": {"labels": [{"add": "x"}]}}]


@pytest.mark.parametrize(("name", "message"), [("Nope", "no Jira field 'Nope'"), ("team", "give the id")])
def test_an_unknown_or_ambiguous_field_is_refused_before_the_put(
    dc: responses.RequestsMock, name: str, message: str
) -> None:
    dc.get(f"{API}/field", json=FIELD_LIST)
    with pytest.raises(TrackerRejected, match=message):
        jira().update_fields("SUP-1", {name: "x"})


def test_jira_s_per_field_refusal_reaches_the_caller(dc: responses.RequestsMock) -> None:
    dc.put(f"{API}/issue/SUP-1", status=400, json={"errorMessages": [], "errors": {"priority": "invalid"}})
    with pytest.raises(TrackerRejected, match="priority: invalid"):
        jira().update_fields("SUP-1", {"priority": "Urgent"})


def test_assign_names_the_user_as_each_deployment_does(api: responses.RequestsMock, deployment: str) -> None:
    put = api.put(f"{API}/issue/SUP-1/assignee", status=204)
    tracker = jira()
    tracker.assign("SUP-1", "5b10ac8d82e05b22cc7d4ef5")
    tracker.assign("SUP-1", None)
    key = "accountId" if deployment == "Cloud" else "name"
    assert [sent(c) for c in put.calls] == [{key: "5b10ac8d82e05b22cc7d4ef5"}, {key: None}]


# -- search ---------------------------------------------------------------------------------------------


def hit(key: str, **fields: Any) -> dict[str, Any]:
    base = {"status": status("Open", "new"), "summary": f"about {key}", "project": {"key": "SUP"}}
    return {"id": key.split("-")[1], "key": key, "fields": {**base, **fields}}


def test_data_center_search_pages_by_start_at_lazily(dc: responses.RequestsMock) -> None:
    first = dc.post(f"{API}/search", match=[matchers.json_params_matcher({"startAt": 0}, strict_match=False)],
                    json={"startAt": 0, "maxResults": 2, "total": 3, "issues": [hit("SUP-1"), hit("SUP-2")]})  # fmt: skip
    second = dc.post(f"{API}/search", match=[matchers.json_params_matcher({"startAt": 2}, strict_match=False)],
                     json={"startAt": 2, "maxResults": 2, "total": 3, "issues": [hit("SUP-3", customfield_10030="2026-05-01")]})  # fmt: skip
    found = jira().search(
        SearchQuery(containers=("SUP",), not_done=True), fields=["customfield_10030"], page_size=2
    )
    assert next(found).ref.key == "SUP-1" and (first.call_count, second.call_count) == (1, 0)
    rest = list(found)
    assert [s.ref.key for s in rest] == ["SUP-2", "SUP-3"] and rest[-1].fields == {
        "customfield_10030": "2026-05-01"
    }
    body = sent(first.calls[0])
    assert body["jql"] == 'project in ("SUP") AND statusCategory != "Done" ORDER BY created ASC, key ASC'
    assert body["maxResults"] == 2
    assert {"status", "summary", "assignee", "created", "duedate", "project", "customfield_10030"} <= set(
        body["fields"]
    )


def test_cloud_search_follows_the_page_token_with_a_bounded_query(cloud: responses.RequestsMock) -> None:
    search = cloud.post(
        f"{API}/search/jql", json={"issues": [hit("SUP-1")], "nextPageToken": "t2", "isLast": False}
    )
    search2 = cloud.post(
        f"{API}/search/jql",
        match=[matchers.json_params_matcher({"nextPageToken": "t2"}, strict_match=False)],
        json={"issues": [hit("SUP-2")], "isLast": True},
    )
    keys = [s.ref.key for s in jira().search(SearchQuery())]
    assert keys == ["SUP-1", "SUP-2"]
    assert sent(search.calls[0])["jql"] == "created <= now() ORDER BY created ASC, key ASC"
    assert "nextPageToken" not in sent(search.calls[0]) and search2.call_count == 1


def test_a_search_page_without_issues_ends_the_search(dc: responses.RequestsMock) -> None:
    dc.post(f"{API}/search", json={"startAt": 0, "maxResults": 50, "total": 10, "issues": []})
    assert list(jira().search(SearchQuery(labels=("x",)))) == []


# -- links ----------------------------------------------------------------------------------------------

LINK_TYPES = {
    "issueLinkTypes": [
        {"id": "10000", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
        {"id": "10001", "name": "Cloners", "inward": "is cloned by", "outward": "clones"},
    ]
}


def test_link_types_are_cached_for_the_ttl(dc: responses.RequestsMock) -> None:
    clock = [0.0]
    types = dc.get(f"{API}/issueLinkType", json=LINK_TYPES)
    tracker = jira(clock)
    assert tracker.link_types()[0] == LinkType("Blocks", "is blocked by", "blocks")
    clock[0] = 299.0
    tracker.link_types()
    assert types.call_count == 1
    clock[0] = 301.0
    tracker.link_types()
    assert types.call_count == 2


def test_a_link_by_inward_phrase_reads_the_other_way_and_an_unknown_type_is_refused(
    dc: responses.RequestsMock,
) -> None:
    dc.get(f"{API}/issueLinkType", json=LINK_TYPES)
    post = dc.post(f"{API}/issueLink", status=201)
    tracker = jira()
    tracker.link("HW-1", "SUP-1", "clones")
    tracker.link("SUP-1", "HW-1", "is cloned by")
    with pytest.raises(TrackerRejected, match=r"no link type 'Relates'; it has \['Blocks', 'Cloners'\]"):
        tracker.link("SUP-1", "HW-1")
    pairs = [
        (b["type"]["name"], b["inwardIssue"]["key"], b["outwardIssue"]["key"]) for b in map(sent, post.calls)
    ]
    assert pairs == [("Cloners", "HW-1", "SUP-1"), ("Cloners", "HW-1", "SUP-1")]


def test_a_remote_link_is_upserted_by_its_global_id(dc: responses.RequestsMock) -> None:
    post = dc.post(f"{API}/issue/SUP-1/remotelink", status=200, json={"id": 10000, "self": "x"})
    jira().add_remote_link("SUP-1", "https://hub.example/route/abc", "Route", global_id="hub-route-abc")
    assert sent(post.calls[0]) == {
        "globalId": "hub-route-abc",
        "application": {"type": "trackerhub", "name": "trackerhub"},
        "object": {"url": "https://hub.example/route/abc", "title": "Route"},
    }
