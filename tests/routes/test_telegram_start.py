"""``/start`` at the Telegram hook is answered and never becomes an issue; a customer's words still do."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue

from config.settings import Settings
from jobs.queues import REPLY_QUEUE
from routes import create_app
from store import journal, staff
from tests.conftest import free_port
from tests.routes.conftest import post_telegram, text_update


def replies(settings: Settings) -> list[str]:
    return Queue(REPLY_QUEUE, connection=Redis.from_url(settings.REDIS_URL or "")).job_ids


def test_a_customers_first_start_is_greeted_not_made_an_issue(
    client: FlaskClient, app: Flask, settings: Settings, delivery_queue: Queue
) -> None:
    response = post_telegram(client, text_update(21, "/start"))
    assert response.status_code == 200 and response.get_json() == {"status": "welcome"}
    assert journal.count_by_status(app.extensions["hub"].engine) == {}
    assert delivery_queue.job_ids == []
    assert replies(settings) == ["start-21"]
    words = post_telegram(client, text_update(22, "My printer is on fire"))
    assert words.status_code == 202  # what the customer then writes is a request as before


def test_an_invite_link_links_the_person(client: FlaskClient, app: Flask, settings: Settings) -> None:
    engine = app.extensions["hub"].engine
    code = staff.create_invite(engine, "default", "ann.lee", dt.timedelta(days=1), dt.datetime.now(dt.UTC))
    response = post_telegram(client, text_update(23, f"/start {code}", chat_id=501))
    assert response.get_json() == {"status": "linked"}
    member = staff.find(engine, 501)
    assert member is not None and member.account == "ann.lee"
    again = post_telegram(client, text_update(23, f"/start {code}", chat_id=501))  # Telegram redelivers
    assert again.get_json() == {"status": "already"}
    assert replies(settings) == ["start-23"]
    assert journal.count_by_status(engine) == {}


def test_a_start_needs_the_webhook_secret(client: FlaskClient, app: Flask) -> None:
    engine = app.extensions["hub"].engine
    code = staff.create_invite(engine, "default", "ann.lee", dt.timedelta(days=1), dt.datetime.now(dt.UTC))
    response = post_telegram(client, text_update(24, f"/start {code}", chat_id=501), secret="wrong")
    assert response.status_code == 403
    assert staff.members(engine) == []


def test_start_in_a_group_is_a_message_like_any_other(client: FlaskClient, app: Flask) -> None:
    update = text_update(25, "/start")
    update["message"]["chat"] = {"id": -100200300, "type": "supergroup", "title": "Customers"}
    assert post_telegram(client, update).status_code == 202


def callback_update(update_id: int, data: str = "take:0123456789abcdef0123") -> dict:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"q{update_id}",
            "from": {"id": 501, "is_bot": False, "first_name": "Ann"},
            "message": {
                "message_id": 5,
                "date": 1,
                "chat": {"id": -100200300, "type": "supergroup"},
                "text": "card",
            },
            "chat_instance": "1",
            "data": data,
        },
    }


def test_a_button_press_is_handed_to_a_job_once(client: FlaskClient, app: Flask, settings: Settings) -> None:
    for _ in range(2):  # Telegram may deliver an update twice
        response = post_telegram(client, callback_update(31))
        assert response.status_code == 200 and response.get_json() == {"status": "press"}
    assert replies(settings) == ["press-31"]
    assert journal.count_by_status(app.extensions["hub"].engine) == {}


def test_in_the_team_chat_a_reply_is_an_answer_and_nothing_is_a_request(settings: Settings) -> None:
    team_app = create_app(settings.model_copy(update={"TELEGRAM_TEAM_CHAT_ID": "-100200300"}))
    client = team_app.test_client()
    chatter = text_update(41, "who is on duty today?", chat_id=-100200300)
    chatter["message"]["chat"] = {"id": -100200300, "type": "supergroup", "title": "Support team"}
    assert post_telegram(client, chatter).get_json() == {"status": "team-chat"}
    answer = text_update(42, "We are on it", chat_id=-100200300)
    answer["message"]["chat"] = chatter["message"]["chat"]
    answer["message"]["reply_to_message"] = {"message_id": 5, "date": 1, "chat": chatter["message"]["chat"]}
    assert post_telegram(client, answer).get_json() == {"status": "staff-reply"}
    assert replies(settings) == ["staff-reply-42"]
    assert journal.count_by_status(team_app.extensions["hub"].engine) == {}


def test_a_start_while_redis_is_down_is_answered_503_so_telegram_sends_it_again(settings: Settings) -> None:
    down = create_app(settings.model_copy(update={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}))
    response = post_telegram(down.test_client(), text_update(51, "/start"))
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert "queue is unavailable" in response.get_json()["error"]


def test_the_teams_commands_are_never_a_customers_request(
    client: FlaskClient, app: Flask, settings: Settings, delivery_queue: Queue
) -> None:
    mine = post_telegram(client, text_update(26, "/my", chat_id=9001))  # a customer, privately
    assert mine.status_code == 200 and mine.get_json() == {"status": "staff-command"}
    group = text_update(27, "/unassigned@TrackerHubBot")
    group["message"]["chat"] = {"id": -100200301, "type": "supergroup", "title": "Customers"}
    assert post_telegram(client, group).get_json() == {"status": "staff-command"}
    assert journal.count_by_status(app.extensions["hub"].engine) == {}
    assert delivery_queue.job_ids == []
    assert replies(settings) == ["staff-command-26", "staff-command-27"]  # refused there, to non-members
