"""What the request handlers share: the :class:`Hub` on ``app.extensions['hub']``, and :func:`hub`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app
from redis import Redis
from sqlalchemy.engine import Engine
from werkzeug.exceptions import ServiceUnavailable

from config.rules import HubConfig
from config.settings import Settings
from config.source import ConfigSource

if TYPE_CHECKING:
    from jobs.context import Context


@dataclass
class Hub:
    """What the request handlers share, kept on ``app.extensions['hub']``."""

    settings: Settings
    source: ConfigSource
    engine: Engine
    redis: Redis | None

    @property
    def config(self) -> HubConfig:
        """The rule file's version in force now (an edit reaches the next request, no restart)."""
        return self.source.current()


def hub() -> Hub:
    """The current app's shared state."""
    state: Hub = current_app.extensions["hub"]
    return state


def job_context() -> Context:
    """A jobs :class:`~jobs.context.Context` on the app's settings, database, Redis and rules, built once
    per app: what a handler passes to a jobs service (routing). 503 when the hub has no Redis.

    Imported on first use: a web process that never routes loads no tracker client (its memory budget).
    """
    from jobs.context import Context

    state = hub()
    if state.redis is None:
        raise ServiceUnavailable("REDIS_URL is not set")
    ctx: Context | None = current_app.extensions.get("job-context")
    if ctx is None:
        ctx = Context(settings=state.settings, engine=state.engine, redis=state.redis, source=state.source)
        current_app.extensions["job-context"] = ctx
    return ctx
