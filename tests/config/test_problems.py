"""The rule file's errors as the editor shows them: entry, field and the YAML line they are about."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import ConfigError, parse_config
from config.problems import Problem, check_problems, schema_problems
from config.settings import Settings

TEXT = """\
targets:
  support: {tracker: jira, project: SUP}
rules:
  - name: vip
    when:
      keywords: [outage]
      sendr: a@b.example
    target: suport
  - name: bugs
    target: {tracker: jira, project: DEV}
    fields:
      custom_fields:
        customfield_10010: Gold
  - name: ops
    target: {tracker: kaiten, board: 10}
    fields:
      properties: {501: [602]}
"""


def errors_of(text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("hub.yaml"), Settings(KAITEN_URL="http://kaiten.test"))  # type: ignore[arg-type]
    return schema_problems(str(caught.value), "hub.yaml", text)


def test_each_schema_error_points_at_the_line_of_its_field() -> None:
    problems = {(p.entry, p.field): p.line for p in errors_of(TEXT)}

    assert problems[("rules[0] 'vip'", "when.sendr")] == 7
    assert problems[("rules[0] 'vip'", "target")] == 8
    assert all(line is not None for line in problems.values())


def test_the_live_checks_errors_point_at_the_rules_target_field_or_property() -> None:
    lines = [
        "rules[1] 'bugs': project 'DEV' is not available (404); there are ['SUP']",
        "rules[1] 'bugs': custom field customfield_10010 does not exist; there are []",
        "rules[2] 'ops': property id_501 does not exist; there are []",
        "cannot reach Jira at http://jira.test: refused",
    ]

    problems = check_problems(lines, TEXT)

    assert [(p.entry, p.line) for p in problems] == [
        ("rules[1] 'bugs'", 10),
        ("rules[1] 'bugs'", 13),
        ("rules[2] 'ops'", 17),
        ("", None),
    ]
    assert problems[3].message == "cannot reach Jira at http://jira.test: refused"


def test_a_yaml_syntax_error_is_one_problem_on_its_line() -> None:
    (problem,) = errors_of("rules:\n  - name: a\n    target: {tracker: jira\n  - name: b\n")

    assert problem.message.startswith("not valid YAML") and "\n" not in problem.message
    assert problem.line == 4
