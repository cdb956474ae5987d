"""The Flask application: ``create_app()`` wires settings, rules, the journal and Redis to the blueprints.

Requests only verify, parse, journal and enqueue (DESIGN.md); no tracker is called from here. What the
handlers share is in routes/state.py.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from config.logs import setup_logging
from config.rules import HubConfig
from config.settings import Settings, get_settings
from config.source import ConfigSource
from jobs.config_source import source_for
from jobs.queues import get_redis
from routes import (
    admin,
    csat,
    email,
    errors,
    forms,
    routing_api,
    routing_page,
    status,
    telegram,
    trackers,
)
from routes.state import Hub
from store.db import get_engine

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonProvider(DefaultJSONProvider):
    """JSON answers in UTF-8 as written (Cyrillic stays readable), escaped only where UTF-8 cannot go.

    An error may echo what a sender sent (an unknown form field's name, an update kind), and a lone
    surrogate there ("\\ud800" in the request's JSON) has no UTF-8 encoding: such an answer is written
    with ASCII escapes instead of failing with a 500.
    """

    ensure_ascii = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        text = super().dumps(obj, **kwargs)
        if not text.isascii() and _LONE_SURROGATE.search(text):
            return super().dumps(obj, **{**kwargs, "ensure_ascii": True})
        return text


def create_app(settings: Settings | None = None, config: HubConfig | ConfigSource | None = None) -> Flask:
    """Create and configure the hub's Flask application; its rules from ``config`` (a fixed config or
    a source) when given, else the configuration version in force (the rule file until one is saved),
    reloaded when it changes."""
    settings = settings or get_settings()
    setup_logging(settings.HUB_LOG_LEVEL)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max(
        settings.HUB_MAX_EMAIL_BYTES, settings.HUB_MAX_FORM_BYTES, settings.HUB_MAX_TELEGRAM_BYTES
    )
    app.json = JsonProvider(app)
    engine = get_engine(settings.DATABASE_URL)
    app.extensions["hub"] = Hub(
        settings=settings,
        source=source_for(config, settings, engine),
        engine=engine,
        redis=get_redis(settings.REDIS_URL) if settings.REDIS_URL else None,
    )
    for blueprint in (telegram.bp, email.bp, forms.bp, status.bp, trackers.bp, routing_api.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(routing_page.bp)
    app.register_blueprint(csat.bp)
    app.register_blueprint(admin.bp)
    errors.register_error_handlers(app)
    return app
