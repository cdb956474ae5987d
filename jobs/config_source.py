"""The configuration source every process reads: the newest configuration version in the database,
or the rule file while no version was saved.

:class:`VersionSource` is the rule file's :class:`~config.source.FileSource` with one more look: at most
every 2 s a process asks the database for ``max(id)`` of ``config_versions`` (one indexed query). While
the table is empty the file is watched as before; once a version exists its id (with the catalogue
files beside the rule file) is the fingerprint, so a save or a restore anywhere reaches every web,
worker and scheduler process within one interval. A version that does not validate here is never in
force: :class:`~config.source.PollingSource` keeps the last good one and logs the errors once.

A version's canned responses come with it (``parse_config(canned=...)`` puts them on the config, as
``HubConfig.canned_files``), so a save that changes only a canned text is a new id and reaches every
process the same way; a version without them (``canned`` NULL) reads the ``canned/`` folder.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from config.loading import ConfigError, parse_config
from config.rules import HubConfig
from config.settings import Settings
from config.source import CHECK_INTERVAL, ConfigSource, ConfigVersion, FileSource, config_source
from store.config_versions import active_id, get_version


def version_origin(version_id: int) -> str:
    """How a configuration version is named as a source's origin (and in the logs)."""
    return f"config_versions#{version_id}"


class VersionSource(FileSource):
    """The newest configuration version (``config_versions#<id>`` in the logs), else the rule file."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float = CHECK_INTERVAL,
    ) -> None:
        """Load the version in force now; :class:`ConfigError` when it is not valid (no start)."""
        self._engine = engine
        self._newest: int | None = None
        super().__init__(settings, clock=clock, interval=interval)

    def _fingerprint(self) -> str:
        try:
            self._newest = active_id(self._engine)
        except sa.exc.SQLAlchemyError as exc:
            raise _unanswered(exc) from None
        if self._newest is None:
            return super()._fingerprint()
        return self._with_catalogues(hashlib.sha256(version_origin(self._newest).encode()).hexdigest())

    def _load(self, fingerprint: str) -> ConfigVersion:
        if self._newest is None:
            return super()._load(fingerprint)
        try:
            stored = get_version(self._engine, self._newest)
        except sa.exc.SQLAlchemyError as exc:
            raise _unanswered(exc) from None
        if stored is None:  # rows are never deleted; a restored backup could lack it
            raise ConfigError(f"{version_origin(self._newest)}: the version is gone")
        config = parse_config(stored.text, self._path, self._settings, self._catalogues, canned=stored.canned)
        return ConfigVersion(config, fingerprint, version_origin(stored.id))


def _unanswered(exc: Exception) -> ConfigError:
    """A database that does not answer keeps the version in force (logged once), like an unreadable file."""
    return ConfigError(f"config_versions: the database does not answer ({type(exc).__name__})")


def source_for(config: HubConfig | ConfigSource | None, settings: Settings, engine: Engine) -> ConfigSource:
    """The source a process uses: the one given, a fixed config given, or the configuration versions
    (the rule file until one is saved)."""
    if config is not None:
        return config_source(config, settings)
    return VersionSource(settings, engine)
