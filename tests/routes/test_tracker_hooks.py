"""``POST /hooks/jira`` and ``/hooks/kaiten``: what each accepts as proof, and how old a signed body may be.

The payloads are the real Jira shapes of tests/fixtures/jira/ with their ``timestamp`` re-dated.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from config.settings import Settings
from routes import create_app
from store import journal
from store.db import get_engine

JIRA_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jira"
SECRET = "jira-hook-secret"
MINUTE_MS = 60_000


@pytest.fixture
def jira_client(settings: Settings) -> FlaskClient:
    return create_app(settings.model_copy(update={"JIRA_WEBHOOK_SECRET": SECRET})).test_client()


def transition_without_changelog_id(age_minutes: float = 0) -> dict[str, Any]:
    """A status change as Jira sends it, minus the changelog id (what some versions leave out)."""
    payload = copy.deepcopy(
        json.loads(
            (JIRA_FIXTURES / "mattermost-plugin-jira__webhook-issue-updated-resolved.json").read_text()
        )
    )
    payload["changelog"].pop("id")
    payload["timestamp"] = int(time.time() * 1000 - age_minutes * MINUTE_MS)
    return payload


def post_signed(client: FlaskClient, payload: dict[str, Any], delivery: str) -> Any:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature": signature, "X-Atlassian-Webhook-Identifier": delivery}
    return client.post("/hooks/jira", data=body, headers=headers, content_type="application/json")


def test_a_signed_body_replayed_under_a_new_delivery_id_is_a_duplicate(
    jira_client: FlaskClient, settings: Settings
) -> None:
    payload = transition_without_changelog_id()
    first = post_signed(jira_client, payload, "delivery-1")
    assert first.status_code == 202
    replayed = post_signed(jira_client, payload, "delivery-2")
    assert replayed.status_code == 200 and replayed.get_json()["duplicate"] is True
    assert replayed.get_json()["id"] == first.get_json()["id"]


@pytest.mark.parametrize("age_minutes", [61, 24 * 60, -61])
def test_a_signed_webhook_outside_the_freshness_window_is_refused(
    jira_client: FlaskClient, settings: Settings, age_minutes: int
) -> None:
    response = post_signed(jira_client, transition_without_changelog_id(age_minutes), "d-1")
    assert response.status_code == 403
    assert response.get_json()["error"].startswith("stale Jira webhook")
    assert journal.count_by_status(get_engine(settings.DATABASE_URL)) == {}


def test_the_freshness_window_is_a_setting(settings: Settings) -> None:
    wide = settings.model_copy(update={"JIRA_WEBHOOK_SECRET": SECRET, "JIRA_WEBHOOK_MAX_AGE_MINUTES": 180})
    client = create_app(wide).test_client()
    assert post_signed(client, transition_without_changelog_id(120), "d-1").status_code == 202


def test_a_signed_webhook_without_a_timestamp_is_refused(jira_client: FlaskClient) -> None:
    payload = transition_without_changelog_id()
    payload.pop("timestamp")
    response = post_signed(jira_client, payload, "d-1")
    assert response.status_code == 403 and "no timestamp" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("opt_in", "query", "expected"),
    [
        (False, "", 401),  # neither a signature nor a token
        (False, f"?token={SECRET}", 403),  # the right token, but not accepted without the opt-in
        (True, f"?token={SECRET}", 202),
        (True, "?token=wrong", 403),
        (True, "", 401),
    ],
)
def test_the_url_token_is_accepted_for_jira_only_when_opted_in(
    settings: Settings, opt_in: bool, query: str, expected: int
) -> None:
    hub = settings.model_copy(update={"JIRA_WEBHOOK_SECRET": SECRET, "JIRA_WEBHOOK_URL_TOKEN": opt_in})
    response = (
        create_app(hub).test_client().post(f"/hooks/jira{query}", json=transition_without_changelog_id())
    )
    assert response.status_code == expected, response.get_json()
