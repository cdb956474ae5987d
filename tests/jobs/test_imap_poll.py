"""The IMAP poll against a real Dovecot: every unseen mail is journaled, and flagged Seen only after.

The server is the Debian ``dovecot-imapd`` (``make test`` installs it), started per test by
``tests.imap_server``; Redis and the SQLite journal are the suite's real ones. Nothing of ours is mocked:
the journal failure in the "Seen only after commit" test is an SQLite trigger in the journal itself.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from connector.errors import ChannelUnavailable
from jobs.context import Context, build_context
from jobs.periodic import accept_raw_email, poll_imap
from jobs.replay import replay_messages
from store import journal
from store.db import messages
from tests.imap_server import ImapServer, append_raw, dovecot_server, flags_by_uid, unseen_uids

SEEN = b"\\Seen"


def mail(message_id: str, subject: str = "Printer on fire", body: str = "It is still burning.") -> bytes:
    """A plain customer mail, CRLF line ends as IMAP carries them."""
    return (
        "From: Alice Customer <alice@customer.example>\r\n"
        "To: support@hub.example.com\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n"
        "Date: Mon, 3 Jun 2024 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


def koi8r_mail(message_id: str) -> bytes:
    """A Russian mail in KOI8-R: an encoded-word subject and an 8-bit body."""
    return (
        b"From: =?koi8-r?B?" + _b64("Иван Петров".encode("koi8-r")) + b"?= <ivan@customer.example>\r\n"
        b"To: support@hub.example.com\r\n"
        b"Subject: =?koi8-r?B?" + _b64("Не работает принтер".encode("koi8-r")) + b"?=\r\n"
        b"Message-ID: " + message_id.encode() + b"\r\n"
        b"Date: Mon, 3 Jun 2024 10:01:00 +0300\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=koi8-r\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + "Здравствуйте! Принтер снова не печатает.".encode("koi8-r") + b"\r\n"
    )


def auto_reply(message_id: str) -> bytes:
    """An out-of-office answer (RFC 3834)."""
    return (
        "From: Bob Away <bob@customer.example>\r\n"
        "To: support@hub.example.com\r\n"
        "Subject: Out of office: Re: Printer on fire\r\n"
        f"Message-ID: {message_id}\r\n"
        "Date: Mon, 3 Jun 2024 10:02:00 +0000\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "I am on holiday until Monday.\r\n"
    ).encode()


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


# Not mail at all: a PNG-like binary blob full of NUL bytes, as a broken client might deliver it.
JUNK = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\xff" * 300


@pytest.fixture
def imap() -> Iterator[ImapServer]:
    """A fresh Dovecot with an empty INBOX."""
    with dovecot_server() as server:
        yield server


@pytest.fixture
def imap_ctx(ctx: Context, imap: ImapServer) -> Context:
    """The worker context, polling the test Dovecot."""
    return build_context(ctx.settings.model_copy(update={"IMAP_URL": imap.url()}))


def journal_rows(ctx: Context) -> list[sa.Row]:
    with ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(messages).order_by(messages.c.created_at)))


def by_external_id(ctx: Context) -> dict[str, sa.Row]:
    return {row.external_id: row for row in journal_rows(ctx)}


def test_poll_journals_unseen_mail_and_flags_it_seen(imap_ctx: Context, imap: ImapServer) -> None:
    sent = {
        "<plain-1@customer.example>": mail("<plain-1@customer.example>"),
        "<koi8-1@customer.example>": koi8r_mail("<koi8-1@customer.example>"),
        "<ooo-1@customer.example>": auto_reply("<ooo-1@customer.example>"),
    }
    uids = append_raw(imap, sent.values())
    assert unseen_uids(imap) == uids

    assert poll_imap(imap_ctx) == 3

    rows = by_external_id(imap_ctx)
    assert set(rows) == set(sent)
    assert rows["<plain-1@customer.example>"].status == journal.QUEUED
    assert rows["<plain-1@customer.example>"].kind == "new"
    assert rows["<koi8-1@customer.example>"].status == journal.QUEUED
    assert rows["<koi8-1@customer.example>"].kind == "new"
    assert rows["<ooo-1@customer.example>"].kind == "auto_reply"
    assert all(row.channel == "email" for row in rows.values())

    cyrillic = json.loads(rows["<koi8-1@customer.example>"].body)
    assert cyrillic["subject"] == "Не работает принтер"
    assert "Принтер снова не печатает" in cyrillic["text"]

    # The raw mail is kept byte for byte as the server delivered it.
    for external_id, raw in sent.items():
        assert journal.get_blob(imap_ctx.engine, rows[external_id].raw_blob_id) == raw

    flags = flags_by_uid(imap)
    assert all(SEEN in flags[uid] for uid in uids)
    assert unseen_uids(imap) == []

    assert poll_imap(imap_ctx) == 0
    assert len(journal_rows(imap_ctx)) == 3


def test_mail_is_flagged_seen_only_after_its_row_is_committed(imap_ctx: Context, imap: ImapServer) -> None:
    uids = append_raw(
        imap,
        [
            mail("<first@customer.example>"),
            mail("<doomed@customer.example>", subject="Second"),
            mail("<third@customer.example>", subject="Third"),
        ],
    )
    with imap_ctx.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_doomed BEFORE INSERT ON messages "
            "WHEN NEW.external_id = '<doomed@customer.example>' "
            "BEGIN SELECT RAISE(ABORT, 'journal write refused'); END"
        )

    assert poll_imap(imap_ctx) == 2

    assert set(by_external_id(imap_ctx)) == {"<first@customer.example>", "<third@customer.example>"}
    flags = flags_by_uid(imap)
    assert SEEN in flags[uids[0]]
    assert SEEN not in flags[uids[1]]  # not journaled: must stay unseen, to be polled again
    assert SEEN in flags[uids[2]]  # one refused mail does not hold back the mail after it
    assert unseen_uids(imap) == [uids[1]]

    with imap_ctx.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER refuse_doomed")

    assert poll_imap(imap_ctx) == 1
    assert set(by_external_id(imap_ctx)) == {
        "<first@customer.example>",
        "<doomed@customer.example>",
        "<third@customer.example>",
    }
    assert unseen_uids(imap) == []


def test_journaled_but_unseen_mail_is_a_duplicate_and_gets_flagged(
    imap_ctx: Context, imap: ImapServer, caplog: pytest.LogCaptureFixture
) -> None:
    raw = mail("<crash@customer.example>")
    # The hub committed the row and died before it could flag the mail: the mail is still unseen.
    first_id = accept_raw_email(imap_ctx, raw)
    (uid,) = append_raw(imap, [raw])

    with caplog.at_level(logging.INFO, logger="jobs.intake"):
        assert poll_imap(imap_ctx) == 1

    assert f"intake.duplicate message_id={first_id}" in caplog.text
    rows = journal_rows(imap_ctx)
    assert [row.id for row in rows] == [first_id]
    assert SEEN in flags_by_uid(imap)[uid]
    assert poll_imap(imap_ctx) == 0


def test_unparseable_mail_becomes_a_dead_letter_and_is_flagged(imap_ctx: Context, imap: ImapServer) -> None:
    junk_uid, good_uid = append_raw(imap, [JUNK, mail("<after-junk@customer.example>")])
    with imap.client() as client:
        served = bytes(client.fetch([junk_uid], ["BODY.PEEK[]"])[junk_uid][b"BODY[]"])
    # Dovecot serves NULs as 0x80 and bare LFs as CRLF (no IMAP BINARY): what the hub receives and keeps.
    assert b"\x00" not in served
    assert len(served) >= len(JUNK)

    assert poll_imap(imap_ctx) == 2

    rows = by_external_id(imap_ctx)
    dead = rows["sha256:" + journal.blob_id_for(served)]
    assert dead.status == journal.FAILED
    assert dead.reason.startswith("unparseable:")
    assert journal.get_blob(imap_ctx.engine, dead.raw_blob_id) == served
    assert rows["<after-junk@customer.example>"].status == journal.QUEUED

    flags = flags_by_uid(imap)
    assert SEEN in flags[junk_uid]
    assert SEEN in flags[good_uid]
    assert poll_imap(imap_ctx) == 0
    assert len(journal_rows(imap_ctx)) == 2
    # replay parses the kept bytes again instead of delivering an empty placeholder
    [(_, outcome)] = replay_messages(imap_ctx, [dead.id])
    assert outcome.startswith("still unparseable")
    assert journal.get(imap_ctx.engine, dead.id).status == journal.FAILED


def test_wrong_password_is_channel_unavailable_and_flags_nothing(ctx: Context, imap: ImapServer) -> None:
    (uid,) = append_raw(imap, [mail("<waiting@customer.example>")])
    wrong = build_context(ctx.settings.model_copy(update={"IMAP_URL": imap.url(password="not-it")}))

    with pytest.raises(ChannelUnavailable) as failure:
        poll_imap(wrong)

    assert "not-it" not in str(failure.value)
    assert imap.password not in str(failure.value)
    assert unseen_uids(imap) == [uid]
    assert journal_rows(wrong) == []
