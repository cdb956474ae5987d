"""``trackerhub check`` on routes, against the Jira look-alike: the shipped routes pass (with a note of
the field the coordinator is asked for), and a wrong target, field or value is an error naming the
route and the field, with what exists instead."""

from __future__ import annotations

import shutil
from pathlib import Path

from config.loading import load_config
from config.settings import Settings
from jobs.check import check_config
from sandbox.server import RunningSandbox
from tests.conftest import REPO_ROOT

BROKEN_ROUTES = """
rules:
  - name: default
    target: {tracker: default}
routes:
  nowhere:
    target: {tracker: jira, project: NOPE, issue_type: Task}
    mode: spawn
  wrong-values:
    target: {tracker: jira, project: HW, issue_type: Task}
    mode: spawn
    fields:
      components: {value: [Toasters]}
      priority: {from: priority, map: {High: Urgent}}
      "Spare parts": {value: "PSU"}
      "Warranty": {value: "yes"}
"""


def settings_for(sandbox: RunningSandbox, config: Path | None = None) -> Settings:
    values: dict[str, object] = {"JIRA_URL": sandbox.url, "JIRA_TOKEN": "t"}
    if config is not None:
        values["HUB_CONFIG"] = config
    return Settings(**values)  # type: ignore[arg-type]


def test_the_shipped_routes_pass_and_say_what_is_asked(jira_sandbox: RunningSandbox) -> None:
    settings = settings_for(jira_sandbox)
    problems = check_config(settings, load_config(settings))
    assert problems.errors == []
    assert "routes.hardware: the coordinator is asked for Spare parts (nothing fills it)" in problems.notes
    assert not any(n.startswith("routes.parts-order: the coordinator") for n in problems.notes)
    assert any(n.startswith("routes.to-kaiten-queue: not offered") for n in problems.notes)


def test_a_wrong_target_field_or_value_names_the_route_and_the_field(
    jira_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    shutil.copytree(REPO_ROOT / "config" / "catalogues", tmp_path / "catalogues")
    path = tmp_path / "hub.yaml"
    path.write_text(BROKEN_ROUTES)
    settings = settings_for(jira_sandbox, path)

    errors = [e for e in check_config(settings, load_config(settings)).errors if e.startswith("routes.")]

    assert errors[0].startswith("routes.nowhere: target: project 'NOPE'") and "'SUP'" in errors[0]
    assert errors[1].startswith("routes.wrong-values: fields.components: value:") and "Printers" in errors[1]
    assert errors[2].startswith("routes.wrong-values: fields.priority: map[high]:") and "Highest" in errors[2]
    assert errors[3].startswith("routes.wrong-values: fields.Warranty: the target has no such field")
    assert len(errors) == 4
