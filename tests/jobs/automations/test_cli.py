"""``trackerhub automations``: ls lists the rules, dry-run prints one line per issue starting with its key
and writes nothing (no row, no tracker write), run fires due work once however often it is run, history
shows an issue's firings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from config.settings import get_settings
from connector.types import IssueDraft, Target
from jobs.context import Context, get_context
from sandbox.server import RunningSandbox
from store import automations as firings
from tests.jobs.automations.conftest import with_automations
from tests.jobs.conftest import sandbox_issues, tracker_calls

RULES = """
  - name: label-open
    trigger: {cron: "0 10 * * 1-5", timezone: Europe/Moscow}
    when: {not_done: true, priorities: [High]}
    actions:
      - {comment: {text: "Looked at by the {{ issue.priority }} sweep"}}
      - {set: {labels: [swept]}}
  - name: on-comment
    trigger: {event: commented}
    actions:
      - {set: {labels: [commented]}}
"""


@pytest.fixture
def actx(ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Context]:
    """A context on a rule file of our own; the CLI's context reads the same settings from the env."""
    actx = with_automations(ctx, tmp_path / "rules", RULES)
    env = {name: str(getattr(actx.settings, name)) for name in ("DATABASE_URL", "REDIS_URL", "JIRA_URL")}
    env["HUB_CONFIG"] = str(actx.settings.HUB_CONFIG)
    env["JIRA_TOKEN"] = actx.settings.secret("JIRA_TOKEN") or ""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    get_context.cache_clear()
    yield actx
    get_settings.cache_clear()
    get_context.cache_clear()


def open_issues(ctx: Context, *priorities: str) -> list[str]:
    tracker = ctx.tracker("jira")
    return [
        tracker.create_issue(
            IssueDraft(Target("jira", "SUP", "Task"), f"issue {n}", "b", f"k{n}", priority=p)
        ).key
        for n, p in enumerate(priorities)
    ]


def cli(*args: str) -> list[str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_ls_lists_the_rules_with_their_triggers(actx: Context, jira_sandbox: RunningSandbox) -> None:
    lines = cli("automations", "ls")
    assert [line.split("\t")[:2] for line in lines] == [
        ["label-open", "cron"],
        ["on-comment", "event commented"],
    ]
    assert "next=" in lines[0] and "last=-" in lines[0] and "24h=0" in lines[0]


def test_dry_run_prints_one_line_per_issue_and_writes_nothing(
    actx: Context, jira_sandbox: RunningSandbox
) -> None:
    high = open_issues(actx, "High", "Low", "High")
    high = [high[0], high[2]]
    before = tracker_calls(jira_sandbox)
    lines = cli("automations", "dry-run", "label-open")
    assert sorted(line.split("\t")[0] for line in lines) == sorted(high)
    assert all("comment internal" in line and "set +swept" in line for line in lines)
    after = tracker_calls(jira_sandbox)
    changed = {route for route in after if after[route] != before.get(route)}
    assert "POST /rest/api/2/search" in changed
    assert {route for route in changed if not route.startswith("GET ")} == {
        "POST /rest/api/2/search"
    }  # reads
    assert firings.of_rule(actx.engine, "label-open") == []
    assert firings.last_due(actx.engine, "label-open") is None


def test_run_fires_due_work_once_however_often_it_is_run(actx: Context, jira_sandbox: RunningSandbox) -> None:
    keys = open_issues(actx, "High", "High")
    first = cli("automations", "run", "label-open")
    assert sorted(first) == sorted(f"{key}\tdone" for key in keys)
    assert cli("automations", "run", "label-open") == ["label-open: nothing due"]
    for issue in sandbox_issues(jira_sandbox):
        assert issue["fields"]["labels"].count("swept") == 1
        bodies = [c["body"] for c in issue["fields"]["comment"]["comments"]]
        assert len([b for b in bodies if "Looked at by the High sweep" in b]) == 1
    [line] = cli("automations", "history", keys[0])
    assert line.split("\t")[1:4] == [
        "label-open",
        firings.of_rule(actx.engine, "label-open")[0].occurrence,
        "done",
    ]
    assert line.endswith("actions=2")
    assert cli("automations", "ls")[0].endswith("24h=2")
