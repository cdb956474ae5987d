"""A customer's reply to a rated CSAT survey's message at the Telegram hook is queued as the survey's
comment, never made a request; a reply before rating, a second one, or a reply to another message is a
customer's message as before; Redis down is 503, so Telegram resends."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue

from config.settings import Settings
from jobs.queues import REPLY_QUEUE
from routes import create_app
from store import journal, ratings
from store.ratings import Survey
from tests.conftest import free_port
from tests.routes.conftest import post_telegram, text_update

CUSTOMER = 4242
QUESTION = 77  # the survey's message in the customer's chat


def asked(app: Flask, *, rated: bool = True) -> str:
    """A survey asked in the customer's chat (its message ``QUESTION``), rated unless told otherwise."""
    engine = app.extensions["hub"].engine
    now = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
    sid = ratings.survey_id("default", "SUP-1", 1)
    survey = Survey(sid, "default", "SUP-1", 1, "telegram", str(CUSTOMER), CUSTOMER, None, None, "asked", now)
    ratings.add(engine, survey)
    ratings.sent(engine, sid, QUESTION)
    if rated:
        ratings.rate(engine, sid, 2, now)
    return sid


def reply_to(update_id: int, message_id: int) -> dict[str, Any]:
    update = text_update(update_id, "It took a week", chat_id=CUSTOMER)
    update["message"]["reply_to_message"] = {
        "message_id": message_id,
        "date": 1,
        "chat": update["message"]["chat"],
    }
    return update


def test_a_reply_to_the_survey_is_its_comment_and_another_reply_a_request(
    client: FlaskClient, app: Flask, settings: Settings
) -> None:
    asked(app)
    response = post_telegram(client, reply_to(61, QUESTION))
    assert response.status_code == 200 and response.get_json() == {"status": "csat-comment"}
    assert (
        "csat-comment-61" in Queue(REPLY_QUEUE, connection=Redis.from_url(settings.REDIS_URL or "")).job_ids
    )
    assert journal.count_by_status(app.extensions["hub"].engine) == {}
    assert post_telegram(client, reply_to(62, QUESTION + 1)).status_code == 202  # not the survey: a request


def test_a_reply_to_the_survey_before_rating_or_after_the_comment_is_a_message_like_any_other(
    client: FlaskClient, app: Flask
) -> None:
    engine = app.extensions["hub"].engine
    sid = asked(app, rated=False)
    assert post_telegram(client, reply_to(64, QUESTION)).status_code == 202  # "still broken", unrated
    ratings.rate(engine, sid, 1, dt.datetime(2026, 12, 7, 9, 5, tzinfo=dt.UTC))
    ratings.comment(engine, sid, "It took a week", dt.datetime(2026, 12, 7, 9, 6, tzinfo=dt.UTC))
    assert post_telegram(client, reply_to(65, QUESTION)).status_code == 202  # a second word: a message too
    assert journal.count_by_status(engine) == {"queued": 2}


def test_a_survey_comment_while_redis_is_down_is_503(settings: Settings) -> None:
    down = create_app(settings.model_copy(update={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}))
    asked(down)
    response = post_telegram(down.test_client(), reply_to(63, QUESTION))
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert journal.count_by_status(down.extensions["hub"].engine) == {}
