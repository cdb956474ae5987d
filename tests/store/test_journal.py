"""The journal: dedupe by (channel, external id), the due list the sweep reads, retries and dead letters."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import Engine

from store import journal, leases, links
from store.links import NewLink
from tests.store.helpers import at_once, entry


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
    leases.begin_attempt(engine, message_id, lease_seconds=300)
    assert journal.due(engine, now + dt.timedelta(seconds=60)) == []
    leases.schedule_retry(engine, message_id, 10, "tracker down")
    assert journal.due(engine, now + dt.timedelta(seconds=11)) == [message_id]
    assert journal.get(engine, message_id).reason == "tracker down"  # type: ignore[union-attr]


def test_dead_letter_and_requeue(engine: Engine) -> None:
    message_id, _ = journal.record(engine, entry("tg:7"))
    leases.begin_attempt(engine, message_id, 1)
    journal.mark_failed(engine, message_id, "gave up")
    assert journal.failed_ids(engine) == [message_id]
    assert leases.requeue(engine, message_id)
    row = journal.get(engine, message_id)
    assert row is not None and (row.status, row.attempts) == ("queued", 0)
    assert not leases.requeue(engine, message_id)  # only dead letters are requeued


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


def test_duplicate_storm_journals_one_row_and_answers_the_rest_with_its_id(engine: Engine) -> None:
    # Telegram and mail servers redeliver: many copies of one message can arrive at the same moment
    results = at_once(
        8, lambda n: journal.record(engine, entry("tg:storm", raw=b"update"), [b"photo", b"doc"])
    )
    recorded = [r for r in results if isinstance(r, tuple)]
    duplicates = [r for r in results if isinstance(r, journal.DuplicateMessage)]
    assert len(recorded) == 1 and len(duplicates) == 7, results
    message_id = recorded[0][0]
    assert {d.message_id for d in duplicates} == {message_id}
    assert journal.count_by_status(engine) == {"queued": 1}
    assert journal.find_by_external_id(engine, "telegram", "tg:storm").id == message_id  # type: ignore[union-attr]


def test_messages_sharing_files_in_any_order_are_all_journaled_at_once(engine: Engine) -> None:
    # the same two files attached in opposite orders by messages arriving together
    files = [b"logo.png", b"terms.pdf", b"invoice.pdf"]

    def record(n: int) -> tuple[str, list[str]]:
        ordered = files if n % 2 else files[::-1]
        return journal.record(engine, entry(f"email:{n}", channel="email"), ordered)

    results = at_once(8, record)
    assert all(isinstance(r, tuple) for r in results), results
    for n, result in enumerate(results):
        ordered = files if n % 2 else files[::-1]
        assert result[1] == [journal.blob_id_for(f) for f in ordered]  # type: ignore[index]
    assert journal.count_by_status(engine) == {"queued": 8}


def test_outcomes_are_recorded_and_counted(engine: Engine) -> None:
    delivered, _ = journal.record(engine, entry("tg:20"))
    ignored, _ = journal.record(engine, entry("tg:21"))
    failed, _ = journal.record(engine, entry("tg:22", status=journal.FAILED, reason="unparseable: bad JSON"))
    journal.record(engine, entry("tg:23"))
    journal.mark_delivered(
        engine,
        delivered,
        tracker="jira",
        issue_key="SUP-1",
        issue_url="http://j/browse/SUP-1",
        outcome="issue",
    )
    journal.mark_ignored(engine, ignored, "auto-reply", issue_key="SUP-1")
    row = journal.get(engine, delivered)
    assert row is not None and (row.status, row.issue_key, row.outcome, row.next_attempt_at) == (
        "delivered",
        "SUP-1",
        "issue",
        None,
    )
    assert journal.get(engine, ignored).reason == "auto-reply"  # type: ignore[union-attr]
    assert journal.get(engine, failed).next_attempt_at is None  # type: ignore[union-attr]
    assert journal.count_by_status(engine) == {"delivered": 1, "ignored": 1, "failed": 1, "queued": 1}
    assert journal.get(engine, "0" * 24) is None and journal.get_blob(engine, "f" * 64) is None


def test_create_started_is_stamped_once(engine: Engine) -> None:
    message_id, _ = journal.record(engine, entry("tg:30"))
    assert journal.get(engine, message_id).create_started_at is None  # type: ignore[union-attr]
    leases.mark_create_started(engine, message_id)
    first = journal.get(engine, message_id).create_started_at  # type: ignore[union-attr]
    leases.mark_create_started(engine, message_id)
    assert first is not None and journal.get(engine, message_id).create_started_at == first  # type: ignore[union-attr]


def test_a_running_attempts_lease_is_pushed_out_never_pulled_in(engine: Engine) -> None:
    message_id, _ = journal.record(engine, entry("tg:40"))
    now = journal.utcnow()
    started = leases.begin_attempt(engine, message_id, lease_seconds=30)
    assert started is not None and started.attempts == 1
    leases.extend_leases(engine, [message_id], 300)
    assert journal.due(engine, now + dt.timedelta(seconds=200)) == []
    leases.schedule_retry(engine, message_id, 1000, "429 Retry-After: 1000")
    leases.extend_leases(engine, [message_id], 30)  # the retry time stands
    assert journal.due(engine, now + dt.timedelta(seconds=900)) == []
    assert [(i.id, i.attempts) for i in journal.due_items(engine, now + dt.timedelta(seconds=1001))] == [
        (message_id, 1)
    ]


def test_a_long_backlog_is_read_on_page_by_page_in_id_order(engine: Engine) -> None:
    ids = [journal.record(engine, entry(f"tg:5{n}"))[0] for n in range(5)]
    due_at = journal.utcnow() + dt.timedelta(seconds=journal.ENQUEUE_GRACE + 1)
    pages, after = [], ""
    while page := journal.due_after(engine, after, due_at, limit=2):
        pages.append(page)
        after = page[-1]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == sorted(ids)  # each once
    leases.begin_attempt(engine, ids[0], lease_seconds=3600)  # a worker took one meanwhile
    assert ids[0] not in journal.due_after(engine, "", due_at)


def test_a_claim_returns_the_queued_row_and_never_pulls_its_time_in(engine: Engine) -> None:
    message_id, _ = journal.record(engine, entry("tg:60"))
    leases.schedule_retry(engine, message_id, 1000, "429 Retry-After: 1000")
    claimed = leases.claim(engine, message_id, 30)
    assert claimed is not None and claimed.id == message_id and claimed.reason == "429 Retry-After: 1000"
    assert claimed.next_attempt_at is not None
    assert claimed.next_attempt_at > journal.utcnow() + dt.timedelta(seconds=900)  # the retry time stands
    fresh, _ = journal.record(engine, entry("tg:61"))
    leased = leases.claim(engine, fresh, 300)
    assert leased is not None and leased.next_attempt_at is not None
    assert leased.next_attempt_at > journal.utcnow() + dt.timedelta(seconds=250)
    journal.mark_failed(engine, fresh, "gave up")
    assert leases.claim(engine, fresh, 30) is None  # only a queued message can be claimed


def test_a_retry_never_turns_a_delivered_message_back_into_a_queued_one(engine: Engine) -> None:
    message_id, _ = journal.record(engine, entry("tg:70"))
    journal.mark_delivered(
        engine, message_id, tracker="jira", issue_key="SUP-1", issue_url="u", outcome="issue"
    )
    leases.schedule_retry(engine, message_id, 5, "waiting for an earlier message of the conversation")
    row = journal.get(engine, message_id)
    assert row is not None and (row.status, row.reason, row.next_attempt_at) == ("delivered", None, None)


def test_a_blobs_head_is_read_without_the_rest(engine: Engine) -> None:
    content = b"\x00\xffhead" + b"x" * 10_000
    with engine.begin() as conn:
        blob_id = journal.put_blob(conn, content)
    assert journal.blob_head(engine, blob_id, 6) == (content[:6], len(content))
    assert journal.blob_head(engine, blob_id, 1_000_000) == (content, len(content))
    assert journal.blob_head(engine, "0" * 64, 6) is None


def test_a_blob_is_read_in_chunks_that_make_it_whole(engine: Engine) -> None:
    content = b"\x00\xffhead" + bytes(range(256)) * 40
    with engine.begin() as conn:
        blob_id = journal.put_blob(conn, content)
    chunks = list(journal.blob_chunks(engine, blob_id, size=4096))
    assert [len(chunk) for chunk in chunks] == [4096, 4096, len(content) - 8192]
    assert b"".join(chunks) == content
    assert list(journal.blob_chunks(engine, "0" * 64)) == []
