"""The look-alikes in a thread, as the tests run them: the Jira and Kaiten trackers, the Telegram stand-in.

Each is started with the tests' control token (``CONTROL`` carries it), and with fault injection only
where ``faults=True`` asks for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.jira.app import create_app as jira_app
from sandbox.kaiten.app import create_app as kaiten_app
from sandbox.server import TOKEN_HEADER, RunningSandbox, run_in_thread
from sandbox.telegram.app import create_app as telegram_app

CONTROL_TOKEN = "tests-control-token"  # noqa: S105 - a test secret
CONTROL = {TOKEN_HEADER: CONTROL_TOKEN}


def run_jira(db_path: str | Path, **options: Any) -> RunningSandbox:
    """The Jira look-alike on a free port; ``options`` go to ``sandbox.jira.app.create_app``."""
    return run_in_thread(jira_app(db_path, control_token=CONTROL_TOKEN, **options), "sandbox-jira")


def run_kaiten(db_path: str | Path | None = None, **options: Any) -> RunningSandbox:
    """The Kaiten look-alike on a free port; ``options`` go to ``sandbox.kaiten.app.create_app``."""
    return run_in_thread(kaiten_app(db_path, control_token=CONTROL_TOKEN, **options), "sandbox-kaiten")


def run_telegram(files_dir: Path | None = None, **options: Any) -> RunningSandbox:
    """The Telegram Bot API stand-in on a free port; ``options`` go to ``sandbox.telegram.app.create_app``."""
    return run_in_thread(telegram_app(files_dir, control_token=CONTROL_TOKEN, **options), "sandbox-telegram")
