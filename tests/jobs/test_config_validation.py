"""Validating a configuration as an admin types it, against the Jira look-alike: the tracker is asked
once per new name, not once per keystroke, and a slow tracker never holds the answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from config.settings import Settings
from jobs.config_validation import CHECKED, PENDING, SKIPPED, forget_answers, validate
from sandbox.server import RunningSandbox
from tests.routes.admin.test_config_editor import RULES as TEXT
from tests.sandboxes import CONTROL


@pytest.fixture
def wired(jira_sandbox: RunningSandbox, tmp_path: Path) -> Iterator[Settings]:
    forget_answers()
    yield Settings(JIRA_URL=jira_sandbox.url, JIRA_TOKEN="t", HUB_CONFIG=tmp_path / "hub.yaml")  # type: ignore[arg-type]
    forget_answers()


def jira_requests(sandbox: RunningSandbox) -> int:
    stats: dict[str, Any] = requests.get(f"{sandbox.url}/_sandbox/stats", headers=CONTROL, timeout=10).json()
    return sum(count for rule, count in stats["requests"].items() if "/rest/" in rule)


def test_typing_asks_the_tracker_only_about_names_it_has_not_answered_yet(
    wired: Settings, jira_sandbox: RunningSandbox
) -> None:
    first = validate(wired, TEXT)
    asked = jira_requests(jira_sandbox)

    retyped = validate(wired, TEXT.replace("[invoice]", "[invoice, bill]"))  # only the `when` changed
    assert (first.live, first.problems, retyped.live, retyped.problems) == (CHECKED, (), CHECKED, ())
    assert jira_requests(jira_sandbox) == asked

    wrong = validate(
        wired, TEXT.replace("project: SUP}\n  - name: default", "project: NOP}\n  - name: default")
    )
    assert [p.entry for p in wrong.problems] == ["rules[0] 'billing'"]
    assert "'NOP'" in wrong.problems[0].message and wrong.problems[0].line == 6
    asked = jira_requests(jira_sandbox)
    assert asked > 0
    again = validate(wired, TEXT.replace("project: SUP}\n  - name: default", "project: NOP}\n  - name: x"))
    assert [p.entry for p in again.problems] == ["rules[0] 'billing'"]  # the refusal is remembered too
    assert jira_requests(jira_sandbox) == asked


def test_a_slow_tracker_leaves_the_check_pending_and_the_next_validation_has_its_answer(
    wired: Settings, jira_sandbox: RunningSandbox
) -> None:
    fault = {"latency_ms": 1500, "paths": ["/rest/api/2/serverInfo"], "count": 1}
    assert requests.post(f"{jira_sandbox.url}/_sandbox/faults", json=fault, headers=CONTROL, timeout=10).ok

    waiting = validate(wired, TEXT, wait=0.2)
    answered = validate(wired, TEXT)  # the same run, still going: waited for, not started again

    assert (waiting.live, waiting.ok, waiting.problems) == (PENDING, False, ())
    assert waiting.config is not None  # the schema passed
    assert (answered.live, answered.ok) == (CHECKED, True)


def test_schema_errors_are_answered_without_asking_any_tracker(
    wired: Settings, jira_sandbox: RunningSandbox
) -> None:
    no_target = TEXT.replace(
        "    target: {tracker: jira, project: SUP}\n  - name: default", "  - name: default"
    )

    result = validate(wired, no_target)

    assert result.live == SKIPPED and not result.ok
    assert [(p.entry, p.field, p.line) for p in result.problems] == [("rules[0] 'billing'", "target", 4)]
    assert jira_requests(jira_sandbox) == 0
