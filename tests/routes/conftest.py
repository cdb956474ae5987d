"""Route fixtures: the app on the test settings, and helpers to post fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue

from config.settings import Settings
from jobs.queues import DELIVERY_QUEUE
from routes import create_app

TELEGRAM_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telegram"


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def delivery_queue(settings: Settings) -> Queue:
    return Queue(DELIVERY_QUEUE, connection=Redis.from_url(settings.REDIS_URL or ""))


def text_update(update_id: int = 1, text: str = "Printer is on fire", chat_id: int = 42) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1700000000,
            "chat": {"id": chat_id, "type": "private", "first_name": "Ann"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Ann", "language_code": "ru"},
            "text": text,
        },
    }


def post_telegram(client: FlaskClient, update: Any, secret: str | None = "tg-secret") -> Any:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    body = update if isinstance(update, bytes | str) else json.dumps(update)
    return client.post("/hooks/telegram", data=body, headers=headers, content_type="application/json")
