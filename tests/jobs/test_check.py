"""`trackerhub check`: every project, issue type and custom field a rule names is checked on the live Jira."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from config.rules import load_config
from config.settings import Settings
from connector.sandbox.jira import RunningSandbox
from jobs.check import check_config
from tests.conftest import REPO_ROOT

BROKEN = """
rules:
  - name: wrong-project
    when: {channel: telegram}
    target: {tracker: jira, project: NOPE}
  - name: wrong-type
    when: {channel: email}
    target: {tracker: jira, project: SUP, issue_type: Epic}
  - name: wrong-field
    target: {tracker: jira, project: SUP}
    fields: {custom_fields: {customfield_99999: x}}
"""


def settings_for(sandbox: RunningSandbox, config: Path | None = None) -> Settings:
    values: dict[str, object] = {"JIRA_URL": sandbox.url, "JIRA_TOKEN": "t"}
    if config is not None:
        values["HUB_CONFIG"] = config
    return Settings(**values)  # type: ignore[arg-type]


def test_shipped_config_passes(jira_sandbox: RunningSandbox) -> None:
    settings = settings_for(jira_sandbox)
    problems = check_config(settings, load_config(settings))
    assert problems.errors == []
    assert problems.report()[-1] == "OK: the rule file matches the tracker"


def test_each_wrong_name_is_reported_with_what_exists(jira_sandbox: RunningSandbox, tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(BROKEN)
    settings = settings_for(jira_sandbox, path)
    errors = check_config(settings, load_config(settings)).errors
    assert len(errors) == 3
    assert (
        errors[0].startswith("rules[0] 'wrong-project': project 'NOPE' is not available")
        and "'SUP'" in errors[0]
    )
    assert errors[1].startswith("rules[1] 'wrong-type': issue type 'Epic' is not in project SUP; it has [")
    assert "'Task'" in errors[1]
    assert errors[2].startswith("rules[2] 'wrong-field': custom field customfield_99999 does not exist")


def test_cli_exits_non_zero_on_errors(jira_sandbox: RunningSandbox, tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(BROKEN)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "HUB_"))}
    env.update(JIRA_URL=jira_sandbox.url, JIRA_TOKEN="t", HUB_CONFIG=str(path))
    run = subprocess.run(
        [sys.executable, "-m", "cli", "check"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "ERROR rules[1] 'wrong-type'" in run.stdout and run.stdout.strip().endswith("3 error(s)")
    env["HUB_CONFIG"] = str(REPO_ROOT / "config" / "hub.yaml")
    ok = subprocess.run(
        [sys.executable, "-m", "cli", "check"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
