"""``trackerhub route`` as an operator runs it (a real process against the Jira look-alike): the target's
key and exit 0, exit 2 naming the missing field, a dry run that prints the preview and writes nothing,
and ``route log``."""

from __future__ import annotations

import re
import subprocess
import sys

from jobs.context import Context
from sandbox.server import RunningSandbox
from store import routing as store
from tests.conftest import REPO_ROOT
from tests.jobs.conftest import (  # noqa: F401
    ctx,
    jira_sandbox,
    mail_sink,
    process_env,
    sandbox_issues,
    telegram_sandbox,
)
from tests.jobs.routing.conftest import create_source


def trackerhub(ctx: Context, *args: str) -> subprocess.CompletedProcess[str]:  # noqa: F811
    return subprocess.run(
        [sys.executable, "-m", "cli", "route", *args],
        cwd=REPO_ROOT,
        env=process_env(ctx),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_route_prints_the_target_key_and_exits_0(ctx: Context, jira_sandbox: RunningSandbox) -> None:  # noqa: F811
    source = create_source(ctx)

    done = trackerhub(ctx, source.key, "hardware", "--set", "Spare parts=Fuser kit")

    assert (done.returncode, done.stdout.strip()) == (0, "HW-1"), done.stderr
    assert [i["key"] for i in sandbox_issues(jira_sandbox, "project = HW")] == ["HW-1"]
    log = trackerhub(ctx, "log", "--issue", source.key)
    assert log.returncode == 0 and "done" in log.stdout and "via=cli" in log.stdout and "HW-1" in log.stdout


def test_a_missing_required_field_exits_2_naming_it(ctx: Context, jira_sandbox: RunningSandbox) -> None:  # noqa: F811
    source = create_source(ctx)

    refused = trackerhub(ctx, source.key, "hardware")

    assert refused.returncode == 2 and "Spare parts" in refused.stderr
    assert sandbox_issues(jira_sandbox, "project = HW") == []
    assert store.read_audit(ctx.engine) == []


def test_a_dry_run_prints_the_preview_and_writes_nothing(ctx: Context, jira_sandbox: RunningSandbox) -> None:  # noqa: F811
    source = create_source(ctx)

    preview = trackerhub(ctx, source.key, "hardware", "--set", "customfield_10040=PSU", "--dry-run")

    assert preview.returncode == 0, preview.stderr
    assert re.search(r"Component/s +Printers +\[mapped LaserJet 4250→Printers\]", preview.stdout)
    assert re.search(r"Spare parts +PSU +\[asked\]", preview.stdout)
    assert sandbox_issues(jira_sandbox, "project = HW") == []
    assert store.read_audit(ctx.engine) == []
    missing = trackerhub(ctx, source.key, "hardware", "--dry-run")
    assert missing.returncode == 2 and "Spare parts" in missing.stdout + missing.stderr


def test_an_unknown_route_exits_1_naming_the_routes(ctx: Context, jira_sandbox: RunningSandbox) -> None:  # noqa: F811
    source = create_source(ctx)
    refused = trackerhub(ctx, source.key, "nowhere")
    assert refused.returncode == 1 and "hardware, database, parts-order" in refused.stderr
