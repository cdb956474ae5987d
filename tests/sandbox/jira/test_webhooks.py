"""The sandbox Jira's outgoing webhooks: registration, payloads the hub's mapper reads, signing, retries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from mappers.tracker_events import parse_jira_webhook, verify_hub_signature
from sandbox.controls import STATE_KEY
from sandbox.jira import app as sandbox_jira
from sandbox.server import RunningSandbox
from tests.sandboxes import CONTROL, Receiver, deliveries, flush
from tests.sandboxes import run_jira as run_in_thread

SECRET = "webhook-s3cret"
HUB = {"Authorization": "Bearer test-token"}
ENGINEER = ("engineer", "any-password")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    with run_in_thread(tmp_path / "sandbox-jira.sqlite3", faults=True) as running:
        yield running


def register(sandbox: RunningSandbox, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    body = {"name": "hub", "url": url, "events": events, **extra}
    resp = requests.post(sandbox.url + "/rest/webhooks/1.0/webhook", json=body, headers=HUB, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()


def create_issue(sandbox: RunningSandbox, summary: str = "Cannot log in") -> dict[str, Any]:
    fields = {"project": {"key": "SUP"}, "issuetype": {"id": "10002"}, "summary": summary}
    resp = requests.post(sandbox.url + "/rest/api/2/issue", json={"fields": fields}, headers=HUB, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()


def add_comment(
    sandbox: RunningSandbox, key: str, body: str = "Please restart the router"
) -> requests.Response:
    return requests.post(
        f"{sandbox.url}/rest/api/2/issue/{key}/comment", json={"body": body}, auth=ENGINEER, timeout=10
    )


# --- registration -------------------------------------------------------------------------------------


def test_register_list_get_and_delete_a_webhook(sandbox: RunningSandbox) -> None:
    api = sandbox.url + "/rest/webhooks/1.0/webhook"
    created = register(sandbox, "http://hub.example/hooks/jira", ["comment_created"], secret="x")
    assert created["self"] == f"{api}/1"
    assert created["name"] == "hub"
    assert created["url"] == "http://hub.example/hooks/jira"
    assert created["events"] == ["comment_created"]
    assert created["enabled"] is True
    assert "secret" not in created

    listed = requests.get(api, headers=HUB, timeout=10).json()
    assert [w["self"] for w in listed] == [created["self"]]
    assert requests.get(created["self"], headers=HUB, timeout=10).json() == created

    assert requests.delete(created["self"], headers=HUB, timeout=10).status_code == 204
    assert requests.get(api, headers=HUB, timeout=10).json() == []
    assert requests.get(created["self"], headers=HUB, timeout=10).status_code == 404
    assert requests.delete(created["self"], headers=HUB, timeout=10).status_code == 404


def test_registration_is_validated_and_needs_auth(sandbox: RunningSandbox) -> None:
    api = sandbox.url + "/rest/webhooks/1.0/webhook"
    bad = requests.post(api, json={"name": "", "url": "ftp://x", "events": "all"}, headers=HUB, timeout=10)
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"name", "url", "events"}
    anonymous = requests.post(api, json={"name": "n", "url": "http://x/", "events": []}, timeout=10)
    assert anonymous.status_code == 401


def test_update_keeps_the_secret_unless_given(sandbox: RunningSandbox, receiver: Receiver) -> None:
    hook = register(sandbox, receiver.url, ["comment_created"], secret=SECRET)
    body = {"name": "renamed", "url": receiver.url, "events": ["comment_created", "comment_updated"]}
    resp = requests.put(hook["self"], json=body, headers=HUB, timeout=10)
    assert resp.status_code == 200 and resp.json()["name"] == "renamed"
    add_comment(sandbox, create_issue(sandbox)["key"])
    flush(sandbox)
    (got,) = receiver.received
    assert verify_hub_signature(SECRET, got.body, got.headers.get("X-Hub-Signature"))


# --- what a change sends ------------------------------------------------------------------------------


def test_a_comment_is_sent_twice_and_both_parse_to_one_event(
    sandbox: RunningSandbox, receiver: Receiver
) -> None:
    register(
        sandbox, receiver.url, ["comment_created", "comment_updated", "jira:issue_updated"], secret=SECRET
    )
    issue = create_issue(sandbox)
    resp = add_comment(sandbox, issue["key"])
    assert resp.status_code == 201
    comment = resp.json()
    flush(sandbox)

    assert receiver.events() == ["comment_created", "jira:issue_updated"]
    created, repeated = receiver.received
    for got in (created, repeated):
        assert got.headers["Content-Type"] == "application/json"
        assert verify_hub_signature(SECRET, got.body, got.headers["X-Hub-Signature"])
        payload = got.payload
        assert isinstance(payload["timestamp"], int) and payload["timestamp"] > 1_600_000_000_000
        assert payload["user"]["name"] == "engineer"
        assert payload["user"]["key"] == "engineer" and payload["user"]["displayName"]
        assert payload["comment"] == comment
        assert payload["issue"]["key"] == issue["key"]
        assert payload["issue"]["id"] == issue["id"]
        assert payload["issue"]["self"] == issue["self"]
        fields = payload["issue"]["fields"]
        assert fields["summary"] == "Cannot log in"
        assert fields["status"]["name"] == "To Do"
        assert fields["status"]["statusCategory"]["key"] == "new"
        assert fields["issuetype"]["name"] == "Task" and fields["project"]["key"] == "SUP"
        assert fields["labels"] == []
    assert "issue_event_type_name" not in created.payload
    assert repeated.payload["issue_event_type_name"] == "issue_commented"
    assert "changelog" not in repeated.payload
    ids = {got.headers["X-Atlassian-Webhook-Identifier"] for got in (created, repeated)}
    assert len(ids) == 2

    first = parse_jira_webhook(created.payload)
    second = parse_jira_webhook(repeated.payload)
    assert first.kind == second.kind == "comment_created"
    assert first.event_id == second.event_id == f"comment:{comment['id']}:{comment['updated']}"
    assert first.comment_id == comment["id"] and first.issue_key == issue["key"]
    assert first.comment_author == "engineer" and first.comment_body == "Please restart the router"

    recorded = deliveries(sandbox)
    assert [(d["event"], d["url"], d["status"], d["attempts"]) for d in recorded] == [
        ("comment_created", receiver.url, 200, 1),
        ("jira:issue_updated", receiver.url, 200, 1),
    ]
    assert {d["identifier"] for d in recorded} == ids


def test_editing_a_comment_sends_comment_updated(sandbox: RunningSandbox, receiver: Receiver) -> None:
    key = create_issue(sandbox)["key"]
    comment = add_comment(sandbox, key).json()
    register(sandbox, receiver.url, ["comment_updated", "jira:issue_updated"], secret=SECRET)
    resp = requests.put(
        comment["self"],
        json={"body": "Restarted, works now"},
        auth=ENGINEER,
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    flush(sandbox)

    assert receiver.events() == ["comment_updated", "jira:issue_updated"]
    updated, repeated = receiver.received
    assert updated.payload["comment"]["body"] == "Restarted, works now"
    assert repeated.payload["issue_event_type_name"] == "issue_comment_edited"
    event = parse_jira_webhook(updated.payload)
    assert event.kind == "comment_updated" and event.comment_id == comment["id"]
    assert parse_jira_webhook(repeated.payload).event_id == event.event_id
    assert event.event_id == f"comment:{comment['id']}:{resp.json()['updated']}"


def test_a_transition_sends_a_status_changelog(sandbox: RunningSandbox, receiver: Receiver) -> None:
    key = create_issue(sandbox)["key"]
    register(sandbox, receiver.url, ["jira:issue_updated"], secret=SECRET)
    resp = requests.post(
        f"{sandbox.url}/rest/api/2/issue/{key}/transitions",
        json={"transition": {"id": "21"}},
        auth=ENGINEER,
        timeout=10,
    )
    assert resp.status_code == 204, resp.text
    flush(sandbox)

    (got,) = receiver.received
    payload = got.payload
    assert payload["webhookEvent"] == "jira:issue_updated"
    assert payload["issue_event_type_name"] == "issue_generic"
    assert payload["user"]["name"] == "engineer"
    assert payload["issue"]["fields"]["status"]["name"] == "In Progress"
    (item,) = payload["changelog"]["items"]
    assert item == {
        "field": "status",
        "fieldtype": "jira",
        "fieldId": "status",
        "from": "10000",
        "fromString": "To Do",
        "to": "3",
        "toString": "In Progress",
    }
    event = parse_jira_webhook(payload, delivery_id=got.headers["X-Atlassian-Webhook-Identifier"])
    assert event.kind == "issue_transitioned"
    assert event.status_from == "To Do" and event.status_to == "In Progress"
    assert event.status_category_to == "indeterminate"
    assert event.event_id == f"changelog:{payload['changelog']['id']}"
    assert event.actor == "engineer" and event.issue_key == key


def test_done_with_a_comment_sends_resolution_status_and_the_comment(
    sandbox: RunningSandbox, receiver: Receiver
) -> None:
    key = create_issue(sandbox)["key"]
    register(sandbox, receiver.url, ["comment_created", "jira:issue_updated"])
    body = {"transition": {"id": "41"}, "update": {"comment": [{"add": {"body": "Fixed."}}]}}
    resp = requests.post(
        f"{sandbox.url}/rest/api/2/issue/{key}/transitions", json=body, headers=HUB, timeout=10
    )
    assert resp.status_code == 204, resp.text
    flush(sandbox)

    assert receiver.events() == ["comment_created", "jira:issue_updated"]
    comment_event, update = (r.payload for r in receiver.received)
    assert "X-Hub-Signature" not in receiver.received[0].headers  # no secret, no signature
    assert {i["field"]: i["toString"] for i in update["changelog"]["items"]} == {
        "resolution": "Done",
        "status": "Done",
    }
    assert update["comment"]["body"] == "Fixed." == comment_event["comment"]["body"]
    event = parse_jira_webhook(update)
    assert event.kind == "issue_transitioned" and event.status_category_to == "done"


def test_edits_and_assignments_carry_a_changelog(sandbox: RunningSandbox, receiver: Receiver) -> None:
    key = create_issue(sandbox)["key"]
    register(sandbox, receiver.url, ["jira:issue_updated"])
    fields = {"summary": "Cannot log in from VPN", "labels": ["vpn"], "priority": {"name": "High"}}
    edit = requests.put(
        f"{sandbox.url}/rest/api/2/issue/{key}", json={"fields": fields}, headers=HUB, timeout=10
    )
    assert edit.status_code == 204
    assign = requests.put(
        f"{sandbox.url}/rest/api/2/issue/{key}/assignee", json={"name": "jsmith"}, headers=HUB, timeout=10
    )
    assert assign.status_code == 204
    # setting what is already there changes nothing and sends nothing
    same = requests.put(
        f"{sandbox.url}/rest/api/2/issue/{key}", json={"fields": fields}, headers=HUB, timeout=10
    )
    assert same.status_code == 204
    flush(sandbox)

    edited, assigned = (r.payload for r in receiver.received)
    assert edited["issue_event_type_name"] == "issue_updated"
    assert {i["field"]: (i["fromString"], i["toString"]) for i in edited["changelog"]["items"]} == {
        "summary": ("Cannot log in", "Cannot log in from VPN"),
        "labels": ("", "vpn"),
        "priority": ("Medium", "High"),
    }
    assert assigned["issue_event_type_name"] == "issue_assigned"
    (item,) = assigned["changelog"]["items"]
    assert (item["field"], item["to"], item["toString"]) == ("assignee", "jsmith", "John Smith")
    assert edited["changelog"]["id"] != assigned["changelog"]["id"]
    assert parse_jira_webhook(edited).kind == "issue_updated"


def test_issue_created_and_deleted(sandbox: RunningSandbox, receiver: Receiver) -> None:
    register(sandbox, receiver.url, ["jira:issue_created", "jira:issue_deleted"])
    issue = create_issue(sandbox)
    assert requests.delete(issue["self"], headers=HUB, timeout=10).status_code == 204
    flush(sandbox)
    created, deleted = (r.payload for r in receiver.received)
    assert created["webhookEvent"] == "jira:issue_created" and created["issue"]["key"] == issue["key"]
    assert deleted["webhookEvent"] == "jira:issue_deleted" and deleted["issue"]["key"] == issue["key"]
    assert parse_jira_webhook(deleted).kind == "issue_deleted"


def test_only_subscribed_events_and_enabled_webhooks_are_sent(
    sandbox: RunningSandbox, receiver: Receiver
) -> None:
    register(sandbox, receiver.url, ["jira:issue_updated"], enabled=False)
    register(sandbox, receiver.url, ["comment_created"])
    add_comment(sandbox, create_issue(sandbox)["key"])
    flush(sandbox)
    assert receiver.events() == ["comment_created"]


# --- what is not sent ---------------------------------------------------------------------------------


def test_failed_requests_and_faults_before_commit_send_nothing(
    sandbox: RunningSandbox, receiver: Receiver
) -> None:
    key = create_issue(sandbox)["key"]
    register(sandbox, receiver.url, ["comment_created", "jira:issue_updated"])
    assert add_comment(sandbox, key, body="  ").status_code == 400
    assert add_comment(sandbox, "SUP-999").status_code == 404
    bad = requests.post(
        f"{sandbox.url}/rest/api/2/issue/{key}/transitions",
        json={"transition": {"id": "99"}},
        headers=HUB,
        timeout=10,
    )
    assert bad.status_code == 400
    fault = {"status": 503, "count": 1, "methods": ["POST"], "paths": [f"/rest/api/2/issue/{key}/comment"]}
    assert (
        requests.post(sandbox.url + "/_sandbox/faults", json=fault, headers=CONTROL, timeout=10).status_code
        == 201
    )
    assert add_comment(sandbox, key).status_code == 503
    flush(sandbox)
    assert receiver.received == []
    assert deliveries(sandbox) == []

    # a fault after the commit: the comment exists, so Jira tells about it
    fault["after_commit"] = True
    assert (
        requests.post(sandbox.url + "/_sandbox/faults", json=fault, headers=CONTROL, timeout=10).status_code
        == 201
    )
    assert add_comment(sandbox, key).status_code == 503
    flush(sandbox)
    assert receiver.events() == ["comment_created", "jira:issue_updated"]


# --- delivery -----------------------------------------------------------------------------------------


def test_a_503_is_retried_with_the_same_identifier(sandbox: RunningSandbox, receiver: Receiver) -> None:
    register(sandbox, receiver.url, ["comment_created"], secret=SECRET)
    receiver.statuses = [503]
    add_comment(sandbox, create_issue(sandbox)["key"])
    flush(sandbox)

    first, retry = receiver.received
    assert first.headers["X-Atlassian-Webhook-Identifier"] == retry.headers["X-Atlassian-Webhook-Identifier"]
    assert first.body == retry.body
    assert verify_hub_signature(SECRET, retry.body, retry.headers["X-Hub-Signature"])
    (delivery,) = deliveries(sandbox)
    assert delivery["status"] == 200 and delivery["attempts"] == 2 and delivery["state"] == "delivered"
    assert delivery["identifier"] == first.headers["X-Atlassian-Webhook-Identifier"]


def test_a_4xx_is_not_retried(sandbox: RunningSandbox, receiver: Receiver) -> None:
    register(sandbox, receiver.url, ["comment_created"])
    receiver.statuses = [403]
    add_comment(sandbox, create_issue(sandbox)["key"])
    flush(sandbox)
    assert len(receiver.received) == 1
    (delivery,) = deliveries(sandbox)
    assert (delivery["status"], delivery["attempts"], delivery["state"]) == (403, 1, "failed")


def test_an_unreachable_receiver_is_tried_three_times(sandbox: RunningSandbox, receiver: Receiver) -> None:
    url = receiver.url
    receiver.stop()
    register(sandbox, url, ["comment_created"])
    add_comment(sandbox, create_issue(sandbox)["key"])
    flush(sandbox)
    (delivery,) = deliveries(sandbox)
    assert delivery["status"] is None and delivery["attempts"] == 3 and delivery["state"] == "failed"
    assert delivery["error"]


def test_delivery_does_not_hold_up_the_request(sandbox: RunningSandbox, receiver: Receiver) -> None:
    register(sandbox, receiver.url, ["comment_created"])
    key = create_issue(sandbox)["key"]
    receiver.delay_s = 3.0
    # the comment is answered although the receiver takes longer than this client waits
    response = requests.post(
        f"{sandbox.url}/rest/api/2/issue/{key}/comment",
        json={"body": "slow receiver"},
        auth=("engineer", "pw"),
        timeout=1.5,
    )
    assert response.status_code == 201
    short = requests.post(sandbox.url + "/_sandbox/webhooks/flush?timeout=0.05", headers=CONTROL, timeout=10)
    assert short.status_code == 504 and short.json() == {"flushed": False, "pending": 1}
    flush(sandbox)
    assert receiver.events() == ["comment_created"]


# --- the start-up webhook -----------------------------------------------------------------------------


def test_startup_webhook_is_registered_signed_and_survives_reset(tmp_path: Path, receiver: Receiver) -> None:
    db = tmp_path / "sandbox-jira.sqlite3"
    with run_in_thread(db, webhook_url=receiver.url, webhook_secret=SECRET) as sandbox:
        api = sandbox.url + "/rest/webhooks/1.0/webhook"
        (hook,) = requests.get(api, headers=HUB, timeout=10).json()
        assert hook["url"] == receiver.url
        assert hook["events"] == [
            "comment_created",
            "comment_updated",
            "jira:issue_updated",
            "jira:issue_deleted",
        ]
        register(sandbox, "http://127.0.0.1:9/unused", ["comment_created"])
        assert requests.post(sandbox.url + "/_sandbox/reset", headers=CONTROL, timeout=10).status_code == 204
        assert [h["url"] for h in requests.get(api, headers=HUB, timeout=10).json()] == [receiver.url]
        add_comment(sandbox, create_issue(sandbox)["key"])
        flush(sandbox)
        assert receiver.events() == ["comment_created", "jira:issue_updated"]
        assert all(
            verify_hub_signature(SECRET, r.body, r.headers["X-Hub-Signature"]) for r in receiver.received
        )
    # a restart without it drops the start-up webhook of the earlier run
    with run_in_thread(db) as sandbox:
        assert requests.get(sandbox.url + "/rest/webhooks/1.0/webhook", headers=HUB, timeout=10).json() == []


def test_create_sandbox_app_rejects_a_bad_webhook_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="webhook_url"):
        sandbox_jira.create_app(tmp_path / "db.sqlite3", webhook_url="hub.example/hooks")


def test_main_takes_webhook_flags_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    served: list[Flask] = []
    monkeypatch.setattr(sandbox_jira, "serve", lambda app, *args, **kwargs: served.append(app))
    db = ["--db", str(tmp_path / "db.sqlite3")]
    sandbox_jira.main([*db, "--webhook-url", "http://127.0.0.1:8000/hooks/jira", "--webhook-secret", "s"])
    monkeypatch.setenv("SANDBOX_JIRA_WEBHOOK_URL", "http://hub:8000/hooks/jira")
    monkeypatch.setenv("SANDBOX_JIRA_WEBHOOK_SECRET", "from-env")
    sandbox_jira.main(db)
    assert [app.extensions[STATE_KEY].startup_webhook for app in served] == [
        ("http://127.0.0.1:8000/hooks/jira", "s"),
        ("http://hub:8000/hooks/jira", "from-env"),
    ]
    with pytest.raises(SystemExit):
        sandbox_jira.main([*db, "--webhook-url", "not a url"])


def test_a_custom_field_edit_names_the_field_by_id_and_name(
    sandbox: RunningSandbox, receiver: Receiver
) -> None:
    key = create_issue(sandbox)["key"]
    register(sandbox, receiver.url, ["jira:issue_updated"])
    fields = {"customfield_10020": {"value": "Critical"}}
    edit = requests.put(
        f"{sandbox.url}/rest/api/2/issue/{key}", json={"fields": fields}, headers=HUB, timeout=10
    )
    assert edit.status_code == 204
    flush(sandbox)

    (got,) = receiver.received
    (item,) = got.payload["changelog"]["items"]
    assert (item["field"], item["fieldtype"], item["fieldId"], item["toString"]) == (
        "Severity",
        "custom",
        "customfield_10020",
        "Critical",
    )
    assert parse_jira_webhook(got.payload).fields_changed == ("customfield_10020", "Severity")
