"""How often one delivery goes to the journal and the links: each row it needs is read once, and
written once.

The attempt's row comes back from the claim, which counts the attempt in the same statement
(``jobs.attempts.Attempt`` carries it, its message decoded once); whether the message is still queued and
whether an earlier one of its conversation is are one query; the conversation's issue is looked up once;
the new link comes back from its insert. These tests count the statements one delivery sends to the
database, so a change that makes the worker re-read or re-write itself shows (issue 17: a quiet desk pays
them for every message).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from jobs.context import Context
from mappers.models import EmailMeta
from tests.jobs.conftest import journal_message, run_job
from tests.mappers.factories import email_message, telegram_message

_TABLE = re.compile(r'^\s*(?:UPDATE|.*?\b(?:FROM|INTO))\s+"?(\w+)', re.S | re.I)


@contextmanager
def statements(ctx: Context) -> Iterator[Counter[str]]:
    """Count the statements sent to the database, as ``"VERB table"`` (the first table named), and the
    transactions committed (``"COMMIT"``)."""
    seen: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        found = _TABLE.match(statement)
        if found:
            seen[f"{statement.split()[0].upper()} {found.group(1).lower()}"] += 1

    def commit(_conn: Any) -> None:
        seen["COMMIT"] += 1

    event.listen(ctx.engine, "before_cursor_execute", count)
    event.listen(ctx.engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(ctx.engine, "before_cursor_execute", count)
        event.remove(ctx.engine, "commit", commit)


def _rows(seen: Counter[str]) -> dict[str, int]:
    return {key: n for key, n in seen.items() if key.split()[-1] in {"messages", "links", "mail_ids"}}


def test_a_new_conversation_reads_its_row_and_its_thread_once(ctx: Context) -> None:
    run_job(ctx, journal_message(ctx, telegram_message("warm-up", chat_id=99)))
    message_id = journal_message(ctx, telegram_message("Printer is on fire"))
    with statements(ctx) as seen:
        assert run_job(ctx, message_id) == "delivered"
    assert _rows(seen) == {
        "UPDATE messages": 3,  # claim and count the attempt (RETURNING the row), create started, delivered
        "SELECT messages": 1,  # still queued, and an earlier message of the conversation still queued?
        "SELECT links": 1,  # the conversation's issue (none); the new link comes back from its INSERT
        "UPDATE links": 1,  # the conversation's older links made inactive
        "INSERT links": 1,
    }
    # the claim; the create started (before the POST); the link, the delivered row and the skipped
    # autoreply together, so a kill cannot leave a link whose message is still queued
    assert seen["COMMIT"] == 3


def test_a_follow_up_reads_its_row_and_its_thread_once(ctx: Context) -> None:
    run_job(ctx, journal_message(ctx, telegram_message("Printer is on fire")))
    message_id = journal_message(ctx, telegram_message("Now it is smoking too"))
    with statements(ctx) as seen:
        assert run_job(ctx, message_id) == "delivered"
    assert _rows(seen) == {
        "UPDATE messages": 2,  # claim and count the attempt, delivered
        "SELECT messages": 1,  # still queued, and an earlier message of the conversation still queued?
        "SELECT links": 1,  # the conversation's issue, looked up once
    }
    assert seen["COMMIT"] == 2  # the claim; the delivered row (a chat message has no mail ids to keep)


def test_a_mail_reply_reads_its_row_and_its_thread_once(ctx: Context) -> None:
    first = email_message("Printer is on fire", message_id="<a@client.example>")
    run_job(ctx, journal_message(ctx, first))
    reply = email_message(
        "Now it is smoking too",
        message_id="<b@client.example>",
    )
    reply = reply.model_copy(
        update={"email": EmailMeta(message_id="<b@client.example>", in_reply_to=["<a@client.example>"])}
    )
    message_id = journal_message(ctx, reply)
    with statements(ctx) as seen:
        assert run_job(ctx, message_id) == "delivered"
    assert _rows(seen) == {
        "UPDATE messages": 2,  # claim and count the attempt, delivered
        "SELECT messages": 1,  # still queued, and an earlier message of the conversation still queued?
        "SELECT mail_ids": 1,  # the thread by In-Reply-To …
        "SELECT links": 1,  # … and its link, looked up once
        "INSERT mail_ids": 1,  # the reply's own Message-ID, for the next reply
    }
