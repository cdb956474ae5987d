"""``linked_resolved`` end to end: a development issue (card) linked to a support issue is resolved in
the tracker, the tracker's own webhook reaches the hub, and the shipped ``linked-fixed`` recipe notes it
on the support issue and tells the customer, once, however often the webhook comes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import requests

from jobs.context import Context
from sandbox.server import RunningSandbox
from store import automations as firings
from tests.jobs.automations.conftest import with_automations
from tests.jobs.automations.hooked import Delivery, Hub, replay, settle
from tests.jobs.test_events import ENGINEER, SECRET, move, open_issue, sent_messages
from tests.mappers.factories import telegram_message

KAITEN_ENGINEER = {"Authorization": "Bearer t", "X-Sandbox-User": "2"}


def jira(sandbox: RunningSandbox, method: str, path: str, **kw: Any) -> Any:
    response = requests.request(method, f"{sandbox.url}/rest/api/2{path}", auth=ENGINEER, timeout=10, **kw)
    response.raise_for_status()
    return response.json() if response.content else None


def jira_issue(sandbox: RunningSandbox, project: str, summary: str, issue_type: str = "Task") -> str:
    fields = {"project": {"key": project}, "issuetype": {"name": issue_type}, "summary": summary}
    return str(jira(sandbox, "POST", "/issue", json={"fields": fields})["key"])


def relate(sandbox: RunningSandbox, one: str, other: str) -> None:
    body = {"type": {"name": "Relates"}, "inwardIssue": {"key": one}, "outwardIssue": {"key": other}}
    jira(sandbox, "POST", "/issueLink", json=body)


def comments(sandbox: RunningSandbox, key: str) -> list[str]:
    return [c["body"] for c in jira(sandbox, "GET", f"/issue/{key}/comment")["comments"]]


def resolved_delivery(hub: Hub, key: str) -> Delivery:
    """The webhook the tracker sent when ``key`` was resolved."""
    return next(
        d
        for d in hub.received
        if d.path == "/hooks/jira" and d.payload["issue"]["key"] == key and "resolution" in d.changelog()
    )


def forged(delivery: Delivery, changelog_id: str) -> tuple[bytes, str]:
    """The same change delivered as a new one (a second registered webhook, a retry that Jira gave a new
    changelog id), sent now and signed: it passes the hub's journal dedupe."""
    payload = delivery.payload
    payload["changelog"]["id"] = changelog_id
    payload["timestamp"] = int(time.time() * 1000)
    body = json.dumps(payload).encode()
    return body, "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_jira_a_resolved_development_issue_notes_the_support_issue_and_tells_the_customer_once(
    jira_hub: Context, hooked_jira: RunningSandbox, hub: Hub, telegram_sandbox: str
) -> None:
    support = open_issue(jira_hub, telegram_message("The export drops rows"))
    dev = jira_issue(hooked_jira, "DEV", "Export drops the last row")
    relate(hooked_jira, dev, support)
    assert settle(jira_hub, hooked_jira) == []
    told = len(sent_messages(telegram_sandbox))  # the auto-reply with the key
    move(hooked_jira, dev, "Done")
    assert settle(jira_hub, hooked_jira) == ["done"]
    notes = [body for body in comments(hooked_jira, support) if dev in body]
    assert len(notes) == 1 and "Export drops the last row" in notes[0]
    customer = sent_messages(telegram_sandbox)[told:]
    assert len(customer) == 1 and support in customer[0]["text"]
    # the tracker retries the delivery; then the same change comes as another one
    delivery = resolved_delivery(hub, dev)
    assert replay(hub, delivery).json()["duplicate"] is True
    body, signature = forged(delivery, "forged-1")
    assert replay(hub, delivery, body, **{"X-Hub-Signature": signature}).status_code == 202
    assert settle(jira_hub, hooked_jira) == []
    [firing] = firings.history(jira_hub.engine, support)
    assert (firing.rule, firing.occurrence) == ("linked-fixed", f"linked:{dev}:Done")
    assert len([body for body in comments(hooked_jira, support) if dev in body]) == 1
    assert len(sent_messages(telegram_sandbox)) == told + 1


LINKED_FROM_DEV = """
  - name: from-dev
    trigger: {event: linked_resolved, linked_projects: [DEV]}
    when: {not_done: true}
    actions:
      - {set: {labels: ["dev-fixed"]}}
"""


def test_jira_only_open_support_issues_linked_from_the_named_projects_hear_of_it(
    jira_hub: Context, hooked_jira: RunningSandbox, tmp_path: Path
) -> None:
    ctx = with_automations(jira_hub, tmp_path / "rules", LINKED_FROM_DEV)
    support = jira_issue(hooked_jira, "SUP", "Printer and export both broken")
    closed = jira_issue(hooked_jira, "SUP", "An old request")
    move(hooked_jira, closed, "Done")
    hardware = jira_issue(hooked_jira, "HW", "Printer fuser", "Bug")
    dev = jira_issue(hooked_jira, "DEV", "Export bug")
    relate(hooked_jira, hardware, support)
    relate(hooked_jira, dev, support)
    relate(hooked_jira, dev, closed)
    settle(ctx, hooked_jira)
    move(hooked_jira, hardware, "Done")  # HW is not DEV: nothing
    assert settle(ctx, hooked_jira) == []
    move(hooked_jira, dev, "Done")  # the open support issue only
    assert settle(ctx, hooked_jira) == ["done"]
    labels = {key: jira(hooked_jira, "GET", f"/issue/{key}")["fields"]["labels"] for key in (support, closed)}
    assert labels == {support: ["dev-fixed"], closed: []}


def kaiten(sandbox: RunningSandbox, method: str, path: str, **kw: Any) -> Any:
    url = f"{sandbox.url}/api/latest{path}"
    response = requests.request(method, url, headers=KAITEN_ENGINEER, timeout=10, **kw)
    response.raise_for_status()
    return response.json()


def test_kaiten_a_development_card_done_notes_its_parent_support_card_and_tells_the_customer_once(
    kaiten_hub: Context, hooked_kaiten: RunningSandbox, hub: Hub, telegram_sandbox: str
) -> None:
    support = open_issue(kaiten_hub, telegram_message("The export drops rows"))
    dev = str(kaiten(hooked_kaiten, "POST", "/cards", json={"title": "Export bug", "board_id": 20})["id"])
    kaiten(hooked_kaiten, "POST", f"/cards/{support}/children", json={"card_id": int(dev)})
    sub = kaiten(hooked_kaiten, "POST", "/cards", json={"title": "Call the customer", "board_id": 10})
    kaiten(hooked_kaiten, "POST", f"/cards/{support}/children", json={"card_id": sub["id"]})
    assert settle(kaiten_hub, hooked_kaiten) == []
    told = len(sent_messages(telegram_sandbox))
    kaiten(hooked_kaiten, "PATCH", f"/cards/{sub['id']}", json={"column_id": 103})  # the card's own sub-work
    assert settle(kaiten_hub, hooked_kaiten) == []
    kaiten(hooked_kaiten, "PATCH", f"/cards/{dev}", json={"column_id": 203})
    assert settle(kaiten_hub, hooked_kaiten) == ["done"]
    notes = [
        c["text"] for c in kaiten(hooked_kaiten, "GET", f"/cards/{support}/comments") if dev in c["text"]
    ]
    assert len(notes) == 1 and "Export bug" in notes[0]
    customer = sent_messages(telegram_sandbox)[told:]
    assert len(customer) == 1
    # Kaiten retries the delivery; then reports the card again with a later ``updated``
    delivery = next(
        d for d in reversed(hub.received) if b'"column_id": 203' in d.body.replace(b":203", b": 203")
    )
    assert replay(hub, delivery).json()["duplicate"] is True
    payload = delivery.payload
    payload["data"]["changes"]["updated"] = "2099-01-01T00:00:00.000Z"
    assert replay(hub, delivery, json.dumps(payload).encode()).status_code == 202
    assert settle(kaiten_hub, hooked_kaiten) == []
    [firing] = firings.history(kaiten_hub.engine, support)
    assert (firing.rule, firing.occurrence) == ("linked-fixed", f"linked:{dev}:Done")
    assert len(sent_messages(telegram_sandbox)) == told + 1
