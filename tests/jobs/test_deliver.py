"""deliver(): new issues, follow-ups as comments, done issues, exactly-once creates, retries, dead letters.

Runs against the sandbox Jira through the real `jira` library, with real Redis and a real SQLite journal.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
from collections import Counter

import requests
from rq.job import Job

from jobs.context import Context
from jobs.deliver import deliver_with
from jobs.queues import DELIVERY_QUEUE, delivery_job_id
from jobs.replay import replay_messages
from mappers.models import Attachment, EmailMeta, MessageKind
from sandbox.server import RunningSandbox
from store import journal, links
from store.links import NewLink
from tests.jobs.conftest import (
    add_fault,
    journal_message,
    pause_elapsed,
    sandbox_issues,
    tracker_calls,
    transition_to_done,
)
from tests.mappers.factories import email_message, telegram_message
from tests.sandboxes import CONTROL


def test_telegram_message_becomes_an_issue_with_labels_and_link(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    message_id = journal_message(ctx, telegram_message("Printer is on fire. Please help"))
    assert deliver_with(ctx, message_id) == "delivered"
    [issue] = sandbox_issues(jira_sandbox)
    assert issue["fields"]["summary"] == "Printer is on fire."
    assert sorted(issue["fields"]["labels"]) == sorted(["telegram", f"hub-{message_id}"])
    assert "*Contact:* @ann" in issue["fields"]["description"]
    entry = journal.get(ctx.engine, message_id)
    assert entry is not None and (entry.status, entry.outcome, entry.issue_key) == (
        "delivered",
        "issue",
        issue["key"],
    )
    assert entry.issue_url == f"{jira_sandbox.url}/browse/{issue['key']}"
    assert links.active_link(ctx.engine, "tg:42:0").issue_key == issue["key"]  # type: ignore[union-attr]


def test_a_first_delivery_makes_only_the_calls_it_needs(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    """A new issue is one create; a follow-up checks the issue is still open, then comments. Looking for
    what an earlier attempt wrote is for retries only."""
    first = journal_message(ctx, telegram_message("Printer is on fire"))
    deliver_with(ctx, first)  # the first call also builds the client (serverInfo, project)
    opened = journal_message(ctx, telegram_message("Another printer", chat_id=7))
    before = tracker_calls(jira_sandbox)
    assert deliver_with(ctx, opened) == "delivered"
    after_create = tracker_calls(jira_sandbox)
    follow_up = journal_message(ctx, telegram_message("Now it is smoking too"))
    assert deliver_with(ctx, follow_up) == "delivered"
    made = Counter(tracker_calls(jira_sandbox)) - Counter(after_create)
    assert Counter(after_create) - Counter(before) == {"POST /rest/api/2/issue": 1}
    assert made == {"GET /rest/api/2/issue/<ref>": 1, "POST /rest/api/2/issue/<ref>/comment": 1}


def test_follow_up_in_the_same_chat_is_a_comment(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    first = journal_message(ctx, telegram_message("Printer is on fire"))
    deliver_with(ctx, first)
    second = journal_message(ctx, telegram_message("Now it is smoking too"))
    assert deliver_with(ctx, second) == "delivered"
    [issue] = sandbox_issues(jira_sandbox)
    comments = issue["fields"]["comment"]["comments"]
    assert len(comments) == 1 and "Now it is smoking too" in comments[0]["body"]
    assert journal.get(ctx.engine, second).outcome == "comment"  # type: ignore[union-attr]


def test_edit_becomes_a_comment_noting_the_edit(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    deliver_with(ctx, journal_message(ctx, telegram_message("Printr is on fire")))
    edit = journal_message(ctx, telegram_message("Printer is on fire", kind=MessageKind.EDIT))
    deliver_with(ctx, edit)
    [issue] = sandbox_issues(jira_sandbox)
    assert "edited a message" in issue["fields"]["comment"]["comments"][0]["body"]


def test_message_after_the_issue_is_done_opens_a_new_issue(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    deliver_with(ctx, journal_message(ctx, telegram_message("First problem")))
    [first] = sandbox_issues(jira_sandbox)
    transition_to_done(jira_sandbox, first["key"])
    deliver_with(ctx, journal_message(ctx, telegram_message("Second problem")))
    issues = sandbox_issues(jira_sandbox)
    assert len(issues) == 2
    assert f"Follow-up to {first['key']}" in issues[1]["fields"]["description"]
    links_json = requests.get(
        f"{jira_sandbox.url}/rest/api/2/issue/{issues[1]['key']}?fields=issuelinks",
        headers={"Authorization": "Bearer t"},
        timeout=5,
    ).json()
    linked = [
        link.get("inwardIssue", link.get("outwardIssue", {})).get("key")
        for link in links_json["fields"]["issuelinks"]
    ]
    assert linked == [first["key"]]


def test_two_messages_of_one_chat_at_once_make_one_issue(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    ids = [journal_message(ctx, telegram_message(f"message {n}")) for n in range(2)]
    threads = [threading.Thread(target=deliver_with, args=(ctx, i)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for message_id in ids:  # the one that had to wait its turn runs again, as the sweep would run it
        deliver_with(ctx, message_id)
    assert [journal.get(ctx.engine, i).status for i in ids] == ["delivered", "delivered"]  # type: ignore[union-attr]
    [issue] = sandbox_issues(jira_sandbox)
    assert len(issue["fields"]["comment"]["comments"]) == 1


def test_a_follow_up_waits_while_the_chats_first_create_is_in_doubt(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    add_fault(
        jira_sandbox, status=503, count=1, methods=["POST"], paths=["/rest/api/2/issue"], after_commit=True
    )
    first = journal_message(ctx, telegram_message("first"))
    follow_up = journal_message(ctx, telegram_message("second"))
    assert deliver_with(ctx, first) == "queued"  # created, but the answer was lost
    assert deliver_with(ctx, follow_up) == "queued"  # overtaking it would open a second issue
    assert "earlier message" in (journal.get(ctx.engine, follow_up).reason or "")  # type: ignore[union-attr]
    pause_elapsed(ctx)
    assert deliver_with(ctx, first) == "delivered"
    assert deliver_with(ctx, follow_up) == "delivered"
    [issue] = sandbox_issues(jira_sandbox)
    assert [c["body"] for c in issue["fields"]["comment"]["comments"] if "second" in c["body"]]


def test_a_burst_of_one_chat_goes_on_as_each_message_is_done_not_at_the_sweeps_pace(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    ids = [journal_message(ctx, telegram_message(f"line {n}")) for n in range(3)]
    for later in reversed(ids[1:]):  # the follow-ups' jobs ran first: each waits for the one before it
        assert deliver_with(ctx, later) == "queued"
    # their jobs ended as RQ ends them (gone); no sweep runs in this test
    ctx.redis.delete(f"rq:queue:{DELIVERY_QUEUE}", *(Job.key_for(delivery_job_id(i)) for i in ids))
    assert deliver_with(ctx, ids[0]) == "delivered"
    assert run_woken(ctx) == ids[1]  # woken by its predecessor, not by a sweep
    assert run_woken(ctx) == ids[2]
    assert queued_jobs(ctx) == []
    [issue] = sandbox_issues(jira_sandbox)
    bodies = [c["body"] for c in issue["fields"]["comment"]["comments"]]
    assert len(bodies) == 2 and "line 1" in bodies[0] and "line 2" in bodies[1]


def queued_jobs(ctx: Context) -> list[str]:
    return [job.decode() for job in ctx.redis.lrange(f"rq:queue:{DELIVERY_QUEUE}", 0, -1)]


def run_woken(ctx: Context) -> str:
    """Run the one delivery job waiting in the queue, as a worker would, and end it; its message."""
    [job_id] = queued_jobs(ctx)
    ctx.redis.delete(f"rq:queue:{DELIVERY_QUEUE}", Job.key_for(job_id))
    message_id = job_id.removeprefix("deliver-")
    assert deliver_with(ctx, message_id) == "delivered"
    return message_id


def test_a_create_in_doubt_is_settled_as_that_issue_even_if_the_chat_has_another_by_now(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    add_fault(
        jira_sandbox, status=503, count=1, methods=["POST"], paths=["/rest/api/2/issue"], after_commit=True
    )
    message_id = journal_message(ctx, telegram_message("created, answer lost", chat_id=1))
    assert deliver_with(ctx, message_id) == "queued"
    other = journal_message(ctx, telegram_message("another chat", chat_id=2))
    pause_elapsed(ctx)
    assert deliver_with(ctx, other) == "delivered"
    elsewhere = journal.get(ctx.engine, other)
    assert elsewhere is not None and elsewhere.issue_key is not None
    # meanwhile the chat got an active issue (as a follow-up that overtook it once could have made)
    links.add_link(
        ctx.engine,
        NewLink(
            conversation_key=journal.get(ctx.engine, message_id).conversation_key,  # type: ignore[union-attr]
            tracker="jira",
            issue_key=elsewhere.issue_key,
            issue_url="http://jira.test/browse/" + elsewhere.issue_key,
            channel="telegram",
            message_id=other,
        ),
        [],
    )
    assert deliver_with(ctx, message_id) == "delivered"
    entry = journal.get(ctx.engine, message_id)
    assert entry is not None and entry.outcome == "issue" and entry.issue_key != elsewhere.issue_key
    labelled = [i for i in sandbox_issues(jira_sandbox) if f"hub-{message_id}" in i["fields"]["labels"]]
    assert [i["key"] for i in labelled] == [entry.issue_key]
    commented = [
        c
        for i in sandbox_issues(jira_sandbox)
        for c in i["fields"]["comment"]["comments"]
        if f"hub-{message_id}" in c["body"]
    ]
    assert commented == []


def test_email_reply_threads_by_in_reply_to(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    deliver_with(ctx, journal_message(ctx, email_message(message_id="<first@customer.example>")))
    reply = email_message(
        subject="Re: Invoice is wrong",
        text="Any news?",
        email_meta={"in_reply_to": ["<first@customer.example>"]},
    )
    deliver_with(ctx, journal_message(ctx, reply))
    [issue] = sandbox_issues(jira_sandbox)
    assert "Any news?" in issue["fields"]["comment"]["comments"][0]["body"]


def test_issue_key_in_subject_threads_only_for_the_requester(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    deliver_with(ctx, journal_message(ctx, email_message()))
    key = sandbox_issues(jira_sandbox)[0]["key"]
    deliver_with(
        ctx,
        journal_message(
            ctx, email_message(subject=f"Отв: [{key}] Invoice is wrong", text="from the requester")
        ),
    )
    stranger = email_message(subject=f"RE: [{key}] Invoice", text="from someone else")
    stranger = stranger.model_copy(
        update={"sender": stranger.sender.model_copy(update={"email": "eve@evil.example"})}
    )
    deliver_with(ctx, journal_message(ctx, stranger))
    issues = sandbox_issues(jira_sandbox)
    assert len(issues) == 2
    assert "from the requester" in issues[0]["fields"]["comment"]["comments"][0]["body"]


def test_create_that_succeeded_but_answered_503_is_not_repeated(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    add_fault(
        jira_sandbox, status=503, count=1, methods=["POST"], paths=["/rest/api/2/issue"], after_commit=True
    )
    message_id = journal_message(ctx, telegram_message("created but the answer was lost"))
    assert deliver_with(ctx, message_id) == "queued"
    assert len(sandbox_issues(jira_sandbox)) == 1  # Jira did create it
    pause_elapsed(ctx)
    assert deliver_with(ctx, message_id) == "delivered"
    issues = sandbox_issues(jira_sandbox)
    assert len(issues) == 1
    assert journal.get(ctx.engine, message_id).issue_key == issues[0]["key"]  # type: ignore[union-attr]


def test_unavailable_tracker_is_retried_after_retry_after(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    add_fault(
        jira_sandbox, status=503, retry_after=40, count=1, methods=["POST"], paths=["/rest/api/2/issue"]
    )
    message_id = journal_message(ctx, telegram_message("tracker down"))
    before = journal.utcnow()
    assert deliver_with(ctx, message_id) == "queued"
    entry = journal.get(ctx.engine, message_id)
    assert entry is not None and entry.status == "queued" and "503" in (entry.reason or "")
    assert entry.next_attempt_at is not None and entry.next_attempt_at >= before + dt.timedelta(seconds=39)
    assert journal.due(ctx.engine, before + dt.timedelta(seconds=20)) == []
    assert journal.due(ctx.engine, before + dt.timedelta(seconds=41)) == [message_id]


def test_last_attempt_makes_a_dead_letter_and_replay_recovers_it(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    add_fault(jira_sandbox, status=502, methods=["GET", "POST"], paths=["/rest/api/2/"])
    message_id = journal_message(ctx, telegram_message("never gets through"))
    for _ in range(ctx.settings.HUB_MAX_ATTEMPTS):
        pause_elapsed(ctx)
        status = deliver_with(ctx, message_id)
    assert status == "failed"
    entry = journal.get(ctx.engine, message_id)
    assert (
        entry is not None and entry.reason is not None and entry.reason.startswith("gave up after 3 attempts")
    )
    requests.delete(f"{jira_sandbox.url}/_sandbox/faults", headers=CONTROL, timeout=5)
    pause_elapsed(ctx)
    assert replay_messages(ctx, [message_id]) == [(message_id, "requeued")]
    assert deliver_with(ctx, message_id) == "delivered"
    assert len(sandbox_issues(jira_sandbox)) == 1


def test_rejected_message_is_a_dead_letter_at_once(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    add_fault(jira_sandbox, status=400, count=1, methods=["POST"], paths=["/rest/api/2/issue"])
    message_id = journal_message(ctx, telegram_message("rejected"))
    assert deliver_with(ctx, message_id) == "failed"
    assert "rejected" in (journal.get(ctx.engine, message_id).reason or "")  # type: ignore[union-attr]


def test_auto_reply_is_ignored_and_opens_nothing(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    oof = email_message(
        subject="Out of office",
        kind=MessageKind.AUTO_REPLY,
        auto_reason="header Auto-Submitted: auto-replied",
    )
    message_id = journal_message(ctx, oof)
    assert deliver_with(ctx, message_id) == "ignored"
    assert sandbox_issues(jira_sandbox) == []
    assert "Auto-Submitted" in (journal.get(ctx.engine, message_id).reason or "")  # type: ignore[union-attr]


def test_bounce_of_our_mail_is_recorded_on_its_issue(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    first = journal_message(ctx, email_message())
    deliver_with(ctx, first)
    link = links.active_link(ctx.engine, journal.get(ctx.engine, first).conversation_key)  # type: ignore[union-attr]
    links.remember_mail_ids(ctx.engine, link.id, ["<out-1@hub.example.com>"], "out")  # type: ignore[union-attr]
    bounce = email_message(
        subject="Undelivered Mail Returned to Sender",
        kind=MessageKind.BOUNCE,
        email_meta={
            "bounced_message_id": "<out-1@hub.example.com>",
            "bounce_status": "5.1.1",
            "bounce_recipient": "bob@customer.example",
        },
    )
    message_id = journal_message(ctx, bounce)
    assert deliver_with(ctx, message_id) == "ignored"
    [issue] = sandbox_issues(jira_sandbox)
    assert "could not be delivered (status 5.1.1)" in issue["fields"]["comment"]["comments"][0]["body"]
    unknown = email_message(kind=MessageKind.BOUNCE, email_meta={"bounced_message_id": "<nope@x>"})
    assert deliver_with(ctx, journal_message(ctx, unknown)) == "ignored"
    assert len(sandbox_issues(jira_sandbox)) == 1


def test_telegram_files_are_fetched_and_big_ones_noted(
    ctx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    requests.post(
        f"{telegram_sandbox}/_sandbox/files",
        json={
            "file_id": "doc-1",
            "content_base64": base64.b64encode(b"%PDF-1.7 invoice").decode(),
            "file_name": "invoice.pdf",
        },
        headers=CONTROL,
        timeout=5,
    ).raise_for_status()
    attachments = [
        Attachment(filename="invoice.pdf", content_type="application/pdf", size=16, telegram_file_id="doc-1"),
        Attachment(
            filename="video.mp4", content_type="video/mp4", size=30 * 1024 * 1024, telegram_file_id="big-1"
        ),
    ]
    deliver_with(ctx, journal_message(ctx, telegram_message("see files", attachments=attachments)))
    [issue] = sandbox_issues(jira_sandbox)
    assert [a["filename"] for a in issue["fields"]["attachment"]] == ["invoice.pdf"]
    assert (
        "video.mp4 (30.0 MB) is over the Telegram Bot API's 20 MB download limit"
        in issue["fields"]["description"]
    )


def test_form_files_from_the_journal_are_uploaded(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    files = [Attachment(filename="Счёт №15.pdf", content_type="application/pdf", data=b"%PDF-1.4 x")]
    message = email_message(attachments=files, email=EmailMeta(message_id="<files@x>"))
    deliver_with(ctx, journal_message(ctx, message))
    [issue] = sandbox_issues(jira_sandbox)
    assert [(a["filename"], a["size"]) for a in issue["fields"]["attachment"]] == [("Счёт №15.pdf", 10)]
