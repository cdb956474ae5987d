"""The journal: dedupe by (channel, external id), the due list the sweep reads, retries and dead letters."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import Engine

from config.settings import Settings
from store import journal, links
from store.db import create_db_engine
from store.links import NewLink


@pytest.fixture
def engine(settings: Settings) -> Engine:
    return create_db_engine(settings.DATABASE_URL)


def entry(external_id: str = "tg:1", **overrides: object) -> journal.NewEntry:
    values: dict[str, object] = {
        "channel": "telegram",
        "external_id": external_id,
        "conversation_key": "tg:1:0",
        "kind": "new",
        "body": "{}",
    }
    values.update(overrides)
    return journal.NewEntry(**values)  # type: ignore[arg-type]


def test_record_and_read_back_with_blobs(engine: Engine) -> None:
    message_id, blob_ids = journal.record(engine, entry(raw=b"raw"), [b"file-a", b"file-a", b"file-b"])
    row = journal.get(engine, message_id)
    assert row is not None and row.status == "queued" and row.attempts == 0
    assert blob_ids[0] == blob_ids[1] != blob_ids[2]
    assert journal.get_blob(engine, blob_ids[2]) == b"file-b"
    assert journal.get_blob(engine, row.raw_blob_id or "") == b"raw"


def test_duplicate_external_id_raises_with_the_first_id(engine: Engine) -> None:
    first, _ = journal.record(engine, entry("tg:5"))
    with pytest.raises(journal.DuplicateMessage) as caught:
        journal.record(engine, entry("tg:5"))
    assert caught.value.message_id == first
    # the same external id on another channel is another message
    journal.record(engine, entry("tg:5", channel="email"))


def test_due_list_respects_grace_lease_and_retry_delay(engine: Engine) -> None:
    message_id, _ = journal.record(engine, entry("tg:6"))
    now = journal.utcnow()
    assert journal.due(engine, now) == []  # the request path's own enqueue gets a grace period
    assert journal.due(engine, now + dt.timedelta(seconds=journal.ENQUEUE_GRACE + 1)) == [message_id]
    journal.begin_attempt(engine, message_id, lease_seconds=300)
    assert journal.due(engine, now + dt.timedelta(seconds=60)) == []
    journal.schedule_retry(engine, message_id, 10, "tracker down")
    assert journal.due(engine, now + dt.timedelta(seconds=11)) == [message_id]
    assert journal.get(engine, message_id).reason == "tracker down"  # type: ignore[union-attr]


def test_dead_letter_and_requeue(engine: Engine) -> None:
    message_id, _ = journal.record(engine, entry("tg:7"))
    journal.begin_attempt(engine, message_id, 1)
    journal.mark_failed(engine, message_id, "gave up")
    assert journal.failed_ids(engine) == [message_id]
    assert journal.requeue(engine, message_id)
    row = journal.get(engine, message_id)
    assert row is not None and (row.status, row.attempts) == ("queued", 0)
    assert not journal.requeue(engine, message_id)  # only dead letters are requeued


def test_links_thread_by_mail_ids_and_one_active_per_conversation(engine: Engine) -> None:
    first = links.add_link(
        engine,
        NewLink("email:<a@x>", "jira", "SUP-1", "u1", "email", "m1", requester_email="c@x"),
        ["<a@x>"],
    )
    links.remember_mail_ids(engine, first.id, ["<out@hub>"], "out")
    assert links.link_for_mail_ids(engine, ["<unknown@x>", "<out@hub>"]).issue_key == "SUP-1"  # type: ignore[union-attr]
    second = links.add_link(engine, NewLink("email:<a@x>", "jira", "SUP-2", "u2", "email", "m2"))
    assert links.active_link(engine, "email:<a@x>") == second
    assert links.link_for_issue(engine, "SUP-1") == links.get_link(engine, first.id)
    assert not links.get_link(engine, first.id).active  # type: ignore[union-attr]


def test_over_long_keys_fit_their_columns_and_still_dedupe(engine: Engine) -> None:
    long_id = "<" + "x" * 900 + "@customer.example>"
    first, _ = journal.record(engine, entry(long_id, channel="email", conversation_key="email:" + long_id))
    row = journal.get(engine, first)
    assert (
        row is not None
        and len(row.external_id) <= journal.KEY_LIMIT
        and len(row.conversation_key) <= journal.KEY_LIMIT
    )
    with pytest.raises(journal.DuplicateMessage):
        journal.record(engine, entry(long_id, channel="email"))
    other = "<" + "x" * 900 + "@other.example>"
    assert journal.record(engine, entry(other, channel="email"))[0] != first
    link = links.add_link(engine, NewLink("email:" + long_id, "jira", "SUP-3", "u", "email", first))
    assert links.active_link(engine, "email:" + long_id) == link
