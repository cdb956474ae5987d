"""Where a process gets its current configuration, re-read when it changes (hot reload).

The web and worker processes ask their :class:`ConfigSource` for the config each time they need it,
never keeping one of their own. :class:`FileSource` looks at the rule file at most every
:data:`CHECK_INTERVAL` seconds; when its content changed it validates the new text and switches to it.
An invalid edit changes nothing: the last good config stays in force, and one ERROR line with the
validation errors is logged per change (not per look), so an admin's typo never stops the hub.

A source is a :class:`PollingSource`: a cheap :meth:`~PollingSource._fingerprint` of what would be
loaded, and a :meth:`~PollingSource._load` of it. The file (with the catalogue files beside it) is
one such source; a table of configuration versions (the admin console's) is another: its fingerprint
the id of the active version, its load that version's text.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from config.catalogues import CatalogueFiles, catalogue_folder, listing, read_files
from config.loading import ConfigError, parse_config, read_text
from config.routes import log_unavailable_routes
from config.rules import HubConfig
from config.settings import Settings

log = logging.getLogger(__name__)

CHECK_INTERVAL = 2.0  # seconds between looks at the source, per process
# A file modified this close to the moment it was read may change again within the same timestamp and
# size (a "racy" read, as git calls it), so the next look reads it again even if its stat is the same.
RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class ConfigVersion:
    """One version of the configuration: the validated config, a digest of the text it came from, and
    where it came from (the file's path; a database source would give its version's id)."""

    config: HubConfig
    digest: str
    origin: str


class ConfigSource(ABC):
    """The current configuration of this process."""

    @abstractmethod
    def version(self) -> ConfigVersion:
        """The version in force now (looking for a newer one when it is time to)."""

    def current(self) -> HubConfig:
        """The config in force now."""
        return self.version().config

    def refresh(self) -> bool:
        """Look for a new version now; True when one came into force."""
        return False


class StaticSource(ConfigSource):
    """A config that never changes: one-off commands, and tests that build their config in code."""

    def __init__(self, config: HubConfig, origin: str = "(in memory)") -> None:
        self._version = ConfigVersion(config, digest="", origin=origin)

    def version(self) -> ConfigVersion:
        """The one version."""
        return self._version


class PollingSource(ConfigSource):
    """A source that is looked at again at most every ``interval`` seconds of ``clock``.

    Subclasses say what identifies the content (``_fingerprint``) and how to load it (``_load``); this
    class keeps the last good version, logs each bad one once, and lets one thread look at a time.
    """

    def __init__(
        self, first: ConfigVersion, *, clock: Callable[[], float], interval: float, fingerprint: str
    ) -> None:
        self._version = first
        self._clock = clock
        self._interval = interval
        self._seen = fingerprint
        self._checked_at = clock()
        self._lock = threading.Lock()

    @abstractmethod
    def _fingerprint(self) -> str:
        """What identifies the content to load now; :class:`ConfigError` when it cannot be had."""

    @abstractmethod
    def _load(self, fingerprint: str) -> ConfigVersion:
        """The version of that content; :class:`ConfigError` when it is not valid."""

    def version(self) -> ConfigVersion:
        """The version in force, after a look at the source when the last one is ``interval`` old."""
        if self._clock() - self._checked_at >= self._interval:
            self.refresh()
        return self._version

    def refresh(self) -> bool:
        """Look at the source now; True when a new version came into force."""
        if not self._lock.acquire(blocking=False):
            return False  # another thread is looking; it will switch for everyone
        try:
            self._checked_at = self._clock()
            return self._look()
        finally:
            self._lock.release()

    def _look(self) -> bool:
        try:
            fingerprint = self._fingerprint()
        except ConfigError as exc:
            return self._reject(f"unreadable: {exc}", exc)
        if fingerprint == self._seen:
            return False
        try:
            version = self._load(fingerprint)
        except ConfigError as exc:
            return self._reject(fingerprint, exc)
        self._seen = fingerprint
        if version.digest == self._version.digest:
            return False  # back to the version in force, after a bad one
        previous, self._version = self._version, version
        log.info(
            "config.reloaded origin=%s version=%s previous=%s rules=%d",
            version.origin,
            version.digest[:12],
            previous.digest[:12],
            len(version.config.rules),
        )
        self._loaded(version)
        return True

    def _loaded(self, version: ConfigVersion) -> None:
        """A new version came into force (a subclass may say what it means)."""

    def _reject(self, fingerprint: str, error: ConfigError) -> bool:
        """Keep the version in force; say why once per bad content."""
        if fingerprint != self._seen:
            self._seen = fingerprint
            log.error(
                "config.invalid origin=%s kept=%s errors=%r",
                self._version.origin,
                self._version.digest[:12],
                str(error).replace("\n", " | "),
            )
        return False


class FileSource(PollingSource):
    """The rule file ``settings.HUB_CONFIG`` and its catalogue files, reloaded when their content changes.

    A look costs a ``stat`` of the rule file and a listing of ``catalogues/`` beside it; a file is read
    again only when its inode, size or modification time changed (or it was modified so close to the
    last read that a same-sized edit within the same timestamp could hide), and the config reloaded only
    when the SHA-256 of the content changed.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float = CHECK_INTERVAL,
    ) -> None:
        """Load the files now; :class:`ConfigError` when they are not valid (the process cannot start)."""
        self._settings = settings
        self._path = Path(settings.HUB_CONFIG)
        self._stat: tuple[int, int, int] | None = None
        self._racy = True
        self._text = ""
        self._text_digest = ""
        self._folder = catalogue_folder(self._path)
        self._listing: tuple[tuple[str, int, int, int], ...] | None = None
        self._listing_racy = True
        self._catalogues = CatalogueFiles(self._folder)
        digest = self._fingerprint()
        first = self._load(digest)
        log_unavailable_routes(first.config, settings)
        super().__init__(first, clock=clock, interval=interval, fingerprint=digest)

    def _fingerprint(self) -> str:
        return self._with_catalogues(self._file_digest())

    def _file_digest(self) -> str:
        """The SHA-256 of the rule file's text, read again only when its stat says it may have changed."""
        try:
            status = os.stat(self._path)
        except OSError as exc:
            raise ConfigError(f"{self._path}: cannot read the rule file: {exc.strerror}") from None
        signature = (status.st_ino, status.st_size, status.st_mtime_ns)
        if signature != self._stat or self._racy:
            read_at = time.time_ns()
            self._text = read_text(self._path)
            self._stat = signature
            self._racy = status.st_mtime_ns >= read_at - RACY_NS
            self._text_digest = hashlib.sha256(self._text.encode("utf-8")).hexdigest()
        return self._text_digest

    def _with_catalogues(self, digest: str) -> str:
        """``digest`` combined with the catalogue files' (read again when their listing changed)."""
        found = listing(self._folder)
        if found != self._listing or self._listing_racy:
            read_at = time.time_ns()
            self._catalogues = read_files(self._folder)
            self._listing = found
            self._listing_racy = any(mtime >= read_at - RACY_NS for *_, mtime in found)
        if not self._catalogues.files and not self._catalogues.errors:
            return digest
        return hashlib.sha256(f"{digest}:{self._catalogues.digest}".encode()).hexdigest()

    def _load(self, fingerprint: str) -> ConfigVersion:
        config = parse_config(self._text, self._path, self._settings, self._catalogues)
        return ConfigVersion(config, fingerprint, str(self._path))

    def _loaded(self, version: ConfigVersion) -> None:
        log_unavailable_routes(version.config, self._settings)


def config_source(config: HubConfig | ConfigSource | None, settings: Settings) -> ConfigSource:
    """The source a process uses: the one given, a fixed config given, or the rule file."""
    if isinstance(config, ConfigSource):
        return config
    if config is not None:
        return StaticSource(config)
    return FileSource(settings)
