"""Web forms: the page, JSON/urlencoded/multipart submissions, 422 per field, honeypot, rate limit, HTML answers."""

from __future__ import annotations

import io
import json
from ipaddress import ip_network

from flask.testing import FlaskClient

from store import journal

GOOD = {
    "name": "Ann",
    "email": "ann@example.com",
    "subject": "Broken",
    "message": "It broke",
    "submission_id": "sub-00000001",
}


def test_page_is_accessible_and_localised(client: FlaskClient) -> None:
    page = client.get("/forms/support", headers={"Accept-Language": "ru-RU,ru;q=0.9"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<html lang="ru">' in html
    assert 'name="viewport"' in html and "Написать в поддержку" in html
    for field in ("name", "email", "subject", "message", "category", "attachments"):
        assert f'<label for="f-{field}">' in html and f'id="f-{field}"' in html
    assert 'aria-required="true"' in html and 'name="submission_id"' in html
    assert 'class="hp" aria-hidden="true"' in html
    assert "Contact support" in client.get("/forms/support?lang=en").get_data(as_text=True)
    assert client.get("/forms/nope").status_code == 404


def test_json_submission_is_accepted_and_deduped(client: FlaskClient, app) -> None:
    first = client.post("/hooks/forms/support", json=GOOD)
    assert first.status_code == 202
    again = client.post("/hooks/forms/support", json=GOOD)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    entry = journal.get(app.extensions["hub"].engine, first.get_json()["id"])
    assert entry is not None and entry.external_id == "form:support:sub-00000001"


def test_urlencoded_and_multipart_with_files(client: FlaskClient, app) -> None:
    assert (
        client.post("/hooks/forms/support", data={**GOOD, "submission_id": "sub-00000002"}).status_code == 202
    )
    data = {**GOOD, "submission_id": "sub-00000003", "attachments": [(io.BytesIO(b"%PDF"), "Счёт.pdf")]}
    response = client.post("/hooks/forms/support", data=data, content_type="multipart/form-data")
    assert response.status_code == 202
    body = json.loads(journal.get(app.extensions["hub"].engine, response.get_json()["id"]).body)  # type: ignore[union-attr]
    assert [(a["filename"], a["size"]) for a in body["attachments"]] == [("Счёт.pdf", 4)]
    assert body["attachments"][0]["blob_id"]


def test_validation_errors_are_422_per_field(client: FlaskClient) -> None:
    response = client.post("/hooks/forms/support", json={"email": "x", "colour": "red"})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid fields"
    assert set(body["details"]) == {"name", "email", "subject", "message", "colour"}


def test_bad_bodies_are_400_or_415_like(client: FlaskClient) -> None:
    assert (
        client.post("/hooks/forms/support", data="{oops", content_type="application/json").status_code == 400
    )
    assert client.post("/hooks/forms/support", json=[1, 2]).status_code == 400
    assert client.post("/hooks/forms/support", data="x", content_type="text/plain").status_code == 400
    assert client.post("/hooks/forms/nope", json=GOOD).status_code == 404


def test_honeypot_is_answered_like_success_but_opens_nothing(client: FlaskClient, app) -> None:
    response = client.post("/hooks/forms/support", json={**GOOD, "website": "http://spam.example"})
    assert response.status_code == 202 and response.get_json()["status"] == "queued"
    entry = journal.get(app.extensions["hub"].engine, response.get_json()["id"])
    assert entry is not None and entry.status == "ignored" and entry.reason == "honeypot field filled"


def test_rate_limit_per_ip(client: FlaskClient, settings) -> None:
    codes = [
        client.post("/hooks/forms/support", json={**GOOD, "submission_id": f"rate-{n:08d}"}).status_code
        for n in range(settings.HUB_FORM_RATE_PER_MINUTE + 2)
    ]
    assert codes[: settings.HUB_FORM_RATE_PER_MINUTE] == [202] * settings.HUB_FORM_RATE_PER_MINUTE
    assert codes[-1] == 429
    limited = client.post("/hooks/forms/support", json=GOOD)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) <= 60


def test_rate_limit_counts_in_a_window_that_expires(client: FlaskClient, app) -> None:
    # the per-address count of a minute lives in Redis only until the next minute has passed
    assert client.post("/hooks/forms/support", json=GOOD).status_code == 202
    redis = app.extensions["hub"].redis
    keys = list(redis.scan_iter("hub:form-rate:*"))
    assert len(keys) == 1 and int(redis.get(keys[0])) == 1
    assert 60 < redis.ttl(keys[0]) <= 120


def burst(
    client: FlaskClient, count: int, prefix: str, peer: str, forwarded_for: str | None = None
) -> list[int]:
    """Status codes of ``count`` distinct submissions from ``peer`` (optionally with X-Forwarded-For)."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    return [
        client.post(
            "/hooks/forms/support",
            json={**GOOD, "submission_id": f"{prefix}-{n:08d}"},
            headers=headers,
            environ_base={"REMOTE_ADDR": peer},
        ).status_code
        for n in range(count)
    ]


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(client: FlaskClient, settings) -> None:
    limit = settings.HUB_FORM_RATE_PER_MINUTE
    codes = [
        burst(client, 1, f"spoof{n}", "203.0.113.9", forwarded_for=f"198.51.100.{n}")[0]
        for n in range(limit + 1)
    ]
    assert codes == [202] * limit + [429]


def test_trusted_proxy_forwarded_clients_are_limited_one_by_one(settings) -> None:
    from routes import create_app

    app = create_app(settings.model_copy(update={"HUB_TRUSTED_PROXIES": (ip_network("10.0.0.0/8"),)}))
    client = app.test_client()
    limit = settings.HUB_FORM_RATE_PER_MINUTE
    # the client puts its own "spoofed" entry first; the trusted proxy appends the address it saw
    ann = burst(client, limit + 1, "ann", "10.0.0.5", forwarded_for="1.1.1.1, 198.51.100.7")
    assert ann == [202] * limit + [429]
    spoofing_ann = burst(client, 1, "ann-again", "10.0.0.5", forwarded_for="9.9.9.9, 198.51.100.7")
    assert spoofing_ann == [429]
    bob = burst(client, 1, "bob", "10.0.0.5", forwarded_for="198.51.100.8")
    assert bob == [202]
    # a chain of two trusted proxies: the client is the first untrusted hop from the right
    carol = burst(client, 1, "carol", "10.0.0.5", forwarded_for="198.51.100.7, 198.51.100.9, 10.1.2.3")
    assert carol == [202]


def test_rate_limit_fails_closed_when_redis_is_stopped(settings, tmp_path) -> None:
    from sqlalchemy import text

    from routes import create_app
    from tests.conftest import start_redis_server

    process, port = start_redis_server(tmp_path)
    try:
        app = create_app(settings.model_copy(update={"REDIS_URL": f"redis://127.0.0.1:{port}/0"}))
        client = app.test_client()
        assert (
            client.post("/hooks/forms/support", json={**GOOD, "submission_id": "down-0001"}).status_code
            == 202
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    refused = client.post("/hooks/forms/support", json={**GOOD, "submission_id": "down-0002"})
    assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
    assert "retry" in refused.get_json()["error"]
    with app.extensions["hub"].engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM messages")).scalar() == 1
        )  # the refused one is not journaled


def test_browser_without_javascript_gets_a_page(client: FlaskClient) -> None:
    response = client.post(
        "/hooks/forms/support", data={**GOOD, "submission_id": "nojs-0001"}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 202 and response.mimetype == "text/html"
    assert "Thank you" in response.get_data(as_text=True)


def test_cross_origin_posts_are_allowed(client: FlaskClient) -> None:
    assert client.options("/hooks/forms/support").headers["Access-Control-Allow-Origin"] == "*"
    assert (
        client.post("/hooks/forms/support", json={**GOOD, "submission_id": "cors-0001"}).headers[
            "Access-Control-Allow-Origin"
        ]
        == "*"
    )
