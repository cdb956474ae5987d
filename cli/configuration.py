"""``trackerhub config``: the configuration in force as YAML, and its versions.

Once a version has been saved (from the console, or here with ``import``) the newest version in the
database is the configuration every process runs; until then it is the rule file (``HUB_CONFIG``),
which so only bootstraps. ``export`` writes the configuration in force exactly as it was saved (the
rule file's text, validated first, while no version exists): ``${NAME}`` references stay references,
so no secret or environment value is written out, and a team that keeps its configuration in git
exports, commits, edits and imports it back.

The canned responses are part of a version. ``import FILE`` takes the ``canned/`` folder beside FILE
into the new version when there is one (else the version keeps the canned responses in force), and
``export --canned-dir DIR`` writes the version's canned files into DIR (standard output stays the YAML
alone), so ``export > hub.yaml --canned-dir canned`` and ``import hub.yaml`` round-trip.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import click

from cli.common import engine_or_exit, main, settings_or_exit


@main.group("config")
def config_group() -> None:
    """The hub's configuration: the rule file, then the versions saved in the database."""


@config_group.command("export")
@click.option(
    "--canned-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="also write the version's canned responses (<key>.<lang>.md) into this folder",
)
def export(canned_dir: Path | None) -> None:
    """Write the configuration in force as YAML to standard output; exit 1 when it is not valid. With
    --canned-dir, its canned responses go there too (a file of that folder named like a canned response
    that the version does not have is removed, so a deleted response stays deleted)."""
    from config.loading import ConfigError, load_config
    from jobs.config_versions import active_canned, active_text, canned_files
    from store.config_versions import active_id

    settings = settings_or_exit()
    engine = engine_or_exit(settings.DATABASE_URL)
    try:
        if active_id(engine) is None:
            load_config(settings)  # the rule file is in force only when it is valid
        text = active_text(settings, engine)
        files = canned_files(settings, active_canned(engine)) if canned_dir is not None else {}
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if canned_dir is not None:
        _write_canned(canned_dir, files)
    click.echo(text, nl=not text.endswith("\n"))


def _write_canned(folder: Path, files: dict[str, str]) -> None:
    """``files`` into ``folder`` (made when missing); other canned-named files there are removed."""
    from config.canned import file_key

    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():
            if stale.name not in files and stale.is_file() and file_key(stale.name) is not None:
                stale.unlink()
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{folder}: {exc.strerror or exc}") from None


@config_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--comment", default="", help="why: shown in the versions' list")
def import_(file: Path, comment: str) -> None:
    """Validate FILE and save it as the new version in force (every process switches within seconds);
    print its id. The canned/ folder beside FILE, when there is one, becomes the version's canned
    responses (else it keeps those in force). Exit 1 with the errors, storing nothing, when not valid."""
    from config.loading import ConfigError, read_text
    from jobs.config_versions import active_canned, save_validated
    from mappers.canned_files import CannedFilesError, folder_files
    from store import audit

    settings = settings_or_exit()
    engine = engine_or_exit(settings.DATABASE_URL)
    folder = file.resolve().parent / "canned"
    try:
        canned = folder_files(folder) if folder.is_dir() else active_canned(engine)
        version = save_validated(settings, engine, read_text(file), _author(), comment, canned=canned)
    except (ConfigError, CannedFilesError) as exc:
        raise click.ClickException(str(exc)) from None
    audit.record(
        engine, version.author, "config-import", target=str(version.id), outcome=comment, address="cli"
    )
    click.echo(version.id)


@config_group.command("versions")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
def versions(limit: int) -> None:
    """List the saved versions, newest (the one in force, marked *) first: id, time, author, comment."""
    from store.config_versions import list_versions

    settings = settings_or_exit()
    for index, version in enumerate(list_versions(engine_or_exit(settings.DATABASE_URL), limit=limit)):
        when = version.created_at.strftime("%Y-%m-%d %H:%M:%SZ")
        comment = " ".join(version.comment.split())
        click.echo(
            f"{'*' if index == 0 else ' '}{version.id:>5}  {when}  {version.author}  {comment}".rstrip()
        )


@config_group.command("restore")
@click.argument("version_id", metavar="ID", type=int)
def restore(version_id: int) -> None:
    """Put version ID back in force as a new version; print its id. Exit 1 when there is no such
    version or its text no longer validates (a setting it names is gone)."""
    from config.loading import ConfigError
    from jobs import config_versions
    from store import audit

    settings = settings_or_exit()
    engine = engine_or_exit(settings.DATABASE_URL)
    try:
        version = config_versions.restore(settings, engine, version_id, _author())
    except (ConfigError, config_versions.VersionNotFound) as exc:
        raise click.ClickException(str(exc)) from None
    audit.record(
        engine,
        version.author,
        "config-restore",
        target=str(version_id),
        outcome=f"version {version.id}",
        address="cli",
    )
    click.echo(version.id)


def _author() -> str:
    """``cli:<the operating system's user>``: who saved a version from the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "cli:unknown"
