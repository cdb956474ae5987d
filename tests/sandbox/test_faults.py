"""sandbox.faults: fault injection is off unless a look-alike is started with it; off, a rule is refused
and requests are served as they come, so a demo's tracker cannot be broken by anyone holding the token."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.sandboxes import CONTROL, run_jira, run_kaiten, run_telegram

JIRA_AUTH = {"Authorization": "Bearer t"}
FAULT = {"status": 503, "count": 5}


def test_jira_refuses_fault_rules_unless_started_with_them(tmp_path: Path) -> None:
    with run_jira(tmp_path / "jira.sqlite3") as sandbox:
        refused = requests.post(sandbox.url + "/_sandbox/faults", json=FAULT, headers=CONTROL, timeout=5)
        assert refused.status_code == 403 and "--faults" in refused.json()["error"]
        assert (
            requests.get(sandbox.url + "/_sandbox/faults", headers=CONTROL, timeout=5).json()["faults"] == []
        )
        served = requests.get(sandbox.url + "/rest/api/2/myself", headers=JIRA_AUTH, timeout=5)
        assert served.status_code == 200
        assert (
            requests.get(sandbox.url + "/_sandbox/stats", headers=CONTROL, timeout=5).json()[
                "faults_injected"
            ]
            == 0
        )


def test_kaiten_refuses_fault_rules_unless_started_with_them(tmp_path: Path) -> None:
    with run_kaiten(tmp_path / "kaiten.sqlite3") as sandbox:
        refused = requests.post(sandbox.url + "/_sandbox/faults", json=FAULT, headers=CONTROL, timeout=5)
        assert refused.status_code == 403 and "--faults" in refused.json()["error"]
        served = requests.get(sandbox.url + "/api/latest/users/current", headers=JIRA_AUTH, timeout=5)
        assert served.status_code == 200


def test_telegram_refuses_faults_unless_started_with_them() -> None:
    with run_telegram() as sandbox:
        refused = requests.post(sandbox.url + "/_sandbox/faults", json=FAULT, headers=CONTROL, timeout=5)
        assert refused.status_code == 403 and "--faults" in refused.json()["description"]
        assert requests.get(sandbox.url + "/bot1:x/getMe", timeout=5).json()["ok"] is True


@pytest.mark.parametrize("after_commit", [False, True])
def test_with_faults_on_a_rule_fails_the_request(tmp_path: Path, after_commit: bool) -> None:
    with run_jira(tmp_path / "jira.sqlite3", faults=True) as sandbox:
        rule = {**FAULT, "paths": ["/rest/api/2/myself"], "after_commit": after_commit}
        added = requests.post(sandbox.url + "/_sandbox/faults", json=rule, headers=CONTROL, timeout=5)
        assert added.status_code == 201
        assert (
            requests.get(sandbox.url + "/rest/api/2/myself", headers=JIRA_AUTH, timeout=5).status_code == 503
        )
