"""Hostile input at the inbound hooks: a clear 4xx, or a journaled message that ends delivered or as a
dead letter with a reason. Never a 5xx, never a stuck worker (issue 6; DESIGN.md, reliability rule 5).

The corpus is ``tests/reliability/hostile.py``, built at test time. Each case goes through the real app
(real Redis, a fresh SQLite journal) and, when accepted, through one delivery attempt against the
sandbox Jira. Speed and memory are measured by ``bench/bad_input.py``, not asserted here: the timeout
on each case is a hang guard, generous on purpose.
"""

from __future__ import annotations

import json

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from config.settings import Settings
from jobs.context import Context
from jobs.deliver import deliver_with
from mappers.models import InboundMessage
from routes import create_app
from sandbox.server import RunningSandbox
from store import journal
from store.db import messages
from tests.jobs import conftest as job_fixtures
from tests.reliability.hostile import BASELINES, CASES, Case, send
from tests.routes import conftest as route_fixtures

# The app on the test settings, and a worker context on the same journal and Redis with the sandboxes.
app = route_fixtures.app
client = route_fixtures.client
ctx = job_fixtures.ctx
jira_sandbox = job_fixtures.jira_sandbox
telegram_sandbox = job_fixtures.telegram_sandbox
mail_sink = job_fixtures.mail_sink


def issue_description(sandbox: RunningSandbox, key: str) -> str:
    response = requests.get(
        f"{sandbox.url}/rest/api/2/issue/{key}",
        params={"fields": "description"},
        headers={"Authorization": "Bearer t"},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["fields"]["description"])


def journal_rows(app: Flask) -> int:
    with app.extensions["hub"].engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(messages)).scalar_one())


@pytest.mark.timeout(120)  # a hang guard, not a speed check: bench/bad_input.py measures the speed
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_hostile_input_is_answered_and_never_crashes(
    case: Case, client: FlaskClient, app: Flask, ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    expect = case.expect
    response = send(client, case.build(1))
    body = response.get_json(silent=True)
    assert response.status_code == expect.status, response.get_data()[:500]
    assert isinstance(body, dict), response.get_data()[:500]

    if expect.status >= 400:
        assert expect.error and expect.error in body["error"], body
        if expect.details:
            assert expect.details in json.dumps(body["details"], ensure_ascii=False), body
        assert journal_rows(app) == 0  # bad input leaves the journal untouched
        return
    if expect.status == 200:
        assert body["status"] == "ignored", body
        assert journal_rows(app) == 0
        return

    entry = journal.get(app.extensions["hub"].engine, body["id"])
    assert entry is not None
    message = InboundMessage.model_validate_json(entry.body)
    if expect.text:
        assert expect.text in message.text, message.text[:500]
    if expect.note:
        assert any(expect.note in note for note in message.notes), message.notes
    assert "\x00" not in entry.external_id + entry.conversation_key

    status = deliver_with(ctx, body["id"])
    entry = journal.get(app.extensions["hub"].engine, body["id"])
    assert entry is not None
    assert (status, entry.status) == (expect.journal, expect.journal), entry.reason
    shown = client.get(f"/api/messages/{body['id']}").get_json()  # what the sender can look up
    assert shown["status"] == expect.journal
    if expect.reason:
        assert shown["reason"] and expect.reason in shown["reason"], shown
    if expect.journal == journal.DELIVERED:
        assert entry.issue_key
        description = issue_description(jira_sandbox, entry.issue_key)
        assert "\x00" not in description
        if expect.issue:
            assert expect.issue in description, description[-2000:]


@pytest.mark.parametrize("channel", sorted(BASELINES))
def test_the_benchmark_baselines_are_ordinary_messages(
    channel: str, client: FlaskClient, app: Flask, ctx: Context
) -> None:
    response = send(client, BASELINES[channel](1))
    assert response.status_code == 202
    assert deliver_with(ctx, response.get_json()["id"]) == journal.DELIVERED


@pytest.mark.parametrize("path", ["/hooks/jira", "/hooks/kaiten"])
def test_tracker_webhooks_answer_deeply_nested_json_with_400(path: str, settings: Settings) -> None:
    secrets = {
        "JIRA_WEBHOOK_SECRET": "wh-secret",
        "KAITEN_WEBHOOK_SECRET": "wh-secret",
        "JIRA_WEBHOOK_URL_TOKEN": True,
    }
    client = create_app(settings.model_copy(update=secrets)).test_client()
    body = b"[" * 100_000 + b"]" * 100_000
    response = client.post(f"{path}?token=wh-secret", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "body is not JSON"
