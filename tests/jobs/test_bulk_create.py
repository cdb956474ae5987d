"""Bulk create: a backlog of new conversations opens its issues with Jira's ``POST /issue/bulk``.

Through the real path: messages journaled and enqueued as a hook does, ``deliver_with`` on the first
job, the sandbox Jira behind the real ``jira`` library, Redis and the SQLite journal. What users depend
on: each message still becomes exactly one issue, carrying its own text and label, linked to its own
conversation; what cannot join the batch (follow-ups, files, a second message of a conversation) is
delivered on its own, in order; a refused element, a lost answer or a dead worker costs no message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rq import Queue

from config.loading import load_config
from config.source import StaticSource
from jobs.context import Context
from jobs.periodic import sweep
from jobs.queues import DELIVERY_QUEUE, REPLY_QUEUE
from mappers.models import Attachment
from sandbox.server import RunningSandbox
from store import journal, leases, links
from tests.jobs.conftest import (
    add_fault,
    drain,
    journal_message,
    pause_elapsed,
    run_job,
    sandbox_issues,
    tracker_calls,
)
from tests.mappers.factories import email_message, telegram_message


def calls(sandbox: RunningSandbox) -> dict[str, int]:
    return {k: v for k, v in tracker_calls(sandbox).items() if k.startswith("POST /rest/api/2/issue")}


def queued_jobs(ctx: Context) -> list[str]:
    return list(Queue(DELIVERY_QUEUE, connection=ctx.redis).get_job_ids())


def issue_by_label(sandbox: RunningSandbox) -> dict[str, dict[str, Any]]:
    found = {}
    for issue in sandbox_issues(sandbox):
        [label] = [x for x in issue["fields"]["labels"] if x.startswith("hub-")]
        found[label.removeprefix("hub-")] = issue
    return found


def test_a_backlog_of_new_conversations_opens_every_issue_with_one_call(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    texts = {chat: f"Заказ {chat} не пришёл. Chat {chat} needs help" for chat in range(1, 13)}
    ids = {chat: journal_message(ctx, telegram_message(text, chat_id=chat)) for chat, text in texts.items()}

    assert run_job(ctx, ids[1]) == "delivered"

    assert calls(jira_sandbox) == {"POST /rest/api/2/issue/bulk": 1}
    assert queued_jobs(ctx) == []  # the companions' jobs were taken with them
    issues = issue_by_label(jira_sandbox)
    assert len(issues) == 12
    for chat, message_id in ids.items():
        entry = journal.get(ctx.engine, message_id)
        issue = issues[message_id]
        assert entry is not None and (entry.status, entry.outcome) == ("delivered", "issue")
        assert entry.issue_key == issue["key"]  # each message got its own issue, not a neighbour's
        assert texts[chat].split(".")[0] in issue["fields"]["summary"]
        assert links.active_link(ctx.engine, f"tg:{chat}:0").issue_key == issue["key"]  # type: ignore[union-attr]
    autoreplies = Queue(REPLY_QUEUE, connection=ctx.redis).get_job_ids()
    assert sorted(autoreplies) == sorted(f"send_autoreply-{i}" for i in ids.values())


def test_what_cannot_join_is_delivered_on_its_own_and_in_order(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    first = journal_message(ctx, telegram_message("Printer is on fire", chat_id=1))
    assert run_job(ctx, first) == "delivered"
    follow_up = journal_message(ctx, telegram_message("Now it is smoking", chat_id=1))
    opener = journal_message(ctx, telegram_message("Lost my password", chat_id=2))
    second_of_2 = journal_message(ctx, telegram_message("Still locked out", chat_id=2))
    photo = Attachment(filename="screen.png", content_type="image/png", blob_id=None)
    with_file = journal_message(
        ctx,
        telegram_message("See the screenshot", chat_id=3).model_copy(update={"attachments": [photo]}),
    )
    mail = journal_message(ctx, email_message("Invoice is wrong", message_id="<invoice@customer.example>"))
    reply = journal_message(
        ctx,
        email_message("Re: Invoice is wrong", email_meta={"in_reply_to": ["<invoice@customer.example>"]}),
    )
    leader = journal_message(ctx, telegram_message("Cannot log in", chat_id=4))

    assert run_job(ctx, leader) == "delivered"
    # only the other first messages without files joined the leader
    assert calls(jira_sandbox)["POST /rest/api/2/issue/bulk"] == 1
    joined = {m for m in (opener, mail) if journal.get(ctx.engine, m).status == "delivered"}  # type: ignore[union-attr]
    assert joined == {opener, mail}
    assert set(queued_jobs(ctx)) == {f"deliver-{m}" for m in (follow_up, second_of_2, with_file, reply)}

    drain(ctx)
    issues = {i["key"]: i for i in sandbox_issues(jira_sandbox)}
    assert len(issues) == 5  # chats 1 to 4 and the mail: nobody got a second issue
    for comment_id, parent in ((follow_up, first), (second_of_2, opener), (reply, mail)):
        entry, opened = journal.get(ctx.engine, comment_id), journal.get(ctx.engine, parent)
        assert entry is not None and opened is not None
        assert (entry.outcome, entry.issue_key) == ("comment", opened.issue_key)
    assert journal.get(ctx.engine, with_file).outcome == "issue"  # type: ignore[union-attr]


REFUSING = """
rules:
  - name: mail
    when: {channel: email}
    target: {tracker: jira, project: SUP}
    fields: {assignees: [nobody-here]}
  - name: default
    target: {tracker: jira, project: SUP}
"""


def test_an_element_jira_refuses_is_a_dead_letter_and_the_rest_are_created(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(REFUSING)
    ctx.source = StaticSource(load_config(ctx.settings.model_copy(update={"HUB_CONFIG": path})))
    leader = journal_message(ctx, telegram_message("Printer is on fire", chat_id=1))
    refused = journal_message(ctx, email_message("Invoice is wrong"))
    other = journal_message(ctx, telegram_message("Lost my password", chat_id=2))

    assert run_job(ctx, leader) == "delivered"

    assert calls(jira_sandbox) == {"POST /rest/api/2/issue/bulk": 1}
    dead = journal.get(ctx.engine, refused)
    assert dead is not None and dead.status == "failed"
    assert "User 'nobody-here' does not exist" in (dead.reason or "")
    assert journal.get(ctx.engine, other).status == "delivered"  # type: ignore[union-attr]
    assert set(issue_by_label(jira_sandbox)) == {leader, other}


def test_a_lost_bulk_answer_is_settled_by_label_without_duplicates(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"JIRA_TIMEOUT": 1.0})
    ctx.trackers.clear()  # the connector takes the timeout when it is built
    ids = [journal_message(ctx, telegram_message(f"Help {n}", chat_id=n)) for n in range(1, 6)]
    # Jira creates them all, then answers after the hub stopped waiting
    add_fault(jira_sandbox, latency_ms=2_000, count=1, paths=["/rest/api/2/issue/bulk"], after_commit=True)

    assert run_job(ctx, ids[0]) == "queued"
    assert len(sandbox_issues(jira_sandbox)) == 5
    for message_id in ids:
        entry = journal.get(ctx.engine, message_id)
        assert entry is not None and entry.status == "queued" and entry.create_started_at is not None

    pause_elapsed(ctx)
    for message_id in ids:  # their retries are due; the sweep gives each its own job back
        leases.schedule_retry(ctx.engine, message_id, 0, "retry now")
    assert sweep(ctx) == 5
    drain(ctx)

    issues = issue_by_label(jira_sandbox)
    assert len(issues) == 5 and calls(jira_sandbox) == {"POST /rest/api/2/issue/bulk": 1}
    for message_id in ids:
        entry = journal.get(ctx.engine, message_id)
        assert entry is not None and entry.status == "delivered"
        assert entry.issue_key == issues[message_id]["key"]


def test_an_outage_during_the_bulk_call_leaves_every_message_waiting(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    ids = [journal_message(ctx, telegram_message(f"Help {n}", chat_id=n)) for n in range(1, 4)]
    add_fault(jira_sandbox, status=503, count=1, paths=["/rest/api/2/issue/bulk"])

    assert run_job(ctx, ids[0]) == "queued"

    for message_id in ids:
        entry = journal.get(ctx.engine, message_id)
        assert entry is not None and entry.status == "queued"
        assert (entry.reason or "").startswith("waiting for jira: jira answered 503")
        assert entry.create_started_at is not None  # a 503 does not prove Jira created nothing
    pause_elapsed(ctx)
    with ctx.engine.begin() as conn:  # time passes: past the search lag, a miss means "not created"
        conn.exec_driver_sql("UPDATE messages SET create_started_at = '2000-01-01 00:00:00'")
    for message_id in ids:
        leases.schedule_retry(ctx.engine, message_id, 0, "retry now")
    assert sweep(ctx) == 3
    drain(ctx)
    assert {journal.get(ctx.engine, m).status for m in ids} == {"delivered"}  # type: ignore[union-attr]
    assert len(issue_by_label(jira_sandbox)) == 3


def test_bulk_create_can_be_turned_off(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    ctx.settings = ctx.settings.model_copy(update={"HUB_BULK_CREATE_MAX": 1})
    ids = [journal_message(ctx, telegram_message(f"Help {n}", chat_id=n)) for n in range(1, 4)]
    drain(ctx)
    assert calls(jira_sandbox) == {"POST /rest/api/2/issue": 3}
    assert {journal.get(ctx.engine, m).status for m in ids} == {"delivered"}  # type: ignore[union-attr]


def test_a_bulk_request_refused_as_a_whole_falls_back_to_one_create_each(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    ids = [journal_message(ctx, telegram_message(f"Help {n}", chat_id=n)) for n in range(1, 5)]
    add_fault(jira_sandbox, status=400, count=1, paths=["/rest/api/2/issue/bulk"])  # e.g. too large

    assert run_job(ctx, ids[0]) == "delivered"

    assert calls(jira_sandbox) == {"POST /rest/api/2/issue/bulk": 1, "POST /rest/api/2/issue": 4}
    issues = issue_by_label(jira_sandbox)
    for message_id in ids:  # nobody was dead-lettered for the batch's refusal
        entry = journal.get(ctx.engine, message_id)
        assert entry is not None and entry.status == "delivered"
        assert entry.issue_key == issues[message_id]["key"]
