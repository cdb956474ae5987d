"""The Kaiten look-alike's comment permissions: Kaiten may let only a comment's author edit it
(``PATCH /cards/{id}/comments/{comment_id}``, "author only" in the API reference), switchable at run time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.server import RunningSandbox
from tests.sandboxes import CONTROL
from tests.sandboxes import run_kaiten as run_in_thread

HUB = {"Authorization": "Bearer t"}
ENGINEER = {**HUB, "X-Sandbox-User": "2"}


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with run_in_thread() as running:
        yield running


def engineer_comment(sandbox: RunningSandbox) -> tuple[str, dict[str, Any]]:
    card = requests.post(
        f"{sandbox.url}/api/latest/cards",
        json={"title": "t", "board_id": 10, "column_id": 101},
        headers=HUB,
        timeout=5,
    ).json()["id"]
    comment = requests.post(
        f"{sandbox.url}/api/latest/cards/{card}/comments", json={"text": "mine"}, headers=ENGINEER, timeout=5
    ).json()
    return f"{sandbox.url}/api/latest/cards/{card}/comments/{comment['id']}", comment


def test_author_only_mode_refuses_other_users_edits(sandbox: RunningSandbox) -> None:
    api, _ = engineer_comment(sandbox)
    assert requests.patch(api, json={"text": "hub edit"}, headers=HUB, timeout=5).status_code == 200
    settings_url = f"{sandbox.url}/_sandbox/settings"
    assert requests.get(settings_url, headers=CONTROL, timeout=5).json() == {
        "author_only_comment_edits": False
    }
    switched = requests.post(
        settings_url, json={"author_only_comment_edits": True}, headers=CONTROL, timeout=5
    )
    assert switched.json() == {"author_only_comment_edits": True}
    refused = requests.patch(api, json={"text": "hub again"}, headers=HUB, timeout=5)
    assert refused.status_code == 403 and refused.json() == {
        "message": "Only the author of a comment can edit it"
    }
    assert requests.patch(api, json={"text": "my edit"}, headers=ENGINEER, timeout=5).status_code == 200
    [stored] = requests.get(api.rsplit("/", 1)[0], headers=HUB, timeout=5).json()
    assert stored["text"] == "my edit"


def test_author_only_mode_at_start_up_and_bad_settings() -> None:
    with run_in_thread(author_only_comment_edits=True) as running:
        api, _ = engineer_comment(running)
        assert requests.patch(api, json={"text": "x"}, headers=HUB, timeout=5).status_code == 403
        bad = requests.post(
            f"{running.url}/_sandbox/settings",
            json={"author_only_comment_edits": "yes"},
            headers=CONTROL,
            timeout=5,
        )
        assert bad.status_code == 400
