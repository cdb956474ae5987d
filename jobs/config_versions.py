"""Saving, restoring and reading configuration versions, validated as the processes will load them.

A version is stored only when ``parse_config`` accepts it (against this process's settings and the
catalogue files beside ``HUB_CONFIG``), so the newest row is always a configuration some process
validated; every process still validates it again as it loads it (``jobs.config_source``), since an
environment variable a version names may be set on one node and not on another. A restore is a new
version with an older one's text, refused when that text no longer validates.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.engine import Engine

from config.loading import MAX_BYTES, ConfigError, load_config, parse_config, read_text
from config.rules import HubConfig
from config.settings import Settings
from store.config_versions import StoredVersion, active_version, get_version, save_version

log = logging.getLogger(__name__)


class VersionNotFound(LookupError):
    """No configuration version has that id."""


def validate(settings: Settings, text: str) -> HubConfig:
    """The config ``text`` makes, as the rule file ``HUB_CONFIG`` would; :class:`ConfigError` naming
    the rule and field when it is not valid."""
    path = Path(settings.HUB_CONFIG)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ConfigError(f"{path}: the rule file is over {MAX_BYTES} bytes")
    return parse_config(text, path, settings)


def save_validated(settings: Settings, engine: Engine, text: str, author: str, comment: str) -> StoredVersion:
    """Store ``text`` as the new version in force when it is valid; :class:`ConfigError` (and nothing
    stored) when it is not."""
    validate(settings, text)
    version = save_version(engine, text=text, author=author, comment=comment)
    log.info("config.saved version=%d author=%s", version.id, version.author)
    return version


def restore(settings: Settings, engine: Engine, version_id: int, author: str) -> StoredVersion:
    """Put version ``version_id`` back in force as a new version; :class:`VersionNotFound` when there is
    none, :class:`ConfigError` when its text no longer validates (a setting it names is gone)."""
    old = get_version(engine, version_id)
    if old is None:
        raise VersionNotFound(f"no configuration version {version_id}")
    validate(settings, old.text)
    version = save_version(
        engine, text=old.text, author=author, comment=f"restored version {old.id}", restored_from=old.id
    )
    log.info("config.restored version=%d from=%d author=%s", version.id, old.id, version.author)
    return version


def active_text(settings: Settings, engine: Engine) -> str:
    """The configuration in force as YAML: the newest version's text, or the rule file's when no version
    was saved yet (:class:`ConfigError` when the file cannot be read)."""
    version = active_version(engine)
    return version.text if version is not None else read_text(Path(settings.HUB_CONFIG))


def active_config(settings: Settings, engine: Engine) -> HubConfig:
    """The configuration in force, validated: what a process starting now would load."""
    version = active_version(engine)
    return load_config(settings) if version is None else validate(settings, version.text)
