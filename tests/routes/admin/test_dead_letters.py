"""Dead letters in the console: a coordinator replays one, or all the filter shows, through the same
path as ``trackerhub replay``, and the message is then delivered; a viewer sees no button, and a POST
of theirs is refused; every replay is in the audit."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from flask.testing import FlaskClient

from jobs.context import Context
from routes.admin.filters import PAGE_SIZE
from sandbox.server import RunningSandbox
from store import audit, journal
from store.db import messages
from tests.jobs.conftest import add_fault, drain, journal_message, run_job
from tests.mappers.factories import email_message, telegram_message
from tests.routes.admin.conftest import csrf_of

LONG_AGO = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def dead_letter(ctx: Context, jira: RunningSandbox, text: str) -> str:
    """A message the tracker rejected once (a 400 on create), so it is a dead letter with that reason.

    The rejected create is stamped as long ago: a replayed delivery otherwise first waits the tracker's
    search lag for a create that might have gone through (jobs/issues.py), and tests do not wait.
    """
    add_fault(jira, status=400, count=1, methods=["POST"], paths=["/rest/api/2/issue"])
    message_id = journal_message(ctx, telegram_message(text))
    assert run_job(ctx, message_id) == journal.FAILED
    with ctx.engine.begin() as conn:
        conn.execute(messages.update().where(messages.c.id == message_id).values(create_started_at=LONG_AGO))
    return message_id


def test_a_coordinator_replays_a_dead_letter_and_it_is_delivered(
    ctx: Context, jira: RunningSandbox, as_user: Callable[[str], FlaskClient]
) -> None:
    message_id = dead_letter(ctx, jira, "Printer is on fire")
    coordinator = as_user("cory")
    listing = coordinator.get("/admin/dead-letters")
    assert message_id in listing.text and "tracker rejected the message" in listing.text

    answer = coordinator.post(
        f"/admin/dead-letters/{message_id}/replay", data={"csrf_token": csrf_of(listing.text)}
    )
    assert answer.status_code == 200
    assert re.search(rf"{message_id}</a></td><td>requeued</td>", answer.text)
    drain(ctx)
    entry = journal.get(ctx.engine, message_id)
    assert entry is not None and entry.status == journal.DELIVERED and entry.issue_key
    [line] = audit.search(ctx.engine, audit.AuditQuery(action="replay"))
    assert (line.actor, line.target, line.outcome) == ("cory", message_id, "requeued")


def test_replay_all_takes_only_what_the_filter_shows(
    ctx: Context, jira: RunningSandbox, as_user: Callable[[str], FlaskClient]
) -> None:
    telegram = dead_letter(ctx, jira, "Printer is on fire")
    mail = journal_message(ctx, email_message())
    journal.mark_failed(ctx.engine, mail, "tracker rejected the message: 400")
    admin = as_user("ada")
    listing = admin.get("/admin/dead-letters?channel=telegram")
    assert telegram in listing.text and mail not in listing.text
    answer = admin.post(
        "/admin/dead-letters/replay", data={"csrf_token": csrf_of(listing.text), "channel": "telegram"}
    )
    assert answer.status_code == 200 and f"{telegram}</a></td><td>requeued" in answer.text
    assert mail not in answer.text
    entry = journal.get(ctx.engine, mail)
    assert entry is not None and entry.status == journal.FAILED


def failed_messages(ctx: Context, count: int, reason: str = "tracker rejected the message: 400") -> set[str]:
    """``count`` Telegram dead letters (marked failed directly: the list and replay-all need no tracker)."""
    ids = set()
    for n in range(count):
        message_id = journal_message(ctx, telegram_message(f"Printer {n} is on fire"))
        journal.mark_failed(ctx.engine, message_id, reason)
        ids.add(message_id)
    return ids


def listed(html: str) -> set[str]:
    """The dead letters a list page shows (each row links to its message)."""
    return set(re.findall(r'href="/admin/messages/([0-9a-f]+)"', html))


def test_the_list_shows_a_page_at_a_time_and_the_next_page_the_rest(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    letters = failed_messages(ctx, PAGE_SIZE + 5)
    admin = as_user("ada")
    first = admin.get("/admin/dead-letters")
    assert first.status_code == 200
    assert len(listed(first.text)) == PAGE_SIZE
    assert f"Replay all {PAGE_SIZE + 5} found" in first.text  # the whole filter, not the page
    older = re.search(r'<a href="([^"]+)">Older</a>', first.text)
    assert older and "page=1" in older.group(1)
    second = admin.get(older.group(1).replace("&amp;", "&"))
    assert len(listed(second.text)) == 5
    assert listed(first.text) | listed(second.text) == letters
    assert "Older</a>" not in second.text


def test_replay_all_replays_every_filtered_dead_letter_not_only_the_shown_page(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    letters = failed_messages(ctx, PAGE_SIZE + 5, reason="tracker rejected the message: 400")
    other = failed_messages(ctx, 2, reason="tracker timed out")
    admin = as_user("ada")
    listing = admin.get("/admin/dead-letters?reason=rejected")
    assert len(listed(listing.text)) == PAGE_SIZE
    answer = admin.post(
        "/admin/dead-letters/replay", data={"csrf_token": csrf_of(listing.text), "reason": "rejected"}
    )
    assert answer.status_code == 200
    assert set(re.findall(r"([0-9a-f]+)</a></td><td>requeued", answer.text)) == letters
    for message_id in letters:
        entry = journal.get(ctx.engine, message_id)
        assert entry is not None and entry.status == journal.QUEUED
    for message_id in other:
        entry = journal.get(ctx.engine, message_id)
        assert entry is not None and entry.status == journal.FAILED
    replays = audit.search(ctx.engine, audit.AuditQuery(action="replay"), limit=1000)
    assert {line.target for line in replays} == letters


def test_a_viewer_sees_no_replay_and_a_forged_post_is_refused(
    ctx: Context, jira: RunningSandbox, as_user: Callable[[str], FlaskClient]
) -> None:
    message_id = dead_letter(ctx, jira, "Printer is on fire")
    viewer = as_user("vic")
    listing = viewer.get("/admin/dead-letters")
    assert message_id in listing.text
    assert "/replay" not in listing.text and ">Replay<" not in listing.text  # no replay form or button
    token = csrf_of(listing.text)  # the logout form's: a valid token of this session
    for path in (f"/admin/dead-letters/{message_id}/replay", "/admin/dead-letters/replay"):
        assert viewer.post(path, data={"csrf_token": token}).status_code == 403
    entry = journal.get(ctx.engine, message_id)
    assert entry is not None and entry.status == journal.FAILED
    assert audit.search(ctx.engine, audit.AuditQuery(action="replay")) == []


def test_a_replay_without_the_form_token_is_refused(
    ctx: Context, jira: RunningSandbox, as_user: Callable[[str], FlaskClient]
) -> None:
    message_id = dead_letter(ctx, jira, "Printer is on fire")
    admin = as_user("ada")
    other = as_user("cory")  # a token of another session is no token for this one
    foreign = csrf_of(other.get("/admin/dead-letters").text)
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": foreign}):
        answer = admin.post(f"/admin/dead-letters/{message_id}/replay", data=data)
        assert answer.status_code == 403 and "did not come from this console" in answer.text
    entry = journal.get(ctx.engine, message_id)
    assert entry is not None and entry.status == journal.FAILED
