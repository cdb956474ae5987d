"""POST /hooks/telegram: verify, parse, journal, enqueue, answer (DESIGN.md contract)."""

from __future__ import annotations

import json
import threading

import pytest
from flask.testing import FlaskClient
from rq import Queue

from jobs.queues import delivery_job_id
from store import journal
from tests.routes.conftest import TELEGRAM_FIXTURES, post_telegram, text_update
from tests.store.helpers import at_once, batch_held


def test_new_update_is_journaled_enqueued_and_answered_202(
    client: FlaskClient, app, delivery_queue: Queue
) -> None:
    response = post_telegram(client, text_update(7))
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued" and set(body) == {"id", "status"}
    entry = journal.get(app.extensions["hub"].engine, body["id"])
    assert entry is not None and entry.external_id == "tg:7" and entry.conversation_key == "tg:42:0"
    assert delivery_queue.job_ids == [delivery_job_id(body["id"])]


def test_repeat_is_answered_from_the_journal(client: FlaskClient, delivery_queue: Queue) -> None:
    first = post_telegram(client, text_update(8)).get_json()
    again = post_telegram(client, text_update(8))
    assert again.status_code == 200
    assert again.get_json() == {"id": first["id"], "status": "queued", "duplicate": True}
    assert len(delivery_queue.job_ids) == 1


def test_same_update_three_times_at_once_is_one_message(app, delivery_queue: Queue) -> None:
    results: list[tuple[int, str]] = []

    def send() -> None:
        response = post_telegram(app.test_client(), text_update(9))
        results.append((response.status_code, response.get_json()["id"]))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in results) == [200, 200, 202]
    assert len({message_id for _, message_id in results}) == 1
    assert len(delivery_queue.job_ids) == 1


@pytest.mark.parametrize(("secret", "status"), [(None, 401), ("wrong", 403), ("", 401)])
def test_bad_secret_is_refused_and_nothing_journaled(client: FlaskClient, app, secret, status) -> None:
    response = post_telegram(client, text_update(10), secret=secret)
    assert response.status_code == status
    assert "error" in response.get_json()
    assert journal.count_by_status(app.extensions["hub"].engine) == {}


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'"text"',
        b"{}",
        b'{"update_id": "x"}',
        b"\xff\xfe",
        b'{"update_id": 1, "message": 5}',
    ],
)
def test_anomalous_bodies_are_400(client: FlaskClient, body: bytes) -> None:
    response = post_telegram(client, body)
    assert response.status_code == 400
    assert set(response.get_json()) == {"error", "details"}


def test_unused_update_kinds_are_200_and_ignored(client: FlaskClient, app, delivery_queue: Queue) -> None:
    callback = json.loads(
        (
            TELEGRAM_FIXTURES / "06_update_callback_query_inline_message.core-telegram-webhooks-guide.json"
        ).read_text()
    )
    response = post_telegram(client, callback)
    assert response.status_code == 200 and response.get_json()["status"] == "ignored"
    assert delivery_queue.job_ids == []


def test_oversized_body_is_413(client: FlaskClient, settings) -> None:
    huge = json.dumps(text_update(11, "x" * (settings.HUB_MAX_TELEGRAM_BYTES + 10)))
    assert post_telegram(client, huge).status_code == 413


def test_journal_down_is_503_so_telegram_retries(client: FlaskClient, app) -> None:
    engine = app.extensions["hub"].engine
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE messages")
    response = post_telegram(client, text_update(12))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"


def test_one_update_twice_in_one_journal_batch_is_one_message_answered_as_a_repeat(
    app, delivery_queue: Queue
) -> None:
    # the web process writes the rows that arrive together in one transaction: a repeat among them is
    # still journaled once and answered 200 with the first one's id, and the others are unaffected
    engine = app.extensions["hub"].engine
    results: dict[int, tuple[int, str]] = {}

    def send(n: int) -> None:
        response = post_telegram(app.test_client(), text_update(20 if n == 0 else 21))
        results[n] = (response.status_code, response.get_json()["id"])

    with batch_held(engine, behind=2):
        at_once(3, send)
    assert results[0][0] == 202
    assert sorted(results[n][0] for n in (1, 2)) == [200, 202]
    assert results[1][1] == results[2][1] != results[0][1]
    assert journal.count_by_status(engine) == {"queued": 2}
    assert len(delivery_queue.job_ids) == 2
