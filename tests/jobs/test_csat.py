"""CSAT on the Jira, Telegram and mail look-alikes, real Redis and the real database: a resolved issue's
customer is asked once, by Telegram buttons or signed e-mail links; a stranger's press and a mail
scanner's GET record nothing; a double press records one rating; a negative rating alerts the
supervisors at once and its comment follows; a customer who opts out is not asked again."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from rq import Queue
from rq.job import Job, JobStatus

from jobs import csat as csat_jobs
from jobs.context import Context, build_context
from jobs.csat import (
    handle_comment_update,
    handle_comment_with,
    handle_press_with,
    note_with,
    send_survey_with,
)
from jobs.queues import REPLY_QUEUE
from mappers.models import Sender
from mappers.team_cards import Press, parse_press, parse_reply
from routes import create_app
from sandbox.server import RunningSandbox
from store import journal, links, ratings
from store.ratings import Survey
from tests.jobs.conftest import transition_to_done
from tests.jobs.team import CUSTOMERS, EVE, NOW, new_issue, user_acts
from tests.jobs.test_events import SECRET, post_hook, run_event, transition_webhook
from tests.jobs.test_events import move as reopen
from tests.mappers.factories import email_message, telegram_message
from tests.sandboxes import CONTROL

SUPERVISORS = -100900900
KUDOS = -100800800
WEBHOOK_SECRET = "tg-hook-secret"


@pytest.fixture
def cctx(team: Context) -> Context:
    """The team's context with the shipped config's CSAT: supervisors' and kudos chats, Jira webhooks."""
    update = {
        "JIRA_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_SUPERVISORS_CHAT_ID": str(SUPERVISORS),
        "TELEGRAM_KUDOS_CHAT_ID": str(KUDOS),
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    return build_context(team.settings.model_copy(update=update))


def resolve(
    ctx: Context, jira: RunningSandbox, key: str, *, tag: str = "", move: bool = True
) -> Survey | None:
    """The engineer resolves ``key`` (``move=False``: it is, and the hub hears of it again); the hub gets
    the webhook (``tag``: its changelog's, to tell one resolution from another); the issue's survey."""
    if move:
        transition_to_done(jira, key)
    webhook = transition_webhook(key, "Done", "done")
    webhook["changelog"]["id"] += tag
    run_event(ctx, post_hook(ctx, webhook))
    link = links.link_for_issue(ctx.engine, key)
    assert link is not None
    return ratings.last(ctx.engine, link.tracker, key)


def ask(ctx: Context, survey: Survey) -> Survey:
    """The quiet period passes (the survey's own due time: no wall clock) and the survey goes out."""
    assert send_survey_with(ctx, survey.id, survey.due_at - dt.timedelta(seconds=1)) == "not-due"
    assert send_survey_with(ctx, survey.id, survey.due_at) == "asked"
    assert send_survey_with(ctx, survey.id, survey.due_at) == "not-due"  # a repeated job asks nothing
    asked = ratings.get(ctx.engine, survey.id)
    assert asked is not None and asked.status == "asked"
    return asked


def messages(ctx: Context, chat_id: int) -> list[dict[str, Any]]:
    url = f"{ctx.settings.TELEGRAM_API_URL}/_sandbox/chats/{chat_id}.json"
    return requests.get(url, headers=CONTROL, timeout=5).json()  # type: ignore[no-any-return]


def press(ctx: Context, chat_id: int, message_id: int, data: str, person: dict[str, Any]) -> Press:
    body = {"chat_id": chat_id, "message_id": message_id, "data": data, "from": person}
    url = f"{ctx.settings.TELEGRAM_API_URL}/_sandbox/users/press"
    response = requests.post(url, json=body, headers=CONTROL, timeout=5)
    assert response.status_code == 200, response.text
    found = parse_press(response.json()["update"])
    assert found is not None
    return found


def press_answers(ctx: Context) -> list[dict[str, Any]]:
    url = f"{ctx.settings.TELEGRAM_API_URL}/_sandbox/presses"
    return [p["answer"] for p in requests.get(url, headers=CONTROL, timeout=5).json()]


def issue(jira: RunningSandbox, key: str) -> dict[str, Any]:
    url = f"{jira.url}/rest/api/2/issue/{key}"
    return requests.get(url, headers={"Authorization": "Bearer t"}, timeout=5).json()["fields"]  # type: ignore[no-any-return]


def note_job(ctx: Context, survey_id: str) -> bool:
    """Whether the effects job of a survey is queued; taken off the queue, as a worker takes it (the
    test runs it itself)."""
    queue, job_id = Queue(REPLY_QUEUE, connection=ctx.redis), f"csat-note-{survey_id}"
    if job_id not in queue.job_ids:
        return False
    Job.fetch(job_id, connection=ctx.redis).delete()
    return True


def telegram_customer(ctx: Context, text: str) -> tuple[str, int]:
    """A customer's Telegram message made an issue: its key and the customer's chat (= their user id)."""
    chat_id = next(CUSTOMERS)
    key, _card = new_issue(ctx, text, telegram_message(text, chat_id=chat_id))
    return key, chat_id


def test_csat_by_telegram_a_negative_rating_alerts_the_supervisors_and_its_comment_follows(
    cctx: Context, jira_sandbox: RunningSandbox
) -> None:
    key, chat_id = telegram_customer(cctx, "The label printer prints blank pages")
    customer = {"id": chat_id, "first_name": "Carol"}
    survey = resolve(cctx, jira_sandbox, key)
    assert survey is not None and survey.status == "pending" and survey.channel == "telegram"
    asked = ask(cctx, survey)
    question = messages(cctx, chat_id)[-1]
    assert key in question["text"] and question["message_id"] == asked.telegram_message_id
    assert [b["text"] for b in question["buttons"]] == ["1", "2", "3", "4", "5", "Don't ask me again"]
    one = next(b["callback_data"] for b in question["buttons"] if b["text"] == "1")

    stranger = press(cctx, chat_id, question["message_id"], one, EVE)
    assert handle_press_with(cctx, stranger, NOW) == "refused"
    first, second = (press(cctx, chat_id, question["message_id"], one, customer) for _ in range(2))
    assert handle_press_with(cctx, first, NOW) == "rated"
    assert handle_press_with(cctx, second, NOW) == "again"  # a double press: one rating
    answers = press_answers(cctx)
    assert answers[0]["show_alert"] is True and "Only the customer" in answers[0]["text"]
    assert all(a is not None for a in answers)  # every press was answered

    assert note_job(cctx, survey.id) and note_with(cctx, survey.id, NOW) == "rating"  # the queued job
    rated = ratings.get(cctx.engine, survey.id)
    assert rated is not None and rated.score == 1 and rated.noted_at is not None
    [alert] = [m["text"] for m in messages(cctx, SUPERVISORS)]
    assert f"CSAT 1/5 for {key}" in alert and f"/browse/{key}" in alert
    fields = issue(jira_sandbox, key)
    assert "csat-1" in fields["labels"]
    notes = [c["body"] for c in fields["comment"]["comments"] if "Customer satisfaction" in c["body"]]
    assert len(notes) == 1 and "1/5 (by Telegram)" in notes[0]

    prompt = messages(cctx, chat_id)[-1]
    assert prompt["reply_markup"]["force_reply"] is True

    def answer_to(message: dict[str, Any], text: str) -> dict[str, Any]:
        """The customer's reply to ``message`` in their chat."""
        return {
            "chat_id": chat_id,
            "text": text,
            "reply_to_message_id": message["message_id"],
            "from": customer,
        }

    written = user_acts(cctx, "write", answer_to(prompt, "Nobody called me back"))
    hook = (
        create_app(cctx.settings, cctx.config)
        .test_client()
        .post("/hooks/telegram", json=written, headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})
    )
    assert hook.status_code == 200 and hook.get_json() == {"status": "csat-comment"}  # not a new request
    reply = parse_reply(written)
    assert reply is not None
    assert handle_comment_with(cctx, reply, NOW + dt.timedelta(minutes=5)) == "commented"
    assert handle_comment_with(cctx, reply, NOW + dt.timedelta(minutes=5)) == "again"
    # a second reply, queued before the first was taken, is the customer's message: journaled, not dropped
    more = user_acts(cctx, "write", answer_to(prompt, "And the printer is still broken"))
    assert handle_comment_update(cctx, more, NOW + dt.timedelta(minutes=6)) == "again"
    kept = journal.find_by_external_id(cctx.engine, "telegram", f"tg:{more['update_id']}")
    assert kept is not None and kept.status == "queued"
    assert note_job(cctx, survey.id) and note_with(cctx, survey.id, NOW) == "comment"
    assert note_with(cctx, survey.id, NOW) == "nothing"  # a repeated effects job does nothing twice
    alerts = [m["text"] for m in messages(cctx, SUPERVISORS)]
    assert len(alerts) == 2 and alerts[1] == f"Comment on the CSAT 1/5 for {key}: Nobody called me back"
    comments = [c["body"] for c in issue(jira_sandbox, key)["comment"]["comments"]]
    assert sum("Nobody called me back" in c for c in comments) == 1
    assert ratings.summary(cctx.engine, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=1)).count == 1


def survey_links(mail_sink: tuple[str, Path], key: str) -> dict[str, str]:
    """The survey mail's links by what they say (``1``…``5``, ``stop``): paths on the hub."""
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(mail_sink[1].glob("*.eml"))
    ]
    [survey] = [m for m in mails if "How did we do" in str(m["Subject"]) and key in str(m["Subject"])]
    body = survey.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = dict(re.findall(r"^(\d): \S+(/csat/[\w.-]+)", body, re.MULTILINE))
    found["stop"] = re.findall(r"(/csat/[\w.-]+)", body)[-1]
    return found


def test_csat_by_email_a_scanner_get_records_nothing_and_the_first_vote_stands(
    cctx: Context, jira_sandbox: RunningSandbox, mail_sink: tuple[str, Path]
) -> None:
    key, _card = new_issue(cctx, "", email_message("Invoice is wrong", "The total is wrong."))
    survey = resolve(cctx, jira_sandbox, key)
    assert survey is not None and survey.channel == "email"
    ask(cctx, survey)
    urls = survey_links(mail_sink, key)
    assert sorted(urls) == ["1", "2", "3", "4", "5", "stop"]
    web = create_app(cctx.settings, cctx.config).test_client()
    for url in urls.values():  # a mail scanner opens every link in the mail
        page = web.get(url)
        assert page.status_code == 200 and 'method="post"' in page.get_data(as_text=True)
    assert ratings.get(cctx.engine, survey.id).score is None  # type: ignore[union-attr]
    assert not ratings.opted_out(cctx.engine, "email", "bob@customer.example")

    voted = web.post(urls["5"], data={"comment": "Quick & kind <3"})
    assert voted.status_code == 200 and "recorded" in voted.get_data(as_text=True)
    assert web.post(urls["2"]).status_code == 200  # a second vote does not change the first
    rated = ratings.get(cctx.engine, survey.id)
    assert rated is not None and (rated.score, rated.comment) == (5, "Quick & kind <3")
    assert note_job(cctx, survey.id)
    assert note_with(cctx, survey.id, NOW) == "both"  # the job the POST queued: rating and comment
    [kudos] = [m["text"] for m in messages(cctx, KUDOS)]
    assert f"CSAT 5/5 for {key}" in kudos and "Comment: Quick & kind <3" in kudos
    assert messages(cctx, SUPERVISORS) == []
    assert web.get(urls["5"][:-3] + "abc").status_code == 403  # a tampered link


def test_an_opted_out_customer_is_not_asked_again_and_an_issue_is_asked_once(
    cctx: Context, jira_sandbox: RunningSandbox
) -> None:
    key, chat_id = telegram_customer(cctx, "The scanner jams")
    survey = resolve(cctx, jira_sandbox, key)
    assert survey is not None
    heard_again = resolve(
        cctx, jira_sandbox, key, tag="-2", move=False
    )  # the same survey, its quiet period anew
    assert heard_again is not None and (heard_again.id, heard_again.round) == (survey.id, 1)
    asked = ask(cctx, heard_again)
    reopen(jira_sandbox, key, "In Progress")  # reopened, and resolved again within 30 days: no new round
    assert resolve(cctx, jira_sandbox, key, tag="-3") == asked
    question = messages(cctx, chat_id)[-1]
    stop = question["buttons"][-1]["callback_data"]
    customer = {"id": chat_id, "first_name": "Dan"}
    assert handle_press_with(cctx, press(cctx, chat_id, question["message_id"], stop, customer), NOW) == (
        "opted-out"
    )
    assert ratings.opted_out(cctx.engine, "telegram", str(chat_id))
    message = telegram_message("The scanner jams again", chat_id=chat_id)
    second, _card = new_issue(cctx, "", message)
    assert second != key
    assert resolve(cctx, jira_sandbox, second) is None  # opted out: never asked
    assert csat_jobs.enqueue_due(cctx, asked.due_at + dt.timedelta(days=365)) == 0


def test_an_address_too_long_to_keep_is_not_surveyed(cctx: Context, jira_sandbox: RunningSandbox) -> None:
    # a 259-character address is valid mail; ratings keep 255 characters, so PostgreSQL would refuse the
    # row and fail the resolution's event job, which also carries the customer's status notice
    address = "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".example.com"
    sender = Sender(name="Bob Smith", email=address)
    key, _card = new_issue(cctx, "", email_message("Invoice is wrong", "The total is wrong.", sender=sender))
    assert resolve(cctx, jira_sandbox, key) is None


def test_the_sweep_runs_again_a_rating_s_effects_job_that_failed_its_retries(cctx: Context) -> None:
    # a tracker down for an hour: the effects job failed every retry, and RQ keeps it a week by its id
    rated_at = NOW - csat_jobs.NOTE_GRACE - dt.timedelta(minutes=1)
    sid = ratings.survey_id("default", "SUP-9", 1)
    survey = Survey(sid, "default", "SUP-9", 1, "telegram", "4242", 4242, None, None, "asked", rated_at)
    ratings.add(cctx.engine, survey)
    ratings.rate(cctx.engine, sid, 1, rated_at)
    failed = Job.create("jobs.csat.note", args=(sid,), id=f"csat-note-{sid}", connection=cctx.redis)
    failed.save()
    failed.set_status(JobStatus.FAILED)

    assert csat_jobs.enqueue_due(cctx, NOW) == 1
    assert Job.fetch(f"csat-note-{sid}", connection=cctx.redis).get_status() == JobStatus.QUEUED


def test_a_survey_whose_answer_was_lost_in_transit_is_not_sent_again_and_can_still_be_rated(
    cctx: Context, jira_sandbox: RunningSandbox
) -> None:
    slow = build_context(cctx.settings.model_copy(update={"TELEGRAM_TIMEOUT": 0.5}))
    key, chat_id = telegram_customer(slow, "The scanner jams")
    survey = resolve(slow, jira_sandbox, key)
    assert survey is not None
    fault = {"after_delivery": True, "delay": 1.5, "count": 1}
    requests.post(f"{slow.settings.TELEGRAM_API_URL}/_sandbox/faults", json=fault, headers=CONTROL, timeout=5)

    assert send_survey_with(slow, survey.id, survey.due_at) == "asked"  # delivered; its answer timed out
    after_lease = survey.due_at + csat_jobs.SEND_LEASE + dt.timedelta(seconds=1)
    assert send_survey_with(slow, survey.id, after_lease) == "not-due"
    questions = [m for m in messages(slow, chat_id) if key in m["text"] and m.get("buttons")]
    assert len(questions) == 1  # asked once: not again when the lease ran out

    five = next(b["callback_data"] for b in questions[0]["buttons"] if b["text"] == "5")
    customer = {"id": chat_id, "first_name": "Carol"}
    assert (
        handle_press_with(slow, press(slow, chat_id, questions[0]["message_id"], five, customer), NOW)
        == "rated"
    )
