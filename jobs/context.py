"""What a job needs, built once per worker process: settings, database, Redis, rules and clients.

The rules come from a :class:`~config.source.ConfigSource`: ``ctx.config`` is the version in force,
so an edit of the rule file reaches the next job without a restart.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import cast

from redis import Redis
from sqlalchemy.engine import Engine

from config.rules import HubConfig
from config.settings import Settings, get_settings
from config.source import ConfigSource
from config.targets import TrackerSpec
from connector.base import Tracker
from connector.breaker import CircuitBreaker, GuardedTracker
from connector.instances import connect
from connector.telegram import TelegramClient
from jobs.config_source import source_for
from jobs.queues import get_redis
from mappers.markup import Markup, markup_for
from store import leases
from store.db import get_engine

log = logging.getLogger(__name__)


def waiting_reason(tracker: str) -> str:
    """The journal reason's prefix for a message waiting for ``tracker`` to come back."""
    return f"waiting for {tracker}: "


@dataclass
class Context:
    """The resources jobs share within one process."""

    settings: Settings
    engine: Engine
    redis: Redis
    source: ConfigSource
    trackers: dict[str, Tracker] = field(default_factory=dict)
    _specs: dict[str, TrackerSpec | None] = field(default_factory=dict)
    _telegram: TelegramClient | None = None

    @property
    def config(self) -> HubConfig:
        """The rule file's version in force now."""
        return self.source.current()

    def tracker(self, name: str) -> Tracker:
        """The connector of the tracker instance ``name`` (the environment's ``jira`` or ``kaiten``, or
        one of the rule file's), behind its own circuit breaker; ``LookupError`` when there is none.

        A connector is built once and rebuilt only when a reload changed its instance's definition.
        """
        config = self.config
        spec = config.trackers.get(name)
        if name not in self.trackers or self._specs.get(name) != spec:
            connector = connect(self.settings, config, name, self.redis)
            breaker = CircuitBreaker(self.redis, name, on_close=lambda: self._tracker_back(name))
            self.trackers[name] = cast(Tracker, GuardedTracker(connector, breaker))
            self._specs[name] = spec
        return self.trackers[name]

    def markup(self, tracker: str) -> Markup:
        """The markup of the tracker instance ``tracker`` (by its kind: Jira wiki or Kaiten Markdown)."""
        return markup_for(self.config.tracker_kind(tracker) or tracker)

    def _tracker_back(self, name: str) -> None:
        """The tracker answers again: every message waiting for it is due now, not after its back-off."""
        woken = leases.wake(self.engine, waiting_reason(name))
        if woken:
            log.info("breaker.woke tracker=%s messages=%d", name, woken)

    @property
    def telegram(self) -> TelegramClient | None:
        """The Bot API client, or None when no bot token is configured."""
        token = self.settings.secret("TELEGRAM_BOT_TOKEN")
        if token and self._telegram is None:
            self._telegram = TelegramClient(token, self.settings.TELEGRAM_API_URL)
        return self._telegram


def build_context(settings: Settings, config: HubConfig | ConfigSource | None = None) -> Context:
    """A context for ``settings`` (tests build their own); its rules from ``config`` when given (a fixed
    config or a source), else the configuration version in force (the rule file until one is saved),
    reloaded when it changes."""
    if not settings.REDIS_URL:
        raise RuntimeError("REDIS_URL is not set; `trackerhub up` starts a managed redis-server")
    engine = get_engine(settings.DATABASE_URL)
    return Context(
        settings=settings,
        engine=engine,
        redis=get_redis(settings.REDIS_URL),
        source=source_for(config, settings, engine),
    )


@functools.cache
def get_context() -> Context:
    """The worker process's context, from the environment."""
    return build_context(get_settings())
