"""README.md's "Automations" names what an operator of the automations meets: each shipped recipe, each
periodic job the scheduler runs, each automation table, and each `automations` and `sla` command."""

from __future__ import annotations

import click
import pytest
from rq.scheduler import RQScheduler

from cli import automations as automations_cli
from cli import sla as sla_cli
from config.loading import load_config
from config.settings import Settings
from jobs.context import build_context
from jobs.periodic import SweepCursor, hub_jobs
from jobs.queues import ALL_QUEUES
from store import db
from tests.conftest import REPO_ROOT


def automations_section() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    start = text.index("\n## Automations")
    return text[start : text.index("\n## ", start + 1)]


def commands(group: click.Group, prefix: str) -> list[str]:
    return [f"{prefix} {name}" for name in sorted(group.commands)]


@pytest.mark.parametrize("name", [rule.name for rule in load_config(Settings()).automations])
def test_each_shipped_recipe_is_described(name: str) -> None:
    assert f"| `{name}` |" in automations_section()


def test_each_periodic_job_is_listed(settings: Settings) -> None:
    ctx = build_context(settings)
    registry = hub_jobs(ctx, RQScheduler(list(ALL_QUEUES), connection=ctx.redis), SweepCursor())
    missing = [name for name in registry.names() if f"`{name}`" not in automations_section()]
    assert missing == [], f"README.md, Automations, does not name the periodic jobs {missing}"


@pytest.mark.parametrize("table", [name for name in db.metadata.tables if name.startswith("automation")])
def test_each_automation_table_is_listed(table: str) -> None:
    assert f"`{table}`" in automations_section()


@pytest.mark.parametrize(
    "command",
    commands(automations_cli.automations, "automations") + commands(sla_cli.sla, "sla"),  # type: ignore[arg-type]
)
def test_each_command_is_listed(command: str) -> None:
    assert f"`trackerhub {command}" in automations_section() or f"`{command}" in automations_section()
