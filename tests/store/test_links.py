"""Conversation links and mail ids: one active issue per conversation, threading by Message-ID."""

from __future__ import annotations

import random

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store import journal, links
from store.db import links as links_table
from tests.store.helpers import at_once, new_link


def test_a_new_issue_replaces_the_conversations_active_link(engine: Engine) -> None:
    first = links.add_link(engine, new_link(key="SUP-1"))
    assert links.active_link(engine, "tg:42:0") == first and first.active
    second = links.add_link(engine, new_link(key="SUP-2", previous_issue_key="SUP-1"))
    assert links.active_link(engine, "tg:42:0") == second
    assert second.previous_issue_key == "SUP-1"
    assert links.get_link(engine, first.id) == links.link_for_issue(engine, "SUP-1")
    assert not links.link_for_issue(engine, "SUP-1").active  # type: ignore[union-attr]
    assert links.active_link(engine, "tg:43:0") is None and links.link_for_issue(engine, "SUP-9") is None


def test_a_done_issue_leaves_the_conversation_without_an_active_link(engine: Engine) -> None:
    link = links.add_link(engine, new_link())
    links.deactivate(engine, link.id)
    assert links.active_link(engine, "tg:42:0") is None
    assert links.link_for_issue(engine, "SUP-1") is not None  # a comment on the old issue still finds it


def test_telegram_supergroup_and_topic_ids_round_trip(engine: Engine) -> None:
    # supergroup chat ids are below -2**31 and need 52 bits; the reply goes back to exactly this chat
    link = links.add_link(engine, new_link(telegram_chat_id=-1001234567890, telegram_thread_id=2**40 + 7))
    assert (link.telegram_chat_id, link.telegram_thread_id) == (-1001234567890, 2**40 + 7)


def test_what_the_customer_supplied_never_stops_the_link_from_being_recorded(engine: Engine) -> None:
    # the issue already exists when the link is written: a long name, a long language tag, a NUL or an
    # impossible address must not make the job fail and the issue be looked up again and again
    link = links.add_link(
        engine,
        new_link(
            channel="email",
            requester_name="Ann\x00 " + "Lee" * 300,
            requester_email="a" * 400 + "@customer.example",
            language="en-US-x-abcdefgh-abcdefgh-abcdefgh",
            subject="Printer\x00 is on fire",
        ),
    )
    assert links.active_link(engine, "tg:42:0") == link
    assert link.requester_name.startswith("Ann") and len(link.requester_name) <= 255
    assert link.language is not None and link.language.startswith("en")
    assert link.subject.startswith("Printer") and link.subject.endswith(" is on fire")
    assert link.requester_email is None  # longer than any deliverable address: never mailed, never cut
    fine = links.add_link(engine, new_link("email:<b@x>", "SUP-2", requester_email="bob@customer.example"))
    assert fine.requester_email == "bob@customer.example"


def test_replies_thread_by_any_known_message_id_first_match_first(engine: Engine) -> None:
    first = links.add_link(engine, new_link("email:<a@x>", "SUP-1"), ["<a@x>"])
    second = links.add_link(engine, new_link("email:<b@x>", "SUP-2"), ["<b@x>"])
    links.remember_mail_ids(engine, first.id, ["<out-1@hub>"], "out")
    links.remember_mail_ids(engine, first.id, ["<a2@x>"], "in")
    assert links.thread_mail_ids(engine, first.id) == ["<a@x>", "<out-1@hub>", "<a2@x>"]
    assert links.last_inbound_mail_id(engine, first.id) == "<a2@x>"
    assert links.last_inbound_mail_id(engine, second.id) == "<b@x>"
    assert links.link_for_mail_ids(engine, ["<nope@x>", "<b@x>", "<a@x>"]) == second  # In-Reply-To first
    assert links.link_for_mail_ids(engine, ["<nope@x>", ""]) is None
    assert links.link_for_mail_ids(engine, []) is None


def test_a_message_id_belongs_to_the_first_thread_that_saw_it(engine: Engine) -> None:
    first = links.add_link(engine, new_link("email:<a@x>", "SUP-1"), ["<shared@x>"])
    second = links.add_link(engine, new_link("email:<b@x>", "SUP-2"), ["<shared@x>", "<b@x>"])
    links.remember_mail_ids(engine, second.id, ["<shared@x>", "<shared@x>"], "in")
    assert links.link_for_mail_ids(engine, ["<shared@x>"]) == first
    assert links.link_for_mail_ids(engine, ["<b@x>"]) == second


def test_long_and_non_ascii_message_ids_still_thread(engine: Engine) -> None:
    # RFC 6532 allows UTF-8 in Message-IDs; 990 three-byte characters are legal and do not compress
    rng = random.Random(7)
    wide = "<" + "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(990)) + "@例え.jp>"
    longer = "<" + "x" * 2000 + "@customer.example>"
    link = links.add_link(engine, new_link("email:wide", "SUP-1"), [wide, longer])
    assert links.link_for_mail_ids(engine, [wide]) == link
    assert links.link_for_mail_ids(engine, [longer]) == link
    assert links.link_for_mail_ids(engine, ["<" + "x" * 2000 + "@other.example>"]) is None


def test_remembering_one_message_id_from_two_jobs_at_once_keeps_one_row(engine: Engine) -> None:
    link = links.add_link(engine, new_link("email:<a@x>"))
    results = at_once(6, lambda n: links.remember_mail_ids(engine, link.id, ["<same@x>", f"<{n}@x>"], "in"))
    assert results == [None] * 6
    assert links.link_for_mail_ids(engine, ["<same@x>"]) == link
    assert len(links.thread_mail_ids(engine, link.id)) == 7


def test_one_conversation_has_one_active_link_even_when_two_jobs_link_it_at_once(engine: Engine) -> None:
    links.add_link(engine, new_link(key="SUP-0"))
    results = at_once(6, lambda n: links.add_link(engine, new_link(key=f"SUP-{n + 1}")))
    assert all(isinstance(r, links.Link) for r in results), results
    with engine.connect() as conn:
        active = conn.execute(
            sa.select(sa.func.count())
            .select_from(links_table)
            .where(links_table.c.conversation_key == "tg:42:0", links_table.c.active.is_(True))
        ).scalar_one()
    assert active == 1


def test_delivered_on_a_link_puts_its_issue_on_the_message(engine: Engine) -> None:
    message_id, _ = journal.record(engine, journal.NewEntry("telegram", "tg:9", "tg:42:0", "new", "{}"))
    link = links.add_link(engine, new_link())
    links.mark_delivered_on(engine, message_id, link, "comment")
    entry = journal.get(engine, message_id)
    assert entry is not None
    assert (entry.status, entry.issue_key, entry.issue_url, entry.outcome) == (
        "delivered",
        "SUP-1",
        "http://jira.test/browse/SUP-1",
        "comment",
    )
