"""End to end: `trackerhub up`'s real web (gunicorn) and worker processes switch to a configuration
version saved with `trackerhub config import`, and back after `trackerhub config restore`, without a
restart: the next Telegram message after each is filed as the version in force says."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import DEFAULT_CONFIG
from config.source import CHECK_INTERVAL
from tests.conftest import free_port
from tests.e2e.test_up import (
    TOKEN,
    post_update,
    run_cli,
    start_up,
    stop_up,
    telegram_update,
    wait_delivered,
    wait_started,
)

pytestmark = pytest.mark.e2e

PRINTERS = (
    "rules:\n  - {name: printers, when: {keywords: [printer]}, target: {tracker: jira, project: DEV}}\n"
)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    var_dir = tmp_path_factory.mktemp("var")
    process = start_up(
        var_dir, free_port(), HUB_INBOUND_TOKEN=TOKEN, HUB_LOG_LEVEL="INFO", HUB_SANDBOX="jira"
    )
    yield wait_started(process, var_dir)
    stop_up(process)


def filed_in(hub: dict[str, Any], update_id: int, text: str) -> str:
    """Send a Telegram message from a new chat; the project of the issue it opened."""
    answer = post_update(hub, telegram_update(update_id, text, chat_id=5000 + update_id))
    assert answer.status_code == 202, answer.text
    status = wait_delivered(hub, answer.json()["id"])
    assert status["status"] == "delivered", status.get("reason")
    return str(status["issue_key"]).split("-")[0]


def switched() -> None:
    """Let one look interval pass: every process looks again at its next use of the config (a look is
    made in the call that needs the config, so the first use after the interval sees the new version)."""
    time.sleep(CHECK_INTERVAL + 0.5)


def test_an_imported_version_is_followed_by_the_next_message_and_a_restore_brings_the_old_rule_back(
    hub: dict[str, Any], tmp_path: Path
) -> None:
    assert filed_in(hub, 1, "My printer is on fire") == "SUP"  # the shipped rule file: one project

    shipped = tmp_path / "shipped.yaml"
    shipped.write_text(DEFAULT_CONFIG.read_text(), encoding="utf-8")
    first = int(run_cli(hub, "config", "import", str(shipped), "--comment", "as shipped"))
    edited = tmp_path / "hub.yaml"
    edited.write_text(DEFAULT_CONFIG.read_text().replace("rules:\n", PRINTERS, 1), encoding="utf-8")
    second = int(run_cli(hub, "config", "import", str(edited), "--comment", "printers to DEV"))
    assert second > first
    switched()
    assert filed_in(hub, 2, "The printer is on fire again") == "DEV"
    assert filed_in(hub, 3, "The scanner is broken") == "SUP"  # the rest still by the default rule

    restored = int(run_cli(hub, "config", "restore", str(first)))
    assert run_cli(hub, "config", "export") == DEFAULT_CONFIG.read_text()
    switched()
    assert filed_in(hub, 4, "A third printer is on fire") == "SUP"
    log = (hub["var_dir"] / "up.log").read_text(errors="replace")
    assert f"config.reloaded origin=config_versions#{second} " in log
    assert f"config.reloaded origin=config_versions#{restored} " in log
