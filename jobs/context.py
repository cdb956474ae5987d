"""What a job needs, built once per worker process: settings, database, Redis, rules and clients."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import cast

from redis import Redis
from sqlalchemy.engine import Engine

from config.rules import HubConfig, load_config
from config.settings import Settings, get_settings
from connector.base import Tracker
from connector.breaker import CircuitBreaker, GuardedTracker
from connector.jira import JiraTracker
from connector.kaiten import KaitenTracker
from connector.telegram import TelegramClient
from jobs.queues import get_redis
from store import journal
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
    config: HubConfig
    trackers: dict[str, Tracker] = field(default_factory=dict)
    _telegram: TelegramClient | None = None

    def tracker(self, name: str) -> Tracker:
        """The connector for a tracker named in a rule, behind its circuit breaker."""
        if name not in self.trackers:
            connector: Tracker
            if name == "jira":
                connector = JiraTracker.from_settings(self.settings)
            elif name == "kaiten":
                connector = KaitenTracker.from_settings(self.settings, redis=self.redis)
            else:
                raise LookupError(f"tracker {name!r} is not configured")
            breaker = CircuitBreaker(self.redis, name, on_close=lambda: self._tracker_back(name))
            self.trackers[name] = cast(Tracker, GuardedTracker(connector, breaker))
        return self.trackers[name]

    def _tracker_back(self, name: str) -> None:
        """The tracker answers again: every message waiting for it is due now, not after its back-off."""
        woken = journal.wake(self.engine, waiting_reason(name))
        if woken:
            log.info("breaker.woke tracker=%s messages=%d", name, woken)

    @property
    def telegram(self) -> TelegramClient | None:
        """The Bot API client, or None when no bot token is configured."""
        token = self.settings.secret("TELEGRAM_BOT_TOKEN")
        if token and self._telegram is None:
            self._telegram = TelegramClient(token, self.settings.TELEGRAM_API_URL)
        return self._telegram


def build_context(settings: Settings) -> Context:
    """A context for ``settings`` (tests build their own)."""
    if not settings.REDIS_URL:
        raise RuntimeError("REDIS_URL is not set; `trackerhub up` starts a managed redis-server")
    return Context(
        settings=settings,
        engine=get_engine(settings.DATABASE_URL),
        redis=get_redis(settings.REDIS_URL),
        config=load_config(settings),
    )


@functools.cache
def get_context() -> Context:
    """The worker process's context, from the environment."""
    return build_context(get_settings())
