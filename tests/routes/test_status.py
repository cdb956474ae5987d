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
    health = client.get("/healthz")
    assert health.status_code == 200
    assert (health.get_json()["database"], health.get_json()["redis"]) == ("ok", "ok")
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


def test_metrics_token_when_set_is_required_as_bearer(settings) -> None:
    from pydantic import SecretStr

    from routes import create_app

    client = create_app(settings.model_copy(update={"HUB_METRICS_TOKEN": SecretStr("m-token")})).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Basic bS10b2tlbg=="}).status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": "Bearer m-token"})
    assert allowed.status_code == 200 and "trackerhub_queue_length" in allowed.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200  # health stays open for load balancers


def test_metrics_are_public_without_a_token(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 200


def test_canned_api_names_broken_files_without_paths_and_sees_edits(settings, tmp_path) -> None:
    import os
    import shutil

    from config.settings import DEFAULT_CONFIG
    from routes import create_app

    rule_file = tmp_path / "hub.yaml"
    shutil.copy(DEFAULT_CONFIG, rule_file)
    shutil.copytree(DEFAULT_CONFIG.parent / "catalogues", tmp_path / "catalogues")  # parts-order's lookup
    shutil.copytree(DEFAULT_CONFIG.parent / "canned", tmp_path / "canned")  # the automations' notices
    good = tmp_path / "canned" / "hello.en.md"
    good.write_text("---\ntitle: Alpha\n---\nHello {{ issue_key }}\n", encoding="utf-8")
    (tmp_path / "canned" / "broken.en.md").write_text("no front matter", encoding="utf-8")
    client = create_app(settings.model_copy(update={"HUB_CONFIG": rule_file})).test_client()

    def title() -> str:
        return next(e["title"] for e in client.get("/api/canned").get_json()["canned"] if e["key"] == "hello")

    listing = client.get("/api/canned").get_json()
    assert title() == "Alpha"
    assert len(listing["errors"]) == 1 and listing["errors"][0].startswith("broken.en.md: no front matter")
    assert str(tmp_path) not in client.get("/api/canned").get_data(as_text=True)

    # an edit that keeps the size and the mtime is not seen: the library was not parsed again
    stat = good.stat()
    good.write_text("---\ntitle: Bravo\n---\nHello {{ issue_key }}\n", encoding="utf-8")
    os.utime(good, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert title() == "Alpha"
    # a real edit moves the mtime: the next request shows it
    os.utime(good, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert title() == "Bravo"
