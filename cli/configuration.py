"""``trackerhub config export``: the configuration in force, as YAML on standard output.

Today the configuration is the rule file (``HUB_CONFIG``), so the export is its text, validated first
and written as it is: ``${NAME}`` references stay references, so no secret or environment value is
written out. Configuration versions kept in the database (edited in the console) are a later release;
the export will then write the active version.
"""

from __future__ import annotations

from pathlib import Path

import click

from cli.common import main, settings_or_exit


@main.group("config")
def config_group() -> None:
    """The hub's configuration (the rule file)."""


@config_group.command("export")
def export() -> None:
    """Write the current configuration as YAML to standard output; exit 1 when it is not valid."""
    from config.loading import ConfigError, parse_config, read_text

    settings = settings_or_exit()
    path = Path(settings.HUB_CONFIG)
    try:
        text = read_text(path)
        parse_config(text, path, settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(text, nl=not text.endswith("\n"))
