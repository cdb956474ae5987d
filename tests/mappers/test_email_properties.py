"""Property tests: ``parse_email`` answers every input with a message or a mapper error, never a crash."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappers.email import parse_email
from mappers.errors import AnomalousPayload, PayloadTooLarge
from mappers.html_text import html_to_text
from mappers.issue import TEXT_LIMIT, describe
from mappers.models import InboundMessage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
SEEDS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.eml"))]
NOW = dt.datetime(2026, 3, 3, tzinfo=dt.UTC)
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MIME_TOKENS = [
    b"\n", b"\r\n", b"\n\n", b": ", b"--b\n", b"--b--\n", b"=?utf-8?B?", b"?=", b"=?koi8-r?Q?=F0", b"\x00",
    b"Content-Type: multipart/mixed; boundary=b\n", b"Content-Type: message/rfc822\n",
    b"Content-Transfer-Encoding: base64\n", b"Content-Transfer-Encoding: quoted-printable\n",
    b"Content-Type: text/html; charset=x-unknown\n",
    b"Content-Disposition: attachment; filename*=utf-8''%D0\n",
    b"From: ", b"Subject: ", b"Message-ID: <", b"<", b">", b"\xd0\xbf", b"\xff\xfe", b"=\n", b"=ZZ",
]  # fmt: skip


def check(raw: bytes) -> None:
    try:
        msg = parse_email(raw, received_at=NOW, own_domain="hub.example.com")
    except (AnomalousPayload, PayloadTooLarge):
        return
    assert isinstance(msg, InboundMessage)
    body = msg.model_dump_json()  # journal-able
    assert InboundMessage.model_validate_json(body).text == msg.text  # and the worker reads it back
    assert len(describe(msg)) <= TEXT_LIMIT  # an issue the tracker accepts


@SETTINGS
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(raw: bytes):
    check(raw)


@SETTINGS
@given(st.lists(st.sampled_from(MIME_TOKENS) | st.binary(max_size=20), max_size=60))
def test_mime_shaped_noise(tokens: list[bytes]):
    check(b"From: a@b.example\n" + b"".join(tokens))


@pytest.mark.skipif(not SEEDS, reason="no fixtures")
@SETTINGS
@given(
    st.sampled_from(SEEDS) if SEEDS else st.just(b""),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 40), st.binary(max_size=16)), max_size=8),
)
def test_mutated_fixtures(seed: bytes, edits: list[tuple[int, int, bytes]]):
    data = bytearray(seed)
    for position, cut, insert in edits:
        position %= len(data) + 1
        data[position : position + cut] = insert
    check(bytes(data))


@SETTINGS
@given(st.text(max_size=2000))
def test_html_to_text_never_raises(html: str):
    text = html_to_text(html)
    assert "<script" not in text.lower() or "<script" in html.lower()
