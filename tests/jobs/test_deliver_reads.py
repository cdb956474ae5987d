"""How often one delivery goes to the journal and the links: each row it needs is read once.

The attempt's row comes back from the claim and the attempt count (``jobs.attempts.Attempt`` carries it,
its message decoded once), and the conversation's issue is looked up once; these tests count the
statements one delivery sends to the database, so a change that makes the worker re-read itself shows.
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
    """Count the statements sent to the database, as ``"VERB table"`` (the first table named)."""
    seen: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        found = _TABLE.match(statement)
        if found:
            seen[f"{statement.split()[0].upper()} {found.group(1).lower()}"] += 1

    event.listen(ctx.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(ctx.engine, "before_cursor_execute", count)


def _rows(seen: Counter[str]) -> dict[str, int]:
    return {key: n for key, n in seen.items() if key.split()[1] in {"messages", "links", "mail_ids"}}


def test_a_new_conversation_reads_its_row_and_its_thread_once(ctx: Context) -> None:
    run_job(ctx, journal_message(ctx, telegram_message("warm-up", chat_id=99)))
    message_id = journal_message(ctx, telegram_message("Printer is on fire"))
    with statements(ctx) as seen:
        assert run_job(ctx, message_id) == "delivered"
    assert _rows(seen) == {
        "UPDATE messages": 4,  # claim, count the attempt (both RETURNING the row), create started, delivered
        "SELECT messages": 1,  # an earlier message of the conversation still queued?
        "SELECT links": 2,  # the conversation's issue (none); the new link's row as stored
        "UPDATE links": 1,  # the conversation's older links made inactive
        "INSERT links": 1,
    }


def test_a_follow_up_reads_its_row_and_its_thread_once(ctx: Context) -> None:
    run_job(ctx, journal_message(ctx, telegram_message("Printer is on fire")))
    message_id = journal_message(ctx, telegram_message("Now it is smoking too"))
    with statements(ctx) as seen:
        assert run_job(ctx, message_id) == "delivered"
    assert _rows(seen) == {
        "UPDATE messages": 3,  # claim, count the attempt, delivered
        "SELECT messages": 1,  # an earlier message of the conversation still queued?
        "SELECT links": 1,  # the conversation's issue, looked up once
    }


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
        "UPDATE messages": 3,  # claim, count the attempt, delivered
        "SELECT messages": 1,  # an earlier message of the conversation still queued?
        "SELECT mail_ids": 1,  # the thread by In-Reply-To …
        "SELECT links": 1,  # … and its link, looked up once
        "INSERT mail_ids": 1,  # the reply's own Message-ID, for the next reply
    }
