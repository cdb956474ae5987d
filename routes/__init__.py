"""The Flask application: ``create_app()`` wires settings, rules, the journal and Redis to the blueprints.

Requests only verify, parse, journal and enqueue (DESIGN.md); no tracker is called from here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, current_app
from redis import Redis
from sqlalchemy.engine import Engine

from config.logs import setup_logging
from config.rules import HubConfig, load_config
from config.settings import Settings, get_settings
from jobs.queues import get_redis
from store.db import get_engine

log = logging.getLogger(__name__)


@dataclass
class Hub:
    """What the request handlers share, kept on ``app.extensions['hub']``."""

    settings: Settings
    config: HubConfig
    engine: Engine
    redis: Redis | None


def create_app(settings: Settings | None = None, config: HubConfig | None = None) -> Flask:
    """Create and configure the hub's Flask application."""
    from routes import email, errors, forms, status, telegram, trackers

    settings = settings or get_settings()
    setup_logging(settings.HUB_LOG_LEVEL)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max(
        settings.HUB_MAX_EMAIL_BYTES, settings.HUB_MAX_FORM_BYTES, settings.HUB_MAX_TELEGRAM_BYTES
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["hub"] = Hub(
        settings=settings,
        config=config or load_config(settings),
        engine=get_engine(settings.DATABASE_URL),
        redis=get_redis(settings.REDIS_URL) if settings.REDIS_URL else None,
    )
    for blueprint in (telegram.bp, email.bp, forms.bp, status.bp, trackers.bp):
        app.register_blueprint(blueprint)
    errors.register_error_handlers(app)
    return app


def hub() -> Hub:
    """The current app's shared state."""
    state: Hub = current_app.extensions["hub"]
    return state
