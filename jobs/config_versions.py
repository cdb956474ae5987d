"""Saving, restoring and reading configuration versions, validated as the processes will load them.

A version is the rule text and its canned responses (``canned``: file name → text; None, the
``canned/`` folder beside the rule file). It is stored only when ``parse_config`` accepts the text with
that library (against this process's settings and the catalogue files beside ``HUB_CONFIG``: a key the
rules name must be in the library) and, for a library the version holds, when every file of it parses
(front matter, file name, Jinja syntax, known variables), so the newest row is always a configuration
some process validated; every process still validates it again as it loads it (``jobs.config_source``),
since an environment variable a version names may be set on one node and not on another. A restore is
a new version with an older one's text and canned responses, refused when they no longer validate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import Engine

from config.loading import MAX_BYTES, ConfigError, load_config, parse_config, read_text
from config.rules import HubConfig
from config.settings import Settings
from store.config_versions import StoredVersion, active_version, get_version, save_version

log = logging.getLogger(__name__)

CannedFiles = Mapping[str, str]


class VersionNotFound(LookupError):
    """No configuration version has that id."""


def validate(settings: Settings, text: str, canned: CannedFiles | None = None) -> HubConfig:
    """The config ``text`` makes with the canned library ``canned`` (None: the folder), as the rule file
    ``HUB_CONFIG`` would; :class:`ConfigError` naming the rule and field, or the canned file, when it is
    not valid."""
    path = Path(settings.HUB_CONFIG)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ConfigError(f"{path}: the rule file is over {MAX_BYTES} bytes")
    problems = [] if canned is None else canned_problems(canned)
    try:
        config = parse_config(text, path, settings, canned=canned)
    except ConfigError as exc:
        raise ConfigError("\n".join([str(exc), *problems])) from None
    if problems:
        raise ConfigError("\n".join(problems))
    return config


def canned_problems(canned: CannedFiles) -> list[str]:
    """Every problem of a version's canned files, each as ``canned/<file>: <problem>``."""
    from mappers.canned_files import library_from_files, library_problems  # lazy: the Jinja sandbox

    return [f"canned/{line}" for line in library_problems(library_from_files(canned))]


def save_validated(
    settings: Settings,
    engine: Engine,
    text: str,
    author: str,
    comment: str,
    *,
    canned: CannedFiles | None = None,
) -> StoredVersion:
    """Store ``text`` with ``canned`` as the new version in force when they are valid;
    :class:`ConfigError` (and nothing stored) when they are not."""
    validate(settings, text, canned)
    version = save_version(engine, text=text, author=author, comment=comment, canned=canned)
    log.info("config.saved version=%d author=%s canned=%s", version.id, version.author, _count(canned))
    return version


def restore(settings: Settings, engine: Engine, version_id: int, author: str) -> StoredVersion:
    """Put version ``version_id`` (its text and canned responses) back in force as a new version;
    :class:`VersionNotFound` when there is none, :class:`ConfigError` when it no longer validates (a
    setting it names is gone)."""
    old = get_version(engine, version_id)
    if old is None:
        raise VersionNotFound(f"no configuration version {version_id}")
    validate(settings, old.text, old.canned)
    version = save_version(
        engine,
        text=old.text,
        author=author,
        comment=f"restored version {old.id}",
        restored_from=old.id,
        canned=old.canned,
    )
    log.info("config.restored version=%d from=%d author=%s", version.id, old.id, version.author)
    return version


def active_text(settings: Settings, engine: Engine) -> str:
    """The configuration in force as YAML: the newest version's text, or the rule file's when no version
    was saved yet (:class:`ConfigError` when the file cannot be read)."""
    version = active_version(engine)
    return version.text if version is not None else read_text(Path(settings.HUB_CONFIG))


def active_canned(engine: Engine) -> CannedFiles | None:
    """The canned library the version in force holds; None when it reads the folder (or no version was
    saved): what a save of the rule text alone keeps."""
    version = active_version(engine)
    return None if version is None else version.canned


def canned_files(settings: Settings, canned: CannedFiles | None) -> dict[str, str]:
    """``canned`` as files, the folder beside the rule file read when it is None (what the console edits
    and ``config export --canned-dir`` writes); :class:`ConfigError` when a file there cannot be read."""
    from mappers.canned_files import folder_files, library_folder

    if canned is not None:
        return dict(canned)
    try:
        return folder_files(library_folder(settings.HUB_CONFIG))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def active_config(settings: Settings, engine: Engine) -> HubConfig:
    """The configuration in force, validated: what a process starting now would load."""
    version = active_version(engine)
    return load_config(settings) if version is None else validate(settings, version.text, version.canned)


def _count(canned: CannedFiles | None) -> str:
    return "folder" if canned is None else str(len(canned))
