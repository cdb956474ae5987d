"""What the request handlers share: the :class:`Hub` on ``app.extensions['hub']``, and :func:`hub`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from redis import Redis
from sqlalchemy.engine import Engine

from config.rules import HubConfig
from config.settings import Settings
from config.source import ConfigSource


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
