"""GET /api/messages/<id>, /healthz and /metrics."""

from __future__ import annotations

from flask.testing import FlaskClient

from store import journal
from tests.routes.conftest import post_telegram, text_update


def test_message_status_shows_the_journal(client: FlaskClient, app) -> None:
    message_id = post_telegram(client, text_update(31)).get_json()["id"]
    status = client.get(f"/api/messages/{message_id}").get_json()
    assert status["id"] == message_id and status["status"] == "queued" and status["issue_key"] is None
    journal.mark_delivered(
        app.extensions["hub"].engine,
        message_id,
        tracker="jira",
        issue_key="SUP-9",
        issue_url="http://j/browse/SUP-9",
        outcome="issue",
    )
    status = client.get(f"/api/messages/{message_id}").get_json()
    assert (status["status"], status["issue_key"], status["issue_url"], status["outcome"]) == (
        "delivered",
        "SUP-9",
        "http://j/browse/SUP-9",
        "issue",
    )


def test_dead_letter_shows_its_reason(client: FlaskClient, app) -> None:
    message_id = post_telegram(client, text_update(32)).get_json()["id"]
    journal.mark_failed(
        app.extensions["hub"].engine, message_id, "gave up after 8 attempts: jira answered 503"
    )
    status = client.get(f"/api/messages/{message_id}").get_json()
    assert status["status"] == "failed" and status["reason"].startswith("gave up")


def test_unknown_message_is_404(client: FlaskClient) -> None:
    assert client.get("/api/messages/nope").status_code == 404
    assert client.get("/api/messages/" + "x" * 100).status_code == 404


def test_health_and_metrics(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok", "database": "ok", "redis": "ok"}
    post_telegram(client, text_update(33))
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'trackerhub_messages{status="queued"} 1' in metrics
    assert 'trackerhub_queue_length{queue="deliveries"} 1' in metrics


def test_health_is_503_when_redis_is_gone(app, settings) -> None:
    from redis import Redis

    app.extensions["hub"].redis = Redis(port=1, socket_connect_timeout=0.2)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.get_json()["redis"] != "ok"


def test_redis_down_still_accepts_and_the_sweep_enqueues_later(app, settings) -> None:
    from redis import Redis
    from rq import Queue

    from jobs.queues import DELIVERY_QUEUE

    app.extensions["hub"].redis = Redis(port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    response = post_telegram(app.test_client(), text_update(34))
    assert response.status_code == 202
    message_id = response.get_json()["id"]
    engine = app.extensions["hub"].engine
    import datetime as dt

    later = journal.utcnow() + dt.timedelta(seconds=journal.ENQUEUE_GRACE + 1)
    assert journal.due(engine, later) == [message_id]
    from jobs.context import build_context
    from jobs.periodic import sweep

    ctx = build_context(settings)
    with engine.begin() as conn:  # pretend the grace period passed
        conn.exec_driver_sql("UPDATE messages SET next_attempt_at = '2000-01-01 00:00:00'")
    assert sweep(ctx) == 1
    assert Queue(DELIVERY_QUEUE, connection=ctx.redis).job_ids == [f"deliver-{message_id}"]
    assert sweep(ctx) == 0  # a live job is not enqueued twice
