"""The ``trackerhub`` group and what every command shares: the settings, the rule file and the schema,
each failing as a one-line error instead of a traceback."""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

import click

from config.loading import ConfigError
from config.logs import setup_logging
from config.rules import HubConfig
from config.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from jobs.context import Context
from store.db import get_engine
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
    """The configuration in force, validated: the newest configuration version in the database, or the
    rule file while none was saved; its errors stop the command."""
    from jobs.config_versions import active_config  # the database's: only the commands that need it

    try:
        return active_config(settings, engine_or_exit(settings.DATABASE_URL))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def migrate_or_exit(database_url: str) -> None:
    """Bring the database to the newest schema (the worker and the scheduler do it as they build their
    engine); a database the hub cannot recognise stops the start with what differs."""
    engine_or_exit(database_url).dispose()


def engine_or_exit(database_url: str) -> Engine:
    """The process's engine on the database, migrated to the newest schema; a database the hub cannot
    recognise stops the command with what differs."""
    try:
        return get_engine(database_url)
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
