"""An operator's one-shot commands: ``check``, ``replay``, ``canned preview`` and ``kaiten ls``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from cli.common import config_or_exit, context_or_exit, main, settings_or_exit


@main.command()
def check() -> None:
    """Validate the rule file against the live tracker; exit 1 on errors."""
    from jobs.check import check_config

    settings = settings_or_exit()
    config = config_or_exit(settings)
    problems = check_config(settings, config)
    for line in problems.report():
        click.echo(line)
    sys.exit(1 if problems.errors else 0)


@main.command()
@click.argument("message_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="replay every dead letter")
def replay(message_ids: Sequence[str], replay_all: bool) -> None:
    """Re-run dead letters (by id, or --all)."""
    from jobs.replay import replay_messages

    settings = settings_or_exit()
    config_or_exit(settings)
    if not message_ids and not replay_all:
        raise click.UsageError("give message ids or --all")
    outcomes = replay_messages(context_or_exit(), list(message_ids), replay_all=replay_all)
    for message_id, outcome in outcomes:
        click.echo(f"{message_id}\t{outcome}")
    sys.exit(0 if all(o == "requeued" for _, o in outcomes) else 1)


@main.group()
def canned() -> None:
    """Canned responses."""


@canned.command("preview")
@click.argument("key")
@click.option("--issue", "issue_key", required=True, help="render with this issue's fields")
@click.option("--lang", "language", default=None, help="en or ru (default: the customer's, else the default)")
def canned_preview(key: str, issue_key: str, language: str | None) -> None:
    """Render a canned response for an issue, as the customer would get it."""
    from jobs import canned as canned_jobs

    config_or_exit(settings_or_exit())
    ctx = context_or_exit()
    try:
        text = canned_jobs.preview(ctx, canned_jobs.library(ctx), key, issue_key, language)
    except canned_jobs.PreviewFailed as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(text)


@main.group()
def kaiten() -> None:
    """Kaiten helpers."""


@kaiten.command("ls")
def kaiten_ls() -> None:
    """List spaces, boards, columns, lanes, card types, properties and users with their ids."""
    from connector.errors import TrackerError
    from jobs.check import kaiten_for_command

    settings = settings_or_exit()
    try:
        tracker = kaiten_for_command(settings)
        for line in _kaiten_listing(tracker):
            click.echo(line)
    except TrackerError as exc:
        raise click.ClickException(f"Kaiten: {exc}") from None


def _kaiten_listing(tracker: Any) -> list[str]:
    column_types = {1: "queued", 2: "in progress", 3: "done"}
    lines = []
    for space in tracker.list_spaces():
        lines.append(f"space {space['id']}  {space.get('title', '')}")
        for board in tracker.list_boards(space["id"]):
            lines.append(f"  board {board['id']}  {board.get('title', '')}")
            for column in tracker.list_columns(board["id"]):
                kind = column_types.get(column.get("type"), "?")
                lines.append(f"    column {column['id']}  {column.get('title', '')}  ({kind})")
            for lane in tracker.list_lanes(board["id"]):
                lines.append(f"    lane {lane['id']}  {lane.get('title', '')}")
    lines.append("card types")
    lines += [f"  type {t['id']}  {t.get('name', '')}" for t in tracker.list_card_types()]
    lines.append("custom properties (rule key id_<n>)")
    for prop in tracker.list_properties():
        lines.append(f"  property {prop['id']}  {prop.get('name', '')}  ({prop.get('type', '')})")
        if prop.get("type") in ("select", "multi_select"):
            lines += [
                f"    value {v['id']}  {v.get('value', '')}" for v in tracker.list_select_values(prop["id"])
            ]
    lines.append("users")
    lines += [
        f"  user {u['id']}  {u.get('full_name') or u.get('username', '')}" for u in tracker.list_users()
    ]
    return lines
