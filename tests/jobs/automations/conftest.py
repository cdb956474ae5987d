"""Automation fixtures: a rule file of the test's own automations beside the shipped canned responses."""

from __future__ import annotations

import shutil
from pathlib import Path

from jobs.context import Context, build_context
from tests.conftest import REPO_ROOT
from tests.jobs.automations.hooked import hooked_jira, hooked_kaiten, hub, jira_hub, kaiten_hub  # noqa: F401
from tests.jobs.test_kaiten_delivery import kaiten_sandbox, kctx  # noqa: F401 - the Kaiten fixtures

RULES = """
rules:
  - name: rest
    target: {{tracker: jira, project: SUP}}
automations:
{automations}
"""


def with_automations(ctx: Context, folder: Path, automations: str, **settings: object) -> Context:
    """``ctx`` with a rule file whose ``automations:`` section is ``automations`` (YAML list items), and
    ``settings`` changed."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "canned").exists():
        shutil.copytree(REPO_ROOT / "config" / "canned", folder / "canned")
    (folder / "hub.yaml").write_text(RULES.format(automations=automations), encoding="utf-8")
    return build_context(ctx.settings.model_copy(update={"HUB_CONFIG": folder / "hub.yaml", **settings}))
