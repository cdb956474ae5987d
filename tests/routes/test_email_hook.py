"""POST /hooks/email: Bearer token, raw RFC 5322, dedupe on Message-ID (or a hash), never a 5xx."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import journal

MAIL = (
    b"From: Bob <bob@customer.example>\r\nTo: support@hub.example.com\r\nSubject: Invoice\r\n"
    b"Message-ID: <abc@customer.example>\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n"
    + "Счёт не пришёл".encode("koi8-r")
)


def post(client: FlaskClient, body: bytes, token: str | None = "inbound-token"):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/hooks/email", data=body, headers=headers, content_type="message/rfc822")


def test_mail_is_journaled_with_its_raw_bytes(client: FlaskClient, app) -> None:
    response = post(client, MAIL)
    assert response.status_code == 202
    engine = app.extensions["hub"].engine
    entry = journal.get(engine, response.get_json()["id"])
    assert entry is not None and entry.external_id == "<abc@customer.example>"
    assert json.loads(entry.body)["text"].startswith("Счёт не пришёл")
    assert journal.get_blob(engine, entry.raw_blob_id or "") == MAIL


def test_same_message_id_is_a_duplicate(client: FlaskClient) -> None:
    first = post(client, MAIL).get_json()["id"]
    again = post(client, MAIL)
    assert again.status_code == 200 and again.get_json() == {
        "id": first,
        "status": "queued",
        "duplicate": True,
    }


def test_mail_without_message_id_dedupes_on_its_bytes(client: FlaskClient) -> None:
    mail = b"From: a@b.example\r\nSubject: no id\r\n\r\nbody"
    assert post(client, mail).status_code == 202
    assert post(client, mail).status_code == 200
    assert post(client, mail + b" changed").status_code == 202


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("nope", 403)])
def test_bad_token(client: FlaskClient, token, status) -> None:
    assert post(client, MAIL, token).status_code == status


def test_empty_and_oversized_bodies(client: FlaskClient, settings) -> None:
    assert post(client, b"").status_code == 400
    assert post(client, b"x" * (settings.HUB_MAX_EMAIL_BYTES + 1)).status_code == 413


def test_auto_reply_is_journaled_but_marked(client: FlaskClient, app) -> None:
    oof = b"From: a@b.example\r\nAuto-Submitted: auto-replied\r\nSubject: Out of office\r\nMessage-ID: <oof@b>\r\n\r\naway"
    entry = journal.get(app.extensions["hub"].engine, post(client, oof).get_json()["id"])
    assert entry is not None and entry.kind == "auto_reply"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.binary(max_size=4000)
    | st.builds(lambda head, tail: head + tail, st.just(MAIL[:120]), st.binary(max_size=2000))
)
def test_no_byte_string_makes_a_5xx(client: FlaskClient, body: bytes) -> None:
    response = post(client, body)
    assert response.status_code < 500, response.get_data()
    assert response.status_code in (200, 202, 400, 413)
