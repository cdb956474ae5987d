"""The ``trackerhub`` group and what every command shares: the settings, the rule file and the schema,
each failing as a one-line error instead of a traceback."""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

import click

from config.loading import ConfigError, load_config
from config.logs import setup_logging
from config.rules import HubConfig
from config.settings import Settings, get_settings

if TYPE_CHECKING:
    from jobs.context import Context
from store.db import create_db_engine
from store.migrate import SchemaMismatch

log = logging.getLogger("trackerhub")


@click.group()
def main() -> None:
    """trackerhub: customer messages in, tracker issues out."""
    setup_logging(os.environ.get("HUB_LOG_LEVEL", "INFO"))


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic's ValidationError names the variable
        raise click.ClickException(f"bad environment: {exc}") from None


def config_or_exit(settings: Settings) -> HubConfig:
    try:
        return load_config(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def migrate_or_exit(database_url: str) -> None:
    """Bring the database to the newest schema (the worker and the scheduler do it as they build their
    engine); a database the hub cannot recognise stops the start with what differs."""
    try:
        create_db_engine(database_url).dispose()
    except SchemaMismatch as exc:
        raise click.ClickException(str(exc)) from None


def context_or_exit() -> Context:
    """The process's job context; a database the hub cannot recognise stops the command with what
    differs, as ``web`` does, instead of a traceback."""
    from jobs.context import get_context  # builds tracker clients: only the commands that need it

    try:
        return get_context()
    except SchemaMismatch as exc:
        raise click.ClickException(str(exc)) from None


def terminate_with_parent() -> None:
    """In a child process: ask Linux for a SIGTERM when the parent exits (prctl PR_SET_PDEATHSIG), so a
    SIGKILLed ``up`` or ``worker --slots`` leaves no server or slot behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
