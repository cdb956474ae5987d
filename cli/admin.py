"""``trackerhub admin``: the admin console's accounts.

``add-user NAME --role admin|coordinator|viewer`` reads the password from standard input (one line;
typed twice, hidden, at a terminal), so it never shows in the shell's history or the process list. The
first account turns the console on at ``/admin/``.
"""

from __future__ import annotations

import sys

import click

from cli.common import main, settings_or_exit
from store.accounts import ROLES


@main.group()
def admin() -> None:
    """The admin console's accounts."""


@admin.command("add-user")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="what the account may do")
def add_user(name: str, role: str) -> None:
    """Create a console account NAME; the password is read from standard input."""
    from store import accounts, audit
    from store.db import create_db_engine

    settings = settings_or_exit()
    password = _read_password()
    engine = create_db_engine(settings.DATABASE_URL)
    try:
        user = accounts.add_user(engine, name, role, password)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    audit.record(engine, "cli", "add-user", target=user.name, outcome=user.role, address="cli")
    click.echo(f"added {user.name} ({user.role})")


def _read_password() -> str:
    """The password: prompted twice without echo at a terminal, else the first line of standard input."""
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line
